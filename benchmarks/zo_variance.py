"""How well each variant of the ZO hypergradient estimate points along the true hypergradient,
and what it costs.

    python benchmarks/zo_variance.py [--dataset breastmnist] [--C 4] [--cells 1] [--batch 16]
        [--zo-steps 10] [--pretrain 50] [--draws 48] [--reference-pairs 200]
        [--smoothing 0.015] [--variants paper,anti,q4,...] [--json]

The response is R(α) = L_val(ω_M(α), α): M SGD steps of the supernet's weights from a fixed
state (weights and momentum, after ``--pretrain`` steps of ordinary training) on M fixed training
batches, then the loss on one fixed validation batch. R is rough: ReLU's gradient is a step
function, so ω_M jumps wherever a pre-activation changes sign, and finite differences of R at
scales below ~1e-3 measure those jumps rather than a trend. The target is therefore the gradient
of R smoothed at the scale an α step travels (``--smoothing`` s per coordinate, ZO-DARTS's Adam
lr by default): ∇R_s = E_u[(R(α + su) − R(α − su)) u] / 2s, u ~ N(0, I), estimated with
``--reference-pairs`` antithetic pairs (float32, as the search runs: at this scale the rounding
is far below the response's own changes, and float64 convolutions are tens of times slower on
CPU). Its own accuracy is reported as the cosine between the estimates from the two halves of
the pairs.

Each variant runs the real searcher (float32, as a search does) from the same state on the same
batches for ``--draws`` rounds with fresh random directions; reported per variant:

* ``cost``: weight passes per training batch (main network + twins), the compute per α step;
* ``cos``: mean cosine between one α step's estimate ĝ and ∇R_s;
* ``cos_equal_compute``: the cosine of the mean of n estimates, n = EQUAL_COMPUTE / cost
  (rounded down, at least 1): what a fixed budget of twin passes buys;
* ``sign_agreement``: how often the directional derivative D has the sign of ∇R_s·z.

``first-order`` is DARTS-1st's ∇_α L_val(ω, α) at the same state (cost 1), for reference.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import statistics
import sys
from pathlib import Path

import torch
from torch import nn

from zodarts.config import SearchConfig
from zodarts.data import BatchIterator, CropFlip, Normalizer, load_dataset, search_split
from zodarts.search.base import SearchContext
from zodarts.search.protocol import resolve_method
from zodarts.search.zo_darts import ZODarts
from zodarts.space import SuperNet
from zodarts.train.metrics import make_criterion

# name -> ZO options; every variant also gets --zo-steps.
VARIANTS = {
    "paper": {},
    "mu-1e-2": {"zo_mu_min": 1e-2},
    "anti": {"zo_antithetic": True},
    "anti-mu-1e-2": {"zo_antithetic": True, "zo_mu_min": 1e-2},
    "q4": {"zo_directions": 4},
    "hybrid": {"zo_estimator": "hybrid"},
    "hybrid-mu-1e-2": {"zo_estimator": "hybrid", "zo_mu_min": 1e-2},
    "hybrid-anti-mu-1e-2": {"zo_estimator": "hybrid", "zo_antithetic": True, "zo_mu_min": 1e-2},
}
EQUAL_COMPUTE = 12  # weight passes per batch: 6 paper steps, 4 antithetic ones, 2 with q = 4


def default_dataset() -> str:
    root = os.environ.get("MEDMNIST_ROOT")
    return "breastmnist" if root and (Path(root) / "breastmnist.npz").exists() else "digits"


class Problem:
    """A pretrained supernet state, M training batches and a validation batch, held fixed."""

    def __init__(self, args: argparse.Namespace):
        torch.manual_seed(args.seed)
        dataset = load_dataset(args.dataset)
        weights_half, arch_half = search_split(dataset, args.seed)
        normalizer = Normalizer.from_split(weights_half)
        augment = CropFlip(padding=max(1, dataset.image_size // 8))
        train = BatchIterator(weights_half, args.batch, "cpu", normalizer, augment=augment,
                              drop_last=True, seed=args.seed)
        val = BatchIterator(arch_half, args.batch, "cpu", normalizer, drop_last=True,
                            seed=args.seed + 1)
        stream = train.infinite()
        self.criterion = make_criterion(dataset.task)
        self.shape = (dataset.channels, dataset.classes, args.C, args.cells, dataset.image_size)
        self.net = self.make()
        optimizer = torch.optim.SGD(self.net.weight_parameters(), lr=args.lr, momentum=0.9,
                                    nesterov=True, weight_decay=3e-4)
        self.net.train()
        for _ in range(args.pretrain):  # a supernet some way into its search, α at its init
            x, y = next(stream)
            optimizer.zero_grad()
            self.criterion(self.net(x), y).backward()
            nn.utils.clip_grad_norm_(self.net.weight_parameters(), 5.0)
            optimizer.step()
        self.optimizer_state = copy.deepcopy(optimizer.state_dict())
        self.batches = [next(stream) for _ in range(args.zo_steps)]
        self.val = next(val.infinite())
        self.lr = args.lr

    def make(self, dtype=torch.float32) -> SuperNet:
        channels, classes, C, cells, size = self.shape
        return SuperNet(channels, classes, C, cells, "softmax", size, 1.0).to(dtype)

    def start(self, dtype=torch.float32) -> tuple[SuperNet, torch.optim.SGD]:
        """A fresh copy of the fixed state (weights, α, momentum) in ``dtype``."""
        net = copy.deepcopy(self.net).to(dtype)
        optimizer = torch.optim.SGD(net.weight_parameters(), lr=self.lr, momentum=0.9,
                                    nesterov=True, weight_decay=3e-4)
        state = copy.deepcopy(self.optimizer_state)
        optimizer.load_state_dict(state)
        for buffers in optimizer.state.values():
            buffers["momentum_buffer"] = buffers["momentum_buffer"].to(dtype)
        return net, optimizer

    def response(self, offset: torch.Tensor, dtype=torch.float32) -> float:
        """R(α + offset)."""
        net, optimizer = self.start(dtype)
        with torch.no_grad():
            net.alpha_op.add_(offset.view_as(net.alpha_op).to(dtype))
        net.train()
        for x, y in self.batches:
            optimizer.zero_grad()
            self.criterion(net(x.to(dtype)), y).backward()
            nn.utils.clip_grad_norm_(net.weight_parameters(), 5.0)
            optimizer.step()
        with torch.no_grad():
            return self.criterion(net(self.val[0].to(dtype)), self.val[1]).item()

    def first_order(self) -> torch.Tensor:
        net, _ = self.start()
        net.train()
        loss = self.criterion(net(self.val[0]), self.val[1])
        return torch.autograd.grad(loss, [net.alpha_op])[0].flatten()


def reference_gradient(problem: Problem, s: float, pairs: int, seed: int
                       ) -> tuple[torch.Tensor, float]:
    """∇R_s by antithetic Gaussian smoothing, and the cosine between its two halves."""
    d = problem.net.alpha_op.numel()
    generator = torch.Generator().manual_seed(seed)
    terms = []
    for _ in range(pairs):
        u = torch.randn(d, generator=generator, dtype=torch.float64)
        terms.append((problem.response(s * u) - problem.response(-s * u)) / (2 * s) * u)
    half = pairs // 2
    a, b = torch.stack(terms[:half]).mean(0), torch.stack(terms[half:]).mean(0)
    return torch.stack(terms).mean(0), _cos(a, b)


def _cos(a: torch.Tensor, b: torch.Tensor) -> float:
    return torch.nn.functional.cosine_similarity(a.double(), b.double(), dim=0).item()


def draw_estimates(problem: Problem, options: dict, draws: int, seed: int
                   ) -> tuple[list[torch.Tensor], list[tuple[float, torch.Tensor]], int]:
    """``draws`` α-step estimates of one variant from the fixed state; also (D, z) pairs."""
    config = resolve_method(SearchConfig(method="zo-darts", options=options))
    generator = torch.Generator().manual_seed(seed)
    estimates, derivatives = [], []
    cost = 0
    for _ in range(draws):
        net, optimizer = problem.start()
        searcher = ZODarts(SearchContext(net, optimizer, config, None, problem.criterion,
                                         torch.device("cpu"), generator, problem.make))
        for batch in problem.batches:
            stats = searcher.step(batch, problem.val)
        estimates.append(searcher.last_estimate[0].flatten().double())
        derivatives += [(stats["zo_D"], searcher.directions[0][0].flatten().double())]
        cost = 1 + len(searcher.twins)
    return estimates, derivatives, cost


def summarise(name: str, estimates, derivatives, cost: int, truth: torch.Tensor) -> dict:
    cosines = [_cos(e, truth) for e in estimates]
    n = min(max(1, EQUAL_COMPUTE // cost), len(estimates))
    groups = [torch.stack(estimates[i:i + n]).mean(0) for i in range(0, len(estimates) - n + 1, n)]
    signs = [math.copysign(1, D) == math.copysign(1, (z @ truth).item())
             for D, z in derivatives]
    return {"variant": name, "cost": cost, "cos": statistics.fmean(cosines),
            "cos_sem": statistics.stdev(cosines) / math.sqrt(len(cosines)),
            "cos_equal_compute": statistics.fmean(_cos(g, truth) for g in groups),
            "estimates_per_group": n, "sign_agreement": statistics.fmean(signs)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        epilog="Expected cost on one CPU core: the reference pairs dominate (two responses of "
               "M weight steps each); 400 pairs and 64 draws of four variants took 20 minutes "
               "on BreastMNIST, so the defaults take about 10.")
    p.add_argument("--dataset", default=None,
                   help="None: breastmnist from $MEDMNIST_ROOT, else digits")
    p.add_argument("--C", type=int, default=4, help="supernet channels")
    p.add_argument("--cells", type=int, default=1, help="cells per stage")
    p.add_argument("--batch", type=int, default=16, help="batch size")
    p.add_argument("--lr", type=float, default=0.1, help="weight learning rate")
    p.add_argument("--zo-steps", type=int, default=10, help="M, weight steps per round")
    p.add_argument("--pretrain", type=int, default=50, help="ordinary training steps first")
    p.add_argument("--draws", type=int, default=48, help="estimates per variant")
    p.add_argument("--reference-pairs", type=int, default=200,
                   help="antithetic pairs of the smoothed-gradient target")
    p.add_argument("--smoothing", type=float, default=0.015,
                   help="smoothing scale s of the target")
    p.add_argument("--variants", default=",".join(VARIANTS), help="variants to measure")
    p.add_argument("--seed", type=int, default=0, help="seed")
    p.add_argument("--threads", type=int, default=None, help="torch threads (None: torch's)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    args.dataset = args.dataset or default_dataset()
    names = [v for v in args.variants.split(",") if v]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        p.error(f"unknown variant(s) {', '.join(unknown)}; known: {', '.join(VARIANTS)}")

    problem = Problem(args)
    truth, self_consistency = reference_gradient(problem, args.smoothing, args.reference_pairs,
                                                 args.seed + 1)
    first = problem.first_order()
    rows = [{"variant": "first-order", "cost": 1, "cos": _cos(first, truth), "cos_sem": 0.0,
             "cos_equal_compute": _cos(first, truth), "estimates_per_group": 1,
             "sign_agreement": None}]
    for i, name in enumerate(names):
        options = {"zo_steps": args.zo_steps, **VARIANTS[name]}
        estimates, derivatives, cost = draw_estimates(problem, options, args.draws,
                                                      args.seed + 100 + i)
        rows.append(summarise(name, estimates, derivatives, cost, truth))
    report = {"dataset": args.dataset, "C": args.C, "cells_per_stage": args.cells,
              "batch": args.batch, "zo_steps": args.zo_steps, "pretrain": args.pretrain,
              "smoothing": args.smoothing, "reference_pairs": args.reference_pairs,
              "reference_self_cosine": self_consistency, "draws": args.draws,
              "equal_compute_passes": EQUAL_COMPUTE, "variants": rows}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"ZO estimate vs ∇R smoothed at s={args.smoothing} on {args.dataset} (C={args.C}, "
          f"{args.cells} cells, batch {args.batch}, M={args.zo_steps}, {args.pretrain} pretraining "
          f"steps); reference from {args.reference_pairs} pairs, half-vs-half cosine "
          f"{self_consistency:.2f}")
    print(f"{'variant':<22}{'cost':>5}{'cos':>9}{'± sem':>8}{'cos@eq':>9}{'sign':>7}")
    for r in rows:
        sign = "-" if r["sign_agreement"] is None else f"{r['sign_agreement']:.2f}"
        print(f"{r['variant']:<22}{r['cost']:>5}{r['cos']:>9.3f}{r['cos_sem']:>8.3f}"
              f"{r['cos_equal_compute']:>9.3f}{sign:>7}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
