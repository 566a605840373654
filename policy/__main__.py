"""The gpucloud CrossGuard policy pack: ``pulumi preview --policy-pack policy/ -s STACK``.

The rules live in ``gpucloud.policy``; ``gpucloud policy check STACK`` runs the same rules offline.
"""

from pulumi_policy import PolicyPack

from gpucloud.crossguard import PACK_NAME, policies

PolicyPack(name=PACK_NAME, policies=policies())
