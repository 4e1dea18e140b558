"""How many threads torch computes with, and how they wait.

A job beside other CPU-bound work crawled: `make demo`'s 45 s search took 32 min beside three
other jobs. Two causes, both torch's defaults. Its OpenMP threads spin while they wait for each
other at every operation, so a thread whose core another process holds keeps its partner
spinning through whole time slices (every small operation then costs a scheduler quantum); and
its thread count is the machine's cores, not the cores this process may use (a CPU affinity
mask, a container's cgroup quota, Ray's allocation) nor those other processes keep busy. Here
the threads sleep while they wait (``OMP_WAIT_POLICY=PASSIVE``, read by OpenMP when torch loads
it) and their number is the CPUs actually available, less those other processes are busy on
when the command starts, unless the user says otherwise (``--threads``, ``$OMP_NUM_THREADS``,
``$OMP_WAIT_POLICY``). Measured on two cores shared with other work (benchmarks/threads.py):
sleeping threads made a search 5 times faster than spinning ones, and one thread beside busy
processes 4 to 12 times faster than two sleeping ones.
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path
from typing import Callable

LOADAVG = Path("/proc/loadavg")
CGROUP_V2 = Path("/sys/fs/cgroup/cpu.max")
CGROUP_V1 = (Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"),
             Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us"))


# GNU OpenMP's spins before a waiting thread sleeps (libgomp counts about 100 a microsecond):
# long enough to catch a partner that is running, far shorter than a time slice of one that is
# not; its own default, 300,000, spins through whole time slices. Measured on two idle cores
# (benchmarks/threads.py, quick search, 8 α steps, 2 threads): 13.9 s with 1,000 spins against
# 27.5 s sleeping at once, and beside one busy process 43.2 s against 42.9 s.
SPINCOUNT = "1000"


def prefer_passive_waiting() -> None:
    """Make OpenMP's idle threads sleep rather than spin through time slices, unless the user
    chose: PASSIVE (LLVM's and Intel's runtimes sleep at once) and, for GNU OpenMP (torch's
    Linux wheels), a brief spin first, which a sleep-at-once policy makes tiny networks pay
    for at every operation on idle cores. Only effective before torch (and with it OpenMP) is
    loaded: the package calls it on import."""
    if "torch" in sys.modules or "OMP_WAIT_POLICY" in os.environ:
        return
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    os.environ.setdefault("GOMP_SPINCOUNT", SPINCOUNT)


def cgroup_cpus(v2: Path = CGROUP_V2, v1: tuple[Path, Path] = CGROUP_V1) -> float | None:
    """The CPUs a container's quota allows (quota / period), None where there is no quota."""
    try:
        quota, period = v2.read_text().split()[:2]
    except (OSError, ValueError):
        try:
            quota, period = (path.read_text().strip() for path in v1)
        except (OSError, ValueError):
            return None
    if quota in ("max", "-1"):
        return None
    try:
        return int(quota) / int(period)
    except (ValueError, ZeroDivisionError):
        return None


def available_cpus() -> int:
    """The CPUs this process may run on: its affinity mask, capped by a cgroup quota (a
    container given 2 CPUs of a 64-core host may use 2, and 64 threads there crawl)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:   # not Linux
        cpus = os.cpu_count() or 1
    quota = cgroup_cpus()
    if quota is not None:
        cpus = min(cpus, max(1, math.floor(quota)))
    return max(1, cpus)


def busy_elsewhere(path: Path = LOADAVG, readings: int = 5, interval: float = 0.02) -> int:
    """Threads of other processes that are runnable now: /proc/loadavg's count of runnable
    threads, less the one reading it (this process computes nothing else yet), the median of a
    few readings; 0 where it cannot be read."""
    counts = []
    for k in range(readings):
        try:
            counts.append(int(path.read_text().split()[3].split("/")[0]) - 1)
        except (OSError, ValueError, IndexError):
            return 0
        if k + 1 < readings:
            time.sleep(interval)
    return max(0, sorted(counts)[len(counts) // 2])


def default_threads() -> tuple[int, str]:
    """--threads' default and why: $OMP_NUM_THREADS where set (Ray sets it for its workers from
    their allocation, as users do), else the CPUs available less those other processes are
    busy on now (a thread more than the free cores waits for a core at every operation)."""
    try:
        return max(1, int(os.environ["OMP_NUM_THREADS"])), "$OMP_NUM_THREADS"
    except (KeyError, ValueError):
        pass
    cpus, busy = available_cpus(), busy_elsewhere()
    free = max(1, cpus - busy)
    why = f"{cpus} CPUs available"
    return free, why + (f", {min(busy, cpus)} busy with other processes at the start"
                        if free < cpus else "")


def configure_threads(threads: int | None = None,
                      say: Callable[[str], None] | None = None) -> int:
    """Set torch's intra-op threads to ``threads`` (None: ``default_threads()``, and ``say``
    is told when that is fewer than the CPUs available); returns the number set."""
    import torch

    if threads is None:
        threads, why = default_threads()
        if say and "busy" in why:
            say(f"{threads} thread(s): {why} (--threads N sets it)")
    count = max(1, threads)
    if torch.get_num_threads() != count:
        torch.set_num_threads(count)
    return count


def resumed_threads(folder: str | os.PathLike | None) -> int | None:
    """The thread count a run recorded when it started (its environment.json), for its resume:
    a float sum taken over another number of threads is ordered differently, and a search
    turns such differences into other choices, so a resume on another count would not end with
    the uninterrupted run's genotype. None where nothing is recorded, or where the user set
    ``$OMP_NUM_THREADS`` (theirs wins, as for a fresh run)."""
    import json

    if folder is None or "OMP_NUM_THREADS" in os.environ:
        return None
    try:
        recorded = json.loads((Path(folder) / "environment.json").read_text()).get("threads")
    except (OSError, ValueError):
        return None
    return recorded if isinstance(recorded, int) and recorded > 0 else None
