"""`health check --nccl`: all_reduce_perf's output read, and judged against the SKU's floor (health.yaml nccl)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fake_nvml import FakeGpu, FakeNvml, h100, l40s

from gpucloud.health.checks import FAIL, PASS, WARN
from gpucloud.health.expect import Expectation, load_thresholds, sku_named
from gpucloud.health.nccl import NcclLimits, load_limits, parse
from gpucloud.health.run import Sources, check_node
from gpucloud.health.tools import ToolError

LIMITS = load_thresholds()
HEADER = """# nThread 1 nGpus 8 minBytes 8 maxBytes 8589934592 step: 2(factor) warmup iters: 5 iters: 20 agg iters: 1 validation: 1 graph: 0
#
#                                                              out-of-place                       in-place
#       size         count      type   redop    root     time   algbw   busbw #wrong     time   algbw   busbw #wrong
#        (B)    (elements)                               (us)  (GB/s)  (GB/s)            (us)  (GB/s)  (GB/s)
"""  # noqa: E501 - as all_reduce_perf prints it


def row(size: int, busbw: float, wrong: int = 0) -> str:
    """One result line, spaced as all_reduce_perf prints it (out-of-place, then in-place)."""

    def half(bandwidth: float, bad: int) -> str:
        return f"{size / 2e5:8.0f} {size / 4.3e7:7.2f} {bandwidth:7.2f} {bad:6d}"

    return f"{size:12d}  {size // 4:12d}     float     sum      -1  {half(busbw, wrong)}  {half(busbw - 0.5, 0)}"


def output(busbw: float, wrong: int = 0) -> str:
    rows = [row(8, 0.0), row(4294967296, 376.74, wrong), row(8589934592, busbw)]
    return HEADER + "\n".join(rows) + "\n# Out of bounds values : 0 OK\n# Avg bus bandwidth    : 151.2\n"


def test_the_largest_sizes_bus_bandwidth_and_the_wrong_results_are_read() -> None:
    result = parse(output(480.25, wrong=3))
    assert (result.size_bytes, result.busbw_gbs, result.wrong) == (8589934592, 480.25, 3)


def test_output_without_a_result_row_is_refused() -> None:
    with pytest.raises(ValueError, match="no result row"):
        parse(HEADER + "# Out of bounds values : 0 OK\n")


def test_a_wrong_count_in_exponent_form_and_wide_times_are_read() -> None:
    """nccl-tests prints #wrong with %6g and falls back to exponent form for wide times (src/util.cu)."""
    line = "  8589934592    2147483648     float     sum      -1  1.2e+07    0.71    1.25  1e+06  25012.3  343.40  600.95      0"  # noqa: E501
    result = parse(HEADER + line + "\n")
    assert (result.size_bytes, result.busbw_gbs, result.wrong) == (8589934592, 600.95, 1_000_000)


def test_a_run_that_did_not_check_its_results_is_refused() -> None:
    unchecked = output(480.25).replace("     0", "   N/A")
    with pytest.raises(ValueError, match="did not check its results"):
        parse(unchecked)


def test_real_output_from_an_h100_is_read_to_its_largest_size() -> None:
    """all_reduce_perf's own output (tests/data, recorded on a lent H100): from 512 MiB its in-place algbw prints as
    1e+06, which a plain-decimal pattern skipped, silently judging 256 MiB instead of the largest size."""
    recorded = (Path(__file__).parents[1] / "data" / "all_reduce_perf-1xh100.txt").read_text()
    result = parse(recorded)
    assert (result.size_bytes, result.busbw_gbs, result.wrong) == (2**30, 0.0, 0)  # one rank: nothing on a bus


def test_floors_follow_the_nvlink_of_each_nvswitch_sku_and_pcie_skus_have_none() -> None:
    limits = load_limits()
    assert limits.floor_gbs(sku_named("p5.48xlarge")) == pytest.approx(0.8 * 18 * 25)  # 360 GB/s
    assert limits.floor_gbs(sku_named("p4d.24xlarge")) == pytest.approx(0.8 * 12 * 25)
    assert limits.floor_gbs(sku_named("p6-b200.48xlarge")) == pytest.approx(0.8 * 18 * 50)
    assert limits.floor_gbs(sku_named("g6e.48xlarge")) is None


def run(
    stdout: str | Exception, gpus: list[FakeGpu], sku: str | None = "p5.48xlarge", nodes: int = 1, efa: bool = False
) -> Any:
    seen: list[Any] = []

    def all_reduce(count: int, limits: NcclLimits, across: int, over_efa: bool, image: str | None = None) -> str:
        seen.append(count if across == 1 else (count, across, over_efa))
        if isinstance(stdout, Exception):
            raise stdout
        return stdout

    expect = Expectation(sku=sku_named(sku) if sku else None, limits=LIMITS)
    sources = Sources(
        nvml=lambda: FakeNvml(gpus), kernel_log=lambda h, t: [], all_reduce=all_reduce, efa_installed=lambda: efa
    )
    report = check_node(expect, all_reduce=nodes == 1, all_reduce_nodes=nodes if nodes > 1 else None, sources=sources)
    (check,) = [c for c in report.checks if c.name.startswith("nccl-all-reduce")]
    return check, seen


def test_a_healthy_p5_passes_over_all_eight_gpus() -> None:
    check, seen = run(output(480.25), [h100(i) for i in range(8)])
    assert (check.verdict, seen) == (PASS, [8])
    assert check.seen == "480.2 GB/s at 8589934592 B over 8 GPUs" and check.expected == "busbw >= 360 GB/s"


@pytest.mark.parametrize(
    ("stdout", "reason"),
    [
        (output(210.0), "bus bandwidth under the SKU's floor"),
        (output(480.0, wrong=2), "2 result(s) did not check out"),
        (ToolError("all_reduce_perf is not installed"), "all_reduce_perf is not installed"),
        (ValueError("all_reduce_perf failed: NCCL WARN Cuda failure 'out of memory'"), "out of memory"),
    ],
)
def test_slow_wrong_missing_or_failing_all_reduce_fails_the_gate(stdout: str | Exception, reason: str) -> None:
    check, _ = run(stdout, [h100(i) for i in range(8)])
    assert check.verdict == FAIL and reason in check.reason


def test_a_pcie_sku_is_reported_not_judged_and_no_sku_warns() -> None:
    check, _ = run(output(18.5), [l40s(i) for i in range(8)], sku="g6e.48xlarge")
    assert check.verdict == PASS and "has no NVLink floor: reported only" in check.reason
    check, _ = run(output(480.0), [h100(i) for i in range(8)], sku=None)
    assert check.verdict == WARN


def test_one_gpu_cannot_all_reduce() -> None:
    check, seen = run(output(480.0), [h100(0)])
    assert check.verdict == FAIL and seen == [] and "needs two GPUs" in check.reason


def test_across_two_nodes_the_floor_is_a_share_of_the_network() -> None:
    """p5: 3200 Gbps of EFA is 400 GB/s; the floor is 70 % of it (health.yaml nccl internode_floor_fraction)."""
    check, seen = run(output(310.0), [h100(i) for i in range(8)], nodes=2)
    assert (check.name, check.verdict, seen) == ("nccl-all-reduce-2-nodes", PASS, [(8, 2, False)])
    assert check.expected == "busbw >= 280 GB/s" and check.seen.endswith("over 2 nodes x 8 GPUs")
    check, _ = run(output(120.0), [h100(i) for i in range(8)], nodes=2)
    assert check.verdict == FAIL and "under the SKU's floor" in check.reason


def test_across_nodes_a_pcie_sku_is_judged_too_and_one_gpu_per_node_is_enough() -> None:
    check, _ = run(output(60.0), [l40s(0)], sku="g6e.48xlarge", nodes=2)
    assert check.verdict == PASS and check.expected == "busbw >= 35 GB/s"  # 400 Gbps of network


def test_across_nodes_srun_starts_one_process_per_node_with_every_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    from gpucloud.health import nccl

    calls: list[list[str]] = []

    def fake_tool(argv: list[str], timeout_s: float, env: dict[str, str] | None = None) -> Any:
        calls.append(argv)
        return type("Done", (), {"returncode": 0, "stdout": output(300.0), "stderr": ""})()

    monkeypatch.setattr(nccl, "run_tool", fake_tool)
    nccl.run_all_reduce(8, load_limits(), nodes=2)
    (argv,) = calls
    assert argv[:7] == ["srun", "--nodes=2", "--ntasks-per-node=1", "--gres=gpu:8", "--exclusive", "--mpi=pmix",
                        "--time=15"]  # fmt: skip
    assert argv[7:] == ["all_reduce_perf", "-b", "8", "-e", "8G", "-f", "2", "-g", "8"]


# --- NCCL over EFA across nodes (issue 26, 5) ----------------------------------------------------------------------
# NCCL's log lines as aws-ofi-nccl and NCCL print them under NCCL_DEBUG=INFO (recorded from public run logs of
# p5en and p4d nodes and the EC2 User Guide's NCCL tutorial, 2026-12-07).
EFA_LOG = """ip-10-0-1-10:7:7 [0] NCCL INFO NET/OFI Initializing aws-ofi-nccl 1.14.0
ip-10-0-1-10:7:7 [0] NCCL INFO NET/OFI Selected provider is efa, fabric is efa-direct (found 32 nics)
ip-10-0-1-10:7:7 [0] NCCL INFO Using network Libfabric
"""
OLD_EFA_LOG = "nccl-tests-efa-worker-0:26:26 [0] NCCL INFO NET/OFI Selected Provider is efa\n"
SOCKET_LOG = """ip-10-0-1-10:7:7 [0] NCCL INFO NET/Plugin: Could not find: libnccl-net.so.
ip-10-0-1-10:7:7 [0] NCCL INFO NET/Socket : Using [0]ens32:10.0.1.10<0>
ip-10-0-1-10:7:7 [0] NCCL INFO Using network Socket
"""


@pytest.mark.parametrize("log", [EFA_LOG, OLD_EFA_LOG])
def test_a_run_that_shows_the_efa_provider_passes(log: str) -> None:
    from gpucloud.health.nccl import check_efa_selected

    check_efa_selected(log)


@pytest.mark.parametrize(
    ("log", "needle"),
    [
        (SOCKET_LOG, "ran over TCP sockets"),
        ("", "did not select libfabric's EFA provider"),  # no NCCL_DEBUG log at all: unknown is a failure
        (EFA_LOG + SOCKET_LOG, "ran over TCP sockets"),  # one rank fell back
    ],
)
def test_a_run_over_sockets_or_without_a_word_fails(log: str, needle: str) -> None:
    from gpucloud.health.nccl import check_efa_selected

    with pytest.raises(ValueError, match=needle):
        check_efa_selected(log)


def test_across_nodes_over_efa_the_run_gets_awss_environment_and_must_show_efa(monkeypatch: pytest.MonkeyPatch) -> None:
    """The EFA libraries ahead of the node's LD_LIBRARY_PATH, AWS's variables, PMIx's hash store for srun; a run
    whose log shows sockets fails the check even at full bandwidth."""
    from gpucloud.health import nccl

    envs: list[dict[str, str] | None] = []
    log = {"text": EFA_LOG}

    def fake_tool(argv: list[str], timeout_s: float, env: dict[str, str] | None = None) -> Any:
        envs.append(env)
        return type("Done", (), {"returncode": 0, "stdout": log["text"] + output(450.0), "stderr": ""})()

    monkeypatch.setattr(nccl, "run_tool", fake_tool)
    monkeypatch.setenv("LD_LIBRARY_PATH", "/usr/local/cuda/lib64")
    nccl.run_all_reduce(8, load_limits(), nodes=2, efa=True)
    (env,) = envs
    assert env is not None and env["LD_LIBRARY_PATH"].split(":") == [
        "/opt/amazon/ofi-nccl/lib/x86_64-linux-gnu", "/opt/amazon/ofi-nccl/lib", "/opt/amazon/openmpi/lib",
        "/opt/amazon/efa/lib", "/usr/local/cuda/lib64",
    ]  # fmt: skip
    assert {k: env[k] for k in ("FI_PROVIDER", "NCCL_DEBUG", "PMIX_MCA_gds")} == {
        "FI_PROVIDER": "efa", "NCCL_DEBUG": "INFO", "PMIX_MCA_gds": "hash"
    }  # fmt: skip
    log["text"] = SOCKET_LOG
    with pytest.raises(ValueError, match="ran over TCP sockets"):
        nccl.run_all_reduce(8, load_limits(), nodes=2, efa=True)
    nccl.run_all_reduce(8, load_limits(), nodes=1, efa=True)  # within a node: no network, no EFA to show
    assert envs[-1] is None


def test_in_a_container_image_the_run_takes_the_images_libraries_and_must_still_select_efa(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 26 (3): in a container the image's own libfabric and aws-ofi-nccl must carry NCCL (pyxis gives the
    image's LD_LIBRARY_PATH precedence); the host's are not put on the path, and a socket run names what the image
    lacks."""
    from gpucloud.health import nccl

    calls: list[tuple[list[str], dict[str, str] | None]] = []
    log = {"text": EFA_LOG}

    def fake_tool(argv: list[str], timeout_s: float, env: dict[str, str] | None = None) -> Any:
        calls.append((argv, env))
        return type("Done", (), {"returncode": 0, "stdout": log["text"] + output(450.0), "stderr": ""})()

    monkeypatch.setattr(nccl, "run_tool", fake_tool)
    monkeypatch.setenv("LD_LIBRARY_PATH", "/usr/local/cuda/lib64")
    image = "public.ecr.aws/hpc-cloud/nccl-tests:latest"
    nccl.run_all_reduce(8, load_limits(), nodes=2, efa=True, image=image)
    ((argv, env),) = calls
    assert f"--container-image={image}" in argv and "/opt/nccl-tests/build/all_reduce_perf" in argv
    assert argv.index(f"--container-image={image}") < argv.index("/opt/nccl-tests/build/all_reduce_perf")
    assert env is not None and env["LD_LIBRARY_PATH"] == "/usr/local/cuda/lib64" and env["FI_PROVIDER"] == "efa"
    log["text"] = SOCKET_LOG
    with pytest.raises(ValueError, match=r"ran over TCP sockets.*the image must carry libfabric and aws-ofi-nccl"):
        nccl.run_all_reduce(8, load_limits(), nodes=2, efa=True, image=image)


def test_the_check_runs_over_efa_only_across_nodes_on_a_node_with_efa() -> None:
    _, seen = run(output(450.0), [h100(i) for i in range(8)], nodes=2, efa=True)
    assert seen == [(8, 2, True)]
    sockets = ValueError("NCCL ran over TCP sockets, not EFA (its log says NET/Socket)")
    check, _ = run(sockets, [h100(i) for i in range(8)], nodes=2, efa=True)
    assert check.verdict == FAIL and "TCP sockets" in check.reason
