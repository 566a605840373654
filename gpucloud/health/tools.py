"""The node's other tools, each under a timeout: DCGM's diagnostic, the fabric manager service, EC2 metadata.

Every way these can fail (not installed, non-zero exit, hung past the timeout) is a ``ToolError`` whose
message says which; the checks turn it into a FAIL.
"""

from __future__ import annotations

import shutil
import subprocess
import urllib.error
import urllib.request

IMDS = "http://169.254.169.254"


class ToolError(Exception):
    pass


def run_tool(argv: list[str], timeout_s: float, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    if shutil.which(argv[0]) is None:
        raise ToolError(f"{argv[0]} is not installed")
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, env=env)
    except subprocess.TimeoutExpired:
        raise ToolError(f"{' '.join(argv)} did not finish within {timeout_s:g} s") from None


def dcgm_diag(level: int, timeout_s: float) -> tuple[bool, str]:
    """``dcgmi diag -r LEVEL --json``: (passed, the first failure named, or a summary); see ``dcgm_diag.py``."""
    from gpucloud.health.dcgm_diag import read_diag

    result = run_tool(["dcgmi", "diag", "-r", str(level), "--json"], timeout_s)
    text = result.stdout if result.stdout.strip() else result.stderr
    verdict = read_diag(text, level, result.returncode)
    return verdict.passed, verdict.detail


def service_state(unit: str, timeout_s: float) -> str:
    """``systemctl is-active UNIT``: active, inactive, failed, ..."""
    result = run_tool(["systemctl", "is-active", unit], timeout_s)
    return result.stdout.strip() or f"exit {result.returncode}"


def instance_type(timeout_s: float) -> str:
    """The EC2 instance type from the instance metadata service (IMDSv2: a session token first)."""
    try:
        token_request = urllib.request.Request(
            f"{IMDS}/latest/api/token", method="PUT", headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"}
        )
        with urllib.request.urlopen(token_request, timeout=timeout_s) as response:
            token = response.read().decode()
        request = urllib.request.Request(
            f"{IMDS}/latest/meta-data/instance-type", headers={"X-aws-ec2-metadata-token": token}
        )
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return str(response.read().decode().strip())
    except (urllib.error.URLError, OSError, TimeoutError) as err:
        raise ToolError(f"the EC2 instance metadata service did not answer ({err})") from None
