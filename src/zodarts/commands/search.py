"""`zodarts search`: run (or resume) an architecture search."""

from __future__ import annotations

from zodarts.commands.common import (add_search_arguments, add_threads_argument,
                                     add_track_argument,
                                     check_search_resume, default_out, resume_derivation,
                                     search_config_from_args, show_progress, tracking_uri)
from zodarts.search.loop import run_search


def register(sub) -> None:
    p = sub.add_parser("search", help="search an architecture (writes genotype.json)",
                       description="Search an architecture on a dataset and write the run folder "
                       "(config.yaml, search/log.jsonl, search/alphas.jsonl, checkpoint, "
                       "genotype.json, genotype_best.json).")
    add_search_arguments(p)
    p.add_argument("--out", metavar="DIR",
                   help="run folder (default runs/<time>-<dataset>-<method>)")
    p.add_argument("--resume", action="store_true",
                   help="continue the search in --out from its last checkpoint")
    p.add_argument("--quiet", action="store_true", help="no progress bars, log lines only")
    add_track_argument(p)
    add_threads_argument(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from zodarts.tracking import log_settings, open_run

    config = None
    if args.resume:
        if not args.out:
            from zodarts.errors import ConfigError
            raise ConfigError("--resume needs --out DIR (the run folder to continue)")
        check_search_resume(args, args.out)
        resume_derivation(args, args.out)
    else:
        config = search_config_from_args(args)
        args.out = str(args.out or default_out(config))  # the interrupt message names it
    tracker = open_run(tracking_uri(args, args.out), args.out, Path(args.out).name)
    with tracker.ending_on_error():
        result = run_search(config, args.out, resume=args.resume,
                            progress=show_progress(args),
                            on_epoch=lambda r: tracker.epoch("search", r))
    log_settings(tracker, Path(args.out))
    tracker.finish()
    print(f"genotype: {result.out / 'genotype.json'}")
    print(result.genotype.describe())
    return 0
