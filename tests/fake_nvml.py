"""A stand-in for the pynvml module at gpucloud's NVML boundary.

It has the functions gpucloud.health.nvml calls, with pynvml's real return types (ctypes structs,
lists, tuples, str) and pynvml's real errors (``pynvml.NVMLError(code)`` builds the same subclass,
e.g. ``NVMLError_NotSupported``), so the reader code under test is the code that runs on a node.
Each fake GPU is a plain object; a test changes one field, or names a call that should fail.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pynvml

from gpucloud.datafiles import load_data_file

MIB = 1024 * 1024


@dataclass
class FakeGpu:
    name: str = "NVIDIA H100 80GB HBM3"
    memory_mib: int = 81559
    persistence: int = 1
    ecc: tuple[int, int] = (1, 1)
    ecc_volatile: int = 0
    ecc_aggregate: int = 0
    remapped: tuple[int, int, int, int] | None = (0, 0, 0, 0)  # None: NOT_SUPPORTED (pre-Ampere)
    retired_pending: int | None = None  # None: NOT_SUPPORTED
    nvlinks: list[int] = field(default_factory=lambda: [1] * 18)  # state per link
    nvlink_errors: dict[tuple[int, int], int] = field(default_factory=dict)  # (link, counter) -> count
    pcie: tuple[int, int, int, int] = (5, 5, 16, 16)  # gen, max gen, width, max width
    temperature: int = 34
    slowdown: int = 87
    reasons: int = 0x1  # GPU idle
    fabric: tuple[int, int] | None = (3, 0)  # (state, status); None: NOT_SUPPORTED
    mig: tuple[int, int] | None = (0, 0)  # None: NOT_SUPPORTED
    fail: dict[str, int] = field(default_factory=dict)  # NVML function name -> error code it raises
    index: int = 0


def h100(index: int = 0) -> FakeGpu:
    return FakeGpu(index=index)


def l40s(index: int = 0) -> FakeGpu:
    return FakeGpu(
        name="NVIDIA L40S", memory_mib=46068, nvlinks=[], fabric=None, mig=None, pcie=(4, 4, 16, 16), index=index
    )


class FakeNvml:
    """Module-like: ``fake.nvmlDeviceGetName(handle)`` etc.; constants and errors are pynvml's own."""

    NVMLError = pynvml.NVMLError
    c_nvmlGpuFabricInfo_t = pynvml.c_nvmlGpuFabricInfo_t

    def __init__(
        self,
        gpus: list[FakeGpu],
        *,
        driver: str | None = None,  # None: the pinned driver (gpucloud/data/node_software.yaml)
        init_error: int | None = None,
        count_error: int | None = None,
        hang_s: float = 0.0,
    ) -> None:
        self.gpus = gpus
        self.driver = (
            driver if driver is not None else str(load_data_file("node_software.yaml")["nvidia_driver_version"])
        )
        self.init_error = init_error
        self.count_error = count_error
        self.hang_s = hang_s
        self.calls: list[str] = []
        self.shut_down = False

    def __getattr__(self, name: str) -> Any:
        if name.startswith(("NVML_", "nvmlClocks")):
            return getattr(pynvml, name)
        raise AttributeError(name)

    def _gpu(self, handle: FakeGpu, fn: str) -> FakeGpu:
        self.calls.append(fn)
        if fn in handle.fail:
            raise pynvml.NVMLError(handle.fail[fn])
        return handle

    def nvmlInit(self) -> None:
        if self.hang_s:
            time.sleep(self.hang_s)
        if self.init_error is not None:
            raise pynvml.NVMLError(self.init_error)

    def nvmlShutdown(self) -> None:
        self.shut_down = True

    def nvmlSystemGetDriverVersion(self) -> str:
        return self.driver

    def nvmlDeviceGetCount(self) -> int:
        if self.count_error is not None:
            raise pynvml.NVMLError(self.count_error)
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeGpu:
        gpu = self.gpus[index]
        if "nvmlDeviceGetHandleByIndex" in gpu.fail:
            raise pynvml.NVMLError(gpu.fail["nvmlDeviceGetHandleByIndex"])
        return gpu

    def nvmlDeviceGetName(self, h: FakeGpu) -> str:
        return self._gpu(h, "nvmlDeviceGetName").name

    def nvmlDeviceGetUUID(self, h: FakeGpu) -> str:
        return f"GPU-{self._gpu(h, 'nvmlDeviceGetUUID').index:08d}-fake"

    def nvmlDeviceGetPciInfo(self, h: FakeGpu) -> Any:
        info = pynvml.nvmlPciInfo_t()
        info.busId = f"00000000:{0x53 + self._gpu(h, 'nvmlDeviceGetPciInfo').index:02X}:00.0".encode()
        return info

    def nvmlDeviceGetMemoryInfo(self, h: FakeGpu) -> Any:
        info = pynvml.c_nvmlMemory_t()
        info.total = self._gpu(h, "nvmlDeviceGetMemoryInfo").memory_mib * MIB
        return info

    def nvmlDeviceGetPersistenceMode(self, h: FakeGpu) -> int:
        return self._gpu(h, "nvmlDeviceGetPersistenceMode").persistence

    def nvmlDeviceGetEccMode(self, h: FakeGpu) -> list[int]:
        return list(self._gpu(h, "nvmlDeviceGetEccMode").ecc)

    def nvmlDeviceGetTotalEccErrors(self, h: FakeGpu, error_type: int, counter: int) -> int:
        gpu = self._gpu(h, "nvmlDeviceGetTotalEccErrors")
        return gpu.ecc_volatile if counter == pynvml.NVML_VOLATILE_ECC else gpu.ecc_aggregate

    def nvmlDeviceGetRemappedRows(self, h: FakeGpu) -> tuple[int, int, int, int]:
        gpu = self._gpu(h, "nvmlDeviceGetRemappedRows")
        if gpu.remapped is None:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return gpu.remapped

    def nvmlDeviceGetRetiredPagesPendingStatus(self, h: FakeGpu) -> int:
        gpu = self._gpu(h, "nvmlDeviceGetRetiredPagesPendingStatus")
        if gpu.retired_pending is None:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return gpu.retired_pending

    def nvmlDeviceGetNvLinkState(self, h: FakeGpu, link: int) -> int:
        gpu = self._gpu(h, "nvmlDeviceGetNvLinkState")
        if link >= len(gpu.nvlinks):
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return gpu.nvlinks[link]

    def nvmlDeviceGetNvLinkErrorCounter(self, h: FakeGpu, link: int, counter: int) -> int:
        return self._gpu(h, "nvmlDeviceGetNvLinkErrorCounter").nvlink_errors.get((link, counter), 0)

    def nvmlDeviceGetCurrPcieLinkGeneration(self, h: FakeGpu) -> int:
        return self._gpu(h, "nvmlDeviceGetCurrPcieLinkGeneration").pcie[0]

    def nvmlDeviceGetMaxPcieLinkGeneration(self, h: FakeGpu) -> int:
        return self._gpu(h, "nvmlDeviceGetMaxPcieLinkGeneration").pcie[1]

    def nvmlDeviceGetCurrPcieLinkWidth(self, h: FakeGpu) -> int:
        return self._gpu(h, "nvmlDeviceGetCurrPcieLinkWidth").pcie[2]

    def nvmlDeviceGetMaxPcieLinkWidth(self, h: FakeGpu) -> int:
        return self._gpu(h, "nvmlDeviceGetMaxPcieLinkWidth").pcie[3]

    def nvmlDeviceGetTemperature(self, h: FakeGpu, sensor: int) -> int:
        return self._gpu(h, "nvmlDeviceGetTemperature").temperature

    def nvmlDeviceGetTemperatureThreshold(self, h: FakeGpu, threshold: int) -> int:
        return self._gpu(h, "nvmlDeviceGetTemperatureThreshold").slowdown

    def nvmlDeviceGetCurrentClocksEventReasons(self, h: FakeGpu) -> int:
        return self._gpu(h, "nvmlDeviceGetCurrentClocksEventReasons").reasons

    def nvmlDeviceGetGpuFabricInfo(self, h: FakeGpu, ref: Any) -> int:
        gpu = self._gpu(h, "nvmlDeviceGetGpuFabricInfo")
        if gpu.fabric is None:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        ref._obj.state, ref._obj.status = gpu.fabric
        return int(pynvml.NVML_SUCCESS)

    def nvmlDeviceGetMigMode(self, h: FakeGpu) -> list[int]:
        gpu = self._gpu(h, "nvmlDeviceGetMigMode")
        if gpu.mig is None:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return list(gpu.mig)
