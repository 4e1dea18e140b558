"""One landscape job, as a Ray worker runs it: one architecture (a sampled one, or a searched
genotype being placed), its parameters, FLOPs and zero-cost proxies, and its retraining with
each of the landscape's seeds that has no record yet.

The worker process is reused from job to job (``run_jobs(reuse_workers=True)``), and the dataset
is loaded once per process: at the quick preset a retraining takes seconds, and a torch import
and a data load per retraining would be a large share of it (the landscape records how large).
A retraining killed mid-way resumes from its own ``last.pt``; after its record is written its
checkpoints are deleted (unless ``keep_models``): the record is what the table needs.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from zodarts.landscape.table import ARCH_INFO, PROBABILITIES, RECORD, read_json, seed_folder
from zodarts.sweep.worker import TrialOutcome, run_recorded
from zodarts.utils.io import atomic_write_text

PROXY_BATCH = 64      # images of the train split (in order, unaugmented) the proxies see
PROXY_SEED = 0        # the initialisation every proxy scores


@dataclass(frozen=True)
class ArchJob:
    label: str                   # a0042, or a placed run's label
    folder: Path
    genotype: dict[str, Any]     # as built: the landscape's data, channels, classes and C
    seeds: tuple[int, ...]       # the retrainings still missing
    train: dict[str, Any]        # the TrainConfig (seed replaced per retraining)
    keep_models: bool = False
    track: str | None = None     # the MLflow tracker (zodarts.tracking), and the landscape's
    parent_run: str | None = None  # run, which the architecture's nests under


@lru_cache(maxsize=2)
def _dataset(name: str, root: str | None):
    from zodarts.data import load_dataset
    return load_dataset(name, root)


def execute_arch(job: ArchJob, threads: int, gpus: float = 0.0) -> TrialOutcome:
    done = [s for s in job.seeds if (seed_folder(job.folder, s) / RECORD).is_file()]
    starting = (f"seeds {', '.join(map(str, job.seeds))}"
                + (f" ({len(done)} already recorded)" if done else ""))
    return run_recorded(job.folder, job.label, threads, gpus, starting,
                        lambda: _run(job))


def _run(job: ArchJob) -> None:
    from zodarts.config import TrainConfig
    from zodarts.space import Genotype
    from zodarts.tracking import open_run

    genotype = Genotype.from_dict(job.genotype)
    config = TrainConfig(**job.train).validate()
    dataset = _dataset(config.dataset, config.data_root)
    tracker = open_run(job.track, job.folder, job.label, job.parent_run)
    try:
        _train_arch(job, genotype, config, dataset, tracker)
    except BaseException:
        tracker.finish(status="FAILED")
        raise
    tracker.finish()


def _train_arch(job: ArchJob, genotype, config, dataset, tracker) -> None:
    info = read_json(job.folder / ARCH_INFO)
    if info is None:
        info = arch_info(genotype, dataset, config.device)
        atomic_write_text(job.folder / ARCH_INFO, json.dumps(info, indent=1) + "\n")
        print(f"{job.label}: {info['params']:,} parameters, {info['flops']:,} FLOPs, proxies "
              f"{json.dumps(info['proxies'])}", flush=True)
    tracker.params({"arch": job.label, "genotype": json.dumps(job.genotype)})
    tracker.metrics({"params": info["params"], "flops": info["flops"],
                     **{f"proxy/{k}": v for k, v in info["proxies"].items()}})
    for seed in job.seeds:
        folder = seed_folder(job.folder, seed)
        if (folder / RECORD).is_file():
            continue
        record = train_pair(genotype, dataclasses.replace(config, seed=seed), dataset, folder,
                            job.keep_models)
        tracker.metrics(record, step=seed)
        print(f"{job.label} seed {seed}: val acc {record['val_acc']:.4f}, test acc "
              f"{record['test_acc']:.4f} ({record['train_seconds']:.1f} s training, "
              f"{record['seconds']:.1f} s in all)", flush=True)


def write_probabilities(path: Path, scores: dict) -> None:
    """Each split's class probabilities as float16 in a compressed .npz, written atomically."""
    import io

    import numpy as np

    from zodarts.utils.io import atomic_write_bytes

    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{k: np.asarray(v, dtype=np.float16) for k, v in scores.items()})
    atomic_write_bytes(path, buffer.getvalue())


def arch_info(genotype, dataset, device: str) -> dict[str, Any]:
    """Parameters and FLOPs (live operations) and the zero-cost proxies at initialisation."""
    from zodarts.data import BatchIterator, Normalizer
    from zodarts.landscape.proxies import zero_cost_proxies
    from zodarts.space import count_flops, count_params
    from zodarts.utils.runtime import resolve_device

    train = dataset.splits["train"]
    batches = BatchIterator(train, min(PROXY_BATCH, len(train)), resolve_device(device),
                            Normalizer.from_split(train), shuffle=False)
    x, y = next(iter(batches.epoch(0)))
    proxies = zero_cost_proxies(genotype, x.cpu(), y.cpu(), dataset.task, seed=PROXY_SEED)
    return {"params": count_params(genotype), "flops": count_flops(genotype, dataset.image_size),
            "proxies": proxies}


def train_pair(genotype, config, dataset, folder: Path, keep_models: bool) -> dict[str, Any]:
    """Retrain ``genotype`` with ``config`` (its seed) into ``folder`` (resuming a killed one),
    measure the best-validation checkpoint on val and test, write record.json."""
    from zodarts.data import BatchIterator
    from zodarts.report.records import RunRecords
    from zodarts.rundir import RunPaths
    from zodarts.train.checkpoint import load_trained
    from zodarts.train.evaluate import EVAL_BATCH_SIZE, max_over_epochs, predict, split_metrics
    from zodarts.train.metrics import scores_from_logits
    from zodarts.train.retrain import run_train, training_finished
    from zodarts.utils.io import read_jsonl
    from zodarts.utils.runtime import resolve_device

    tic = time.perf_counter()
    paths = RunPaths(folder)
    resume = paths.train_last.is_file() and paths.train_config.is_file()
    if not (resume and training_finished(paths)):
        run_train(None if resume else config, folder, genotype, resume=resume, progress=False,
                  log=None, dataset=dataset)
    device = resolve_device(config.device)
    trained = load_trained(folder, "best", device)
    record: dict[str, Any] = {"seed": config.seed, "best_epoch": trained.epoch}
    scores = {}
    for split in ("val", "test"):
        # A network on batch statistics is measured as it was trained and validated.
        batches = BatchIterator(dataset.splits[split], trained.eval_batch or EVAL_BATCH_SIZE,
                                device, trained.normalizer, shuffle=False)
        logits, labels = predict(trained.model, batches.epoch(0))
        metrics = split_metrics(dataset.task, logits, labels)
        record.update({f"{split}_{k}": metrics[k] for k in ("acc", "auc", "loss")})
        scores[split] = scores_from_logits(dataset.task, logits)
    # Each split's class probabilities (float16, compressed: a few kB): ensembles of the
    # landscape's retrainings are computed from them (landscape.compute).
    write_probabilities(folder / PROBABILITIES, scores)
    log = read_jsonl(paths.train_log)
    best = max_over_epochs(log, "test")
    if best:  # --train-test-every-epoch: the paper's number, selected on test
        record.update({f"test_max_{m}": best.get(m) for m in ("acc", "auc")})
    record["epochs"] = len(log)
    record["restarts"] = len(read_jsonl(paths.restarts))
    record["train_seconds"] = RunRecords(paths, train_log=log).train_seconds
    record["seconds"] = time.perf_counter() - tic
    atomic_write_text(folder / RECORD, json.dumps(record) + "\n")
    if not keep_models:
        for checkpoint in (paths.train_best, paths.train_last):
            checkpoint.unlink(missing_ok=True)
    return record
