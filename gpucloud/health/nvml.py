"""The one place that talks to NVML (``pynvml``, from the ``nvidia-ml-py`` package).

``read_node(nvml)`` takes the pynvml module (or, in tests, a fake with the same functions, constants
and ``NVMLError`` classes) and returns ``NodeFacts``: plain data the checks judge. A call that NVML
answers with NOT_SUPPORTED becomes ``Missing(not_supported=True)``; any other error becomes
``Missing(reason)``, which every check treats as a failure. Nothing here decides health.
"""

from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Callable
from typing import Any, TypeVar

from gpucloud.health.facts import Fact, GpuFacts, Missing, NodeFacts, NvLink, RemappedRows

T = TypeVar("T")
MIB = 1024 * 1024


class NvmlUnavailableError(Exception):
    """NVML cannot be used at all: no library, no driver, init failed."""


def load_nvml() -> Any:
    """The pynvml module, or NvmlUnavailableError when nvidia-ml-py is not installed."""
    try:
        import pynvml
    except ImportError as err:
        raise NvmlUnavailableError(f"the nvidia-ml-py package is not installed ({err})") from None
    return pynvml


def _is(nvml: Any, err: Exception, *codes: int) -> bool:
    """Whether an NVMLError carries one of these NVML return codes."""
    return getattr(err, "value", None) in codes


def _reader(nvml: Any) -> Callable[..., Fact[Any]]:
    def read(fn: Callable[..., T], *args: Any, convert: Callable[[T], Any] = lambda v: v) -> Fact[Any]:
        try:
            return Fact(value=convert(fn(*args)))
        except nvml.NVMLError as err:
            not_supported = _is(nvml, err, nvml.NVML_ERROR_NOT_SUPPORTED)
            return Fact(missing=Missing(f"{fn.__name__}: {err}", not_supported=not_supported))

    return read


def _nvlinks(nvml: Any, handle: Any) -> Fact[tuple[NvLink, ...]]:
    """Every link NVML reports a state for; NOT_SUPPORTED on the first link means a GPU without NVLink."""
    links: list[NvLink] = []
    for link in range(nvml.NVML_NVLINK_MAX_LINKS):
        try:
            active = nvml.nvmlDeviceGetNvLinkState(handle, link) == nvml.NVML_FEATURE_ENABLED
        except nvml.NVMLError as err:
            if _is(nvml, err, nvml.NVML_ERROR_NOT_SUPPORTED, nvml.NVML_ERROR_INVALID_ARGUMENT):
                break  # past the last link this GPU has
            return Fact(missing=Missing(f"nvmlDeviceGetNvLinkState(link {link}): {err}"))
        counters: dict[str, int | None] = {}
        for key, counter in (
            ("crc_flit", nvml.NVML_NVLINK_ERROR_DL_CRC_FLIT),
            ("crc_data", nvml.NVML_NVLINK_ERROR_DL_CRC_DATA),
            ("replay", nvml.NVML_NVLINK_ERROR_DL_REPLAY),
            ("recovery", nvml.NVML_NVLINK_ERROR_DL_RECOVERY),
        ):
            try:
                counters[key] = int(nvml.nvmlDeviceGetNvLinkErrorCounter(handle, link, counter)) if active else 0
            except nvml.NVMLError as err:
                if not _is(nvml, err, nvml.NVML_ERROR_NOT_SUPPORTED):
                    return Fact(missing=Missing(f"nvmlDeviceGetNvLinkErrorCounter(link {link}, {key}): {err}"))
                counters[key] = None  # Blackwell reports some counters through other APIs
        links.append(NvLink(link=link, active=active, **counters))
    if not links:
        return Fact(missing=Missing("no NVLink on this GPU", not_supported=True))
    return Fact(value=tuple(links))


def _fabric(nvml: Any, handle: Any) -> tuple[Fact[int], Fact[int]]:
    info = nvml.c_nvmlGpuFabricInfo_t()
    try:
        nvml.nvmlDeviceGetGpuFabricInfo(handle, ctypes.byref(info))
    except nvml.NVMLError as err:
        missing = Missing(f"nvmlDeviceGetGpuFabricInfo: {err}", _is(nvml, err, nvml.NVML_ERROR_NOT_SUPPORTED))
        return Fact(missing=missing), Fact(missing=missing)
    return Fact(value=int(info.state)), Fact(value=int(info.status))


def _clock_reasons(nvml: Any, handle: Any) -> Fact[int]:
    read = _reader(nvml)
    getter = (
        getattr(nvml, "nvmlDeviceGetCurrentClocksEventReasons", None) or nvml.nvmlDeviceGetCurrentClocksThrottleReasons
    )
    return read(getter, handle, convert=int)


def lost_gpu(index: int, reason: str) -> GpuFacts:
    """A GPU NVML counts but cannot open (fallen off the bus, lost): every fact missing, for that reason."""
    missing: Fact[Any] = Fact(missing=Missing(reason))
    fields = {name: missing for name in GpuFacts.__dataclass_fields__ if name != "index"}
    return GpuFacts(index=index, **fields)


def read_gpu(nvml: Any, index: int) -> GpuFacts:
    read = _reader(nvml)
    try:
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
    except nvml.NVMLError as err:
        return lost_gpu(index, f"nvmlDeviceGetHandleByIndex({index}): {err}")
    enabled = nvml.NVML_FEATURE_ENABLED
    fabric_state, fabric_status = _fabric(nvml, handle)
    return GpuFacts(
        index=index,
        name=read(nvml.nvmlDeviceGetName, handle, convert=str),
        uuid=read(nvml.nvmlDeviceGetUUID, handle, convert=str),
        bus_id=read(nvml.nvmlDeviceGetPciInfo, handle, convert=lambda p: _text(p.busId)),
        memory_mib=read(nvml.nvmlDeviceGetMemoryInfo, handle, convert=lambda m: int(m.total) // MIB),
        persistence=read(nvml.nvmlDeviceGetPersistenceMode, handle, convert=lambda v: v == enabled),
        ecc_enabled=read(nvml.nvmlDeviceGetEccMode, handle, convert=lambda modes: modes[0] == enabled),
        ecc_uncorrected_volatile=read(
            nvml.nvmlDeviceGetTotalEccErrors,
            handle,
            nvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED,
            nvml.NVML_VOLATILE_ECC,
            convert=int,
        ),
        ecc_uncorrected_aggregate=read(
            nvml.nvmlDeviceGetTotalEccErrors,
            handle,
            nvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED,
            nvml.NVML_AGGREGATE_ECC,
            convert=int,
        ),
        remapped_rows=read(
            nvml.nvmlDeviceGetRemappedRows,
            handle,
            convert=lambda r: RemappedRows(
                correctable=int(r[0]), uncorrectable=int(r[1]), pending=bool(r[2]), failed=bool(r[3])
            ),
        ),
        retired_pages_pending=read(nvml.nvmlDeviceGetRetiredPagesPendingStatus, handle, convert=lambda v: v == enabled),
        nvlinks=_nvlinks(nvml, handle),
        pcie_gen=read(nvml.nvmlDeviceGetCurrPcieLinkGeneration, handle, convert=int),
        pcie_gen_max=read(nvml.nvmlDeviceGetMaxPcieLinkGeneration, handle, convert=int),
        pcie_width=read(nvml.nvmlDeviceGetCurrPcieLinkWidth, handle, convert=int),
        pcie_width_max=read(nvml.nvmlDeviceGetMaxPcieLinkWidth, handle, convert=int),
        temperature_c=read(nvml.nvmlDeviceGetTemperature, handle, nvml.NVML_TEMPERATURE_GPU, convert=int),
        slowdown_c=read(
            nvml.nvmlDeviceGetTemperatureThreshold, handle, nvml.NVML_TEMPERATURE_THRESHOLD_SLOWDOWN, convert=int
        ),
        clock_event_reasons=_clock_reasons(nvml, handle),
        fabric_state=fabric_state,
        fabric_status=fabric_status,
        mig_enabled=read(
            nvml.nvmlDeviceGetMigMode, handle, convert=lambda modes: modes[0] == nvml.NVML_DEVICE_MIG_ENABLE
        ),
    )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def read_node(nvml: Any) -> NodeFacts:
    """Initialise NVML, read every GPU, shut NVML down. NvmlUnavailableError when NVML cannot start."""
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as err:
        raise NvmlUnavailableError(f"NVML did not start: {err}") from None
    try:
        read = _reader(nvml)
        driver = read(nvml.nvmlSystemGetDriverVersion, convert=_text)
        try:
            count = int(nvml.nvmlDeviceGetCount())
        except nvml.NVMLError as err:
            raise NvmlUnavailableError(f"nvmlDeviceGetCount: {err}") from None
        return NodeFacts(driver_version=driver, gpus=tuple(read_gpu(nvml, i) for i in range(count)))
    finally:
        with contextlib.suppress(nvml.NVMLError):
            nvml.nvmlShutdown()
