"""Making a landscape: sample the architectures (or take another landscape's), retrain each with
every seed on Ray, and write the table and its report.

Every check that can fail on the user's input (the dataset, the band, a rerun with other
settings) runs before Ray starts or a file is written. A rerun skips every retraining that has a
record, resumes the ones in flight, and may grow ``archs`` and ``seeds``: sampling is sequential
from one seed, so the first N architectures of a larger landscape are those of the smaller one.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zodarts.config import TrainConfig
from zodarts.errors import ConfigError
from zodarts.landscape.table import (ARCH_INFO, ARCHS, LOOKS, RECORD, LandscapeSettings, arch_id,
                                     load_genotypes, read_json, read_table, save_genotypes,
                                     seed_folder, write_table)
from zodarts.landscape.worker import ArchJob, execute_arch
from zodarts.space import Genotype, sample_connected
from zodarts.sweep.driver import SweepOptions
from zodarts.sweep.trials import TrialRecord
from zodarts.sweep.worker import TrialOutcome
from zodarts.utils.io import append_jsonl, ensure_writable, read_jsonl
from zodarts.utils.lock import folder_lock

MAX_TRIES = 100_000   # rejection-sampling draws per architecture inside a band
MAX_REPEATS = 50      # draws per architecture asked for, duplicates included, before giving up
INVOCATIONS = "invocations.jsonl"   # one line per run of `zodarts landscape` that trained


@dataclass
class LandscapeResult:
    root: Path
    outcomes: list[TrialOutcome]
    report: Path
    overhead: dict[str, Any]

    @property
    def failed(self) -> list[TrialOutcome]:
        return [o for o in self.outcomes if not o.ok]


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def transfer(genotype: Genotype, channels: int, classes: int, image_size: int, C: int
             ) -> Genotype:
    """The genotype's cells built for this data (stem and classifier follow the channels and
    classes) at the landscape's width ``C``."""
    return dataclasses.replace(genotype, in_channels=channels, num_classes=classes,
                               image_size=image_size, C=C)


def sample_architectures(settings: LandscapeSettings, channels: int, classes: int,
                         image_size: int) -> list[Genotype]:
    """``settings.archs`` distinct genotypes, drawn in order from ``settings.sample_seed`` with
    random search's sampler (inside the band when there is one)."""
    rng = np.random.default_rng(settings.sample_seed)
    band = tuple(settings.band) if settings.band else None
    found: list[Genotype] = []
    seen: set[str] = set()
    for _ in range(settings.archs * MAX_REPEATS):
        if len(found) == settings.archs:
            return found
        genotype = sample_connected(rng, channels, classes, settings.C,
                                    settings.cells_per_stage, image_size, band, MAX_TRIES)
        if genotype is None:
            where = "" if band is None else f" in the band [{band[0]:,.0f}, {band[1]:,.0f}]"
            raise ConfigError(f"no connected genotype of this space{where} in {MAX_TRIES:,} "
                              "draws: widen the band")
        key = genotype.pruned().to_json(indent=None)  # the network it builds
        if key not in seen:
            seen.add(key)
            found.append(genotype)
    if len(found) < settings.archs:
        raise ConfigError(f"the space holds only about {len(found)} distinct networks here "
                          f"(found in {settings.archs * MAX_REPEATS:,} draws), fewer than --archs "
                          f"{settings.archs}: ask for fewer, or widen the band")
    return found


def architectures(settings: LandscapeSettings, dataset) -> list[Genotype]:
    if settings.genotypes_from is None:
        return sample_architectures(settings, dataset.channels, dataset.classes,
                                    dataset.image_size)
    source = load_genotypes(Path(settings.genotypes_from))
    if len(source) < settings.archs:
        raise ConfigError(f"{settings.genotypes_from} has {len(source)} genotypes, fewer than "
                          f"--archs {settings.archs}")
    return [transfer(g, dataset.channels, dataset.classes, dataset.image_size, settings.C)
            for g in source[:settings.archs]]


def check_settings(root: Path, settings: LandscapeSettings) -> LandscapeSettings:
    """The settings to record: the folder's own, grown to ``settings``' archs and seeds; a
    rerun with other fixed settings is refused."""
    try:
        held = LandscapeSettings.load(root)
    except ConfigError:
        return settings
    difference = held.difference(settings)
    if difference:
        raise ConfigError(f"{root} is a landscape made with other settings ({difference}): "
                          "keep its settings, or choose another --out")
    return dataclasses.replace(held, archs=max(held.archs, settings.archs),
                               seeds=max(held.seeds, settings.seeds))


def arch_jobs(root: Path, genotypes: list[Genotype], settings: LandscapeSettings,
              archs: int, seeds: int, keep_models: bool, track: str | None = None,
              parent_run: str | None = None) -> list[ArchJob]:
    """A job for every architecture (of the first ``archs``) with work left: its information
    or any of seeds 0..seeds-1 without a record."""
    jobs = []
    for i, genotype in enumerate(genotypes[:archs]):
        folder = root / ARCHS / arch_id(i)
        missing = tuple(s for s in range(seeds)
                        if not (seed_folder(folder, s) / RECORD).is_file())
        if missing or read_json(folder / ARCH_INFO) is None:
            jobs.append(ArchJob(arch_id(i), folder, genotype.to_dict(), missing,
                                settings.train, keep_models, track, parent_run))
    return jobs


def run_arch_jobs(jobs: list[ArchJob], total: int, options: SweepOptions, root: Path,
                  what: str) -> tuple[list[TrialOutcome], float, float]:
    """The jobs on Ray (local or a cluster), worker processes reused; returns the outcomes,
    the wall seconds and the parallel slots."""
    from zodarts.sweep import runner
    from zodarts.sweep.progress import Progress

    if not jobs:
        return [], 0.0, 1.0
    with runner.ray_cluster(options.address, options.num_cpus) as cluster:
        resources = runner.trial_resources(
            cluster, len(jobs), options.cpus_per_trial, options.gpus_per_trial,
            wants_gpu=any(j.train.get("device") != "cpu" for j in jobs))
        slots = min(len(jobs), max(1, int(cluster.cpus // resources.cpus)))
        _say(f"{what}: {len(jobs)} architecture(s) to train, {total - len(jobs)} finished "
             f"before; on {cluster.describe()}, {resources.cpus:g} CPUs and "
             f"{resources.gpus:g} GPUs per job; folder {root}")
        progress = Progress(total, total - len(jobs), quiet=options.quiet, noun=what)
        tic = time.perf_counter()
        try:
            outcomes = runner.run_jobs([_job(j) for j in jobs], execute_arch, resources,
                                       options.max_retries, progress, reuse_workers=True)
        except KeyboardInterrupt:
            progress.close()
            _say("the unfinished retrainings keep their checkpoints: run the same command "
                 "again to resume them")
            raise
        progress.close()
    return outcomes, time.perf_counter() - tic, float(slots)


def _job(job: ArchJob):
    from zodarts.sweep.runner import Job

    def record() -> TrialRecord:
        return TrialRecord({"arch": job.label}, [], {}, dict(job.train))

    return Job(job.label, job.folder, job, record)


def overhead(outcomes: list[TrialOutcome], jobs: list[ArchJob], wall: float, slots: float
             ) -> dict[str, Any]:
    """How much of the work was not training: inside the jobs (data load, proxies, FLOPs,
    evaluation, checkpoints, the first job's imports) and end to end (Ray and idle slots
    too), each as a share of the training seconds (the retrainings' epochs, validation
    included). Only this invocation's jobs count."""
    train = job_seconds = 0.0
    by_label = {job.label: job for job in jobs}
    for outcome in outcomes:   # in the order the jobs finished
        job = by_label[outcome.cell]
        if not outcome.ok:
            continue
        job_seconds += outcome.seconds
        for seed in job.seeds:
            record = read_json(seed_folder(job.folder, seed) / RECORD) or {}
            train += record.get("train_seconds", 0.0)
    if train <= 0:
        return {}
    return {"train_seconds": train, "job_seconds": job_seconds, "wall_seconds": wall,
            "slots": slots, "in_jobs": job_seconds / train - 1,
            "end_to_end": wall * slots / train - 1}


def make_train_config(preset: str, dataset: str, data_root: str | None,
                      overrides: dict[str, Any]) -> TrainConfig:
    from zodarts.config import TRAIN_PRESETS, make_config
    return make_config(TrainConfig, TRAIN_PRESETS, preset, dataset=dataset,
                       data_root=data_root, **overrides)


def look_plan(settings: LandscapeSettings):
    """The planned looks of a landscape grown until decided, None for one of a fixed size."""
    from zodarts.stats.sequential import LookPlan

    s = settings.sequential
    return None if not s else LookPlan(s["round_archs"], s["max_archs"], s["alpha"])


def grow_until_decided(root: Path, genotypes: list[Genotype], settings: LandscapeSettings,
                       plan, options: SweepOptions, keep_models: bool, track: str | None,
                       parent_run: str | None, max_hours: float | None
                       ) -> tuple[list[ArchJob], list[TrialOutcome], float, float]:
    """Train the landscape round by round, reading its verdict at each planned look (at that
    look's level) and stopping at the first one that is decided, at the last, or when another
    round would pass ``max_hours``. Looks already taken (a rerun) are not taken again."""
    from zodarts.landscape.summary import task_of
    from zodarts.stats import held_out_best, variance_split
    from zodarts.stats.verdict import UNDETERMINED, primary_metric, verdict_of

    looks_path = root / LOOKS
    looks = read_jsonl(looks_path)
    all_jobs: list[ArchJob] = []
    all_outcomes: list[TrialOutcome] = []
    wall, slots, began = 0.0, 1.0, time.perf_counter()
    for index, archs in enumerate(plan.archs):
        if index < len(looks):
            if looks[index]["verdict"]["word"] != UNDETERMINED:
                break
            continue
        settings.archs = max(settings.archs, archs)
        settings.save(root)
        jobs = arch_jobs(root, genotypes, settings, archs, settings.seeds, keep_models, track,
                         parent_run)
        outcomes, seconds, slots = run_arch_jobs(jobs, archs, options, root,
                                                 f"landscape, look {index + 1}/"
                                                 f"{len(plan.archs)}")
        all_jobs += jobs
        all_outcomes += outcomes
        wall += seconds
        table = read_table(root)
        metric = primary_metric(task_of(table))
        done = [a for a in table.archs[:archs] if len(a.records) >= 2]
        if len(done) < 2:
            continue
        best = held_out_best([a.values("test_auc") for a in done],
                             confidence=plan.confidence_at(index))
        verdict = verdict_of(variance_split([a.values(metric) for a in done]), metric,
                             plan.confidence_at(index), best_auc=(best.low, best.high))
        looks.append({"look": index + 1, "planned": len(plan.archs), "time": time.time(),
                      "verdict": verdict.to_dict()})
        append_jsonl(looks_path, looks[-1])
        _say(f"look {index + 1}/{len(plan.archs)} at {archs} architectures: ICC "
             f"[{verdict.low:.3f}, {verdict.high:.3f}] at {100 * verdict.confidence:.4g}% — "
             f"{verdict.word}")
        if verdict.word != UNDETERMINED:
            break
        spent = time.perf_counter() - began
        if max_hours is not None and spent * (index + 2) / (index + 1) > 3600 * max_hours:
            _say(f"stopping: another round would pass --max-hours {max_hours:g} "
                 f"({spent / 3600:.2f} h so far); the verdict stays undetermined")
            break
    return all_jobs, all_outcomes, wall, slots


def run_landscape(settings: LandscapeSettings, out: str | Path,
                  options: SweepOptions = SweepOptions(), keep_models: bool = False,
                  track: str | None = None, max_hours: float | None = None) -> LandscapeResult:
    """Sample (or read) the architectures, retrain what has no record, write the table and
    the report; with ``track`` (an MLflow URI, already reached) the landscape is a parent run
    with one nested run per architecture. A landscape with ``settings.sequential`` grows round
    by round until its verdict is decided (:func:`grow_until_decided`), ``max_hours`` capping
    its time."""
    from zodarts.data import load_dataset
    from zodarts.landscape.report import write_report
    from zodarts.tracking import open_run

    root = Path(out).expanduser().resolve()
    settings = check_settings(root, settings)
    dataset = load_dataset(settings.dataset, settings.data_root)
    plan = look_plan(settings)
    genotypes = architectures(settings if plan is None else
                              dataclasses.replace(settings, archs=plan.max_archs), dataset)
    if (root / "genotypes.json").is_file():
        held = load_genotypes(root)
        if held[:len(genotypes)] != genotypes[:len(held)]:
            raise ConfigError(f"{root}/genotypes.json does not hold the architectures these "
                              "settings sample: it was made by another version of zodarts or "
                              "edited; choose another --out")
        genotypes = held if len(held) >= len(genotypes) else genotypes
    ensure_writable(root)
    with folder_lock(root, "zodarts landscape"):
        settings.save(root)
        save_genotypes(root, genotypes)
        tracker = open_run(track, root, root.name, tags={"zodarts.kind": "landscape"})
        if track:
            fixed = {k: v for k, v in dataclasses.asdict(settings).items()
                     if k in LandscapeSettings.FIXED}
            tracker.params(fixed)
            tracker.tags({"archs": settings.archs, "seeds": settings.seeds})
        with tracker.ending_on_error():
            if plan is None:
                jobs = arch_jobs(root, genotypes, settings, settings.archs, settings.seeds,
                                 keep_models, track, tracker.run_id)
                outcomes, wall, slots = run_arch_jobs(jobs, settings.archs, options, root,
                                                      "landscape")
            else:
                jobs, outcomes, wall, slots = grow_until_decided(
                    root, genotypes, settings, plan, options, keep_models, track,
                    tracker.run_id, max_hours)
        cost = overhead(outcomes, jobs, wall, slots)
        if jobs:
            append_jsonl(root / INVOCATIONS, {"time": time.time(), "jobs": len(jobs),
                                              "failed": sum(not o.ok for o in outcomes),
                                              "overhead": cost})
        write_table(read_table(root), {"invocations": read_jsonl(root / INVOCATIONS)})
        report = write_report(root)
        if track:
            tracker.artifacts([report.parent, root / "landscape.csv", root / "landscape.json"])
            tracker.finish()
        return LandscapeResult(root, outcomes, report, cost)
