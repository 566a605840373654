"""What a new tenant gets when onboarding does not say (shared by the CLI's help and onboarding)."""

DEFAULT_STORAGE_TIB = 10.0
DEFAULT_EGRESS = "none"  # secure by default: nodes reach S3 and AWS APIs through VPC endpoints only
DEFAULT_ORG = "organization"  # Pulumi's organization name on a self-managed (S3) backend
DEFAULT_ROOT_VOLUME_GIB = 500
# Offboarding keeps a tenant's bucket and key (retained on `pulumi destroy`, in the tenant's own account):
# the data is deleted this many days after offboarding by a lifecycle rule the printed steps set, unless the
# account closes first (AWS deletes a closed account's resources after its post-closure period).
DATA_NOTICE_DAYS = 30
# A new tenant gets a cluster it can `sbatch` on (a head node running slurmctld); --scheduler none: bare nodes.
DEFAULT_SCHEDULER = "slurm"
