"""How large a landscape must be for its verdict to be decided: the sequential rule's outcomes by
simulation, for several designs at a given true ICC.

    python benchmarks/verdict_power.py [--icc 0.07,0] [--designs 25x3,15x5,50x3/10,30x5/10]
        [--reps 4000] [--json]

A design AxS/R is A architectures x S seeds grown in rounds of R (R = A: one look, a fixed
landscape). Each is simulated as `zodarts landscape --until-verdict` judges it
(`zodarts.stats.sequential`: normal tables of the given ICC, the looks' Bonferroni levels, the
0.3 threshold), and the share of runs ending flat / structured / undetermined is printed with
the mean number of architectures trained. It answers "how much compute does a verdict need
here": at BreastMNIST's ICC (0.07) a quarter of its 100 x 3 landscape cannot decide reliably
whatever the design, and five seeds per architecture decide sooner than three at equal
retrainings (the seed noise that the ICC's interval must see past averages out per
architecture).

Expected cost: a few seconds per design at the default 4,000 runs (numpy only, no training).
"""

from __future__ import annotations

import argparse
import json

from zodarts.stats.sequential import LookPlan, simulate

DEFAULT_DESIGNS = "25x3,15x5,50x3/10,30x5/10,30x5,100x3"


def parse_design(text: str) -> tuple[int, int, int]:
    """'AxS' or 'AxS/R' -> (archs, seeds, round_archs)."""
    size, _, rounds = text.partition("/")
    archs, _, seeds = size.partition("x")
    try:
        a, s = int(archs), int(seeds)
        r = int(rounds) if rounds else a
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"design {text!r}: write it as ARCHSxSEEDS or ARCHSxSEEDS/ROUND, e.g. 30x5/10"
        ) from None
    if s < 2 or r < 2 or a < r:
        raise argparse.ArgumentTypeError(
            f"design {text!r}: needs at least 2 seeds and rounds of 2 to ARCHS architectures")
    return a, s, r


def parse_designs(text: str) -> list[tuple[int, int, int]]:
    return [parse_design(d) for d in text.split(",")]


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--icc", default="0.07,0",
                        help="true ICCs to simulate, comma-separated (default: %(default)s)")
    parser.add_argument("--designs", default=DEFAULT_DESIGNS, type=parse_designs,
                        help="landscapes ARCHSxSEEDS[/ROUND], comma-separated "
                             "(default: %(default)s)")
    parser.add_argument("--reps", type=int, default=4000,
                        help="simulated landscapes per case (default: %(default)s)")
    parser.add_argument("--json", action="store_true",
                        help="print the rows as JSON (default: a table)")
    args = parser.parse_args(argv)
    designs = args.designs
    rows = []
    for icc in (float(x) for x in args.icc.split(",")):
        for archs, seeds, round_archs in designs:
            r = simulate(icc, LookPlan(round_archs=round_archs, max_archs=archs), seeds=seeds,
                         reps=args.reps)
            rows.append({"icc": icc, "archs": archs, "seeds": seeds, "round_archs": round_archs,
                         "retrainings": archs * seeds, **r})
    if args.json:
        print(json.dumps(rows, indent=1))
        return rows
    print(f"{'true ICC':>8}  {'design':<12} {'retrainings':>11}  {'flat':>5} {'structured':>10} "
          f"{'undetermined':>12}  {'mean archs':>10}")
    for r in rows:
        design = f"{r['archs']}x{r['seeds']}" + (
            f"/{r['round_archs']}" if r["round_archs"] < r["archs"] else "")
        print(f"{r['icc']:>8.2f}  {design:<12} {r['retrainings']:>11}  {r['flat']:>5.2f} "
              f"{r['structured']:>10.3f} {r['undetermined']:>12.2f}  {r['mean_archs']:>10.0f}")
    return rows


if __name__ == "__main__":
    main()
