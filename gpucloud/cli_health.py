"""``gpucloud health check``: the gate a GPU node passes before it is handed to a tenant."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click

from gpucloud.cli_support import CONTEXT, emit_json, out


@click.group(context_settings=CONTEXT)
def health() -> None:
    """Node-side GPU health (runs on the GPU node; needs only `pip install gpucloud`)."""


@health.command("check", context_settings=CONTEXT)
@click.option(
    "--expect",
    metavar="SKU",
    help="The instance type this node must be (e.g. p5.48xlarge), or `auto` to ask the EC2 metadata service.",
)
@click.option("--json", "as_json", is_flag=True, help="Print {verdict, expected, checks: [...]} as JSON.")
@click.option(
    "--textfile",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="PATH",
    help="Also write the verdicts for node_exporter's textfile collector (a *.prom file).",
)
@click.option("--deep", type=click.IntRange(1, 4), metavar="LEVEL", help="Also run `dcgmi diag -r LEVEL` (1-4).")
@click.option(
    "--nccl",
    is_flag=True,
    help="Also run NVIDIA's nccl-tests all_reduce_perf (on PATH) over every GPU and judge its bus bandwidth.",
)
@click.option(
    "--nccl-nodes",
    type=click.IntRange(min=2),
    metavar="N",
    help="Also run all_reduce_perf across N nodes of this node's Slurm cluster (srun from here, one process per "
    "node over as many GPUs as this node has) and judge it against a share of the SKU's network bandwidth.",
)
@click.option(
    "--nccl-image",
    metavar="IMAGE",
    help="With --nccl-nodes: run it in this container image through pyxis (srun --container-image), at "
    "/opt/nccl-tests/build/all_reduce_perf in it (health.yaml nccl.image_all_reduce), on the image's own "
    "libraries: on EFA nodes it fails unless the image's NCCL took libfabric's EFA provider.",
)
def check(
    expect: str | None,
    as_json: bool,
    textfile: Path | None,
    deep: int | None,
    nccl: bool,
    nccl_nodes: int | None,
    nccl_image: str | None,
) -> int:
    """Check this node's GPUs against what its SKU must have; exit 1 when anything fails.

    \b
    Checks (each PASS, WARN or FAIL with the value seen and the value expected):
      gpu-count, model, memory      what the catalog says the SKU has
      driver-branch                 the pinned driver branch (node_software.yaml)
      persistence-mode, ecc-mode    both on
      ecc-uncorrected-*             volatile and aggregate uncorrectable ECC errors: 0
      row-remapping                 no remap pending or failed (retired pages on older GPUs)
      nvlink, nvlink-errors         every link the SKU has is active; CRC/replay/recovery counters
      pcie-link                     width at its maximum (a lower generation at idle is a WARN)
      temperature, clock-events     below the slowdown threshold; no hardware/thermal/power-brake slowdown
      fabric / fabric-manager       NVSwitch SKUs: the GPU joined the NVLink fabric
      mig                           MIG mode as expected (off)
      xid                           no critical Xid in the kernel log's recent past
      dcgm-diag-rN                  with --deep N
      nccl-all-reduce               with --nccl: all_reduce_perf over every GPU; results check out; on an
                                    NVSwitch SKU busbw at the largest size >= its floor (health.yaml nccl)
      nccl-all-reduce-N-nodes       with --nccl-nodes N: the same across N nodes through Slurm (in a container
                                    with --nccl-image); over EFA where the node has it; busbw >= a share of
                                    the SKU's network bandwidth (health.yaml nccl)
    It fails closed: no NVML, no driver, a call failing or a tool hanging is a FAIL, never a skip.
    The metadata service is asked only with --expect auto.
    """
    from gpucloud.errors import ConfigError
    from gpucloud.exposition import check_textfile_path
    from gpucloud.health.checks import FAIL, Check
    from gpucloud.health.expect import AUTO, Expectation, load_thresholds, sku_named
    from gpucloud.health.report import render, write_textfile
    from gpucloud.health.run import check_node
    from gpucloud.health.tools import ToolError, instance_type

    limits = load_thresholds()
    if nccl_image is not None and nccl_nodes is None:
        raise ConfigError(f"--nccl-image={nccl_image}: runs only with --nccl-nodes N (the across-node all-reduce)")
    if textfile is not None:
        check_textfile_path(textfile)
    sku = None
    undetected: Check | None = None
    if expect == AUTO:
        try:
            sku = sku_named(instance_type(limits.metadata_timeout_s))
        except ToolError as err:  # no answer from the metadata service: a failed check (fail closed), not bad input
            undetected = Check("instance-type", None, FAIL, None, "the instance type (IMDSv2)", str(err))
    elif expect is not None:
        sku = sku_named(expect)
    report = check_node(
        Expectation(sku=sku, limits=limits),
        deep=deep,
        all_reduce=nccl,
        all_reduce_nodes=nccl_nodes,
        all_reduce_image=nccl_image,
    )
    if undetected is not None:
        report = replace(report, checks=[undetected, *report.checks])
    if textfile is not None:
        write_textfile(textfile, report)
    if as_json:
        emit_json(report.as_json())
    else:
        render(out, report)
    return 1 if report.verdict == "FAIL" else 0
