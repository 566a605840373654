"""The fixed names of the roles gpucloud makes in every tenant account (under the path the SCP protects).

Fixed, so a handover note or an operator's AWS config can name a role's ARN from the account id alone,
without reading any stack's state. Light on purpose: onboarding reads it without importing Pulumi.
"""

OPERATOR_ROLE_NAME = "gpucloud-operator"
ADMIN_ROLE_NAME = "gpucloud-tenant-admin"
DATA_OPERATOR_ROLE_NAME = "gpucloud-data-operator"  # offboarding's data steps, a duty of its own
# Our deployer role in every tenant account, on the organization path (data/guardrails.yaml, org_role_path): the
# one principal the SCPs exempt; every stack after the account's own acts in the account through it.
DEPLOYER_ROLE_NAME = "gpucloud-deployer"
