"""The landscape's verdict in words: the first lines of its report and the last lines of the
command. The rule is :mod:`zodarts.stats.verdict` (and, for a landscape grown until decided,
:mod:`zodarts.stats.sequential`); here it is said, with what a user does next."""

from __future__ import annotations

import math
from typing import Any

from zodarts.stats.verdict import FLAT, STRUCTURED, THRESHOLD

NAMES = {"test_acc": "test ACC", "test_auc": "test AUC"}


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _points(x: float) -> str:
    return f"{100 * x:+.1f}"


def current(summary: dict[str, Any]) -> dict[str, Any] | None:
    """The verdict that stands: a sequential landscape's last look (its own level), else the
    one of the whole table at 95%."""
    looks = summary.get("looks")
    if looks:
        return looks[-1]["verdict"]
    return summary.get("verdict")


def verdict_lines(summary: dict[str, Any], folder: str = "DIR") -> list[str]:
    """One paragraph: the verdict, the numbers it rests on, and what to do."""
    v = current(summary)
    if v is None:
        return ["**Verdict: not yet.** It needs two or more architectures with two or more "
                "finished seeds each."]
    metric = NAMES.get(v["metric"], v["metric"])
    level = f"{100 * v['confidence']:.4g}%"
    variance = (summary.get("variance") or {}).get(v["metric"], {})
    spread = ""
    if variance:
        spread = (f" A retraining seed moves {metric} by {100 * math.sqrt(variance['within']):.1f}"
                  f" points (σ_seed), the architecture by "
                  f"{100 * math.sqrt(max(variance['between'], 0.0)):.1f} (σ_arch).")
    icc = (f"ICC {v['icc']:.2f} [{v['low']:.2f}, {v['high']:.2f}], {level} interval, "
           f"{v['archs']} architectures × {v['seeds']:.3g} seeds")
    best = (summary.get("best_of_k") or {}).get(v["metric"], {})
    one, ten = best.get(1) or best.get("1"), best.get(10) or best.get("10")
    picking = ""
    if one and ten:
        picking = (f" Random search's best of 10 random architectures, picked on validation and "
                   f"trained again, is expected at {ten['value']:.3f} [{ten['low']:.3f}, "
                   f"{ten['high']:.3f}] against {one['value']:.3f} for one random "
                   "architecture.")
    if v["word"] == FLAT and v.get("no_skill"):
        auc = (summary.get("held_out") or {}).get("test_auc", {}).get("best")
        shown = (f" (test AUC {auc['value']:.3f} [{auc['low']:.3f}, {auc['high']:.3f}], chance "
                 "0.5)") if auc else ""
        return [f"**Verdict: flat — nothing is learnt.** Even the architecture that looks best "
                f"on its seeds, trained again, is not distinguishable from chance{shown}, so no "
                f"architecture can matter here, whatever the share of variance it explains "
                f"({icc}: architectures that learn nothing can still behave consistently, e.g. "
                "predict one class). Check the data and labels before searching."]
    if v["word"] == FLAT:
        lines = [f"**Verdict: flat.** The architecture explains at most {_pct(v['high'])} of "
                 f"what a user sees in {metric} here ({icc}; the upper bound is below "
                 f"{_pct(v['threshold'])}).{spread}{picking} Searching the architecture is not "
                 "worth it on this data: a retraining seed matters more than the architecture, "
                 "and averaging seeds (an ensemble) is where accuracy is cheapest."]
        small = summary.get("smallest")
        if small:
            lines[0] += (f" The smallest architecture within noise of the best is {small['id']}"
                         f" ({small['params']:,} parameters, {metric} {small['mean']:.3f}; the "
                         f"best mean {small['best_mean']:.3f}, {small['within']} of "
                         f"{small['of']} within noise).")
        return lines
    if v["word"] == STRUCTURED:
        lines = [f"**Verdict: structured.** The architecture explains at least "
                 f"{_pct(v['low'])} of what a user sees in {metric} here ({icc}; the lower "
                 f"bound is at or above {_pct(v['threshold'])}).{spread}{picking}"]
        held = (summary.get("held_out") or {}).get(v["metric"], {}).get("best")
        if held:
            median = ((summary.get("architectures") or {}).get(v["metric"], {})
                      .get("median") or {}).get("value")
            # How far above the typical architecture the best one stays on a fresh seed: the
            # room a search has to win, and what a positive control must leave it.
            room = ("" if median is None else
                    f", {_points(held['value'] - median)} points from the median "
                    f"architecture's {median:.3f}")
            lines[0] += (f" The architecture that looks best on its seeds reaches "
                         f"{held['value']:.3f} [{held['low']:.3f}, {held['high']:.3f}] when "
                         f"trained again{room}.")
        placed = [g for g in summary.get("by_method") or [] if g.get(v["metric"])]
        if placed:
            parts = []
            methods = [g["method"] for g in placed]
            for g in placed:
                m = g[v["metric"]]
                gap = m["minus_best_of_k"].get("10", m["minus_best_of_k"].get(10))
                # A method placed under several settings (its ablations) is told apart by its
                # searches' names, not by a settings hash.
                name = (g["method"] if methods.count(g["method"]) == 1 or not g.get("placed")
                        else f"{g['method']} ({', '.join(g['placed'])})")
                parts.append(f"{name} {m['mean']:.3f}"
                             + ("" if gap is None else f" ({_points(gap)} points against "
                                "random search's best of 10)"))
            lines[0] += " Placed searches (mean over their searches): " + "; ".join(parts) + "."
        return lines
    more = v.get("suggested_archs")
    if more:
        seeds = round(v["seeds"])
        todo = (f" If the estimate held, about {more} architectures × {seeds} seeds would decide "
                f"it: `zodarts landscape --out {folder} --archs {more}` (the table grows; "
                "finished retrainings are kept), or `--until-verdict` to stop as soon as it is "
                "decided.")
    else:
        todo = (" The estimate sits at the threshold itself: no affordable size decides it; "
                "read the intervals as they are.")
    return [f"**Verdict: undetermined.** The share of {metric} that is the architecture is "
            f"{icc}: the interval contains {_pct(v['threshold'])}, so this landscape cannot yet "
            f"tell a flat space from a structured one.{spread}{todo}"]


RULE = (f"The rule: flat when the interval's upper bound is below {THRESHOLD}, structured when "
        f"its lower bound is at least {THRESHOLD}, undetermined otherwise (docs/methods.md, "
        "\"The landscape's verdict\").")
