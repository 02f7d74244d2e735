"""What the measurements ran on, and the counters they read: /proc/stat, RAPL, resident memory."""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RAPL_ROOT = Path("/sys/class/powercap")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def cuda_device() -> str | None:
    """The CUDA device name when torch sees one; None without torch or without a GPU."""
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    return str(torch.cuda.get_device_name(0))


def describe(include_gpu: bool = True) -> dict[str, Any]:
    gpu = cuda_device() if include_gpu else None
    return {
        "cpu_model": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable_cpus(),
        "machine": platform.machine(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "gpu": gpu,
        "gpu_note": None if gpu else "no CUDA GPU available: every figure is from the CPU",
        "rapl": Rapl().available,
        "nvml": _nvml_available(),
    }


def _nvml_available() -> bool:
    try:
        import pynvml  # noqa: F401
    except ImportError:
        return False
    return cuda_device() is not None


class Rapl:
    """Package energy from Intel RAPL (/sys/class/powercap), when the kernel exposes it readable."""

    def __init__(self) -> None:
        self.zones: list[tuple[Path, int]] = []
        for zone in sorted(RAPL_ROOT.glob("intel-rapl:[0-9]*")) if RAPL_ROOT.exists() else []:
            if ":" in zone.name[len("intel-rapl:") :]:
                continue  # sub-zones (core, uncore) are inside the package figure
            energy, top = zone / "energy_uj", zone / "max_energy_range_uj"
            try:
                int(energy.read_text())
                self.zones.append((energy, int(top.read_text())))
            except (OSError, ValueError):
                continue

    @property
    def available(self) -> bool:
        return bool(self.zones)

    def read_uj(self) -> list[int]:
        return [int(path.read_text()) for path, _ in self.zones]

    def joules_between(self, before: list[int], after: list[int]) -> float:
        total = 0
        for (_, top), b, a in zip(self.zones, before, after, strict=True):
            total += a - b if a >= b else a + top - b  # the counter wraps at max_energy_range_uj
        return total / 1e6


@dataclass(frozen=True)
class CpuTimes:
    busy_ticks: int
    total_ticks: int
    own_ticks: int


class CpuSampler:
    """Reads /proc/stat and /proc/self/stat to tell how busy other processes kept the CPUs."""

    def __init__(self) -> None:
        self.available = Path("/proc/stat").exists() and Path("/proc/self/stat").exists()

    def sample(self) -> CpuTimes | None:
        if not self.available:
            return None
        try:
            fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
            values = [int(v) for v in fields[:8]]
            idle = values[3] + values[4]
            total = sum(values)
            own = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
            own_ticks = int(own[11]) + int(own[12])  # utime, stime (fields 14 and 15)
        except (OSError, ValueError, IndexError):
            return None
        return CpuTimes(total - idle, total, own_ticks)

    @staticmethod
    def others_share(before: CpuTimes | None, after: CpuTimes | None) -> float | None:
        """Share of all CPUs' time used by other processes between two samples (0..1)."""
        if before is None or after is None:
            return None
        total = after.total_ticks - before.total_ticks
        if total <= 0:
            return None
        others = (after.busy_ticks - before.busy_ticks) - (after.own_ticks - before.own_ticks)
        return max(0.0, min(1.0, others / total))


def rss_bytes() -> int | None:
    """Current resident memory of this process."""
    return _status_field("VmRSS")


def peak_rss_bytes() -> int | None:
    return _status_field("VmHWM")


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (Linux >= 4.0); False where not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _status_field(name: str) -> int | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None


def memory_bytes() -> int | None:
    """Physical memory of this machine (or of this container, where a cgroup limit is lower)."""
    total = None
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        pass
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit.isdigit():
            total = min(total or int(limit), int(limit))
    except OSError:
        pass
    return total


def default_memory_limit_bytes() -> int | None:
    """What one candidate may use by default: 80% of the memory, so that the advisor stops a
    runaway candidate with a clear reason before the kernel's out-of-memory killer picks a victim."""
    total = memory_bytes()
    return int(total * 0.8) if total else None


def megabytes_from_env(name: str, default_mb: float, error: type[Exception]) -> int:
    """A byte cap a user sets in megabytes through an environment variable (`default_mb` when
    unset); anything but a number is `error` in one sentence."""
    raw = os.environ.get(name)
    try:
        return int(float(raw) * 1e6) if raw else int(default_mb * 1e6)
    except ValueError:
        raise error(f"{name}={raw!r} is not a number of megabytes; set it to e.g. 4096.") from None
