"""`zodarts info`: load and validate one dataset, and describe it."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import warnings
from typing import TYPE_CHECKING, Iterator

from zodarts.data.registry import SPLITS

if TYPE_CHECKING:
    from zodarts.data.dataset import ImageDataset


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "info", help="load, validate and describe a dataset",
        description="Load a dataset (a name, an .npz in MedMNIST layout or an image folder), "
                    "validate it and print its shape, splits and class counts.")
    parser.add_argument("dataset", metavar="NAME_OR_PATH")
    parser.add_argument("--data-root", metavar="DIR", help="look here first for named datasets "
                        "(default: $MEDMNIST_ROOT, then ~/.medmnist)")
    parser.add_argument("--size", type=int, default=28, help="MedMNIST image size (default 28)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=run)


@contextlib.contextmanager
def warnings_to_stderr(command: str) -> Iterator[None]:
    """Show each warning raised inside as one plain line on stderr (no source line, no file
    position): for a CLI user a warning is a message, not a code location."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            for warning in caught:
                print(f"zodarts {command}: warning: {warning.message}", file=sys.stderr)


def describe(dataset: "ImageDataset") -> dict:
    return {"name": dataset.name, "path": str(dataset.path) if dataset.path else None,
            "task": dataset.task, "channels": dataset.channels, "classes": dataset.classes,
            "image_size": dataset.image_size,
            "splits": {s: len(dataset.splits[s]) for s in SPLITS},
            "class_counts": dataset.class_counts(), "label_names": list(dataset.label_names),
            "md5_status": dataset.md5_status}


def run(args: argparse.Namespace) -> int:
    from zodarts.data.dataset import load_dataset  # torch: only when a dataset is loaded

    with warnings_to_stderr("info"):
        dataset = load_dataset(args.dataset, data_root=args.data_root, size=args.size)
    summary = describe(dataset)
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    size = dataset.image_size
    print(f"{dataset.name}: {dataset.task}, {dataset.channels} channel(s), {dataset.classes} "
          f"{'labels' if dataset.task == 'multi-label' else 'classes'}, {size}×{size} images")
    print(f"source: {summary['path'] or 'bundled with scikit-learn'}"
          + (f" (md5: {dataset.md5_status})" if dataset.md5_status else ""))
    counts = summary["class_counts"]
    width = max(len(str(c)) for s in SPLITS for c in counts[s])
    per = "label" if dataset.task == "multi-label" else "class"
    print(f"{'split':<6} {'images':>7}  per {per}")
    for s in SPLITS:
        print(f"{s:<6} {summary['splits'][s]:>7}  "
              + " ".join(str(c).rjust(width) for c in counts[s]))
    names = ", ".join(f"{i} {name}" for i, name in enumerate(dataset.label_names))
    print(f"labels: {names}")
    return 0
