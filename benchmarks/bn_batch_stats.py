"""What evaluating with BatchNorm's batch statistics (the ZO-DARTS++ authors' networks,
`--bn-batch-stats`) does to the test numbers.

    python benchmarks/bn_batch_stats.py RUN_OR_SWEEP... [--batches 16,64,all] [--json]

For every trained network found (a run folder with train/best.pt, or all of a sweep's, draws
included), the test ACC and AUC:

* ``running``: BatchNorm with running statistics, estimated once from the whole training split
  (unaugmented; for a network trained with running statistics, its own): every image is then
  normalised the same way, whatever else is in its batch, as a deployed network must;
* ``batch B``: BatchNorm with each test batch's own statistics, the split cut into batches of B
  images in its order (``all``: one batch), as a network without running statistics is evaluated
  (its training batch is how zodarts and the authors evaluate it).

It reports each network's numbers and the mean difference of every batch size to ``running``
over the networks, with a 95% t-interval. Costs seconds per network on a CPU (inference only).
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
from pathlib import Path

import torch

from zodarts.data import BatchIterator, load_dataset
from zodarts.landscape.supernet import recalibrate_batchnorm
from zodarts.space import build_network
from zodarts.space.network import use_batch_statistics
from zodarts.train.checkpoint import load_model_state, load_trained, read_checkpoint
from zodarts.train.evaluate import evaluate_model, run_dataset
from zodarts.rundir import RunPaths


def networks(sources: list[Path]) -> list[Path]:
    found = []
    for source in sources:
        found += sorted(p.parent.parent for p in source.rglob("train/best.pt"))
    return found


def with_running_statistics(run: Path, trained, train_split) -> torch.nn.Module:
    """The trained network with running statistics: its own, or, for one trained on batch
    statistics, estimated over the whole training split."""
    if not trained.bn_batch_stats:
        return trained.model
    net = build_network(trained.genotype)
    state = read_checkpoint(RunPaths(run).train_best)["model"]
    missing, unexpected = net.load_state_dict(state, strict=False)
    assert not unexpected and all("running" in k or "num_batches" in k for k in missing)
    batches = BatchIterator(train_split, 256, "cpu", trained.normalizer, shuffle=False)
    recalibrate_batchnorm(net, batches.epoch(0), count=len(batches))
    return net.eval()


def with_batch_statistics(model: torch.nn.Module) -> torch.nn.Module:
    model = copy.deepcopy(model)
    use_batch_statistics(model)
    return model.eval()


def measure(run: Path, batch_sizes: list[str]) -> dict:
    trained = load_trained(run, "best", "cpu")
    name, root = run_dataset(RunPaths(run))
    dataset = load_dataset(name, root)
    test = dataset.splits["test"]

    def evaluate(model, size: int) -> dict:
        batches = BatchIterator(test, size, "cpu", trained.normalizer, shuffle=False)
        metrics = evaluate_model(model, batches.epoch(0), dataset.task)
        return {"acc": metrics["acc"], "auc": metrics["auc"]}

    out = {"run": str(run), "trained_on_batch_statistics": trained.bn_batch_stats,
           "training_batch": trained.eval_batch,
           "running": evaluate(with_running_statistics(run, trained, dataset.splits["train"]),
                               512)}
    batch_model = trained.model if trained.bn_batch_stats else \
        with_batch_statistics(trained.model)
    for size in batch_sizes:
        n = len(test) if size == "all" else int(size)
        out[f"batch {size}"] = evaluate(batch_model, n)
    return out


def summary(rows: list[dict], batch_sizes: list[str]) -> dict:
    from scipy.stats import t

    result = {}
    for size in batch_sizes:
        for metric in ("acc", "auc"):
            diffs = [r[f"batch {size}"][metric] - r["running"][metric] for r in rows
                     if r[f"batch {size}"][metric] is not None and r["running"][metric]
                     is not None]
            if len(diffs) < 2:
                continue
            mean, sd = statistics.fmean(diffs), statistics.stdev(diffs)
            half = float(t.ppf(0.975, len(diffs) - 1)) * sd / len(diffs) ** 0.5
            result[f"batch {size} − running, {metric}"] = {
                "mean": mean, "low": mean - half, "high": mean + half, "n": len(diffs)}
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        epilog="Expected cost: a few seconds per network on one CPU core (inference only).")
    p.add_argument("sources", nargs="+", type=Path, metavar="RUN_OR_SWEEP",
                   help="run folders or sweep folders with trained networks")
    p.add_argument("--batches", default="16,64,all",
                   help="test batch sizes evaluated with batch statistics (all: one batch)")
    p.add_argument("--only-batch-trained", action="store_true",
                   help="only networks trained with --bn-batch-stats")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    args = p.parse_args(argv)
    sizes = [s.strip() for s in args.batches.split(",") if s.strip()]
    rows = []
    for run in networks(args.sources):
        row = measure(run, sizes)
        if args.only_batch_trained and not row["trained_on_batch_statistics"]:
            continue
        rows.append(row)
    if not rows:
        print("bn_batch_stats: no trained network found", file=sys.stderr)
        return 1
    report = {"networks": rows, "differences": summary(rows, sizes)}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{'network':<60} {'running':>8} " + " ".join(f"{'batch ' + s:>10}" for s in sizes))
    for r in rows:
        print(f"{r['run'][-60:]:<60} {r['running']['acc']:>8.4f} "
              + " ".join(f"{r['batch ' + s]['acc']:>10.4f}" for s in sizes))
    for key, d in report["differences"].items():
        print(f"{key}: {d['mean']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}] over {d['n']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
