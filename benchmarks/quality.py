"""Searched-then-retrained quality of each method against MedMNIST v2's ResNet-18 (28).

    python benchmarks/quality.py [--dataset breastmnist] [--methods zo-darts++,darts-2nd,...]
        [--seeds 0,1,2] [--search-preset quick] [--train-preset quick] [--budget none]
        [--search-epochs E] [--train-epochs E] [--out runs/quality] [--json]

For every method and seed: search (the real loop), retrain the genotype from scratch, evaluate
on the test split (``zodarts.api`` — the same code as ``zodarts search/train/evaluate``), each
into ``OUT/METHOD/seed-S``. Reports test ACC and AUC as mean ± std over seeds, parameters,
FLOPs and search/retrain seconds, beside the published ResNet-18 (28) row of MedMNIST v2
(Yang et al., Scientific Data 10:41, 2023, Table 3: test AUC/ACC, mean of ≥ 3 runs). The table
goes to stdout and, with the JSON, to ``OUT/DATASET/quality.md`` and ``quality.json``.

Every method uses the same split, space, presets and seeds. A run folder that already holds
``eval.json`` is read, not redone, so an interrupted benchmark continues where it stopped
(``--fresh`` redoes everything). Default dataset: BreastMNIST when
``$MEDMNIST_ROOT/breastmnist.npz`` exists, else digits (which has no published baseline).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from search_cost import default_dataset, method_config  # noqa: E402  (benchmark sibling)

DEFAULT_METHODS = "zo-darts++,zo-darts,darts-1st,darts-2nd,random"

# MedMNIST v2, Table 3, ResNet-18 (28): test (AUC, ACC).
RESNET18_28 = {
    "pathmnist": (0.983, 0.907), "chestmnist": (0.768, 0.947), "dermamnist": (0.917, 0.735),
    "octmnist": (0.943, 0.743), "pneumoniamnist": (0.944, 0.854),
    "retinamnist": (0.717, 0.524), "breastmnist": (0.901, 0.863),
    "bloodmnist": (0.998, 0.958), "tissuemnist": (0.930, 0.676),
    "organamnist": (0.997, 0.935), "organcmnist": (0.992, 0.900),
    "organsmnist": (0.972, 0.782),
}


def run_one(method: str, seed: int, args: argparse.Namespace, out: Path) -> dict:
    """Search, retrain and evaluate one (method, seed); returns the eval dict plus timings."""
    from zodarts import api
    from zodarts.search.loop import run_search

    done = out / "eval.json"
    timing = out / "quality_timing.json"
    if done.is_file() and timing.is_file():
        return {**json.loads(done.read_text()), **json.loads(timing.read_text())}
    if out.exists():  # an unfinished run: start it again rather than guess its state
        shutil.rmtree(out)
    settings = {"dataset": args.dataset, "method": method, "seed": seed, "budget": args.budget,
                "device": args.device}
    if args.search_epochs:
        settings["epochs"] = args.search_epochs
    tic = time.perf_counter()
    run_search(method_config(args.search_preset, **settings), out, progress=args.progress,
               log=None)
    search_sec = time.perf_counter() - tic
    train_settings = {"seed": seed, "device": args.device}
    if args.train_epochs:
        train_settings["epochs"] = args.train_epochs
    tic = time.perf_counter()
    api.train(out, preset=args.train_preset, progress=args.progress, **train_settings)
    train_sec = time.perf_counter() - tic
    evaluation = api.evaluate(out, device=args.device)
    times = {"search_sec": search_sec, "train_sec": train_sec}
    timing.write_text(json.dumps(times) + "\n")
    return {**evaluation, **times}


def _mean_std(values: list[float]) -> dict:
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return {"mean": None, "std": None}
    return {"mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else 0.0}


def summarise(runs: dict[str, list[dict]], dataset: str) -> dict:
    methods = {}
    for method, results in runs.items():
        methods[method] = {
            "seeds": len(results),
            "test_acc": _mean_std([r["test"].get("acc") for r in results]),
            "test_auc": _mean_std([r["test"].get("auc") for r in results]),
            "params": _mean_std([float(r["params"]) for r in results]),
            "flops": _mean_std([float(r["flops"]) for r in results]),
            "search_sec": _mean_std([r["search_sec"] for r in results]),
            "train_sec": _mean_std([r["train_sec"] for r in results]),
        }
    baseline = RESNET18_28.get(dataset)
    return {"dataset": dataset, "methods": methods,
            "resnet18_28": None if baseline is None else {"test_auc": baseline[0],
                                                          "test_acc": baseline[1]}}


def _fmt(stat: dict, scale: float = 1.0, digits: int = 3) -> str:
    if stat["mean"] is None:
        return "-"
    return f"{stat['mean'] * scale:.{digits}f} ± {stat['std'] * scale:.{digits}f}"


def markdown_table(summary: dict, command: str) -> str:
    """The summary as a Markdown table (mean ± std over seeds), with the command that made it."""
    lines = [f"Searched-then-retrained quality on {summary['dataset']} (test split, mean ± std "
             f"over seeds)", "", f"`{command}`", "",
             "| method | seeds | test ACC | test AUC | params (k) | search s | train s |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, m in summary["methods"].items():
        lines.append(f"| {name} | {m['seeds']} | {_fmt(m['test_acc'])} | {_fmt(m['test_auc'])} "
                     f"| {_fmt(m['params'], 1e-3, 1)} | {m['search_sec']['mean'] or 0:.0f} "
                     f"| {m['train_sec']['mean'] or 0:.0f} |")
    base = summary["resnet18_28"]
    if base:
        lines.append(f"| ResNet-18 (28), MedMNIST v2 Table 3 | – | {base['test_acc']:.3f} "
                     f"| {base['test_auc']:.3f} | ≈11,200 | – | – |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from zodarts.config import SEARCH_PRESETS, TRAIN_PRESETS
    from zodarts.search.registry import SEARCHERS

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default=None)
    p.add_argument("--methods", default=DEFAULT_METHODS)
    p.add_argument("--seeds", default="0", help="comma-separated, e.g. 0,1,2")
    p.add_argument("--search-preset", default="quick", choices=sorted(SEARCH_PRESETS))
    p.add_argument("--train-preset", default="quick", choices=sorted(TRAIN_PRESETS))
    p.add_argument("--search-epochs", type=int, default=None)
    p.add_argument("--train-epochs", type=int, default=None)
    p.add_argument("--budget", default="none", choices=["none", "small", "medium", "large"])
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default="runs/quality")
    p.add_argument("--fresh", action="store_true", help="redo runs that already finished")
    p.add_argument("--progress", action="store_true", help="progress bars for each stage")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    args.dataset = args.dataset or default_dataset()
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in SEARCHERS]
    if unknown:
        p.error(f"unknown method(s) {', '.join(unknown)}; known: {', '.join(SEARCHERS)}")
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    root = Path(args.out) / Path(args.dataset).stem
    if args.fresh and root.exists():
        shutil.rmtree(root)

    runs: dict[str, list[dict]] = {}
    for method in methods:
        for seed in seeds:
            if not args.json:
                print(f"{method} seed {seed} ...", file=sys.stderr, flush=True)
            result = run_one(method, seed, args, root / method / f"seed-{seed}")
            runs.setdefault(method, []).append(result)
    summary = summarise(runs, Path(args.dataset).stem)
    command = "python benchmarks/quality.py " + " ".join(sys.argv[1:] if argv is None else argv)
    table = markdown_table(summary, command)
    (root / "quality.json").write_text(json.dumps(summary, indent=2) + "\n")
    (root / "quality.md").write_text(table)
    print(json.dumps(summary, indent=2) if args.json else table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
