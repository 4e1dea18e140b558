"""torch's threads: as many as the CPUs this process may use and other processes leave free,
sleeping (not spinning) while they wait; --threads and $OMP_NUM_THREADS decide where given."""

import os
import subprocess
import sys

import pytest

from zodarts.utils import threads


def test_openmp_threads_sleep_while_they_wait_unless_the_user_chose(monkeypatch):
    """Set before torch loads OpenMP: importing zodarts first is enough (a fresh interpreter,
    where torch is not loaded yet)."""
    code = ("import zodarts, os; print(os.environ.get('OMP_WAIT_POLICY'), "
            "os.environ.get('GOMP_SPINCOUNT'))")
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stdout.split() == ["PASSIVE", threads.SPINCOUNT], out.stderr
    # The user's spin count is kept; a policy of theirs leaves the spin to OpenMP's default.
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**env, "GOMP_SPINCOUNT": "7"})
    assert out.stdout.split() == ["PASSIVE", "7"], out.stderr
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    monkeypatch.delitem(sys.modules, "torch")
    threads.prefer_passive_waiting()
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE" and "GOMP_SPINCOUNT" not in os.environ


@pytest.mark.parametrize("v2,v1,cpus", [
    ("200000 100000\n", None, 2.0),
    ("max 100000\n", None, None),
    (None, ("150000", "100000"), 1.5),
    (None, ("-1", "100000"), None),
    (None, None, None),
])
def test_a_cgroup_quota_is_read_from_either_version(tmp_path, v2, v1, cpus):
    v2_path, v1_paths = tmp_path / "cpu.max", (tmp_path / "quota", tmp_path / "period")
    if v2:
        v2_path.write_text(v2)
    if v1:
        for path, text in zip(v1_paths, v1):
            path.write_text(text)
    assert threads.cgroup_cpus(v2_path, v1_paths) == cpus


def test_the_cpus_available_are_the_affinity_capped_by_the_quota(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    monkeypatch.setattr(threads, "cgroup_cpus", lambda: 2.5)
    assert threads.available_cpus() == 2
    monkeypatch.setattr(threads, "cgroup_cpus", lambda: None)
    assert threads.available_cpus() == 4


def test_other_processes_busy_now_are_counted_from_the_runnable_threads(tmp_path):
    loadavg = tmp_path / "loadavg"
    loadavg.write_text("3.10 2.00 1.50 3/512 4242\n")       # 3 runnable: this reader and two
    assert threads.busy_elsewhere(loadavg, readings=3, interval=0) == 2
    assert threads.busy_elsewhere(tmp_path / "missing", readings=1) == 0


def test_the_default_leaves_the_cores_other_processes_hold(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "available_cpus", lambda: 2)
    monkeypatch.setattr(threads, "busy_elsewhere", lambda: 0)
    assert threads.default_threads() == (2, "2 CPUs available")
    monkeypatch.setattr(threads, "busy_elsewhere", lambda: 1)
    assert threads.default_threads() == (1, "2 CPUs available, 1 busy with other processes "
                                            "at the start")
    monkeypatch.setattr(threads, "busy_elsewhere", lambda: 5)
    assert threads.default_threads()[0] == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "3")              # the user's (or Ray's) choice
    assert threads.default_threads() == (3, "$OMP_NUM_THREADS")


def test_configure_threads_sets_torch_and_says_why_it_took_fewer(monkeypatch):
    import torch

    before = torch.get_num_threads()
    said = []
    monkeypatch.setattr(threads, "default_threads",
                        lambda: (1, "2 CPUs available, 1 busy with other processes at the start"))
    try:
        assert threads.configure_threads(None, said.append) == 1
        assert torch.get_num_threads() == 1 and "--threads N sets it" in said[0]
        assert threads.configure_threads(2, said.append) == 2 and len(said) == 1
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_threads_flag_is_checked_by_the_parser(capsys):
    from zodarts.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["search", "--threads", "0"])
    assert exit_.value.code == 2 and "must be >= 1" in capsys.readouterr().err


def test_a_resume_computes_with_the_threads_the_run_started_with(tmp_path, monkeypatch):
    """The default follows the load at the start; a resume must not: another thread count
    orders float sums otherwise and can end in another genotype."""
    import json

    from zodarts.utils.threads import resumed_threads

    (tmp_path / "environment.json").write_text(json.dumps({"threads": 2}))
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert resumed_threads(tmp_path) == 2
    assert resumed_threads(tmp_path / "elsewhere") is None
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert resumed_threads(tmp_path) is None
