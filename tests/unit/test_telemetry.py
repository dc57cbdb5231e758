"""System sampling: psutil always, NVML when present, and a plain answer when it is not."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import msgspec

from appliance.telemetry.system import NO_GPU, SystemSampler, SystemStats


class _NVMLError(Exception):
    pass


class _LibraryNotFound(_NVMLError):
    pass


class _FakeNVML:
    """A driver with two GPUs that refuses some fields, as real boards and permissions do.

    Stands in for pynvml because a GPU-less CI box cannot produce these refusals.
    """

    NVMLError = _NVMLError
    NVMLError_LibraryNotFound = _LibraryNotFound
    NVML_TEMPERATURE_GPU = 0

    def __init__(self, *, init_error: Exception | None = None) -> None:
        self.init_error = init_error
        self.init_calls = 0
        self.shutdowns = 0

    def nvmlInit(self) -> None:
        self.init_calls += 1
        if self.init_error is not None:
            raise self.init_error

    def nvmlShutdown(self) -> None:
        self.shutdowns += 1

    def nvmlDeviceGetCount(self) -> int:
        return 2

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetName(self, handle: int) -> Any:
        return b"NVIDIA L4" if handle == 0 else "NVIDIA A100-SXM4-80GB"

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> Any:
        return SimpleNamespace(gpu=73, memory=40)

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> Any:
        return SimpleNamespace(used=6 * 2**30, total=24 * 2**30, free=18 * 2**30)

    def nvmlDeviceGetTemperature(self, handle: int, sensor: int) -> int:
        return 61

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
        if handle == 1:
            raise _NVMLError("Not Supported")
        return 72_500  # milliwatts

    def nvmlDeviceGetComputeRunningProcesses(self, handle: int) -> list[Any]:
        if handle == 1:
            raise _NVMLError("Insufficient Permissions")
        return [
            SimpleNamespace(pid=4242, usedGpuMemory=5 * 2**30),
            SimpleNamespace(pid=4343, usedGpuMemory=None),  # another user's, hidden
        ]


def test_sample_on_this_machine_is_sane() -> None:
    stats = SystemSampler().sample()
    assert 0.0 <= stats.cpu_percent <= 100.0
    assert 0 < stats.ram_used_bytes <= stats.ram_total_bytes
    assert stats.process_rss_bytes > 0
    assert len(stats.load_avg) == 3
    # Either real GPUs, or none and a plain reason; never both, never neither.
    assert bool(stats.gpus) == (stats.gpu_error is None)


def test_absent_nvml_library_says_no_gpu() -> None:
    nvml = _FakeNVML(init_error=_LibraryNotFound("libnvidia-ml.so.1 not found"))
    sampler = SystemSampler(nvml=nvml)
    stats = sampler.sample()
    assert stats.gpus == [] and stats.gpu_error == NO_GPU
    sampler.sample()
    assert nvml.init_calls == 1  # initialised (or failed) once, not per sample


def test_other_nvml_failures_are_reported_as_such() -> None:
    stats = SystemSampler(nvml=_FakeNVML(init_error=_NVMLError("Unknown Error"))).sample()
    assert stats.gpus == [] and stats.gpu_error == "NVML unavailable: Unknown Error"


def test_gpus_are_sampled_and_refused_fields_are_none() -> None:
    nvml = _FakeNVML()
    sampler = SystemSampler(nvml=nvml)
    stats = sampler.sample()
    assert stats.gpu_error is None
    first, second = stats.gpus
    assert first.name == "NVIDIA L4" and second.name == "NVIDIA A100-SXM4-80GB"
    assert first.utilization_percent == 73.0
    assert (first.memory_used_bytes, first.memory_total_bytes) == (6 * 2**30, 24 * 2**30)
    assert first.temperature_c == 61.0
    assert first.power_w == 72.5
    assert first.processes == [(4242, 5 * 2**30)]
    assert second.power_w is None and second.processes == []
    sampler.close()
    assert nvml.shutdowns == 1


def test_stats_encode_for_the_admin_api() -> None:
    stats = SystemSampler(nvml=_FakeNVML()).sample()
    decoded = msgspec.json.decode(msgspec.json.encode(stats), type=SystemStats)
    assert decoded.gpus[0].processes == [(4242, 5 * 2**30)]


async def test_run_keeps_the_latest_sample_until_cancelled() -> None:
    nvml = _FakeNVML()
    sampler = SystemSampler(nvml=nvml)
    assert sampler.latest is None
    task = asyncio.create_task(sampler.run(interval_s=0.01))
    for _ in range(200):
        await asyncio.sleep(0.01)
        if sampler.latest is not None:
            break
    first = sampler.latest
    assert first is not None
    await asyncio.sleep(0.05)
    assert sampler.latest is not None and sampler.latest.taken_at > first.taken_at
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert nvml.shutdowns == 1
