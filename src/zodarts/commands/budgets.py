"""`zodarts budgets`: the small / medium / large parameter bands of the space for a dataset.

The bands depend only on the input channels and class count (and on C and the cells per stage),
so a registry name needs no data file; an ``.npz`` or image folder is loaded to read its shape.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from zodarts.config import DEFAULT_PRESET, SEARCH_PRESETS, SearchConfig, make_config
from zodarts.errors import ConfigError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "budgets", help="show the small/medium/large parameter budgets for a dataset",
        description="Print the parameter bands that `--budget small|medium|large` resolves to: "
                    "percentiles (small [0, p20], medium [p40, p60], large [p80, max]) of the "
                    "parameter counts of 2000 uniformly sampled architectures of the space, for "
                    "the dataset's input channels and classes.")
    parser.add_argument("--dataset", default="digits", metavar="NAME",
                        help="registry name (e.g. breastmnist), an .npz file in MedMNIST layout "
                             "or an image folder (default: digits)")
    parser.add_argument("--preset", choices=sorted(SEARCH_PRESETS),
                        help=f"the space of this preset (default {DEFAULT_PRESET}, what a "
                             "default `zodarts run` searches)")
    parser.add_argument("--C", type=int, dest="C", help="channels of the first stage "
                        "(default: the preset's)")
    parser.add_argument("--cells-per-stage", type=int,
                        help="maximum cells per stage (default: the preset's)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=run)


def dataset_shape(name: str) -> tuple[str, int, int]:
    """``(name, channels, classes)`` of a registry entry, else of a dataset file or folder."""
    from zodarts.data import REGISTRY, get_info
    from zodarts.data.controls import split_variant

    name = split_variant(name)[0]   # shuffled labels: the same shape
    if name.lower() not in REGISTRY and Path(name).expanduser().exists():
        from zodarts.data import load_dataset
        dataset = load_dataset(Path(name).expanduser(), check_md5=False)
        return dataset.name, dataset.channels, dataset.classes
    info = get_info(name)  # DataError naming the known datasets
    return info.name, info.channels, info.classes


def compute(name: str, C: int = 16, cells_per_stage: int = 3) -> dict:
    """The JSON document `zodarts budgets --json` prints."""
    from zodarts.space.resources import _space_extremes, budget_bands

    if C < 1:
        raise ConfigError(f"--C must be >= 1, got {C}")
    if cells_per_stage < 1:
        raise ConfigError(f"--cells-per-stage must be >= 1, got {cells_per_stage}")
    name, channels, classes = dataset_shape(name)
    bands = budget_bands(channels, classes, C, cells_per_stage)
    lo, hi = _space_extremes(channels, classes, C, cells_per_stage)
    return {"dataset": name, "channels": channels, "classes": classes, "C": C,
            "cells_per_stage": cells_per_stage,
            **{band: [round(v, 1) for v in bands[band]]  # the exact floats, less float noise
               for band in ("small", "medium", "large")},
            "min": bands["min"], "max": bands["max"], "space_range": [lo, hi]}


def _n(value: float) -> str:
    return f"{round(value):,}"


def space_of(preset: str | None, C: int | None, cells: int | None) -> tuple[str, int, int]:
    """(preset, C, cells per stage): the preset's space unless C or cells are given."""
    preset = preset or DEFAULT_PRESET
    config = make_config(SearchConfig, SEARCH_PRESETS, preset)
    return (preset, config.C if C is None else C,
            config.cells_per_stage if cells is None else cells)


def run(args: argparse.Namespace) -> int:
    from zodarts.commands.info import warnings_to_stderr

    preset, args.C, args.cells_per_stage = space_of(args.preset, args.C, args.cells_per_stage)
    with warnings_to_stderr("budgets"):  # a dataset file's warnings, as plain lines
        doc = compute(args.dataset, args.C, args.cells_per_stage)
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    ch, cl = doc["channels"], doc["classes"]
    print(f"parameter budgets for {doc['dataset']} ({ch} channel{'s' if ch > 1 else ''}, "
          f"{cl} class{'es' if cl > 1 else ''}), C={doc['C']}, up to {doc['cells_per_stage']} "
          f"cell{'s' if doc['cells_per_stage'] > 1 else ''} per stage (the {preset} preset's "
          "space unless --C/--cells-per-stage say otherwise)")
    rows = [(band, _n(doc[band][0]), _n(doc[band][1])) for band in ("small", "medium", "large")]
    w1 = max(len(r[1]) for r in rows + [("", "from", "")])
    w2 = max(len(r[2]) for r in rows + [("", "", "to")])
    print(f"  {'budget':<8}{'from':>{w1}}  {'to':>{w2}}")
    for band, lo, hi in rows:
        print(f"  {band:<8}{lo:>{w1}}  {hi:>{w2}}")
    lo, hi = doc["space_range"]
    print(f"sampled architectures have {_n(doc['min'])} to {_n(doc['max'])} parameters; "
          f"the space spans {_n(lo)} to {_n(hi)}")
    _, C, cells = space_of(preset, None, None)
    extra = f" --preset {preset}"
    extra += "" if args.C == C else f" --C {args.C}"
    extra += "" if args.cells_per_stage == cells else f" --cells-per-stage {args.cells_per_stage}"
    print(f"use: zodarts run --dataset {args.dataset}{extra} --budget medium (or --params-min N "
          "--params-max N); a budget needs size search, which zo-darts++ has by default")
    return 0
