"""`zodarts describe`: a genotype's exact parameters, FLOPs and cells, stage by stage."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from zodarts.errors import ConfigError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "describe", help="parameters, FLOPs and cells of a genotype JSON",
        description="Describe a searched architecture: its exact parameter count, its FLOPs for "
                    "one image, and the operations of each stage's cell. Only live operations "
                    "are built and counted: an op whose output never reaches the cell's output, "
                    "or whose input is always zero, is dead (listed apart; params_all_ops counts "
                    "it too). GENOTYPE may be a genotype JSON file or a run directory (its "
                    "genotype.json is used).")
    parser.add_argument("genotype", metavar="GENOTYPE.json")
    parser.add_argument("--image-size", type=int, metavar="N",
                        help="image size for the FLOPs (default: the genotype's own)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=run)


def genotype_path(path: str | Path) -> Path:
    path = Path(path).expanduser()
    if path.is_dir() and (path / "genotype.json").is_file():
        return path / "genotype.json"
    return path


def compute(path: str | Path, image_size: int | None = None) -> dict:
    """The JSON document `zodarts describe --json` prints: the network as built (live ops)."""
    from zodarts.space import EDGES, Genotype, count_flops, count_params, count_params_all_ops
    from zodarts.space.resources import stage_params

    genotype = Genotype.load(genotype_path(path))  # ConfigError if missing or malformed
    if image_size is not None and image_size < 1:
        raise ConfigError(f"--image-size must be >= 1, got {image_size}")
    size = image_size or genotype.image_size
    live = genotype.pruned()
    stages = []
    for s, (stage, params) in enumerate(zip(live.stages, stage_params(genotype))):
        stages.append({
            "stage": s, "channels": genotype.C * 2 ** s, "depth": stage.depth, "params": params,
            "edges": [{"from": j, "to": i, "op": op} for (j, i), op in zip(EDGES, stage.edges)],
        })
    return {"params": count_params(genotype), "params_all_ops": count_params_all_ops(genotype),
            "flops": count_flops(genotype, size), "image_size": size,
            "genotype": live.to_dict(), "stages": stages,
            "dead_ops": [{"stage": s, "from": j, "to": i, "op": op}
                         for s, (j, i), op in genotype.dead_ops()],
            "text": live.describe(), "dead_text": genotype.describe_dead_ops()}


def _si(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n:.0f}"


def run(args: argparse.Namespace) -> int:
    from zodarts.report.markdown import fmt_all_ops

    doc = compute(args.genotype, args.image_size)
    if args.json:
        doc = {k: v for k, v in doc.items() if k not in ("text", "dead_text")}
        print(json.dumps(doc, indent=2))
        return 0
    g, size = doc["genotype"], doc["image_size"]
    cells = sum(s["params"] for s in doc["stages"])
    print(f"genotype: {genotype_path(args.genotype)}")
    print(f"input: {g['in_channels']} channel{'s' if g['in_channels'] > 1 else ''}, "
          f"{g['num_classes']} classes, C={g['C']}")
    print(f"parameters: {doc['params']:,} ({cells:,} in cells, {doc['params'] - cells:,} in "
          f"stem, reductions and head){fmt_all_ops(doc['params'], doc['params_all_ops'])}")
    print(f"FLOPs: {_si(doc['flops'])} ({doc['flops']:,}) per {size}×{size} image")
    print(doc["text"])
    if doc["dead_text"]:
        print(doc["dead_text"])
    return 0
