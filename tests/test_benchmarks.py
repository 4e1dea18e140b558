"""The benchmark scripts run and report in the documented shape."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_search_cost_reports_json_for_two_methods_and_the_baseline():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks/search_cost.py"), "--preset", "tiny",
         "--dataset", "digits", "--epochs", "1", "--methods", "zo-darts++,darts-1st", "--json",
         "--repeats", "2",
         # One thread: the shape is under test, and on a busy machine two OpenMP threads per
         # process can slow a tiny run down tenfold.
         "--threads", "1"],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert {"dataset", "device", "epochs", "methods"} <= set(report)
    assert report["dataset"] == "digits" and report["epochs"] == 1 and report["repeats"] == 2
    assert set(report["methods"]) == {"zo-darts++", "darts-1st", "darts-2nd"}
    base = report["methods"]["darts-2nd"]["sec_per_epoch_runs"]
    for name, r in report["methods"].items():
        assert set(r) == {"sec_per_epoch", "total_sec", "peak_mem_mb", "ratio_vs_darts_2nd",
                          "sec_per_epoch_runs", "ratio_runs"}, name
        assert r["sec_per_epoch"] > 0 and r["total_sec"] >= r["sec_per_epoch"] * 0.99
        assert r["peak_mem_mb"] > 10
        # Medians of the repeats, and each repeat's ratio against that repeat's baseline.
        assert len(r["sec_per_epoch_runs"]) == 2
        assert r["sec_per_epoch"] == pytest.approx(sum(r["sec_per_epoch_runs"]) / 2)
        assert r["ratio_runs"] == pytest.approx([a / b for a, b in
                                                 zip(r["sec_per_epoch_runs"], base)])
        assert r["ratio_vs_darts_2nd"] == pytest.approx(sum(r["ratio_runs"]) / 2)
    assert report["methods"]["darts-2nd"]["ratio_vs_darts_2nd"] == 1.0

