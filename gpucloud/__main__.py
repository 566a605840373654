"""``python -m gpucloud``: the same CLI as the ``gpucloud`` console script."""

from gpucloud.console import run

run()
