"""The search loop shared by every searcher: data, epochs, schedules, logs, checkpoints, resume.

Each epoch's batches depend only on (seed, epoch), and the checkpoint written at the end of every
epoch holds all state (weights, α, optimizers, scheduler, searcher, RNGs), so a run killed at any
point and resumed reproduces the uninterrupted run exactly on CPU.
"""

from __future__ import annotations

import json
import math
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
from tqdm.auto import tqdm

from zodarts.config import SearchConfig, load_config, save_config
from zodarts.data import BatchIterator, CropFlip, Normalizer, load_dataset, search_split
from zodarts.errors import ConfigError, SearchDiverged
from zodarts.rundir import RunPaths
from zodarts.search.base import NonFiniteLoss, SearchContext, Searcher
from zodarts.search.protocol import batches_in_epoch, resolve_method, resolve_schedule
from zodarts.search.registry import get_searcher
from zodarts.search.schedule import size_phase_at, temperature_at
from zodarts.space import (BUDGET_MISS_HINT, OP_NAMES, Genotype, SuperNet, budget_check,
                           count_params, resolve_budget)
from zodarts.space.decision import is_decided, margins
from zodarts.train.metrics import batch_accuracy, make_criterion
from zodarts.utils.lock import folder_lock
from zodarts.utils.meter import READ_EVERY, StepStats
from zodarts.utils.io import append_jsonl, atomic_torch_save, atomic_write_text, \
    ensure_writable, read_jsonl, write_jsonl
from zodarts.utils.kinds import RUN, require_kind
from zodarts.utils.runtime import environment, resolve_device, rng_state, seed_everything, \
    set_rng_state

CHECKPOINT_VERSION = 1
@dataclass
class SearchResult:
    genotype: Genotype
    best_genotype: Genotype
    history: list[dict] = field(default_factory=list)
    out: Path | None = None
    budget: tuple[float, float] | None = None
    seconds: float = 0.0


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class SearchLoop:
    def __init__(self, config: SearchConfig, out: str | Path, progress: bool = True,
                 log: Callable[[str], None] | None = _stderr,
                 on_epoch: Callable[[dict], None] | None = None,
                 on_start: Callable[[], None] | None = None):
        # The method's own settings and bad options or combinations: before any work.
        self.config, self.paths = resolve_method(config), RunPaths(out)
        self.progress, self.log = progress, log or (lambda message: None)
        self.on_epoch = on_epoch or (lambda record: None)  # after each epoch's log line
        self.on_start = on_start or (lambda: None)  # once a new run's folder is a run folder
        self.searcher_cls: type[Searcher] = get_searcher(config.method)
        self.device = resolve_device(config.device)

    # ---- set-up -----------------------------------------------------------------------------
    def build(self) -> None:
        """Load data, split it and build the supernet, optimizers and searcher."""
        c = self.config
        seed_everything(c.seed, c.deterministic)
        dataset = load_dataset(c.dataset, c.data_root)
        self.dataset = dataset
        weights_half, arch_half = search_split(dataset, c.seed)
        self.config = c = resolve_schedule(c, dataset.name, len(weights_half), len(arch_half))
        normalizer = Normalizer.from_split(weights_half)
        augment = CropFlip(padding=max(1, dataset.image_size // 8))

        def batches(split, seed: int, augmented: bool = True, shuffle: bool = True):
            return BatchIterator(split, c.batch_size, self.device, normalizer,
                                 augment=augment if augmented else None, shuffle=shuffle,
                                 drop_last=shuffle, seed=seed)

        self.train_batches = batches(weights_half, c.seed)
        self.arch_batches = batches(arch_half, c.seed + 1)
        # Both streams are drawn at their own pace; their positions are checkpointed.
        self.arch_stream = self.arch_batches.infinite()
        self.extra_train_batches = batches(weights_half, c.seed + 2)
        self.extra_train_stream = self.extra_train_batches.infinite()
        self.eval_batches = batches(arch_half, c.seed, augmented=False, shuffle=False)
        self.steps_per_epoch = min(len(self.train_batches),
                                   c.steps_per_epoch or len(self.train_batches))
        self.epoch_batches = [batches_in_epoch(c, e, self.steps_per_epoch)
                              for e in range(c.epochs)]
        self.budget = resolve_budget(c.budget, c.params_min, c.params_max, dataset.channels,
                                     dataset.classes, c.C, c.cells_per_stage)

        def make_supernet() -> SuperNet:
            return SuperNet(dataset.channels, dataset.classes, c.C, c.cells_per_stage, c.relax,
                            dataset.image_size, temperature_at(0, c, c.anneal)).to(self.device)

        self.supernet = make_supernet()
        self.weight_optimizer = torch.optim.SGD(
            self.supernet.weight_parameters(), lr=c.w_lr, momentum=c.w_momentum,
            nesterov=c.w_nesterov and c.w_momentum > 0, weight_decay=c.w_weight_decay)
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            self.weight_optimizer, T_max=c.epochs, eta_min=c.w_lr_min)
        self.criterion = make_criterion(dataset.task)
        generator = torch.Generator().manual_seed(c.seed + 12345)
        self.searcher = self.searcher_cls(SearchContext(
            self.supernet, self.weight_optimizer, c, self.budget, self.criterion, self.device,
            generator, make_supernet, train_stream=_Stream(self, "extra_train_stream"),
            val_batches=lambda: self.eval_batches.epoch(0),
            total_steps=sum(self.epoch_batches)))

    # ---- checkpoints ------------------------------------------------------------------------
    def _save_checkpoint(self, next_epoch: int, best: dict) -> None:
        atomic_torch_save(self.paths.search_checkpoint, {
            "version": CHECKPOINT_VERSION,
            "next_epoch": next_epoch,
            "supernet": self.supernet.state_dict(),
            "size_search": self.supernet.size_search,
            "temperature": self.supernet.temperature,
            "weight_optimizer": self.weight_optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "searcher": self.searcher.state_dict(),
            "searcher_generator": self.searcher.ctx.generator.get_state(),
            "arch_stream": self.arch_stream.state(),
            "extra_train_stream": self.extra_train_stream.state(),
            "rng": rng_state(),
            "best": best,
        })

    def _load_checkpoint(self) -> tuple[int, dict]:
        try:
            state = torch.load(self.paths.search_checkpoint, map_location=self.device,
                               weights_only=False)
        except Exception as err:  # truncated or foreign file
            raise ConfigError(f"cannot read checkpoint {self.paths.search_checkpoint}: {err}; "
                              "it may be damaged — start a new search in another --out") from None
        if state.get("version") != CHECKPOINT_VERSION:
            raise ConfigError(f"checkpoint {self.paths.search_checkpoint} has version "
                              f"{state.get('version')}, this zodarts reads {CHECKPOINT_VERSION}")
        self.supernet.size_search = state["size_search"]
        self.supernet.temperature = state["temperature"]
        self.supernet.load_state_dict(state["supernet"])
        self.weight_optimizer.load_state_dict(state["weight_optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.searcher.load_state_dict(state["searcher"])
        self.searcher.ctx.generator.set_state(state["searcher_generator"])
        self.arch_stream = self.arch_batches.infinite(**state["arch_stream"])
        self.extra_train_stream = self.extra_train_batches.infinite(
            **state["extra_train_stream"])
        set_rng_state(state["rng"])
        return state["next_epoch"], state["best"]

    # ---- one epoch --------------------------------------------------------------------------
    def _train_epoch(self, epoch: int) -> dict[str, float]:
        c = self.config
        steps = self.epoch_batches[epoch]
        meter = StepStats(self.device)
        bar = tqdm(total=steps, desc=f"search epoch {epoch + 1}/{c.epochs}", leave=False,
                   disable=not self.progress, file=sys.stderr, dynamic_ncols=True)
        try:
            for i, batch in enumerate(self.train_batches.epoch(epoch)):
                if i >= steps:
                    break
                try:
                    stats = self.searcher.step(batch, next(self.arch_stream))
                except NonFiniteLoss as err:
                    self._diverged(epoch, i, str(err))
                meter.add(i, stats)
                bar.update(1)
                if (i + 1) % READ_EVERY == 0 or i + 1 == steps:
                    self._check(meter, epoch)
                    if self.progress:
                        latest = meter.latest()
                        with torch.no_grad():  # E[params] moves only with α: cheap anyway
                            expected = self.supernet.expected_params().item()
                        bar.set_postfix(loss=f"{latest['train_loss']:.3f}",
                                        acc=f"{latest['train_acc']:.3f}",
                                        T=f"{self.supernet.temperature:.3g}",
                                        params=f"{expected / 1e3:,.1f}k", refresh=False)
        finally:
            bar.close()
        # Per-step diagnostics (MGS's ESS, ZO's D, ...) beside the epoch means.
        arch_steps = meter.arch_steps()
        for step, arch_stats in arch_steps:
            append_jsonl(self.paths.arch_steps, {"epoch": epoch, "step": step, **arch_stats})
        means = {"train_steps": steps, **meter.means()}
        if self.searcher_cls.uses_alpha:  # a round of M batches may straddle a short epoch
            means["arch_steps"] = len(arch_steps)
        return means

    def _check(self, meter: "StepStats", epoch: int) -> None:
        bad = meter.first_nonfinite()
        if bad is not None:
            step, value = bad
            self._diverged(epoch, step, f"training loss is {value}")

    def _diverged(self, epoch: int, step: int, why: str) -> None:
        kept = (f"the last good checkpoint {self.paths.search_checkpoint} is kept (it continues "
                f"from epoch {epoch + 1})" if self.paths.search_checkpoint.exists()
                else "no epoch had finished, so there is no checkpoint")
        raise SearchDiverged(f"{why} at epoch {epoch + 1}, step {step + 1}: the search diverged; "
                             f"{kept}. Lower the learning rates (w_lr, a_lr) or check the data.")

    @torch.no_grad()
    def _evaluate(self) -> tuple[float, float]:
        self.supernet.eval()
        loss_sum = acc_sum = torch.zeros((), device=self.device, dtype=torch.float64)
        n = 0
        for i, (x, y) in enumerate(self.eval_batches.epoch(0)):
            if self.config.eval_batches and i >= self.config.eval_batches:
                break
            with self.searcher.autocast():
                logits = self.supernet(x).float()
            loss_sum = loss_sum + self.criterion(logits, y).double() * len(x)
            acc_sum = acc_sum + batch_accuracy(logits, y).double() * len(x)
            n += len(x)
        loss, acc = torch.stack([loss_sum, acc_sum]).tolist()  # one read for the whole pass
        return loss / max(n, 1), acc / max(n, 1)

    def _architecture_record(self, epoch: int) -> tuple[dict, dict]:
        c = self.config
        with torch.no_grad():
            w = self.supernet.relaxed()
            decision = margins(w)
            expected = self.supernet.expected_params().item()
            op = w["op"]
            entropy = -(op * torch.log(op.clamp_min(1e-12))).sum(-1).mean().item()
        argmax = op.argmax(-1)
        share = {name: (argmax == OP_NAMES.index(name)).float().mean().item()
                 for name in ("none", "skip_connect")}
        genotype = self.searcher.genotype()
        alphas = {"epoch": epoch, "temperature": self.supernet.temperature,
                  **{k: None if v is None else v.cpu().tolist() for k, v in w.items()},
                  "margins": decision.to_dict(), "genotype": genotype.to_dict()}
        summary = {"expected_params": expected, "share_none": share["none"],
                   "share_skip": share["skip_connect"], "alpha_entropy": entropy}
        if self.searcher_cls.uses_alpha:  # random search has no α to decide
            summary.update(margin_min=decision.minimum(), margin_weakest=decision.weakest(),
                           decided=is_decided(decision, c.decided_margin, c.size_search))
        return alphas, summary

    # ---- the run ----------------------------------------------------------------------------
    def run(self, resume: bool = False) -> SearchResult:
        self.build()
        paths, c = self.paths, self.config
        if resume and paths.search_checkpoint.exists():
            start, best = self._load_checkpoint()
            self.log(f"resuming {paths.root} at epoch {start + 1}/{c.epochs}")
        else:  # a fresh run, or one killed before its first checkpoint
            start, best = 0, {"val_acc": -math.inf, "epoch": None, "genotype": None}
            paths.search_dir.mkdir(parents=True, exist_ok=True)
            save_config(c, paths.config)
            self.on_start()
            atomic_write_text(paths.environment,
                              json.dumps(environment(self.device), indent=2) + "\n")
        # Anything logged after the checkpoint is redone, so it must not appear twice.
        write_jsonl(paths.search_log, [r for r in read_jsonl(paths.search_log) if r["epoch"] < start])
        write_jsonl(paths.alphas, [r for r in read_jsonl(paths.alphas) if r["epoch"] < start])
        write_jsonl(paths.arch_steps,
                    [r for r in read_jsonl(paths.arch_steps) if r["epoch"] < start])
        streak = _decided_streak(read_jsonl(paths.search_log))
        began = time.perf_counter()
        for epoch in range(start, c.epochs):
            if c.until_decided and streak >= c.decided_epochs:
                break  # a resumed run that had already stopped
            tic = time.perf_counter()
            self.supernet.temperature = temperature_at(epoch, c, c.anneal)
            if size_phase_at(epoch, c, c.size_search) and not self.supernet.size_search:
                self.supernet.enable_size_search(torch.Generator().manual_seed(c.seed + 777))
                self.searcher.on_size_search()
            self.searcher.start_epoch(epoch)
            train = self._train_epoch(epoch)
            with warnings.catch_warnings():
                # Random search trains its own candidates, never the supernet's weights: torch's
                # "scheduler stepped before optimizer" warning would only confuse its users.
                warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler")
                self.scheduler.step()
            val_loss, val_acc = self._evaluate()
            alphas, arch = self._architecture_record(epoch)
            record = {"epoch": epoch, "phase": 2 if self.supernet.size_search else 1,
                      "temperature": self.supernet.temperature, **train,
                      "val_loss": val_loss, "val_acc": val_acc, **arch,
                      "lr": self.weight_optimizer.param_groups[0]["lr"],
                      "seconds": time.perf_counter() - tic}
            if val_acc > best["val_acc"]:
                best = {"val_acc": val_acc, "epoch": epoch, "genotype": alphas["genotype"]}
            streak = streak + 1 if record.get("decided") else 0
            record["decided_epochs"] = streak
            append_jsonl(paths.search_log, record)
            self.on_epoch(record)
            append_jsonl(paths.alphas, alphas)
            self._save_checkpoint(epoch + 1, best)
            self.log(_epoch_line(record, c.epochs, self.budget))
            if c.until_decided and streak >= c.decided_epochs:
                self.log(f"decided: every margin >= {c.decided_margin} for {streak} epochs; "
                         f"stopping at epoch {epoch + 1}/{c.epochs} (--until-decided)")
        last = read_jsonl(paths.search_log)[-1] if c.epochs else {}
        if last.get("decided") is False:
            self.log(undecided_line(last, c.decided_margin))
        genotype = self.searcher.genotype()
        best_genotype = Genotype.from_dict(best["genotype"]) if best["genotype"] else genotype
        genotype.save(paths.genotype)
        best_genotype.save(paths.genotype_best)
        if c.derive != "argmax":
            from zodarts.search.derive import write_draws
            for folder in write_draws(paths.root, c, self.budget, genotype):
                self.log(f"drawn: {folder.root} ({count_params(Genotype.load(folder.genotype)):,} "
                         "parameters)")
        params = count_params(genotype)
        check = budget_check(params, self.budget)
        if check and not check["within"]:
            lo, hi = self.budget
            self.log(f"warning: genotype.json has {params:,} parameters, outside "
                     f"the budget band [{lo:,.0f}, {hi:,.0f}]: {BUDGET_MISS_HINT}")
        return SearchResult(genotype, best_genotype, read_jsonl(paths.search_log), paths.root,
                            self.budget, time.perf_counter() - began)


def _decided_streak(log: list[dict]) -> int:
    """How many epochs in a row, up to the last logged one, ended decided."""
    streak = 0
    for record in log:
        streak = streak + 1 if record.get("decided") else 0
    return streak


def undecided_line(record: dict, threshold: float) -> str:
    """One line for a search that ended undecided: where, by how much, and what helps."""
    return (f"note: the search ended undecided: its smallest margin is {record['margin_min']:.3f} "
            f"< {threshold} ({record['margin_weakest']}), so that choice of the genotype is "
            "close to a coin toss; more architecture steps would help (--arch-steps, or "
            "--until-decided with more --epochs)")


class _Stream:
    """The loop's stream ``name``, looked up at each draw: a resume replaces the stream object,
    and the searcher must then draw from the restored one."""

    def __init__(self, loop: SearchLoop, name: str):
        self.loop, self.name = loop, name

    def __iter__(self) -> "_Stream":
        return self

    def __next__(self):
        return next(getattr(self.loop, self.name))


def _epoch_line(r: dict, epochs: int, budget) -> str:
    """The epoch's log line; a value the record lacks (an epoch without a training step, a
    record of an older version) prints as a dash rather than failing the search."""
    def value(key: str, spec: str = ".3f") -> str:
        v = r.get(key)
        return "-" if v is None else format(v, spec)

    band = "" if budget is None else f" band [{budget[0]:,.0f}, {budget[1]:,.0f}]"
    steps = "" if r.get("arch_steps") is None else f" | {r['arch_steps']} α steps"
    return (f"epoch {r['epoch'] + 1}/{epochs} phase {r['phase']} T={value('temperature', '.3g')} "
            f"train loss {value('train_loss')} acc {value('train_acc')} | "
            f"val loss {value('val_loss')} acc {value('val_acc')} | "
            f"E[params] {value('expected_params', ',.0f')}{band}{steps} | "
            f"{value('seconds', '.1f')}s")


def load_search(run_dir: str | Path, device: str | None = None) -> SearchLoop:
    """A finished (or interrupted) search as its last checkpoint left it: the trained supernet,
    its data split and batches, for measuring what the search learnt."""
    paths = RunPaths(run_dir)
    if not paths.search_checkpoint.is_file():
        raise ConfigError(f"{paths.root} holds no search checkpoint ({paths.search_checkpoint})")
    config = load_config(SearchConfig, paths.config)
    if device is not None:
        config.device = device
    loop = SearchLoop(config, run_dir, progress=False, log=None)
    loop.build()
    loop._load_checkpoint()
    return loop


def check_fresh(paths: RunPaths) -> None:
    """A new search must not write into a folder that holds one."""
    if paths.config.exists():
        raise ConfigError(f"{paths.root} already holds a search; continue it with --resume or "
                          "choose another --out")


def run_search(config: SearchConfig | None, out: str | Path, resume: bool = False,
               progress: bool = True, log: Callable[[str], None] | None = _stderr,
               on_epoch: Callable[[dict], None] | None = None,
               on_start: Callable[[], None] | None = None) -> SearchResult:
    """Run (or, with ``resume``, continue) a search into ``out``.

    A resumed run always uses the config saved in ``out`` (``config`` may then be None): the
    schedules depend on it, so changing it midway could not reproduce anything.
    """
    paths = RunPaths(out)
    require_kind(paths.root, RUN, "choose another --out for the search")
    if resume:
        if not paths.config.exists():
            raise ConfigError(f"nothing to resume in {paths.root}: no search was started there "
                              f"({paths.config} does not exist); run without --resume")
        config = load_config(SearchConfig, paths.config)
    else:
        check_fresh(paths)
    # A bad config fails before the folder exists.
    loop = SearchLoop(config, out, progress, log, on_epoch, on_start)
    ensure_writable(paths.root)
    with folder_lock(paths.root, "zodarts search"):
        return loop.run(resume)
