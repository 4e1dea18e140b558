"""Retraining a genotype from scratch: the standalone network on train, validated on val.

As in the search loop, every batch (order, crop/flip, TrivialAugment, mixup/cutmix) is a pure
function of (seed, epoch, step), the learning rate a pure function of the step, and ``last.pt``
(written atomically at the end of every epoch) holds everything else, so ``--resume`` continues a
killed run exactly as if it had never stopped (on CPU).
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from tqdm.auto import tqdm

from zodarts.config import (MAX_SEED, PAPER_TRAIN_BATCH, SearchConfig, TrainConfig,
                            load_config, paper_batch, save_config)
from zodarts.data import BatchIterator, ImageDataset, Normalizer, derive_seed, load_dataset
from zodarts.errors import ConfigError, ZodartsError
from zodarts.rundir import RunPaths
from zodarts.space import Genotype, build_network, count_params
from zodarts.train.augment import MixBatch, default_flip, train_augment
from zodarts.train.checkpoint import load_model_state, model_record, read_checkpoint
from zodarts.train.evaluate import EVAL_BATCH_SIZE, evaluate_model
from zodarts.train.metrics import batch_accuracy, make_criterion
from zodarts.search.base import precision_context
from zodarts.search.protocol import fit_batch
from zodarts.utils.kinds import RUN, require_kind
from zodarts.utils.meter import READ_EVERY, StepStats
from zodarts.utils.lock import folder_lock
from zodarts.utils.io import (append_jsonl, atomic_torch_save, atomic_write_text,
                              ensure_writable, read_jsonl, write_jsonl)
from zodarts.utils.runtime import (environment, resolve_device, rng_state, seed_everything,
                                   set_rng_state)


# derive_seed's stream for the seeds of restarted attempts (the others: 2 for mixing).
RESTART_STREAM = 7


class TrainingDiverged(ZodartsError):
    """The training loss became NaN or infinite; last.pt keeps the last good epoch."""


@dataclass
class TrainResult:
    genotype: Genotype            # the trained architecture (C and image size as trained)
    best: dict                    # epoch and val metrics of best.pt
    history: list[dict] = field(default_factory=list)
    out: Path | None = None
    params: int = 0
    seconds: float = 0.0


def warmup_cosine(step: int, total: int, warmup: int, lr: float, lr_min: float,
                  start: float = 0.01) -> float:
    """Linear warm-up from start·lr to lr over ``warmup`` steps, then cosine down to lr_min."""
    if step < warmup:
        return lr * (start + (1 - start) * step / warmup)
    progress = (step - warmup) / max(1, total - warmup)
    return lr_min + (lr - lr_min) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def transfer(genotype: Genotype, dataset: ImageDataset) -> tuple[Genotype, str | None]:
    """The genotype's cells on ``dataset``: stem and classifier follow the data's channels,
    classes and image size, as DARTS transfers cells between datasets. Returns the genotype to
    build and, when anything changed, one line that says what."""
    target = dataclasses.replace(genotype, in_channels=dataset.channels,
                                 num_classes=dataset.classes, image_size=dataset.image_size)
    changed = [f"{what} {a} → {b}" for what, a, b in (
        ("channels", genotype.in_channels, dataset.channels),
        ("classes", genotype.num_classes, dataset.classes),
        ("image size", genotype.image_size, dataset.image_size)) if a != b]
    if not changed or changed == [f"image size {genotype.image_size} → {dataset.image_size}"]:
        return target, None  # convolutions and pooling take any size: nothing to say
    return target, (f"transferring the searched cells to {dataset.name} ({', '.join(changed)}): "
                    "the stem and the classifier are rebuilt for it")


def check_connected(genotype: Genotype) -> None:
    """Refuse a genotype with a disconnected cell: training it would be wasted work."""
    stages = genotype.disconnected_stages()
    if stages:
        many = len(stages) > 1
        raise ConfigError(
            f"the genotype's cell{'s' if many else ''} in stage{'s' if many else ''} "
            f"{', '.join(map(str, stages))} {'are' if many else 'is'} disconnected: no path of "
            "operations other than `none` leads from the cell's input (node 0) to its output "
            "(node 3), so the network would output a constant whatever the image; give such a "
            "path an operation (e.g. skip_connect or conv_3x3 on edge 3←0), or train a genotype "
            "that a search derived (searches repair disconnected cells)")


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Trainer:
    """One retraining; with a restart rule (``restart_epoch``), a run that has not learnt by
    then starts again, as an *attempt* with its own seed, and for a drawn architecture with a
    new draw. ``last.pt`` records the attempt, so a resumed run continues the right one."""

    def __init__(self, config: TrainConfig, out: str | Path, genotype: Genotype,
                 progress: bool = True, log: Callable[[str], None] | None = _stderr,
                 dataset: ImageDataset | None = None,
                 on_epoch: Callable[[dict], None] | None = None):
        self.config, self.paths, self.searched = config, RunPaths(out), genotype
        self.on_epoch = on_epoch or (lambda record: None)   # after each epoch's log line
        self.progress, self.log = progress, log or (lambda message: None)
        self.device = resolve_device(config.device)
        self.dataset = dataset  # loaded once by a caller that trains many networks on it
        self.attempt = 0

    @property
    def seed(self) -> int:
        """The attempt's seed: the config's for the first, a derived one after each restart."""
        if self.attempt == 0:
            return self.config.seed
        return derive_seed(self.config.seed, self.attempt, RESTART_STREAM) % (MAX_SEED + 1)

    def build(self) -> None:
        c = self.config
        seed_everything(self.seed, c.deterministic)
        dataset = self.dataset or load_dataset(c.dataset, c.data_root)
        target, note = transfer(self.searched, dataset)
        if note:
            self.log(note)
        self.task = dataset.task
        self.classes = dataset.class_names()
        train = dataset.splits["train"]
        # The paper preset leaves the batch to the authors' table (or its rule) for the dataset.
        batch = c.batch_size or paper_batch(dataset.name, len(train), PAPER_TRAIN_BATCH)
        batch = fit_batch(batch, len(train), "training", f"{dataset.name}'s train split")
        self.config = c = dataclasses.replace(c, batch_size=batch)
        # FLOPs are those of this data's image size.
        self.genotype = dataclasses.replace(target, C=c.C or self.searched.C)
        self.normalizer = Normalizer.from_split(train)
        flip = default_flip(dataset.name) if c.flip is None else c.flip
        augment = train_augment(c.augment, dataset.image_size, c.crop_flip, flip, c.padding)
        # drop_last: a last batch of one image would break batch norm.
        self.train_batches = BatchIterator(train, c.batch_size, self.device,
                                           self.normalizer, augment=augment, shuffle=True,
                                           drop_last=True, seed=self.seed)
        # A network on batch statistics is evaluated in batches of its training size, as the
        # authors' test loader does: its predictions depend on the batch.
        self.eval_batch = c.batch_size if c.bn_batch_stats else EVAL_BATCH_SIZE
        self.eval_splits = {split: BatchIterator(dataset.splits[split], self.eval_batch,
                                                 self.device, self.normalizer, shuffle=False)
                            for split in (("val", "test") if c.test_every_epoch else ("val",))}
        self.steps = min(len(self.train_batches), c.steps_per_epoch or len(self.train_batches))
        self.model = build_network(self.genotype, c.bn_batch_stats).to(self.device)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=c.lr, momentum=c.momentum,
                                         nesterov=c.nesterov and c.momentum > 0,
                                         weight_decay=c.weight_decay)
        self.criterion = make_criterion(dataset.task, c.label_smoothing)
        self.mix = MixBatch(c.mixup_alpha, c.cutmix_alpha, c.mix_prob)

    # ---- checkpoints ------------------------------------------------------------------------
    def _record(self, epoch: int, val: dict) -> dict:
        return model_record(self.model, self.genotype, self.normalizer, self.task, epoch, val,
                            self.config.bn_batch_stats, self.eval_batch, self.classes)

    def _save_last(self, next_epoch: int, val: dict, best: dict) -> None:
        atomic_torch_save(self.paths.train_last, {
            **self._record(next_epoch - 1, val),
            "next_epoch": next_epoch, "optimizer": self.optimizer.state_dict(),
            "best": best, "rng": rng_state(), "attempt": self.attempt})

    def _load_last(self) -> tuple[int, dict]:
        state = read_checkpoint(self.paths.train_last, self.device)
        load_model_state(self.model, state["model"], self.paths.train_last)
        self.optimizer.load_state_dict(state["optimizer"])
        set_rng_state(state["rng"])
        return state["next_epoch"], state["best"]

    # ---- one epoch --------------------------------------------------------------------------
    def _train_epoch(self, epoch: int) -> dict[str, float]:
        c, model = self.config, self.model
        total, warmup = c.epochs * self.steps, round(c.warmup_epochs * self.steps)
        model.train()
        meter = StepStats(self.device)
        bar = tqdm(total=self.steps, desc=f"train epoch {epoch + 1}/{c.epochs}", leave=False,
                   disable=not self.progress, file=sys.stderr, dynamic_ncols=True)
        try:
            for i, (x, y) in enumerate(self.train_batches.epoch(epoch)):
                if i >= self.steps:
                    break
                lr = warmup_cosine(epoch * self.steps + i, total, warmup, c.lr, c.lr_min,
                                   c.warmup_start)
                for group in self.optimizer.param_groups:
                    group["lr"] = lr
                generator = torch.Generator().manual_seed(derive_seed(self.seed, epoch, i, 2))
                x, y_a, y_b, lam = self.mix(x, y, generator)
                with precision_context(c.precision, self.device):
                    logits = model(x)
                    loss = self.criterion(logits, y_a)
                    if lam < 1.0:
                        loss = lam * loss + (1 - lam) * self.criterion(logits, y_b)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if c.grad_clip:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), c.grad_clip)
                self.optimizer.step()
                acc = batch_accuracy(logits, y_a)
                if lam < 1.0:
                    acc = lam * acc + (1 - lam) * batch_accuracy(logits, y_b)
                meter.add(i, {"train_loss": loss.detach(), "train_acc": acc})
                bar.update(1)
                if (i + 1) % READ_EVERY == 0 or i + 1 == self.steps:
                    bad = meter.first_nonfinite()
                    if bad is not None:
                        self._diverged(epoch, bad[0])
                    latest = meter.latest()
                    bar.set_postfix(loss=f"{latest['train_loss']:.3f}",
                                    acc=f"{latest['train_acc']:.3f}", lr=f"{lr:.3g}",
                                    refresh=False)
        finally:
            bar.close()
        return {**meter.means(), "lr": lr}

    def _diverged(self, epoch: int, step: int) -> None:
        kept = (f"{self.paths.train_last} keeps the last good epoch"
                if self.paths.train_last.exists() else "no epoch had finished")
        raise TrainingDiverged(f"the training loss is not finite at epoch {epoch + 1}, step "
                               f"{step + 1}; {kept}. Lower --lr or check the data.")

    def _better(self, val: dict, best: dict) -> bool:
        def key(m: dict) -> tuple:
            auc = m["auc"] if m.get("auc") is not None and not math.isnan(m["auc"]) else -1.0
            return {"acc": (m["acc"], auc), "auc": (auc, m["acc"]),
                    "loss": (-m["loss"], m["acc"])}[self.config.select]
        return not best.get("val") or key(val) > key(best["val"])

    # ---- restarts ---------------------------------------------------------------------------
    def restart_reason(self, epoch: int, val_acc: float, first_val_acc: float) -> str | None:
        """Why the run should start again after ``epoch`` (from 0), decided on validation: the
        authors' rule (retrain_sampling.py), which they apply to the test split."""
        c = self.config
        if c.restart_epoch is None or epoch + 1 != c.restart_epoch or \
                self.attempt >= c.max_restarts:
            return None
        if val_acc < c.restart_below:
            return f"val ACC {val_acc:.4f} < {c.restart_below} at epoch {epoch + 1}"
        if val_acc - first_val_acc < c.restart_min_gain and val_acc < c.restart_flat_below:
            return (f"val ACC {val_acc:.4f} at epoch {epoch + 1} gained less than "
                    f"{c.restart_min_gain} since epoch 1 ({first_val_acc:.4f}) and is below "
                    f"{c.restart_flat_below}")
        return None

    def _restart(self, epoch: int, reason: str) -> None:
        """Start a new attempt: its own seed and, for a drawn architecture, a new draw. The new
        attempt is checkpointed (last.pt: attempt, genotype, epoch 0) before anything else of
        the folder changes, so a kill at any point resumes one attempt or the other, whole;
        then the restart is logged (train/restarts.jsonl, eval.json)."""
        from zodarts.search.derive import redraw

        seconds = sum(r["seconds"] for r in read_jsonl(self.paths.train_log))
        self.attempt += 1
        event: dict = {"attempt": self.attempt, "after_epoch": epoch, "reason": reason,
                       "seed": self.seed, "seconds": seconds}
        if self.paths.draw_info.is_file():
            self.searched, tries = redraw(self.paths, self.attempt)
            event.update(genotype=self.searched.to_dict(), tries=tries)
        self.build()
        self._save_last(0, {}, {})
        if "genotype" in event:
            self.searched.save(self.paths.genotype)
        write_jsonl(self.paths.train_log, [])
        self.paths.train_best.unlink(missing_ok=True)
        append_jsonl(self.paths.restarts, event)
        self.log(f"restart {self.attempt}: {reason}; starting again"
                 + (" with a new draw" if "genotype" in event else "") + f" (seed {self.seed})")

    # ---- the run ----------------------------------------------------------------------------
    def _evaluate(self) -> dict[str, dict]:
        return {split: evaluate_model(self.model, batches.epoch(0), self.task,
                                      self.config.eval_batches if split == "val" else None)
                for split, batches in self.eval_splits.items()}

    def run(self, resume: bool = False) -> TrainResult:
        paths = self.paths
        if resume:
            # The checkpoint says which attempt, and which architecture, it is.
            state = read_checkpoint(paths.train_last)
            self.attempt = state.get("attempt", 0)
            self.searched = Genotype.from_dict(state["genotype"])
        self.build()
        c = self.config
        if resume:
            start, best = self._load_last()
            # Epochs after the checkpoint are redone, so they must not be logged twice.
            write_jsonl(paths.train_log, [r for r in read_jsonl(paths.train_log)
                                          if r["epoch"] < start])
            self.log(f"resuming training in {paths.root} at epoch {start + 1}/{c.epochs}")
        else:
            start, best = 0, {}
            paths.train_dir.mkdir(parents=True, exist_ok=True)
            paths.train_log.unlink(missing_ok=True)
            paths.restarts.unlink(missing_ok=True)
            save_config(c, paths.train_config)
            if not paths.genotype.is_file():  # a genotype given by file: keep the folder whole
                self.searched.save(paths.genotype)
            if not paths.environment.is_file():  # no search: nothing recorded what runs this
                atomic_write_text(paths.environment,
                                  json.dumps(environment(self.device), indent=2) + "\n")
        self.log(f"training {count_params(self.genotype):,} parameters on {c.dataset} "
                 f"({self.steps} steps of batch {c.batch_size} × {c.epochs} epochs, "
                 f"{self.device})")
        began = time.perf_counter()
        epoch = start
        while epoch < c.epochs:
            tic = time.perf_counter()
            record = {"epoch": epoch, **self._train_epoch(epoch)}
            metrics = self._evaluate()
            val = metrics["val"]
            for split, values in metrics.items():
                record.update({f"{split}_{k}": v for k, v in values.items() if k != "note"})
            improved = self._better(val, best)
            if improved:
                best = {"epoch": epoch, "val": val}
                atomic_torch_save(paths.train_best, self._record(epoch, val))
            record.update(best=improved, seconds=time.perf_counter() - tic)
            append_jsonl(paths.train_log, record)
            self.on_epoch({**record, "attempt": self.attempt})
            self._save_last(epoch + 1, val, best)
            self.log(_epoch_line(record, c.epochs))
            first = read_jsonl(paths.train_log)[0]["val_acc"]
            reason = self.restart_reason(epoch, val["acc"], first)
            if reason:
                self._restart(epoch, reason)
                epoch, best = 0, {}
                continue
            epoch += 1
        return TrainResult(self.genotype, best, read_jsonl(paths.train_log), paths.root,
                           count_params(self.genotype), time.perf_counter() - began)


def _epoch_line(r: dict, epochs: int) -> str:
    auc = r.get("val_auc")
    auc = "nan" if auc is None or math.isnan(auc) else f"{auc:.3f}"
    return (f"train epoch {r['epoch'] + 1}/{epochs} lr {r['lr']:.3g} | "
            f"train loss {r['train_loss']:.3f} acc {r['train_acc']:.3f} | "
            f"val loss {r['val_loss']:.3f} acc {r['val_acc']:.3f} auc {auc} | "
            f"{r['seconds']:.1f}s{' *best' if r['best'] else ''}")


def resolve_dataset(config: TrainConfig, paths: RunPaths) -> TrainConfig:
    """Fill in the dataset when the train config names none: the one the folder's network was
    trained on (an ensemble of a trained run), else the search's (config.yaml)."""
    from zodarts.train.evaluate import search_paths

    if config.dataset:
        return config
    if paths.train_settings.is_file():
        trained = load_config(TrainConfig, paths.train_settings)
        if trained.dataset:
            return dataclasses.replace(config, dataset=trained.dataset,
                                       data_root=config.data_root or trained.data_root)
    paths = search_paths(paths)
    if not paths.config.is_file():
        raise ConfigError(f"which dataset? {paths.config} does not exist (no search in "
                          f"{paths.root}); pass --dataset NAME")
    search = load_config(SearchConfig, paths.config)
    return dataclasses.replace(config, dataset=search.dataset,
                               data_root=config.data_root or search.data_root)


def resolve_genotype(genotype: Genotype | None, paths: RunPaths) -> Genotype:
    """The run's genotype.json, or ``genotype`` (which must not contradict it); either must be
    connected."""
    if genotype is None:
        if not paths.genotype.is_file():
            raise ConfigError(f"no genotype to train: {paths.genotype} does not exist; run "
                              f"`zodarts search --out {paths.root}` first, or pass --genotype "
                              "FILE")
        genotype = Genotype.load(paths.genotype)
    elif paths.genotype.is_file() and Genotype.load(paths.genotype) != genotype:
        raise ConfigError(f"{paths.root} already holds a different genotype.json; train into "
                          "another --out")
    check_connected(genotype)
    return genotype


def run_train(config: TrainConfig | None, out: str | Path, genotype: Genotype | None = None,
              resume: bool = False, progress: bool = True,
              log: Callable[[str], None] | None = _stderr,
              dataset: ImageDataset | None = None,
              on_epoch: Callable[[dict], None] | None = None) -> TrainResult:
    """Train the genotype of run folder ``out`` (or ``genotype``, saved into ``out``) from
    scratch; with ``resume``, continue from ``out/train/last.pt`` under its saved config.
    ``dataset``: the config's dataset, already loaded."""
    paths = RunPaths(out)
    require_kind(paths.root, RUN, "give `zodarts train` a search's run folder, or --genotype "
                 "FILE --out DIR with a new folder")
    if resume:
        if not paths.train_last.is_file():
            raise ConfigError(f"nothing to resume in {paths.root}: {paths.train_last} does not "
                              "exist; train without --resume")
        config = load_config(TrainConfig, paths.train_config)
        genotype = Genotype.load(paths.genotype)
    else:
        if paths.train_last.exists():
            raise ConfigError(f"{paths.root} already holds a trained model; continue it with "
                              f"--resume, or delete {paths.train_dir} to train again")
        genotype = resolve_genotype(genotype, paths)
        config = resolve_dataset(config or TrainConfig(), paths)
    ensure_writable(paths.root)
    with folder_lock(paths.root, "zodarts train"):
        return Trainer(config, out, genotype, progress, log, dataset, on_epoch).run(resume)


def training_finished(paths: RunPaths) -> bool:
    """Whether ``paths`` holds a training that ran all its epochs."""
    if not (paths.train_last.is_file() and paths.train_config.is_file()):
        return False
    epochs = load_config(TrainConfig, paths.train_config).epochs
    return read_checkpoint(paths.train_last)["next_epoch"] >= epochs
