"""`zodarts methods`: every search method with the settings it runs at, and where they come from.

A method's settings are its own paper's (or code's): the relaxation, annealing and size search,
the architecture optimizer, and its options. `zodarts search --method M` uses exactly these
unless a flag overrides them; the run's config.yaml records what was used.
"""

from __future__ import annotations

import argparse
import dataclasses
import json


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "methods", help="the search methods and the settings each runs at",
        description="List the search methods with the settings of their own papers: "
                    "relaxation, annealing, size search, architecture optimizer and options "
                    "(--opt KEY=VALUE), and the source of those settings.")
    parser.add_argument("method", nargs="?", help="show one method only")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=run)


def describe(method: str) -> dict:
    """One method's settings as `zodarts methods --json` prints them."""
    from zodarts.search.registry import get_searcher

    cls = get_searcher(method)
    return {"source": cls.source, **cls.paper_defaults(),
            "uses_alpha": cls.uses_alpha,
            "options": dataclasses.asdict(cls.Options())}


def compute(method: str | None = None) -> dict:
    from zodarts.search.registry import SEARCHERS

    names = [method] if method else list(SEARCHERS)
    return {name: describe(name) for name in names}


def protocol() -> list[dict]:
    from zodarts.config import PAPER_PROTOCOL
    return [{"what": what, "zodarts": setting, "authors_code": source}
            for what, setting, source in PAPER_PROTOCOL]


def run(args: argparse.Namespace) -> int:
    doc = compute(args.method)
    if args.json:
        print(json.dumps({**doc, "paper_protocol": protocol()} if not args.method else doc,
                         indent=2))
        return 0
    for name, d in doc.items():
        print(f"{name}: {d['source']}")
        if d["uses_alpha"]:
            optimizer = d["a_optimizer"]
            if optimizer == "adam":
                optimizer = (f"Adam lr {d['a_lr']:g}, betas ({d['a_beta1']:g}, {d['a_beta2']:g}), "
                             f"weight decay {d['a_weight_decay']:g}")
            elif optimizer == "sgd":
                optimizer = f"SGD lr {d['a_lr']:g}"
            else:
                optimizer = "none (the method moves α itself)"
            print(f"  relax {d['relax']}, anneal {'on' if d['anneal'] else 'off'}, size search "
                  f"{'on' if d['size_search'] else 'off'}; α optimizer: {optimizer}")
        options = ", ".join(f"{k}={v}" for k, v in d["options"].items())
        print(f"  options: {options or 'none'}")
    if not args.method:
        print("\n--preset paper follows the ZO-DARTS++ authors' evaluation "
              "(github HikariX/ZO-DARTS_PP), each point a switch:")
        for point in protocol():
            print(f"- {point['what']}\n    zodarts: {point['zodarts']}\n    their code: "
                  f"{point['authors_code']}")
    return 0
