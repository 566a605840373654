"""`gpucloud health check` as a node runs it: a real process, on this machine (which has no GPU)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
NO_GPU = not Path("/dev/nvidia0").exists()

# Runs the CLI with the infra extra's modules made unimportable: what a bare `pip install gpucloud` has.
SLIM = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"pulumi", "pulumi_aws", "pulumi_policy", "jinja2", "ansible", "ansible_runner"}:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, Block())
from gpucloud.cli import main
sys.exit(main(sys.argv[1:]))
"""


def slim(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", SLIM, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(not NO_GPU, reason="this machine has a GPU: the no-GPU behaviour cannot be seen here")
def test_without_a_gpu_the_check_fails_closed_with_exit_1() -> None:
    result = slim("health", "check", "--expect", "p5.48xlarge", "--json")
    assert result.returncode == 1, result.stderr
    doc = json.loads(result.stdout)
    assert doc["verdict"] == "FAIL" and doc["expected"] == "p5.48xlarge"
    nvml = next(c for c in doc["checks"] if c["name"] == "nvml")
    assert nvml["verdict"] == "FAIL" and "NVML" in nvml["reason"]


@pytest.mark.skipif(not NO_GPU, reason="this machine has a GPU")
def test_textfile_is_written_even_when_the_node_fails(tmp_path: Path) -> None:
    prom = tmp_path / "gpu_health.prom"
    result = slim("health", "check", "--expect", "g6e.48xlarge", "--textfile", str(prom))
    assert result.returncode == 1
    assert 'gpucloud_gpu_health_verdict{expected="g6e.48xlarge"} 2' in prom.read_text()
    assert "verdict: FAIL" in result.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--expect", "no-such-sku"], "--expect='no-such-sku': unknown SKU"),
        (["--deep", "9"], "--deep"),
        (["--textfile", "/tmp/gpu.txt"], "*.prom"),
        (["--nccl-image", "nccl-tests:efa"], "--nccl-image=nccl-tests:efa: runs only with --nccl-nodes N"),
    ],
)
def test_bad_input_is_exit_2_with_one_line(args: list[str], needle: str) -> None:
    result = slim("health", "check", *args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert needle in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 3


def test_infra_commands_on_a_bare_node_say_what_to_install(repo_root: Path) -> None:
    result = slim("--root", str(repo_root), "plan", "region-us-east-1")
    assert result.returncode == 2
    assert "pip install 'gpucloud[infra]'" in result.stderr and "Traceback" not in result.stderr
