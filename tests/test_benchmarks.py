"""The benchmark scripts run and report in the documented shape."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"


def test_search_cost_reports_json_for_a_method_and_the_baseline():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks/search_cost.py"), "--preset", "tiny",
         "--dataset", "digits", "--epochs", "1", "--methods", "zo-darts++", "--json",
         "--repeats", "2",
         # One thread: the shape is under test, and on a busy machine two OpenMP threads per
         # process can slow a tiny run down tenfold.
         "--threads", "1"],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert {"dataset", "device", "epochs", "methods"} <= set(report)
    assert report["dataset"] == "digits" and report["epochs"] == 1 and report["repeats"] == 2
    assert set(report["methods"]) == {"zo-darts++", "darts-2nd"}
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



def _json_of(args, timeout=300):
    proc = subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_search_speed_reports_the_ratio_to_a_plain_step():
    report = _json_of([ROOT / "benchmarks/search_speed.py", "--preset", "tiny", "--dataset",
                       "digits", "--threads", "1", "--json"])
    for phase in ("phase1", "phase2"):
        r = report[phase]
        assert r["ratio_to_plain"] == pytest.approx(r["sec_per_step"] / r["sec_per_plain_step"])
        assert r["sec_per_plain_step"] > 0 and r["gflop_per_round"] > 0
    assert report["precision"] == "fp32" and report["zo_steps"] == 2


def test_zo_variance_compares_every_variant_with_the_reference():
    report = _json_of([ROOT / "benchmarks/zo_variance.py", "--dataset", "digits", "--draws", "4",
                       "--reference-pairs", "4", "--pretrain", "2", "--zo-steps", "2",
                       "--variants", "paper,anti,hybrid", "--threads", "1", "--json"])
    rows = {r["variant"]: r for r in report["variants"]}
    assert set(rows) == {"first-order", "paper", "anti", "hybrid"}
    assert (rows["paper"]["cost"], rows["anti"]["cost"], rows["hybrid"]["cost"]) == (2, 3, 2)
    assert rows["anti"]["estimates_per_group"] == 12 // 3  # equal compute: 12 passes a batch
    assert rows["paper"]["estimates_per_group"] == 4  # 6 wanted, only 4 drawn
    for r in rows.values():
        assert -1.0 <= r["cos"] <= 1.0 and r["cos"] != 0.0


def test_decide_runs_a_sweep_and_pairs_each_seed_with_random(tmp_path):
    out = tmp_path / "decide"
    summary = _json_of([ROOT / "benchmarks/decide.py", "--datasets", "digits", "--methods",
                        "zo-darts++", "--seeds", "3", "--preset", "tiny", "--out", out,
                        "--json", "--", "--epochs", "1", "--train-epochs", "1"], timeout=600)
    row = summary["digits"]["methods"]["zo-darts++"]
    assert row["seeds"] == [3] and len(row["steps_to_decided"]) == 1
    # The paired difference is that of the trials' own eval.json.
    accs = {m: json.loads((out / "digits" / m / "none" / "seed3" / "eval.json").read_text())
            ["test"]["acc"] for m in ("zo-darts++", "random")}
    assert row["acc_vs_random"]["mean"] == pytest.approx(accs["zo-darts++"] - accs["random"])
    assert (out / "decide.md").is_file() and "zo-darts++" in (out / "decide.md").read_text()


def _fake_trial(run, acc, epochs=10, train_epochs=5, method="zo-darts++", seed=0, a_lr=0.015,
                options=""):
    """The files decide.py reads from a finished trial."""
    (run / "search").mkdir(parents=True)
    (run / "train").mkdir()
    (run / "eval.json").write_text(json.dumps({"test": {"acc": acc, "auc": 0.5},
                                               "params": 1000}))
    (run / "config.yaml").write_text(f"dataset: digits\nmethod: {method}\nseed: {seed}\n"
                                     f"epochs: {epochs}\nbatch_size: 16\nC: 4\n"
                                     f"a_lr: {a_lr}\ndecided_margin: 0.1\nsize_search: false\n"
                                     + (f"options:\n  {options}\n" if options else ""))
    (run / "train/config.yaml").write_text(f"epochs: {train_epochs}\nseed: {seed}\n")
    (run / "search/log.jsonl").write_text(json.dumps({"epoch": 0, "decided": False,
                                                      "margin_min": 0.0}) + "\n")
    skip_wins = [[0.1, 0.6, 0.1, 0.1, 0.1]] * 18  # every edge: skip_connect by a margin of 0.5
    (run / "search/alphas.jsonl").write_text(json.dumps({"epoch": 0, "op": skip_wins,
                                                         "kernel": None, "depth": None}) + "\n")
    (run / "search/steps.jsonl").write_text(json.dumps({"epoch": 0, "step": 0}) + "\n")


def _decide_row(out, *flags):
    """decide.py --no-run on OUT with FLAGS: (the process, zo-darts++'s row or None)."""
    args = [sys.executable, ROOT / "benchmarks/decide.py", "--no-run", "--out", out, *flags,
            "--json"]
    proc = subprocess.run(list(map(str, args)), capture_output=True, text=True, timeout=120)
    row = (json.loads(proc.stdout)["digits"]["methods"]["zo-darts++"] if proc.returncode == 0
           else None)
    return proc, row


@pytest.mark.parametrize("differ", [None, "epochs", "train"])
def test_decide_pairs_with_random_trials_of_another_sweep_under_the_same_protocol(tmp_path,
                                                                                  differ):
    _fake_trial(tmp_path / "a/digits/zo-darts++/none/seed0", 0.8,
                epochs=11 if differ == "epochs" else 10,
                train_epochs=6 if differ == "train" else 5)
    _fake_trial(tmp_path / "b/digits/random/none/seed0", 0.7, method="random")
    proc, row = _decide_row(tmp_path / "a", "--random-from", tmp_path / "b")
    if differ is None:
        assert proc.returncode == 0, proc.stderr
        assert row["acc_vs_random"]["mean"] == pytest.approx(0.1)
        # Decidedness recomputed from the distributions, not the log's flag.
        assert row["decided_share"] == 1.0 and row["final_margin"] == pytest.approx(0.5)
    else:
        assert proc.returncode != 0
        assert "same protocol" in proc.stderr
        assert ("epochs" if differ == "epochs" else "train/config.yaml") in proc.stderr


@pytest.mark.parametrize("differ", [None, "a_lr", "options.zo_sign"])
def test_decide_reads_more_seeds_from_another_folder_of_the_same_settings(tmp_path, differ):
    """Seed 1 from a second folder joins seed 0; it is refused where its settings differ, an
    option seed 0's config does not record (added later) counting at its default."""
    for seed, acc in ((0, 0.8), (1, 0.9)):
        folder = "a" if seed == 0 else "b"
        later = seed == 1 and differ is not None
        _fake_trial(tmp_path / f"{folder}/digits/zo-darts++/none/seed{seed}", acc, seed=seed,
                    a_lr=0.03 if later and differ == "a_lr" else 0.015,
                    options="zo_sign: true" if later and differ == "options.zo_sign"
                    else "zo_sign: false" if seed == 1 else "")
        _fake_trial(tmp_path / f"{folder}/digits/random/none/seed{seed}", 0.7, seed=seed,
                    method="random")
    proc, row = _decide_row(tmp_path / "a", "--also", tmp_path / "b")
    if differ is None:
        assert proc.returncode == 0, proc.stderr
        assert row["seeds"] == [0, 1] and row["acc_vs_random"]["n"] == 2
        assert row["acc_vs_random"]["mean"] == pytest.approx(0.15)
    else:
        assert proc.returncode != 0 and differ in proc.stderr and "seeds" in proc.stderr


def test_gpu_check_small_mode_runs_every_part(tmp_path):
    proc = subprocess.run(["bash", str(ROOT / "benchmarks/gpu_check.sh"), "--small", "--out",
                           str(tmp_path)], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr + proc.stdout[-2000:]
    summary = json.loads(proc.stdout)
    assert summary["ok"] and summary["small"]
    for part in ("environment", "tests", "search_cost", "paper_search", "retraining"):
        assert summary[part]["ok"], part
    assert set(summary["search_speed"]) == {"fp32", "bf16"}
    assert summary["search_speed"]["bf16"]["phase2"]["ratio_to_plain"] > 0
    assert summary["environment"]["torch"]


@pytest.mark.parametrize("script", sorted(p.name for p in BENCHMARKS.glob("*.py")))
def test_every_benchmark_says_its_defaults_and_cost(script):
    out = subprocess.run([sys.executable, str(BENCHMARKS / script), "--help"],
                         capture_output=True, text=True, check=True).stdout
    assert "Expected cost" in out
    options = re.findall(r"^\s{2}(--[A-Za-z][A-Za-z0-9-]*)", out, flags=re.MULTILINE)
    assert options and out.count("(default:") == len(options), (script, options)


def test_decide_without_a_folder_starts_nothing():
    done = subprocess.run([sys.executable, str(BENCHMARKS / "decide.py")], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and "--out" in done.stderr
    assert "-- RUN OPTIONS" in done.stderr


def test_decide_places_each_method_in_the_datasets_landscape(tmp_path):
    from conftest import fake_landscape
    from zodarts.stats import percentile_of

    land = fake_landscape(tmp_path / "land", "digits", [[0.6, 0.7], [0.75, 0.9]],
                          {"epochs": 5, "seed": 0})
    _fake_trial(tmp_path / "a/digits/zo-darts++/none/seed0", 0.8)
    _fake_trial(tmp_path / "a/digits/random/none/seed0", 0.7, method="random")
    proc, row = _decide_row(tmp_path / "a", "--landscape", land)
    assert proc.returncode == 0, proc.stderr
    assert row["percentile"]["mean"] == pytest.approx(percentile_of(0.8, [0.6, 0.7, 0.75, 0.9]))
    other = fake_landscape(tmp_path / "other", "digits", [[0.6, 0.7]], {"epochs": 40})
    proc, _ = _decide_row(tmp_path / "a", "--landscape", other)
    assert proc.returncode != 0 and "epochs" in proc.stderr


def test_bn_batch_stats_measures_each_network_both_ways(tmp_path):
    """A network trained on batch statistics, evaluated in its training batch, gives its
    eval.json's test ACC; with running statistics estimated on the training split it is
    measured once more, and the differences are summarised."""
    from zodarts.cli import main

    run = tmp_path / "run"
    assert main(["run", "--preset", "tiny", "--train-bn-batch-stats", "--out", str(run),
                 "--quiet"]) == 0
    report = _json_of([ROOT / "benchmarks/bn_batch_stats.py", run, "--batches", "32,all",
                       "--json"])
    (row,) = report["networks"]
    assert row["trained_on_batch_statistics"] and row["training_batch"] == 32
    evaluation = json.loads((run / "eval.json").read_text())
    assert row["batch 32"]["acc"] == pytest.approx(evaluation["test"]["acc"])
    assert 0 <= row["running"]["acc"] <= 1 and "batch all" in row


def test_threads_compares_a_search_alone_and_beside_a_busy_process():
    report = _json_of([ROOT / "benchmarks/threads.py", "--preset", "tiny", "--epochs", "1",
                       "--busy", "1", "--json"])
    runs = report["runs"]
    assert [r["busy"] for r in runs] == [0, 1]
    assert runs[0]["ratio_to_alone"] == 1.0
    assert runs[1]["ratio_to_alone"] == pytest.approx(runs[1]["seconds"] / runs[0]["seconds"])
    for r in runs:
        assert r["seconds"] > 0 and r["threads"] >= 1 and r["epochs"] == 1
        assert r["omp_wait_policy"] == "PASSIVE"


def test_verdict_power_prints_each_design_and_the_rule_errs_rarely():
    rows = _json_of([ROOT / "benchmarks/verdict_power.py", "--icc", "0,0.07",
                     "--designs", "10x3,30x5/10", "--reps", "400", "--json"], timeout=120)
    assert [(r["icc"], r["archs"], r["seeds"], r["round_archs"]) for r in rows] == [
        (0.0, 10, 3, 10), (0.0, 30, 5, 10), (0.07, 10, 3, 10), (0.07, 30, 5, 10)]
    for r in rows:
        assert r["flat"] + r["structured"] + r["undetermined"] == pytest.approx(1.0)
        assert r["structured"] < 0.03          # below the threshold a "structured" is an error
    flat = {(r["icc"], r["archs"]): r["flat"] for r in rows}
    # More retrainings decide more often, and a truly flat space more often than ICC 0.07.
    assert flat[(0.0, 30)] > flat[(0.0, 10)] and flat[(0.07, 30)] > flat[(0.07, 10)]
    assert flat[(0.0, 30)] > flat[(0.07, 30)]
    assert rows[1]["mean_archs"] < 30           # the sequential design stops early


def test_verdict_power_refuses_a_design_it_cannot_read():
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks/verdict_power.py"),
                           "--designs", "30by5"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "ARCHSxSEEDS" in proc.stderr
