"""`zodarts datasets`: what zodarts knows, and which files are already here."""

from __future__ import annotations

import argparse
import json

from zodarts.data.controls import CONTROLS
from zodarts.data.registry import REGISTRY, SPLITS, find_local
from zodarts.data.validate import md5_status


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "datasets", help="list known datasets and local files",
        description="List the MedMNIST 2D datasets, the bundled digits set and the generated "
                    "controls (with what each tests), with the local file found for each "
                    "(--data-root, then $MEDMNIST_ROOT, then ~/.medmnist). Any dataset name "
                    "with :shuffled appended is its label-shuffled negative control.")
    parser.add_argument("--json", action="store_true", help="print a JSON list")
    parser.add_argument("--verify", action="store_true",
                        help="hash local files: md5 status official or modified")
    parser.add_argument("--data-root", metavar="DIR", help="look here first (default: "
                        "$MEDMNIST_ROOT, then ~/.medmnist)")
    parser.add_argument("--size", type=int, default=28, choices=(28, 64, 128, 224),
                        help="image size of the MedMNIST files to look for (default 28)")
    parser.set_defaults(func=run)


def rows(data_root: str | None, verify: bool, size: int = 28) -> list[dict]:
    out = []
    for info in REGISTRY.values():
        path = find_local(info.name, data_root, size) if info.is_medmnist else None
        row = {"name": info.name, "task": info.task, "channels": info.channels,
               "classes": info.classes,
               "image_size": size if info.is_medmnist else info.image_size,
               "splits": dict(info.splits),
               "path": str(path) if path else None, "url": info.url_for(size),
               "md5": info.md5_for(size), "license": info.license}
        if verify:
            row["md5_status"] = md5_status(path, info.name, size) if path else None
        control = CONTROLS.get(info.name)
        if control:
            row.update(tests=control.tests, why=control.why, chance=control.chance)
        out.append(row)
    return out


def run(args: argparse.Namespace) -> int:
    table = rows(args.data_root, args.verify, args.size)
    if args.json:
        print(json.dumps(table, indent=2))
        return 0
    header = ["name", "task", "ch", "classes", "train", "val", "test"]
    if args.verify:
        header.append("md5")
    header.append("local file")
    lines = [header]
    for row in table:
        line = [row["name"], row["task"], str(row["channels"]), str(row["classes"]),
                *(str(row["splits"][s]) for s in SPLITS)]
        if args.verify:
            line.append(row["md5_status"] or "-")
        line.append(row["path"] or ("(generated)" if "tests" in row else
                                    "(bundled)" if row["url"] is None else "-"))
        lines.append(line)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    numeric = {2, 3, 4, 5, 6}
    for line in lines:
        print("  ".join(cell.rjust(w) if i in numeric else cell.ljust(w)
                        for i, (cell, w) in enumerate(zip(line, widths))).rstrip())
    print("\nControls (generated from a fixed seed, cached; the landscape's checks of itself):")
    for row in table:
        if "tests" in row:
            print(f"  {row['name']}: {row['tests']} (chance {row['chance']:.2f}): {row['why']}.")
    print("Any name with :shuffled appended (breastmnist:shuffled) is its negative control: "
          "train and val labels permuted, so that no network can beat chance.")
    if not any(row["path"] for row in table if row["url"]):
        print("\nNo MedMNIST files found locally; get one with `zodarts fetch NAME`.")
    return 0
