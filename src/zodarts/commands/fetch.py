"""`zodarts fetch`: download a MedMNIST file, verified by md5."""

from __future__ import annotations

import argparse

from zodarts.commands.common import show_progress
from zodarts.data.download import fetch
from zodarts.data.registry import REGISTRY


def register(subparsers) -> None:
    names = [name for name, info in REGISTRY.items() if info.is_medmnist]
    parser = subparsers.add_parser(
        "fetch", help="download a MedMNIST dataset",
        description="Download NAME.npz (NAME_SIZE.npz) from the official Zenodo record into "
                    "--root (default: $MEDMNIST_ROOT, else ~/.medmnist), verify its md5 and "
                    f"only then give it its final name. Datasets: {', '.join(names)}.")
    parser.add_argument("name", metavar="NAME")
    parser.add_argument("--root", metavar="DIR", help="destination folder (default: "
                        "$MEDMNIST_ROOT, else ~/.medmnist)")
    parser.add_argument("--url", help="a mirror of the official file (still md5-checked; "
                        "default: the registry's Zenodo record)")
    parser.add_argument("--size", type=int, default=28, choices=(28, 64, 128, 224),
                        help="image size (default 28)")
    parser.add_argument("--force", action="store_true",
                        help="replace an existing file that is not the official one")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    path = fetch(args.name, root=args.root, url=args.url, size=args.size,
                 progress=show_progress(args), force=args.force)
    print(path)
    return 0
