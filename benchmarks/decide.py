"""Does the search decide, and does what it decides beat random search at equal compute?

    python benchmarks/decide.py [--datasets breastmnist,pneumoniamnist]
        [--methods zo-darts++,zo-darts,darts-1st,darts-2nd] [--seeds 0,1,2] [--preset quick]
        [--budget none] --out runs/decide [--also SWEEP] [--random-from SWEEP]
        [--landscape DIR] [--json]
        [-- RUN OPTIONS...]

Runs (or, re-run, completes) one `zodarts sweep` over the datasets × (methods + random) × seeds,
every trial search → retrain → evaluate at the same preset, then reports per dataset and method:

* ``steps_to_decided``: α steps until the search was decided and stayed so to its end (margins
  of ``zodarts.space.decision``: every choice that shapes the network has p(top 1) − p(top 2)
  ≥ the run's ``decided_margin``; recomputed from each epoch's distributions in
  search/alphas.jsonl, so older runs are judged by the current measure), per seed; None where
  it never was;
* ``final_margin``: the smallest margin at the end (mean over seeds) and the share of decided
  seeds;
* ``acc_vs_random`` / ``auc_vs_random``: test ACC and AUC minus those of random search with the
  same seed (same split, same preset; random search takes as many weight steps as ZO-DARTS++,
  see ``zodarts.search.random_search``), as a mean with a 95% t-interval over the seeds.

``--also SWEEP`` reads more trials from other sweep folders (more seeds, run later).
``--landscape DIR`` (repeatable, one per dataset) adds each method's percentile in that
dataset's landscape: its trials' test ACC among the landscape's single retrainings, which must
have used the trials' retraining settings.
``--random-from SWEEP`` (repeatable) pairs with the random-search trials of other sweep folders
instead of running them again: for options under test that random search does not take (``--opt
zo_sign=true``, ``--relax sparsemax``). Every pair must share the data, the search budget and
the retraining (``PROTOCOL_KEYS`` and ``train/config.yaml``), and one method's seeds their
settings (``SETTINGS_KEYS``); trials that do not are refused.

Writes ``decide.json`` and ``decide.md`` (with this command) into OUT, beside the sweep.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics
import subprocess
import sys
from pathlib import Path

import torch
import yaml

from zodarts.rundir import RunPaths
from zodarts.search.registry import get_searcher
from zodarts.space.decision import is_decided, margins
from zodarts.utils.io import read_jsonl

# What a searched trial and its random-search partner must share: the data, the weight steps
# the search may take, the space's size and budget band.
PROTOCOL_KEYS = ("dataset", "data_root", "epochs", "batch_size", "steps_per_epoch", "C",
                 "cells_per_stage", "budget", "params_min", "params_max")
# What one method's seeds must share besides: how it searches.
SETTINGS_KEYS = PROTOCOL_KEYS + ("method", "relax", "anneal", "size_search", "a_optimizer",
                                 "a_lr", "a_beta1", "a_beta2", "a_weight_decay", "temperature",
                                 "temp_decay", "size_search_start", "decided_margin",
                                 "options")


def t95(df: int) -> float:
    """The two-sided 95% quantile of Student's t with ``df`` degrees of freedom."""
    from scipy.stats import t
    return float(t.ppf(0.975, df))


def interval(values: list[float]) -> dict:
    """Mean and 95% t-interval (None-free values)."""
    n = len(values)
    if n == 0:
        return {"mean": None, "low": None, "high": None, "n": 0}
    mean = statistics.fmean(values)
    if n == 1:
        return {"mean": mean, "low": None, "high": None, "n": 1}
    half = t95(n - 1) * statistics.stdev(values) / math.sqrt(n)
    return {"mean": mean, "low": mean - half, "high": mean + half, "n": n}


def read_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text()) if path.is_file() else {}


def decisions(paths: RunPaths, config: dict) -> list[tuple[int, bool, float]]:
    """Per logged epoch: (epoch, decided, smallest margin), recomputed from the run's relaxed
    distributions (search/alphas.jsonl) by the current ``zodarts.space.decision``, so runs
    made before a change of the measure are read alike; empty for a method without α."""
    log = read_jsonl(paths.search_log)
    if not log or "decided" not in log[-1]:
        return []
    out = []
    for row in read_jsonl(paths.alphas):
        m = margins({k: None if row.get(k) is None else torch.tensor(row[k])
                     for k in ("op", "kernel", "depth")})
        out.append((row["epoch"], is_decided(m, config["decided_margin"], config["size_search"]),
                    m.minimum()))
    return out


def steps_to_decided(decided: list[tuple[int, bool, float]], steps: list[dict]) -> int | None:
    """α steps taken up to the epoch from which the search stayed decided to its end."""
    if not decided or not decided[-1][1]:
        return None
    first = len(decided) - 1
    while first > 0 and decided[first - 1][1]:
        first -= 1
    epoch = decided[first][0]
    return sum(1 for r in steps if r["epoch"] <= epoch)


def trial(run: Path) -> dict | None:
    """What one finished trial contributes; None while it has no eval.json. Its search and
    retraining configs ride along for the protocol checks."""
    paths = RunPaths(run)
    if not paths.eval.is_file():
        return None
    evaluation = json.loads(paths.eval.read_text())
    config = read_yaml(paths.config)
    decided = decisions(paths, config)
    steps = read_jsonl(paths.arch_steps)
    return {"acc": evaluation["test"]["acc"], "auc": evaluation["test"]["auc"],
            "params": evaluation["params"],
            "decided": decided[-1][1] if decided else None,
            "margin_min": decided[-1][2] if decided else None,
            "steps_to_decided": steps_to_decided(decided, steps),
            "arch_steps": len(steps),
            "path": run, "config": config, "train_config": read_yaml(paths.train_config)}


def landscape_percentiles(trials: dict[tuple[str, str, int], dict], landscapes: list[Path]
                          ) -> None:
    """Each trial's test ACC as a percentile of the single retrainings of its dataset's
    landscape (``percentile``), where the landscape retrained with the trial's settings."""
    from zodarts.config import training_difference
    from zodarts.landscape.table import single_runs
    from zodarts.stats import percentile_of

    references = {runs.dataset: runs for runs in map(single_runs, landscapes)}
    for (dataset, _, _), t in trials.items():
        runs = references.get(dataset)
        if runs is None:
            continue
        why = training_difference(runs.train, t["train_config"])
        if why:
            raise SystemExit(f"decide: {t['path']} cannot be placed in {runs.root}: {why}")
        t["percentile"] = percentile_of(t["acc"], runs.test_acc)


def summarise(trials: dict[tuple[str, str, int], dict]) -> dict:
    """Per dataset and method: decidedness and the paired difference to random search."""
    out: dict = {}
    datasets = sorted({d for d, _, _ in trials})
    for dataset in datasets:
        methods = sorted({m for d, m, _ in trials if d == dataset and m != "random"})
        rows = {}
        for method in methods:
            seeds = sorted(s for d, m, s in trials if d == dataset and m == method)
            mine = [trials[dataset, method, s] for s in seeds]
            paired = [(trials[dataset, method, s], trials[dataset, "random", s]) for s in seeds
                      if (dataset, "random", s) in trials]
            final_margins = [t["margin_min"] for t in mine if t["margin_min"] is not None]
            rows[method] = {
                "seeds": seeds,
                "steps_to_decided": [t["steps_to_decided"] for t in mine],
                "arch_steps": [t["arch_steps"] for t in mine],
                "decided_share": (statistics.fmean(bool(t["decided"]) for t in mine)
                                  if mine else None),
                "final_margin": (statistics.fmean(final_margins) if final_margins
                                 else None),
                "acc": interval([t["acc"] for t in mine]),
                "acc_vs_random": interval([a["acc"] - r["acc"] for a, r in paired]),
                "auc_vs_random": interval([a["auc"] - r["auc"] for a, r in paired
                                           if a["auc"] is not None and r["auc"] is not None]),
                "percentile": interval([t["percentile"] for t in mine if "percentile" in t]),
            }
        randoms = [t for (d, m, _), t in trials.items() if d == dataset and m == "random"]
        out[dataset] = {"methods": rows,
                        "random": {"acc": interval([t["acc"] for t in randoms]),
                                   "auc": interval([t["auc"] for t in randoms
                                                    if t["auc"] is not None]),
                                   "percentile": interval([t["percentile"] for t in randoms
                                                           if "percentile" in t])}}
    return out


def trial_folders(sweep: Path, budget: str, methods: str = "*"
                  ) -> dict[tuple[str, str, int], Path]:
    return {(run.parts[-4], run.parts[-3], int(run.name.removeprefix("seed"))): run
            for run in sorted(sweep.glob(f"*/{methods}/{budget}/seed*"))}


def collect(sweeps: list[Path], budget: str, random_from: list[Path] | None = None
            ) -> dict[tuple[str, str, int], dict]:
    """Every finished trial of the sweep folders at ``budget``: (dataset, method, seed) → trial,
    random search's taken from the ``random_from`` folders when given. A trial found twice, a
    method whose seeds ran with different settings, or a pair with random search run under
    another protocol is refused."""
    found_in = [(sweep, "*") for sweep in sweeps] + [(f, "random") for f in random_from or []]
    runs: dict[tuple[str, str, int], Path] = {}
    for sweep, methods in found_in:
        for key, run in trial_folders(sweep, budget, methods).items():
            if random_from and key[1] == "random" and methods != "random":
                continue
            if key in runs:
                raise SystemExit(f"decide: {'/'.join(map(str, key))} is in both {runs[key]} and "
                                 f"{run}: read each seed from one folder")
            runs[key] = run
    found = {key: result for key, run in runs.items() if (result := trial(run)) is not None}
    for (dataset, method, seed), mine in found.items():
        first = min(s for d, m, s in found if (d, m) == (dataset, method))
        check_same_protocol(mine, found[dataset, method, first], SETTINGS_KEYS,
                            "the same method's seeds")
        if method != "random" and (dataset, "random", seed) in found:
            check_same_protocol(mine, found[dataset, "random", seed], PROTOCOL_KEYS + ("seed",),
                                "its random-search partner")
    return found


def options(config: dict) -> dict:
    """A run's searcher options as its method reads them: those it does not record (added to
    the code after it ran) at their defaults."""
    searcher = get_searcher(config["method"])
    return dataclasses.asdict(searcher.parse_options(config.get("options") or {}))


def check_same_protocol(ours: dict, theirs: dict, keys: tuple[str, ...], what: str) -> None:
    """Refuse two trials (``trial``'s records) whose ``keys`` of config.yaml or whose
    retraining differ."""
    a, b = ours["config"], theirs["config"]
    differ = [k for k in keys if k != "options" and a.get(k) != b.get(k)]
    if "options" in keys:
        mine, yours = options(a), options(b)
        differ += [f"options.{k}" for k in sorted(set(mine) | set(yours))
                   if mine.get(k) != yours.get(k)]
    ours_train, theirs_train = dict(ours["train_config"]), dict(theirs["train_config"])
    if "seed" not in keys:  # one method's seeds: each retrains with its own
        ours_train.pop("seed", None), theirs_train.pop("seed", None)
    if ours_train != theirs_train:
        differ.append("train/config.yaml")
    if differ:
        raise SystemExit(f"decide: {ours['path']} and {what} {theirs['path']} were not run under "
                         f"the same protocol ({', '.join(differ)} differ): read trials of one "
                         "protocol, or run the missing ones here")


def _fmt(i: dict, digits: int = 3) -> str:
    if i["mean"] is None:
        return "–"
    if i["low"] is None:
        return f"{i['mean']:+.{digits}f}"
    return f"{i['mean']:+.{digits}f} [{i['low']:+.{digits}f}, {i['high']:+.{digits}f}]"


def markdown(summary: dict, command: str, preset: str) -> str:
    placed = any(r["percentile"]["n"] for d in summary.values() for r in d["methods"].values())
    lines = [f"Decidedness and searched-minus-random at equal compute (`{preset}` preset; test "
             "split; differences paired by seed, mean [95% t-interval])", "", f"`{command}`", "",
             "| dataset | method | α steps (run) | α steps to decided, per seed | decided | "
             "final min margin | ACC − random | AUC − random |"
             + (" percentile in the landscape |" if placed else ""),
             "|---|---|---:|---|---:|---:|---:|---:|" + ("---:|" if placed else "")]
    for dataset, d in summary.items():
        for method, r in d["methods"].items():
            decided = "–" if r["decided_share"] is None else f"{r['decided_share']:.0%}"
            margin = "–" if r["final_margin"] is None else f"{r['final_margin']:.3f}"
            to_decided = ", ".join("never" if s is None else str(s)
                                   for s in r["steps_to_decided"])
            run_steps = ", ".join(str(s) for s in sorted(set(r["arch_steps"])))
            lines.append(f"| {dataset} | {method} | {run_steps} | {to_decided} | {decided} | "
                         f"{margin} | {_fmt(r['acc_vs_random'])} | "
                         f"{_fmt(r['auc_vs_random'])} |"
                         + (f" {_fmt(r['percentile'], 1).lstrip('+')} |" if placed else ""))
        rnd = d["random"]
        lines.append(f"| {dataset} | random (reference) | – | – | – | – | ACC "
                     f"{_fmt(rnd['acc']).lstrip('+')} | AUC {_fmt(rnd['auc']).lstrip('+')} |"
                     + (f" {_fmt(rnd['percentile'], 1).lstrip('+')} |" if placed else ""))
    if placed:
        lines += ["", "Percentile in the landscape: each trial's test ACC among the single "
                  "retrainings of the dataset's landscape (`zodarts landscape`, the same "
                  "retraining settings), mean [95% t-interval] over the seeds."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        usage="%(prog)s --out SWEEP_DIR [options] [-- RUN OPTIONS...]",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        epilog="RUN OPTIONS after `--` go to every trial's `zodarts run` (e.g. `-- --opt "
               "zo_sign=true`). Expected cost at the defaults: 30 trials (2 datasets × 5 "
               "methods × 3 seeds, search → retrain → evaluate at the quick preset), about 2.5 "
               "hours on two CPU cores, two trials at a time; re-running the same command "
               "resumes. --no-run costs seconds.")
    p.add_argument("--datasets", default="breastmnist,pneumoniamnist", help="sweep axis")
    p.add_argument("--methods", default="zo-darts++,zo-darts,darts-1st,darts-2nd",
                   help="searched methods (random search is added as their partner)")
    p.add_argument("--seeds", default="0,1,2", help="sweep axis")
    p.add_argument("--preset", default="quick", help="`zodarts run` preset of every trial")
    p.add_argument("--budget", default="none", help="budget of every trial")
    p.add_argument("--out", required=True, metavar="SWEEP_DIR",
                   help="the sweep folder (run or resumed there; decide.json and decide.md "
                        "are written beside it)")
    p.add_argument("--no-run", action="store_true", help="only summarise what the folder holds")
    p.add_argument("--also", type=Path, action="append", default=[], metavar="SWEEP",
                   help="read this sweep folder's trials too (e.g. more seeds of the same "
                        "protocol); repeatable")
    p.add_argument("--random-from", type=Path, action="append", default=[], metavar="SWEEP",
                   help="pair with the random-search trials of this sweep folder; repeatable")
    p.add_argument("--landscape", type=Path, action="append", default=[], metavar="DIR",
                   help="a landscape of a dataset (`zodarts landscape`, the same retraining): "
                        "each trial's percentile in it; repeatable")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    args, run_options = p.parse_known_args(argv)
    run_options = [a for a in run_options if a != "--"]
    out = Path(args.out)
    methods = [m for m in args.methods.split(",") if m]
    if not args.random_from:
        methods.append("random")
    for folder in [*args.also, *args.random_from]:
        if not folder.is_dir():
            print(f"decide: {folder} is not a folder", file=sys.stderr)
            return 2
    if not args.no_run:
        command = [sys.executable, "-m", "zodarts.cli", "sweep", "--out", str(out),
                   "--datasets", args.datasets, "--methods", ",".join(methods),
                   "--budgets", args.budget, "--seeds", args.seeds, "--preset", args.preset,
                   "--quiet", *run_options]
        done = subprocess.run(command, stdout=sys.stderr)  # stdout: the summary alone
        if done.returncode != 0:
            print(f"decide: the sweep exited with {done.returncode}", file=sys.stderr)
            return done.returncode
    found = collect([out, *args.also], args.budget, args.random_from)
    landscape_percentiles(found, args.landscape)
    summary = summarise(found)
    invocation = "python benchmarks/decide.py " + " ".join(sys.argv[1:] if argv is None
                                                              else argv)
    table = markdown(summary, invocation, args.preset)
    (out / "decide.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "decide.md").write_text(table)
    print(json.dumps(summary, indent=2) if args.json else table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
