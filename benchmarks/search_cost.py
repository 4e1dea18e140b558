"""Search cost of every method on the same data, split, space, batch size and seed.

    python benchmarks/search_cost.py [--dataset NAME] [--epochs E] [--methods a,b,...]
        [--preset paper|quick|tiny] [--steps-per-epoch N] [--size-search-start S]
        [--repeats R] [--json]

Reports seconds per epoch, total seconds, peak memory and each method's seconds per epoch as a
ratio to DARTS second order's (darts-2nd is always run: it is the baseline of DESIGN.md §8's
goal, ZO-DARTS++ ≤ 0.5×). Every method runs through the real search loop (``run_search`` into a
temporary folder, progress off) in its own subprocess, because peak RSS (``ru_maxrss``) is a
process-wide high-water mark: measured in one process, every method after the largest would
report the largest. On CUDA the peak is ``torch.cuda.max_memory_allocated`` instead. Peak RSS
includes the interpreter and torch themselves (a few hundred MB), the same for every method.

Shared machines are noisy (runs of the same method in separate processes differed by up to 30%
on the 2-core machine this was written on): ``--repeats R`` runs every method R times,
interleaved, and reports the median seconds per epoch and the median of the per-repeat ratios,
with every run in the JSON (``sec_per_epoch_runs``, ``ratio_runs``).

Default dataset: BreastMNIST when ``$MEDMNIST_ROOT/breastmnist.npz`` exists, else the embedded
digits. Seconds per epoch are the loop's wall time over the epochs run (data, steps, the
per-epoch evaluation and checkpoint included). Methods whose architecture step comes every M
batches (ZO-DARTS(++), ZARTS) need at least M batches to show their real cost: on BreastMNIST at
batch 256 an epoch is one batch, so run 10 epochs or more (the default). ZO-DARTS++'s
size-variable phase (all three kernels) starts at the preset's ``size_search_start``; pass
``--size-search-start 0`` to time that phase instead.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

BASELINE = "darts-2nd"


def default_dataset() -> str:
    root = os.environ.get("MEDMNIST_ROOT")
    return "breastmnist" if root and (Path(root) / "breastmnist.npz").exists() else "digits"


def method_config(preset: str, **settings):
    """A SearchConfig from ``preset`` and overrides (the preset's options reach only the methods
    that have them, so every method runs under the same preset)."""
    from zodarts.config import make_search_config

    return make_search_config(preset, **settings)


# ---- one method, in this process (the worker) -----------------------------------------------
def measure(settings: dict) -> dict:
    """Run one search and return its cost; ``settings`` are make_config overrides."""
    import torch

    from zodarts.search.loop import run_search
    from zodarts.utils.runtime import resolve_device

    settings = dict(settings)
    preset = settings.pop("preset")
    threads = settings.pop("threads", None)
    if threads:
        torch.set_num_threads(threads)
    config = method_config(preset, **settings)
    device = resolve_device(config.device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    with tempfile.TemporaryDirectory() as out:
        result = run_search(config, out, progress=False, log=None)
    if device.type == "cuda":
        peak_mb = torch.cuda.max_memory_allocated(device) / 2 ** 20
    else:
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    epochs = len(result.history)
    return {"sec_per_epoch": result.seconds / epochs, "total_sec": result.seconds,
            "peak_mem_mb": peak_mb, "epoch_sec": [r["seconds"] for r in result.history],
            "device": str(device), "threads": torch.get_num_threads(),
            "batch_size": config.batch_size, "C": config.C,
            "cells_per_stage": config.cells_per_stage}


def run_worker(method: str, settings: dict) -> dict:
    """``measure`` in a fresh interpreter; returns its result or {"error": ...}."""
    payload = json.dumps({**settings, "method": method})
    proc = subprocess.run([sys.executable, __file__, "--worker", payload], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        lines = (proc.stderr.strip() or proc.stdout.strip() or "no output").splitlines()
        return {"error": lines[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---- the comparison -------------------------------------------------------------------------
def compare(methods: list[str], settings: dict, log=None, repeats: int = 1) -> dict:
    """Every method ``repeats`` times, interleaved (a, b, ..., a, b, ...) so that a slow spell of
    a shared machine falls on all methods alike. Each repeat's ratio pairs a method with the
    baseline of the same repeat; the report gives medians and every run."""
    if BASELINE not in methods:
        methods = [*methods, BASELINE]
    runs: dict[str, list[dict]] = {m: [] for m in methods}
    for rep in range(repeats):
        for method in methods:
            if log:
                log(f"{method} ..." + (f" (repeat {rep + 1}/{repeats})" if repeats > 1 else ""))
            runs[method].append(run_worker(method, settings))
            if log:
                log(f"{method}: {_describe(runs[method][-1])}")
    report = {"dataset": settings["dataset"], "device": None, "epochs": settings["epochs"],
              "preset": settings["preset"], "steps_per_epoch": settings.get("steps_per_epoch"),
              "repeats": repeats, "methods": {}}
    base = runs[BASELINE]
    for method, rs in runs.items():
        errors = [r["error"] for r in rs if "error" in r]
        if errors or any("error" in b for b in base):
            report["methods"][method] = {"sec_per_epoch": None, "total_sec": None,
                                         "peak_mem_mb": None, "ratio_vs_darts_2nd": None,
                                         "error": (errors or ["the darts-2nd baseline failed"])[0]}
            continue
        report["device"] = rs[0]["device"]
        for key in ("threads", "batch_size", "C", "cells_per_stage"):
            report[key] = rs[0][key]
        ratios = [r["sec_per_epoch"] / b["sec_per_epoch"] for r, b in zip(rs, base)]
        report["methods"][method] = {
            "sec_per_epoch": statistics.median(r["sec_per_epoch"] for r in rs),
            "total_sec": statistics.median(r["total_sec"] for r in rs),
            "peak_mem_mb": max(r["peak_mem_mb"] for r in rs),
            "ratio_vs_darts_2nd": statistics.median(ratios),
            "sec_per_epoch_runs": [r["sec_per_epoch"] for r in rs],
            "ratio_runs": ratios}
    return report


def _describe(r: dict) -> str:
    if "error" in r:
        return f"failed: {r['error']}"
    return f"{r['sec_per_epoch']:.2f} s/epoch, {r['total_sec']:.1f} s, {r['peak_mem_mb']:.0f} MB"


def print_table(report: dict) -> None:
    print(f"search cost on {report['dataset']} ({report['device']}, {report.get('threads')} "
          f"threads), preset {report['preset']}, C={report.get('C')}, "
          f"{report.get('cells_per_stage')} cells/stage, batch {report.get('batch_size')}, "
          f"{report['epochs']} epochs"
          + (f" of at most {report['steps_per_epoch']} steps" if report["steps_per_epoch"] else "")
          + (f", median of {report['repeats']} interleaved repeats" if report["repeats"] > 1
             else ""))
    print(f"  {'method':<12} {'s/epoch':>9} {'total s':>9} {'peak MB':>9} {'× darts-2nd':>12}"
          + ("  ratio per repeat" if report["repeats"] > 1 else ""))
    for name, r in report["methods"].items():
        if r["sec_per_epoch"] is None:
            print(f"  {name:<12} failed: {r.get('error')}")
            continue
        ratio = "-" if r["ratio_vs_darts_2nd"] is None else f"{r['ratio_vs_darts_2nd']:.2f}"
        runs = ("  " + ", ".join(f"{x:.2f}" for x in r["ratio_runs"])
                if report["repeats"] > 1 else "")
        print(f"  {name:<12} {r['sec_per_epoch']:>9.2f} {r['total_sec']:>9.1f} "
              f"{r['peak_mem_mb']:>9.0f} {ratio:>12}{runs}")


def main(argv: list[str] | None = None) -> int:
    from zodarts.config import SEARCH_PRESETS
    from zodarts.search.registry import SEARCHERS

    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        epilog="Expected cost on two CPU cores: each method runs its epochs in its own process; "
               "at the paper preset on BreastMNIST an epoch is about 19 s for zo-darts++ and 35 s "
               "for darts-2nd, so `--epochs 2 --methods zo-darts++ --repeats 2` takes about 4 "
               "minutes and the defaults (every method, 10 epochs) well over half an hour.")
    parser.add_argument("--dataset", default=None, help="None: breastmnist from "
                        "$MEDMNIST_ROOT when present, else digits")
    parser.add_argument("--epochs", type=int, default=10, help="search epochs per method")
    parser.add_argument("--methods", default=",".join(SEARCHERS),
                        help="comma-separated (darts-2nd is always added as the baseline)")
    parser.add_argument("--preset", default="paper", choices=sorted(SEARCH_PRESETS),
                        help="search settings (C, cells, batch)")
    parser.add_argument("--steps-per-epoch", type=int, default=None,
                        help="cap on training batches per epoch (None: the whole half)")
    parser.add_argument("--size-search-start", type=int, default=None,
                        help="epoch of ZO-DARTS++'s size-variable phase (None: the preset's)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every run")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads per run (None: torch's, one per core)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="run every method this many times, interleaved; report medians")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:  # internal: one method in this process
        print(json.dumps(measure(json.loads(args.worker))))
        return 0
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in SEARCHERS]
    if unknown:
        parser.error(f"unknown method(s) {', '.join(unknown)}; known: {', '.join(SEARCHERS)}")
    settings = {"preset": args.preset, "dataset": args.dataset or default_dataset(),
                "epochs": args.epochs, "seed": args.seed, "device": args.device}
    if args.steps_per_epoch is not None:
        settings["steps_per_epoch"] = args.steps_per_epoch
    if args.size_search_start is not None:
        settings["size_search_start"] = args.size_search_start
    if args.threads is not None:
        settings["threads"] = args.threads
    log = None if args.json else (lambda message: print(message, file=sys.stderr, flush=True))
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    report = compare(methods, settings, log, args.repeats)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_table(report)
    return 0 if all(r["sec_per_epoch"] is not None for r in report["methods"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
