"""`zodarts sweep` and `zodarts sweep-report`: grids, validation before any work, Ray (local,
real worker processes) running trials, retries of killed workers that resume from their
checkpoints, re-runs that skip finished trials, and the combined report."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import assert_same_search, make_npz
from zodarts.cli import main

# In-process sweeps and landscapes share one Ray for the session (conftest.shared_ray).
pytestmark = pytest.mark.usefixtures("shared_ray")

TINY = ["--preset", "tiny", "--epochs", "1", "--train-epochs", "1"]
# One thread per trial: these networks are tiny, and two OpenMP threads per trial on a busy
# two-core machine can make a trial many times slower.
LOCAL = ["--num-cpus", "2", "--cpus-per-trial", "1", "--quiet"]


def sweep(root: Path, *args: str) -> int:
    return main(["sweep", "--out", str(root), *args])


def trial_record(run_dir: Path) -> dict:
    return json.loads((run_dir / "trial.json").read_text())


def error_lines(captured) -> list[str]:
    return [line for line in captured.err.splitlines() if line.strip()]


# ---- validation before any work ---------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["--methods", "zo-darts++,nope"], "unknown method 'nope'"),
    (["--datasets", "digits,no-such-set"], "unknown dataset 'no-such-set'"),
    (["--seeds", ""], "--seeds is empty"),
    (["--methods", ","], "--methods is empty"),
    (["--seeds", "0,x"], "seed 'x' is not an integer"),
    (["--seeds", "0,,1"], "--seeds '0,,1' has an empty value at position 2"),
    (["--seeds", "-1"], "seed must be an integer from 0"),
    (["--methods", "darts-2nd", "--budgets", "small"], "needs the size-variable space"),
    (["--budgets", "none,huge"], "invalid choice: 'huge'"),
    (["--preset", "enormous"], "invalid choice: 'enormous'"),
    (["--seed", "3"], "use --seeds"),
    (["--opt", "no_such_option=1"], "no_such_option"),
])
def test_a_bad_grid_fails_before_any_work_with_one_line(tmp_path, capsys, args, message):
    root = tmp_path / "sweep"
    assert sweep(root, *TINY, *args) == 1
    lines = error_lines(capsys.readouterr())
    assert len(lines) == 1 and lines[0].startswith("zodarts sweep: error:"), lines
    assert message in lines[0]
    assert not root.exists()


def test_an_unreachable_address_fails_fast_with_one_line(tmp_path, capsys):
    pytest.importorskip("ray")
    root = tmp_path / "sweep"
    tic = time.monotonic()
    assert sweep(root, *TINY, "--address", "127.0.0.1:1") == 1
    assert time.monotonic() - tic < 30
    lines = error_lines(capsys.readouterr())
    assert len(lines) == 1 and "cannot reach a Ray cluster at 127.0.0.1:1" in lines[0], lines
    assert not root.exists()


@pytest.mark.parametrize("where", ["proc", "under a file"])
def test_an_unwritable_sweep_folder_is_one_line_before_ray_starts(tmp_path, capsys,
                                                                  monkeypatch, where):
    from zodarts.sweep import runner

    def no_ray(*args, **kwargs):
        raise AssertionError("Ray must not start")

    monkeypatch.setattr(runner, "ray_cluster", no_ray)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    root = Path("/proc/zodarts-sweep") if where == "proc" else blocker / "sweep"
    assert sweep(root, *TINY) == 1
    lines = error_lines(capsys.readouterr())
    assert len(lines) == 1 and f"cannot write to {root}" in lines[0], lines


def test_without_ray_the_sweep_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    assert sweep(tmp_path / "sweep", *TINY) == 1
    lines = error_lines(capsys.readouterr())
    assert len(lines) == 1 and "pip install 'zodarts[sweep]'" in lines[0], lines


def test_the_grid_file_and_flags_build_each_trial_as_zodarts_run_would(tmp_path, monkeypatch):
    from zodarts.sweep.grid import build_trials, make_grid

    grid_file = tmp_path / "grid.yaml"
    grid_file.write_text("datasets: [digits]\nmethods: [zo-darts++, zo-darts]\n"
                         "budgets: none\nseeds: [0, 1]\n"
                         "run: {preset: tiny, epochs: 3, opt: [zo_steps=3], anneal: false}\n")
    # A flag replaces the file's axis; the flags' run options come last, so they win.
    grid = make_grid({"seeds": "5"}, ["--epochs", "2", "--train-epochs", "1"], grid_file)
    assert grid.seeds == (5,) and grid.methods == ("zo-darts++", "zo-darts")
    assert grid.run_options == ("--preset", "tiny", "--epochs", "3", "--opt", "zo_steps=3",
                                "--no-anneal", "--epochs", "2", "--train-epochs", "1")
    trials = build_trials(grid, tmp_path / "sweep")
    assert [t.cell.path for t in trials] == ["digits/zo-darts++/none/seed5",
                                             "digits/zo-darts/none/seed5"]
    zo = trials[0]
    assert zo.out == (tmp_path / "sweep/digits/zo-darts++/none/seed5").resolve()
    assert (zo.search_config.epochs, zo.search_config.seed, zo.search_config.anneal,
            zo.search_config.C) == (2, 5, False, 4)
    assert zo.search_config.options["zo_steps"] == "3"
    assert (zo.train_config.epochs, zo.train_config.seed) == (1, 5)
    # A relative dataset path reaches the workers absolute, whatever their working directory.
    npz = make_npz(tmp_path / "data/toy.npz")
    monkeypatch.chdir(tmp_path)
    grid = make_grid({"datasets": "data/toy.npz"}, [])
    assert grid.datasets == (str(npz.resolve()),)
    assert build_trials(grid, "out")[0].cell.path == "toy/zo-darts++/none/seed0"


# ---- sweeps on Ray ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def finished_sweep(tmp_path_factory):
    """digits and a synthetic .npz × zo-darts++ and darts-1st, one seed: four tiny trials."""
    pytest.importorskip("ray")
    base = tmp_path_factory.mktemp("sweep")
    toy = make_npz(base / "toy.npz", sizes=(60, 12, 20))
    args = ["--datasets", f"digits,{toy}", "--methods", "zo-darts++,darts-1st", "--seeds", "0",
            *TINY]
    assert sweep(base / "sweep", *args, *LOCAL) == 0
    return base / "sweep", args


def test_a_sweep_runs_every_cell_and_reports_each_trials_own_numbers(finished_sweep):
    root, _ = finished_sweep
    cells = [f"{d}/{m}/none/seed0" for d in ("digits", "toy") for m in ("zo-darts++", "darts-1st")]
    evals = {}
    for cell in cells:
        run = root / cell
        for name in ("config.yaml", "eval.json", "report/report.md", "trial.log"):
            assert (run / name).is_file(), (cell, name)
        record = trial_record(run)
        assert (record["status"], record["attempts"], record["threads"]) == ("done", 1, 1)
        evals[cell] = json.loads((run / "eval.json").read_text())
    assert main(["describe", str(root / cells[0])]) == 0   # an ordinary run folder
    grid = (root / "grid.yaml").read_text()
    assert "zo-darts++" in grid and "--train-epochs" in grid

    results = json.loads((root / "results.json").read_text())
    assert len(results["cells"]) == 4
    for c in results["cells"]:
        e = evals[f"{c['dataset']}/{c['method']}/{c['budget']}/seed0"]
        assert (c["trials"], c["finished"]) == (1, 1)
        assert c["stats"]["test_acc"]["mean"] == pytest.approx(e["test"]["acc"])
        assert c["stats"]["test_auc"]["mean"] == pytest.approx(e["test"]["auc"])
        assert c["stats"]["params"]["mean"] == e["params"]
        assert c["stats"]["flops"]["mean"] == e["flops"]
        search_log = (root / f"{c['dataset']}/{c['method']}/none/seed0/search/log.jsonl")
        seconds = sum(json.loads(line)["seconds"] for line in search_log.read_text().splitlines())
        assert c["stats"]["search_seconds"]["mean"] == pytest.approx(seconds)
    with open(root / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["path"] for r in rows) == sorted(cells)
    assert all(r["status"] == "done" for r in rows)
    report = (root / "report.md").read_text()
    for cell, e in evals.items():
        dataset, method = cell.split("/")[:2]
        assert re.search(rf"\| {re.escape(method)} \| none \| 1 of 1 \| "
                         rf"{e['test']['acc']:.4f} \| {e['test']['auc']:.4f} \|", report), cell
    # zo-darts++ against darts-1st at the same (no) budget: the headline's ACC gap.
    digits = [h for h in results["headline"] if h["dataset"] == "digits"][0]
    zo, d1 = evals["digits/zo-darts++/none/seed0"], evals["digits/darts-1st/none/seed0"]
    assert digits["acc_gap"] == pytest.approx(zo["test"]["acc"] - d1["test"]["acc"])
    assert digits["acc_basis"] == "darts-1st, same budget"
    for name in ("acc_params_digits.png", "acc_params_toy.png", "search_seconds.png"):
        assert (root / name).stat().st_size > 1000, name


def _stamps(root: Path) -> dict[str, tuple[int, int]]:
    """Each trial's eval.json time and worker starts: both move only if the trial ran again."""
    return {str(p.parent.relative_to(root)): (p.stat().st_mtime_ns,
                                              trial_record(p.parent)["attempts"])
            for p in root.rglob("eval.json")}


def test_rerunning_a_finished_sweep_starts_no_trial(finished_sweep, tmp_path, capsys):
    root = tmp_path / "again"
    shutil.copytree(finished_sweep[0], root)
    before = _stamps(root)
    assert sweep(root, *finished_sweep[1], *LOCAL) == 0
    err = capsys.readouterr().err
    assert "nothing to run: all 4 trials" in err and "started" not in err
    assert _stamps(root) == before


def test_a_changed_config_for_an_existing_cell_is_refused(finished_sweep, tmp_path, capsys):
    root = tmp_path / "changed"
    shutil.copytree(finished_sweep[0], root)
    before = _stamps(root)
    assert sweep(root, *finished_sweep[1], "--train-epochs", "2", *LOCAL) == 1
    lines = error_lines(capsys.readouterr())
    assert len(lines) == 1 and "another configuration (train epochs: 1 -> 2)" in lines[0], lines
    assert _stamps(root) == before


def test_a_new_cell_with_other_run_options_is_refused(finished_sweep, tmp_path, capsys):
    """A folder holds one configuration: a new cell (here a new method) asked for with other
    run options is refused like a conflicting cell, before any work."""
    root = tmp_path / "mixed"
    shutil.copytree(finished_sweep[0], root)
    before = _stamps(root)
    assert sweep(root, "--methods", "zo-darts", "--seeds", "0", *TINY, "--opt", "zo_steps=3",
                 *LOCAL) == 1
    lines = error_lines(capsys.readouterr())
    assert len(lines) == 1, lines
    assert ("trial digits/zo-darts/none/seed0 would run with other settings than the trials "
            "in") in lines[0] and "options: {'zo_steps': 2} -> {'zo_steps': '3'}" in lines[0]
    assert "--preset tiny --epochs 1 --train-epochs 1" in lines[0]
    assert not (root / "digits/zo-darts").exists() and _stamps(root) == before


def test_adding_a_seed_runs_only_the_new_trials(finished_sweep, tmp_path, capsys):
    root = tmp_path / "grown"
    shutil.copytree(finished_sweep[0], root)
    before = _stamps(root)
    assert sweep(root, "--methods", "darts-1st", "--seeds", "0,1", *TINY, *LOCAL) == 0
    err = capsys.readouterr().err
    assert re.search(r"grid changed since the last sweep .*: 1 new trial\(s\) added; 3 earlier "
                     r"trial\(s\) outside this grid are kept", err), err
    assert err.count("] finished ") == 1 and "] finished digits/darts-1st/none/seed1" in err, err
    after = _stamps(root)
    assert {k: v for k, v in after.items() if k in before} == before
    assert set(after) - set(before) == {"digits/darts-1st/none/seed1"}
    results = json.loads((root / "results.json").read_text())
    assert len(results["trials"]) == 5      # the report covers every trial of the folder


def test_a_trial_failing_on_its_input_is_not_retried_and_the_others_go_on(tmp_path, capsys):
    pytest.importorskip("ray")
    broken = make_npz(tmp_path / "broken.npz", drop=["test_labels"])
    root = tmp_path / "sweep"
    assert sweep(root, "--datasets", f"{broken},digits", "--methods", "darts-1st", *TINY,
                 *LOCAL) == 1
    captured = capsys.readouterr()
    bad = trial_record(root / "broken/darts-1st/none/seed0")
    assert (bad["status"], bad["attempts"]) == ("failed", 1)
    assert "test_labels" in bad["error"] and "\n" not in bad["error"]
    assert f"failed broken/darts-1st/none/seed0: {bad['error']}" in captured.err
    assert trial_record(root / "digits/darts-1st/none/seed0")["status"] == "done"
    report = (root / "report.md").read_text()
    assert "`broken/darts-1st/none/seed0`: failed:" in report


@pytest.mark.slow  # an 8-epoch search run twice (killed and resumed) plus the reference run
def test_a_killed_worker_is_retried_and_resumes_from_its_checkpoint(tmp_path):
    """kill -9 the trial's worker mid-search: Ray retries the task, the retry resumes from the
    trial's checkpoint, and the search ends as an uninterrupted one does."""
    pytest.importorskip("ray")
    root = tmp_path / "sweep"
    options = ["--preset", "tiny", "--epochs", "8", "--train-epochs", "1"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "zodarts.cli", "sweep", "--out", str(root), "--methods",
         "zo-darts++", *options, *LOCAL],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    trial = root / "digits/zo-darts++/none/seed0"
    pid, deadline = None, time.monotonic() + 180
    while pid is None and proc.poll() is None and time.monotonic() < deadline:
        if (trial / "search/checkpoint.pt").is_file():
            pid = trial_record(trial)["pid"]
        time.sleep(0.02)
    assert pid is not None and not (trial / "genotype.json").exists(), \
        "the search ended before its worker could be killed"
    os.kill(pid, signal.SIGKILL)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    record = trial_record(trial)
    assert (record["status"], record["attempts"]) == ("done", 2) and record["pid"] != pid
    log = (trial / "trial.log").read_text()
    assert "attempt 2" in log and "resuming from the run folder's checkpoints" in log
    assert re.search(r"resuming \S+ at epoch [2-8]/8", log), log
    assert "attempt 2" in err

    reference = tmp_path / "uninterrupted"
    assert main(["run", *options, "--out", str(reference), "--quiet"]) == 0
    assert_same_search(reference, trial, 8)


def test_sigterm_stops_a_sweep_as_ctrl_c_does(tmp_path):
    """A scheduler's SIGTERM to the driver: its trial is cancelled and marked interrupted, one
    line says how to resume, exit 143; not Ray's own handler (a C++ stack dump, exit 15)."""
    pytest.importorskip("ray")
    root = tmp_path / "sweep"
    proc = subprocess.Popen(
        [sys.executable, "-m", "zodarts.cli", "sweep", "--out", str(root), "--methods",
         "random", "--preset", "tiny", "--epochs", "1", "--train-epochs", "50", *LOCAL],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    trial = root / "digits/random/none/seed0"
    deadline = time.monotonic() + 180
    while proc.poll() is None and time.monotonic() < deadline:
        if (trial / "train/last.pt").is_file():
            break
        time.sleep(0.02)
    assert (trial / "train/last.pt").is_file() and not (trial / "eval.json").exists(), \
        "the trial ended before the sweep could be stopped"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "SIGTERM received" not in err
    assert err.strip().splitlines()[-2:] == [
        "the unfinished trials keep their checkpoints: run the same command again to resume them",
        "zodarts sweep: interrupted by SIGTERM"]
    assert trial_record(trial)["status"] == "interrupted"


# ---- the report's arithmetic, on made-up trial folders ----------------------------------------

def fake_trial(root: Path, dataset: str, method: str, budget: str, seed: int, acc: float,
               params: int, search_s: float, gpu: str | None = None,
               draws: list[tuple[float, float]] = (), test_max: float | None = None,
               train: dict | None = None) -> None:
    """A finished trial folder with just the files the sweep report reads; ``draws``: the
    (val-selected, max-over-epochs) test ACC of each drawn network (``--derive both``)."""
    from zodarts.config import SearchConfig, save_config
    from zodarts.space import sample_genotype
    from zodarts.sweep.grid import Cell

    run = root / Cell(dataset, method, budget, seed).path
    (run / "search").mkdir(parents=True)
    save_config(SearchConfig(dataset=dataset, method=method, budget=budget, seed=seed,
                             derive="both" if draws else "argmax", draws=max(1, len(draws))),
                run / "config.yaml")
    (run / "trial.json").write_text(json.dumps({
        "cell": {"dataset": dataset, "method": method, "budget": budget, "seed": seed},
        "arguments": [], "search_config": {}, "train_config": {}, "status": "done",
        "attempts": 1, "threads": 2}))
    (run / "environment.json").write_text(json.dumps({"platform": "linux", "gpu": gpu}))
    # Two epochs, so the report must add up the seconds of the log.
    (run / "search/log.jsonl").write_text("".join(
        json.dumps({"epoch": e, "seconds": search_s / 2}) + "\n" for e in range(2)))
    networks = [(run, acc, test_max)] + [(run / f"draws/d{k}", a, m)
                                         for k, (a, m) in enumerate(draws)]
    for folder, value, best in networks:
        (folder / "train").mkdir(parents=True)
        (folder / "report").mkdir()
        (folder / "report/report.md").write_text("# run\n")
        sample_genotype(seed, 1, 2, C=4, cells_per_stage=1).save(folder / "genotype.json")
        (folder / "eval.json").write_text(json.dumps({
            "params": params, "flops": 10 * params, "budget": None,
            "test": {"acc": value, "auc": value + 0.05, "majority": {"acc": 0.7308}},
            "test_max_over_epochs": None if best is None else {"acc": best, "auc": 0.9},
            "val": {"acc": value}}))
        (folder / "train/log.jsonl").write_text(json.dumps({"epoch": 0, "seconds": 1.0}) + "\n")
        if train is not None:
            (folder / "train/config.yaml").write_text(json.dumps(train))  # JSON is YAML


def test_the_headline_figures_follow_the_papers_definitions(tmp_path):
    from zodarts.sweep.report import write_report

    root = tmp_path / "sweep"
    # a: at budget small the DARTS family ran only unconstrained; b: darts-2nd at none only.
    for seed, acc in ((0, 0.80), (1, 0.90)):
        fake_trial(root, "breastmnist", "zo-darts++", "none", seed, acc, 100_000, 60)
    fake_trial(root, "breastmnist", "zo-darts++", "small", 0, 0.84, 25_000, 50)
    fake_trial(root, "breastmnist", "darts-1st", "none", 0, 0.82, 90_000, 80)
    fake_trial(root, "breastmnist", "darts-2nd", "none", 0, 0.83, 90_000, 100)
    # b: darts-2nd at the same budget here, and on other hardware than the rest.
    fake_trial(root, "toy", "zo-darts++", "small", 0, 0.70, 40_000, 30)
    fake_trial(root, "toy", "darts-2nd", "small", 0, 0.75, 40_000, 120, gpu="H100")
    report = write_report(root)
    results = json.loads((root / "results.json").read_text())
    rows = {(h["dataset"], h["budget"]): h for h in results["headline"]}

    none = rows[("breastmnist", "none")]
    assert none["acc_gap"] == pytest.approx(0.85 - 0.83)           # mean over two seeds
    assert none["acc_basis"] == "darts-2nd, same budget"
    assert none["time_reduction"] == pytest.approx(1 - 60 / 100)
    assert none["params_reduction"] is None
    small = rows[("breastmnist", "small")]
    assert small["acc_gap"] == pytest.approx(0.84 - 0.83)
    assert small["acc_basis"] == "darts-2nd, their unconstrained runs"
    assert small["time_reduction"] == pytest.approx(1 - 50 / 100)
    assert small["time_basis"] == "darts-2nd, their unconstrained runs"
    assert small["params_reduction"] == pytest.approx(1 - 25_000 / 100_000)
    assert not small["mixed_hardware"]
    toy = rows[("toy", "small")]
    assert toy["acc_gap"] == pytest.approx(-0.05) and toy["acc_basis"] == "darts-2nd, same budget"
    assert toy["time_reduction"] == pytest.approx(0.75) and toy["mixed_hardware"]
    assert toy["params_reduction"] is None                          # no unconstrained zo run
    average = {h["budget"]: h for h in results["headline_average"]}["small"]
    assert average["datasets"] == 2
    assert average["acc_gap"] == pytest.approx((0.01 - 0.05) / 2)
    assert average["params_reduction"] == pytest.approx(0.75)      # only breastmnist has it

    zo = next(c for c in results["cells"] if (c["dataset"], c["method"], c["budget"])
              == ("breastmnist", "zo-darts++", "none"))
    assert zo["stats"]["test_acc"]["mean"] == pytest.approx(0.85)
    assert zo["stats"]["test_acc"]["std"] == pytest.approx(0.0707107, rel=1e-5)
    assert zo["stats"]["search_seconds"]["mean"] == pytest.approx(60)
    text = report.read_text()
    assert "| zo-darts++ | none | 2 of 2 | 0.8500 ± 0.0707 |" in text
    assert ("| breastmnist | small | argmax | selected on validation | +1.00 pts | darts-2nd, "
            "their unconstrained runs | 50.0% |") in text
    assert "| toy † | small |" in text and "different hardware" in text
    assert "| majority class (no skill) | – | – | 0.7308 | 0.5 (chance) |" in text
    # Every column of the table filled (a hardware column too: the sweep's hardware differs).
    assert ("| ResNet-18 (28), MedMNIST v2 Table 3 | – | – | 0.863 | 0.901 | ≈ 11.20M | – | – "
            "| – | – |\n") in text
    with open(root / "results.csv") as f:
        assert len(list(csv.DictReader(f))) == 7
    assert main(["sweep-report", str(root)]) == 0                 # the command: same files


def test_drawn_networks_count_like_seeds_and_the_headline_is_given_both_ways(tmp_path):
    """--derive both: each trial's argmax and its draws; the drawn cell's mean is over seeds ×
    draws, and the headline figures come twice, selected on validation and the paper's way
    (the maximum test ACC over epochs), with Welch's interval for the ACC gap over the trials'
    means (the draws of one search are not independent)."""
    from scipy.stats import ttest_ind

    from zodarts.sweep.report import write_report

    zo = {0: [(0.80, 0.86), (0.82, 0.88)], 1: [(0.78, 0.85), (0.86, 0.90)]}
    darts = {0: [(0.79, 0.84), (0.75, 0.83)], 1: [(0.81, 0.86), (0.77, 0.85)]}
    root = tmp_path / "sweep"
    for seed in (0, 1):
        fake_trial(root, "breastmnist", "zo-darts++", "none", seed, 0.81, 50_000, 60,
                   draws=zo[seed], test_max=0.87)
        fake_trial(root, "breastmnist", "darts-2nd", "none", seed, 0.80, 60_000, 100 + seed,
                   draws=darts[seed], test_max=0.86)
    text = write_report(root).read_text()
    results = json.loads((root / "results.json").read_text())
    drawn = next(c for c in results["cells"] if c["method"] == "zo-darts++"
                 and c["derive"] == "sampled")
    values = [v for pairs in zo.values() for v, _ in pairs]
    assert drawn["finished"] == 4 and drawn["stats"]["test_acc"]["mean"] == \
        pytest.approx(np.mean(values))
    assert drawn["stats"]["test_max_acc"]["mean"] == pytest.approx(
        np.mean([m for pairs in zo.values() for _, m in pairs]))
    assert drawn["stats"]["search_seconds"]["n"] == 2         # one search per trial
    rows = {(h["derive"], h["selection"]): h for h in results["headline"]}
    assert set(rows) == {("argmax", "val"), ("argmax", "test"), ("sampled", "val"),
                         ("sampled", "test")}
    val = rows[("sampled", "val")]
    other = [v for pairs in darts.values() for v, _ in pairs]
    assert val["acc_gap"] == pytest.approx(np.mean(values) - np.mean(other))
    per_trial = [np.mean([v for v, _ in zo[s]]) for s in (0, 1)]
    other_trials = [np.mean([v for v, _ in darts[s]]) for s in (0, 1)]
    welch = ttest_ind(per_trial, other_trials, equal_var=False).confidence_interval(0.95)
    assert val["acc_gap_interval"] == pytest.approx([welch.low, welch.high])
    paper = rows[("sampled", "test")]
    assert paper["acc_gap"] == pytest.approx(np.mean([m for p in zo.values() for _, m in p])
                                             - np.mean([m for p in darts.values()
                                                        for _, m in p]))
    low, high = val["time_interval"]
    assert low <= val["time_reduction"] <= high
    assert "| zo-darts++, drawn | none | 4 (2 seeds × draws) |" in text
    assert "selected on test (optimistic; the paper's way)" in text
    assert "| breastmnist | none | drawn | selected on validation |" in text


def test_sweep_report_places_each_network_in_a_landscape_of_the_same_retraining(tmp_path):
    from conftest import fake_landscape
    from zodarts.stats import percentile_of

    train = {"epochs": 40, "lr": 0.1, "seed": 0}
    land = fake_landscape(tmp_path / "land", "breastmnist",
                          [[0.70, 0.72], [0.80, 0.78], [0.84, 0.86]], train)
    root = tmp_path / "sweep"
    fake_trial(root, "breastmnist", "zo-darts++", "none", 0, 0.79, 50_000, 60,
               train={**train, "seed": 0})
    fake_trial(root, "breastmnist", "zo-darts++", "none", 1, 0.85, 50_000, 60,
               train={**train, "seed": 1})
    fake_trial(root, "breastmnist", "darts-2nd", "none", 0, 0.81, 50_000, 60,
               train={**train, "epochs": 300})               # another retraining: left out
    assert main(["sweep-report", str(root), "--landscape", str(land)]) == 0
    results = json.loads((root / "results.json").read_text())
    pairs = [0.70, 0.72, 0.80, 0.78, 0.84, 0.86]
    zo = [t for t in results["trials"] if t["cell"]["method"] == "zo-darts++"]
    assert [t["landscape_percentile"] for t in zo] == [percentile_of(0.79, pairs),
                                                       percentile_of(0.85, pairs)]
    darts = next(t for t in results["trials"] if t["cell"]["method"] == "darts-2nd")
    assert darts["landscape_percentile"] is None
    text = (root / "report.md").read_text()
    assert "percentile in the landscape" in text and "epochs: 300" in text


def test_sweep_report_refuses_a_folder_without_trials(tmp_path, capsys):
    assert main(["sweep-report", str(tmp_path)]) == 1
    assert "holds no sweep trials" in capsys.readouterr().err


def test_the_progress_line_counts_trials_and_estimates_the_time_left(monkeypatch):
    import io

    from zodarts.sweep import progress as progress_module

    now = [100.0]
    monkeypatch.setattr(progress_module.time, "monotonic", lambda: now[0])
    stream = io.StringIO()                  # not a terminal: one log line per event
    p = progress_module.Progress(total=6, earlier=1, stream=stream)
    assert p.eta() is None                  # nothing finished in this sweep yet
    p.started("a", 1, "pid 1")
    p.started("b", 1, "pid 2")
    now[0] = 110.0
    p.finished("a", 10.0, was_running=True)
    p.started("c", 1, "pid 3")
    now[0] = 114.0
    # b has run 14 s (mean 10: done any moment), c 4 s (6 s to go); 2 queued × 10 s; 2 slots.
    assert p.eta() == pytest.approx((0 + 6 + 2 * 10) / 2)
    assert p.line().endswith(" | running: b, c")          # longest-running first
    p.failed("b", "bad input", was_running=True)
    assert p.line().startswith("sweep: 2/6 done, 1 running, 1 failed, 2 queued | 14s elapsed")
    log = stream.getvalue()
    assert "started a (attempt 1, pid 1)" in log and "failed b: bad input" in log


def test_an_interrupted_sweep_leaves_no_trial_marked_running(tmp_path, monkeypatch):
    """Ctrl-C in the driver: the running and the queued trials are recorded as interrupted."""
    from zodarts.sweep import runner
    from zodarts.sweep.grid import build_trials, make_grid
    from zodarts.sweep.progress import Progress
    from zodarts.sweep.trials import TrialRecord

    class FakeTask:
        def options(self, **kwargs):
            return self

        def remote(self, *args):
            return object()

    class FakeRay:
        def __init__(self):
            self.cancelled = []

        def remote(self, **kwargs):
            return lambda function: FakeTask()

        def wait(self, pending, **kwargs):
            raise KeyboardInterrupt

        def cancel(self, ref, force):
            self.cancelled.append(ref)

    fake = FakeRay()
    monkeypatch.setattr(runner, "import_ray", lambda: fake)
    specs = build_trials(make_grid({"seeds": "0,1"}, TINY), tmp_path / "sweep")
    resources = runner.TrialResources(1.0, 0.0)
    with open(os.devnull, "w") as quiet, pytest.raises(KeyboardInterrupt):
        runner.run_jobs([runner.trial_job(s) for s in specs], lambda *a: None, resources, 0,
                        Progress(2, 0, quiet=True, stream=quiet))
    assert len(fake.cancelled) == 2
    assert [TrialRecord.load(s.out).status for s in specs] == ["interrupted", "interrupted"]


def test_default_trial_resources_fill_the_cluster_without_oversubscribing_it():
    from zodarts.errors import ConfigError
    from zodarts.sweep.runner import Cluster, trial_resources

    cpus_only = Cluster(None, 1, cpus=16, gpus=0, node_cpus=16, node_gpus=0)
    r = trial_resources(cpus_only, trials=4)
    assert (r.cpus, r.gpus, r.threads) == (4, 0, 4)
    assert trial_resources(cpus_only, trials=100).cpus == 1
    assert trial_resources(cpus_only, trials=1).cpus == 16
    assert trial_resources(cpus_only, trials=3, cpus=2.5).threads == 2
    gpus = Cluster("auto", 2, cpus=32, gpus=2, node_cpus=16, node_gpus=1)
    r = trial_resources(gpus, trials=10)
    assert (r.cpus, r.gpus) == (16, 1)                   # one GPU each, its node's CPUs
    assert trial_resources(gpus, trials=10, wants_gpu=False).gpus == 0   # --device cpu
    with pytest.raises(ConfigError, match="largest node"):
        trial_resources(cpus_only, trials=1, cpus=32)    # a local Ray would wait forever


def test_a_ray_already_running_in_the_process_is_used_capped_and_left_running(shared_ray):
    from zodarts.sweep.runner import ray_cluster

    if shared_ray is None:
        pytest.skip("Ray is not installed")
    total = shared_ray.cluster_resources()["CPU"]
    with ray_cluster(None, num_cpus=1) as cluster:
        assert (cluster.cpus, cluster.node_cpus, cluster.address) == (1, 1, None)
    assert shared_ray.is_initialized()
    with ray_cluster(None) as cluster:
        assert cluster.cpus == total
    assert shared_ray.is_initialized()
