"""The tenant's dynamic inventory (amazon.aws.aws_ec2) against moto's EC2 on 127.0.0.1: it lists only
the tenant's running nodes, grouped by tenant, region and GPU type, reached through SSM."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="module")
def moto() -> Iterator[str]:
    if not (BIN / "moto_server").exists():
        pytest.skip("moto[server] is not installed (pip install -e '.[dev]')")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def unwrap(value: object) -> object:
    """ansible-inventory marks values from the cloud as unsafe (never templated): {"__ansible_unsafe": v}."""
    return value["__ansible_unsafe"] if isinstance(value, dict) and "__ansible_unsafe" in value else value


def launch(ec2: object, count: int, instance_type: str, tags: dict[str, str]) -> list[str]:
    reply = ec2.run_instances(  # type: ignore[attr-defined]
        ImageId="ami-12c6146b",
        MinCount=count,
        MaxCount=count,
        InstanceType=instance_type,
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}],
    )
    return [i["InstanceId"] for i in reply["Instances"]]


TENANT_ACCOUNT = "210987654321"
OPERATOR_ROLE = f"arn:aws:iam::{TENANT_ACCOUNT}:role/gpucloud/gpucloud-operator"


def aws_config(tmp_path: Path) -> Path:
    """An operator's ~/.aws/config as README shows it: the tenant profile assumes our operator role there."""
    config = tmp_path / "aws-config"
    config.write_text(
        "[profile gpucloud-ops]\n"
        "aws_access_key_id = testing\naws_secret_access_key = testing\nregion = us-east-1\n\n"
        "[profile gpucloud-tenant-acme]\n"
        f"role_arn = {OPERATOR_ROLE}\nsource_profile = gpucloud-ops\nregion = us-east-1\n"
    )
    return config


SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:gpucloud/acme/munge-key-20261127-AbCdEf"


def test_the_tenant_inventory_lists_its_running_nodes_by_tag(moto: str, tmp_path: Path) -> None:
    import boto3

    os.environ.update(CREDENTIALS)
    # acme's nodes run in acme's own account: reached through our operator role there (moto's STS gives the
    # assumed role's credentials that account); beta's run elsewhere and must stay out of acme's inventory.
    sts = boto3.client("sts", region_name="us-east-1", endpoint_url=moto)
    assumed = sts.assume_role(RoleArn=OPERATOR_ROLE, RoleSessionName="test")["Credentials"]
    ec2 = boto3.client(
        "ec2",
        region_name="us-east-1",
        endpoint_url=moto,
        aws_access_key_id=assumed["AccessKeyId"],
        aws_secret_access_key=assumed["SecretAccessKey"],
        aws_session_token=assumed["SessionToken"],
    )
    elsewhere = boto3.client("ec2", region_name="us-east-1", endpoint_url=moto)
    node = {"gpucloud:region": "us-east-1", "gpucloud:role": "gpu-node", "gpucloud:ssm-bucket": "acme-data"}
    cluster = {  # what the stack tags every node of a Slurm cluster with (gpucloud.components.cluster_head)
        "gpucloud:munge-key-secret": SECRET_ARN,
        "gpucloud:fsx-dns-name": "fs-0123456789abcdef0.fsx.us-east-1.amazonaws.com",
        "gpucloud:fsx-mount-name": "abcdefgh",
    }
    acme = launch(
        ec2, 2, "p5.48xlarge", {**node, **cluster, "gpucloud:tenant": "acme", "gpucloud:gpu-type": "p5.48xlarge"}
    )
    head = launch(ec2, 1, "m7i.2xlarge", {**node, **cluster, "gpucloud:tenant": "acme", "gpucloud:role": "head-node"})
    stopped = launch(ec2, 1, "p5.48xlarge", {**node, "gpucloud:tenant": "acme", "gpucloud:gpu-type": "p5.48xlarge"})
    ec2.stop_instances(InstanceIds=stopped)
    beta = launch(elsewhere, 1, "p5.48xlarge", {**node, "gpucloud:tenant": "beta", "gpucloud:gpu-type": "p5.48xlarge"})
    # the same tag in another account: a tenant named acme elsewhere is still not acme's node
    other = launch(elsewhere, 1, "p5.48xlarge", {**node, "gpucloud:tenant": "acme", "gpucloud:gpu-type": "p5.48xlarge"})

    source = ROOT / "inventories" / "tenants" / "acme" / "us-east-1.aws_ec2.yml"
    inventory = tmp_path / "acme.aws_ec2.yml"
    inventory.write_text(source.read_text() + f"endpoint_url: {moto}\n")
    result = subprocess.run(
        [str(BIN / "ansible-inventory"), "-i", str(inventory), "--list"],
        capture_output=True,
        text=True,
        timeout=120,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
            "AWS_CONFIG_FILE": str(aws_config(tmp_path)),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
            "AWS_ENDPOINT_URL_STS": moto,  # the role chain's AssumeRole goes to moto too
            "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        },
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert sorted(doc["tenant_acme"]["hosts"]) == sorted(acme + head)
    assert sorted(doc["gpu_type_p5_48xlarge"]["hosts"]) == sorted(acme)
    assert sorted(doc["role_gpu_node"]["hosts"]) == sorted(acme)  # the groups playbooks/cluster.yml configures
    assert doc["role_head_node"]["hosts"] == head
    assert sorted(doc["gpu_nodes"]["hosts"]) == sorted(acme)  # gpu_nodes.yml never meets the CPU head node
    assert sorted(doc["region_us_east_1"]["hosts"]) == sorted(acme + head)
    assert "tenant_beta" not in doc and not set(beta) & set(doc["_meta"]["hostvars"])
    assert not set(other) & set(doc["_meta"]["hostvars"])
    assert not set(stopped) & set(doc["_meta"]["hostvars"])
    facts = {k: unwrap(v) for k, v in doc["_meta"]["hostvars"][acme[0]].items()}
    assert facts["ansible_connection"] == "community.aws.aws_ssm"
    assert facts["ansible_host"] == acme[0]
    assert facts["ansible_aws_ssm_bucket_name"] == "acme-data"
    assert facts["ansible_aws_ssm_profile"] == "gpucloud-tenant-acme"  # the SSM connection assumes it too
    assert facts["gpucloud_sku"] == "p5.48xlarge" and facts["gpucloud_site"] == "aws"
    for host in acme + head:  # the cluster roles' variables, composed from the tags: the secret's ARN, not the key
        facts = {k: unwrap(v) for k, v in doc["_meta"]["hostvars"][host].items()}
        assert facts["munge_key_secret"] == SECRET_ARN and facts["munge_key_secret_region"] == "us-east-1"
        assert facts["lustre_client_dns_name"] == cluster["gpucloud:fsx-dns-name"]
        assert facts["lustre_client_mount_name"] == "abcdefgh"
