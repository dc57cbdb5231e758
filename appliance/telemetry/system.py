"""Machine load for the TUI and /metrics: CPU and RAM through psutil, GPUs through NVML.

A box without an NVIDIA GPU (or without the driver) is a normal state, not an error: the
sample then has no GPUs and says so plainly in `gpu_error`. Every NVML call is guarded on its
own, because drivers routinely refuse single fields (power on some boards, per-process memory
without privileges) while the rest work; one refused field becomes None, never a lost sample.

NVML is initialised once, lazily, on the first sample (never at import time) and shut down by
`close()`. Sampling blocks for a few milliseconds, so `run()` does it in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from typing import Any, TypeVar

import psutil

from appliance.admin.messages import GpuStats, SystemStats

log = logging.getLogger("appliance.telemetry")

NO_GPU = "no NVIDIA GPU"
T = TypeVar("T")


class SystemSampler:
    """Takes samples on demand (`sample()`) or keeps the latest one fresh (`run()`).

    `nvml` is the NVML binding module; by default `pynvml` from nvidia-ml-py. It is a parameter
    so tests can stand in a driver that refuses fields, which a GPU-less CI box cannot produce.
    """

    def __init__(self, *, nvml: Any | None = None) -> None:
        self._nvml = nvml
        self._nvml_state: str | None = None  # None: not tried yet; "" ok; else the error
        self._process = psutil.Process()
        self.latest: SystemStats | None = None
        psutil.cpu_percent(interval=None)  # prime: the first call only sets the baseline

    def sample(self) -> SystemStats:
        memory = psutil.virtual_memory()
        gpus, gpu_error = self._sample_gpus()
        load = os.getloadavg()
        stats = SystemStats(
            taken_at=time.time(),
            cpu_percent=psutil.cpu_percent(interval=None),
            ram_used_bytes=int(memory.total - memory.available),
            ram_total_bytes=int(memory.total),
            load_avg=[load[0], load[1], load[2]],
            process_rss_bytes=int(self._process.memory_info().rss),
            gpus=gpus,
            gpu_error=gpu_error,
        )
        self.latest = stats
        return stats

    async def run(self, interval_s: float = 2.0) -> None:
        """Refresh `latest` every `interval_s` until cancelled (a lifespan background task)."""
        try:
            while True:
                try:
                    await asyncio.to_thread(self.sample)
                except Exception:  # a bad sample must not end telemetry for the process
                    log.exception("system sample failed")
                await asyncio.sleep(interval_s)
        finally:
            self.close()

    def close(self) -> None:
        if self._nvml_state == "" and self._nvml is not None:
            _guard(self._nvml, self._nvml.nvmlShutdown)
        self._nvml_state = None

    # --- NVML -----------------------------------------------------------------------------

    def _init_nvml(self) -> str:
        """'' when NVML is usable, else why not (in words an operator can act on)."""
        if self._nvml_state is not None:
            return self._nvml_state
        if self._nvml is None:
            try:
                import pynvml  # nvidia-ml-py; imported here so importing us loads no driver
            except ImportError:
                self._nvml_state = NO_GPU + " (nvidia-ml-py not installed)"
                return self._nvml_state
            self._nvml = pynvml
        nvml: Any = self._nvml
        try:
            nvml.nvmlInit()
        except nvml.NVMLError as exc:
            library_missing = getattr(nvml, "NVMLError_LibraryNotFound", ())
            driver_missing = getattr(nvml, "NVMLError_DriverNotLoaded", ())
            if isinstance(exc, (library_missing, driver_missing)):
                self._nvml_state = NO_GPU
            else:
                self._nvml_state = f"NVML unavailable: {exc}"
            return self._nvml_state
        self._nvml_state = ""
        return ""

    def _sample_gpus(self) -> tuple[list[GpuStats], str | None]:
        state = self._init_nvml()
        if state:
            return [], state
        nvml: Any = self._nvml
        count = _guard(nvml, nvml.nvmlDeviceGetCount)
        if not count:
            return [], NO_GPU
        return [self._sample_gpu(index) for index in range(count)], None

    def _sample_gpu(self, index: int) -> GpuStats:
        nvml: Any = self._nvml
        handle = _guard(nvml, nvml.nvmlDeviceGetHandleByIndex, index)
        if handle is None:
            return GpuStats(index=index)
        name = _guard(nvml, nvml.nvmlDeviceGetName, handle)
        util = _guard(nvml, nvml.nvmlDeviceGetUtilizationRates, handle)
        memory = _guard(nvml, nvml.nvmlDeviceGetMemoryInfo, handle)
        temperature = _guard(
            nvml, nvml.nvmlDeviceGetTemperature, handle, getattr(nvml, "NVML_TEMPERATURE_GPU", 0)
        )
        power_mw = _guard(nvml, nvml.nvmlDeviceGetPowerUsage, handle)
        return GpuStats(
            index=index,
            name=name.decode() if isinstance(name, bytes) else name,
            utilization_percent=float(util.gpu) if util is not None else None,
            memory_used_bytes=int(memory.used) if memory is not None else None,
            memory_total_bytes=int(memory.total) if memory is not None else None,
            temperature_c=float(temperature) if temperature is not None else None,
            power_w=power_mw / 1000.0 if power_mw is not None else None,
            processes=self._processes(handle),
        )

    def _processes(self, handle: object) -> list[tuple[int, int]]:
        nvml: Any = self._nvml
        found = _guard(nvml, nvml.nvmlDeviceGetComputeRunningProcesses, handle) or []
        out: list[tuple[int, int]] = []
        for proc in found:
            used = getattr(proc, "usedGpuMemory", None)
            if used is None:
                continue  # hidden from us (no privilege / MIG): skip, don't report 0
            out.append((int(proc.pid), int(used)))
        return out


def _guard(nvml: Any, call: Callable[..., T], *args: object) -> T | None:
    """One NVML call; None if the driver refuses it (not supported, no permission, lost GPU)."""
    try:
        return call(*args)
    except nvml.NVMLError as exc:
        log.debug("NVML %s refused: %s", getattr(call, "__name__", call), exc)
        return None
