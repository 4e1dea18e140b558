"""Seconds per search step/epoch and achieved GFLOP/s of ZO-DARTS++'s search step, against a
plain supernet training step at the same settings.

    python benchmarks/search_speed.py [--dataset breastmnist] [--preset paper] [--rounds 1]
        [--zo-steps M] [--precision fp32|bf16] [--device auto] [--json]

Uses BreastMNIST from $MEDMNIST_ROOT when present, else the embedded digits. Times phase 1
(α_op only, 7×7 convs, full depth) and phase 2 (size-variable) separately: the search step's
cost changes at the switch. FLOPs are counted by torch's FlopCounterMode over one full round
(M weight steps on the main network and the twin, plus the architecture step), forward and
backward included.

``ratio_to_plain`` is a ZO step's seconds over a plain weight step's (one forward and backward
of the supernet on the same batch, no twin, no α step). Its floor is about 2.1: the main
network's pass, the twin's, and a tenth of a validation pass (one every M = 10 steps); the
overhead of the search machinery is what the ratio shows above that.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from zodarts.config import SEARCH_PRESETS, make_search_config
from zodarts.search.loop import SearchLoop


def _default_dataset() -> str:
    root = os.environ.get("MEDMNIST_ROOT")
    return "breastmnist" if root and (Path(root) / "breastmnist.npz").exists() else "digits"


def _batches(loop: SearchLoop):
    epoch = 0
    while True:
        for batch in loop.train_batches.epoch(epoch):
            yield batch, next(loop.arch_stream)
        epoch += 1


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_plain(loop: SearchLoop, steps: int) -> float:
    """Seconds per plain supernet weight step (the unit a ZO step is measured against)."""
    searcher, device = loop.searcher, loop.device
    stream = _batches(loop)
    for _ in range(2):  # warm-up
        searcher.weight_step(next(stream)[0])
    _sync(device)
    tic = time.perf_counter()
    for _ in range(steps):
        searcher.weight_step(next(stream)[0])
    _sync(device)
    return (time.perf_counter() - tic) / steps


def measure_phase(loop: SearchLoop, rounds: int) -> dict:
    searcher, device = loop.searcher, loop.device
    M = searcher.options.zo_steps
    stream = _batches(loop)
    for _ in range(M):  # warm-up round: allocations, momentum buffers, kernels
        searcher.step(*next(stream))
    with FlopCounterMode(display=False) as counter:
        for _ in range(M):
            searcher.step(*next(stream))
    flops_per_round = counter.get_total_flops()
    _sync(device)
    tic = time.perf_counter()
    for _ in range(rounds * M):
        searcher.step(*next(stream))
    _sync(device)
    seconds = time.perf_counter() - tic
    per_step = seconds / (rounds * M)
    steps_per_epoch = len(loop.train_batches)
    plain = measure_plain(loop, max(M, 4))
    return {"sec_per_step": per_step, "sec_per_plain_step": plain,
            "ratio_to_plain": per_step / plain, "steps_per_epoch": steps_per_epoch,
            "sec_per_epoch": per_step * steps_per_epoch,
            "gflop_per_round": flops_per_round / 1e9,
            "gflops": flops_per_round * rounds / seconds / 1e9}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        epilog="Expected cost on two CPU cores at the defaults (paper preset, BreastMNIST, one "
               "round per phase): about a minute.")
    parser.add_argument("--dataset", default=None,
                        help="None: breastmnist from $MEDMNIST_ROOT, else digits")
    parser.add_argument("--preset", default="paper", choices=sorted(SEARCH_PRESETS),
                        help="search settings (C, cells, batch)")
    parser.add_argument("--rounds", type=int, default=1, help="timed rounds of M steps per phase")
    parser.add_argument("--zo-steps", type=int, default=None, help="M (None: the preset's)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"],
                        help="autocast precision")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (None: torch's)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    dataset = args.dataset or _default_dataset()
    options = {} if args.zo_steps is None else {"zo_steps": args.zo_steps}
    config = make_search_config(args.preset, dataset=dataset, method="zo-darts++",
                                device=args.device, precision=args.precision, options=options)
    with tempfile.TemporaryDirectory() as tmp:
        loop = SearchLoop(config, tmp, progress=False, log=None)
        loop.build()
        results = {"phase1": measure_phase(loop, args.rounds)}
        loop.supernet.enable_size_search(torch.Generator().manual_seed(0))
        loop.searcher.on_size_search()
        results["phase2"] = measure_phase(loop, args.rounds)
    config = loop.config  # resolved: the paper preset's batch follows the dataset
    report = {"dataset": dataset, "device": str(loop.device), "precision": args.precision,
              "C": config.C,
              "cells_per_stage": config.cells_per_stage, "batch_size": config.batch_size,
              "zo_steps": loop.searcher.options.zo_steps, "threads": torch.get_num_threads(),
              **results}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"ZO-DARTS++ search step on {dataset} ({report['device']}, {report['threads']} threads), "
          f"C={config.C}, {config.cells_per_stage} cells/stage, batch {config.batch_size}, "
          f"M={report['zo_steps']}")
    for phase in ("phase1", "phase2"):
        r = results[phase]
        print(f"  {phase}: {r['sec_per_step']:.3f} s/step ({r['ratio_to_plain']:.2f}× a plain "
              f"supernet step of {r['sec_per_plain_step']:.3f} s), {r['sec_per_epoch']:.2f} "
              f"s/epoch ({r['steps_per_epoch']} steps), {r['gflop_per_round']:.1f} GFLOP/round, "
              f"{r['gflops']:.1f} GFLOP/s")


if __name__ == "__main__":
    main()
