"""A landscape's report as Markdown: the verdict first, then the numbers it rests on."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from zodarts.landscape.summary import METRIC_NAMES
from zodarts.landscape.verdict import RULE, verdict_lines


def _fmt(x: float | None, digits: int = 4) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def _signed(x: float | None) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{x:+.3f}"


def _interval(low: float | None, high: float | None, fmt: Callable = _fmt) -> str:
    if low is None or high is None or not (np.isfinite(low) and np.isfinite(high)):
        return ""
    return f" [{fmt(low)}, {fmt(high)}]"


def _estimate(e: dict[str, Any] | None) -> str:
    return "–" if not e else f"{_fmt(e['value'])}{_interval(e['low'], e['high'])}"


def _icc_cell(v: dict[str, Any]) -> str:
    """The ICC with its interval; a value truncated at 0 says so (a clipped 0 is not a measured
    0): '0 (est. −0.04)', and a bound below 0 '≤ 0'."""
    def bound(x: float, truncated: bool) -> str:
        return "≤ 0" if truncated else _fmt(x, 3)

    if not np.isfinite(v["icc"]):
        return "–"
    point = (f"0 (est. {v['icc_raw']:+.3f})" if v.get("truncated") else _fmt(v["icc"], 3))
    low_truncated = v.get("truncated") or v["icc_low"] <= 0
    return (f"{point} [{bound(v['icc_low'], low_truncated and v['icc_low'] <= 0)}, "
            f"{bound(v['icc_high'], v.get('high_truncated', False))}]")


def _variance_lines(summary: dict[str, Any]) -> list[str]:
    variance = summary.get("variance")
    lines = ["## How much of the metric is the architecture", ""]
    if not variance:
        return lines + ["Needs at least two architectures with two or more seeds each.", ""]
    lines += ["One-way random effects over the architectures with two or more finished seeds: "
              "the variance of one retraining's metric split into a part between "
              "architectures (σ²_arch) and a part between seeds of one architecture "
              "(σ²_seed); the intraclass correlation ICC = σ²_arch / (σ²_arch + σ²_seed) is "
              "the share of what a user sees that is the architecture, with its 95% F-based "
              "interval. F below 1 means the architectures' means differ less than seed noise "
              "alone would make them: the ICC's estimate is then negative and shown truncated "
              "at 0 with the estimate beside it, and a bound below 0 as ≤ 0.", "",
              "| metric | mean | σ_arch | σ_seed | ICC [95%] | F | p | architectures × seeds |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for metric, v in variance.items():
        lines.append(
            f"| {METRIC_NAMES[metric]} | {_fmt(v['grand_mean'])} | "
            f"{_fmt(np.sqrt(max(v['between'], 0.0)))} | {_fmt(np.sqrt(v['within']))} | "
            f"{_icc_cell(v)} | {_fmt(v['f_statistic'], 2)} | {v['p_value']:.2g} | "
            f"{v['archs']} × {v['n0']:.1f} |")
    return lines + [""]


def _architecture_lines(summary: dict[str, Any]) -> list[str]:
    archs = summary.get("architectures")
    if not archs:
        return []
    lines = ["## The architectures' means", "",
             "Each architecture's mean over its seeds. The best, the top 10% and the worst are "
             "shown as measured, without an interval: each includes the luck of the seeds that "
             "made it look best or worst (no bootstrap interval of an extreme holds 95%). The "
             "median's interval is a bootstrap over architectures. *Trained again*: the "
             "architectures that look best on the other seeds, scored on the one left out, "
             "averaged over which one — what picking the best and training it once more gives; "
             "their intervals are for the picked architectures' true mean (t, with the pooled "
             "seed variance).", "", "| | test ACC | test AUC |", "|---|---:|---:|"]
    for name, label in (("best", "best (as measured)"), ("top10", "top 10% (as measured)"),
                        ("median", "median"), ("worst", "worst (as measured)")):
        cells = [f"{_fmt(archs[m][name]['value'])}"
                 f"{_interval(archs[m][name]['low'], archs[m][name]['high'])}"
                 for m in ("test_acc", "test_auc")]
        lines.append(f"| {label} | {cells[0]} | {cells[1]} |")
    held = summary.get("held_out")
    if held:
        for name, label in (("best", "the best, trained again"),
                            ("top10", "the top 10%, trained again")):
            lines.append(f"| {label} | {_estimate(held['test_acc'][name])} | "
                         f"{_estimate(held['test_auc'][name])} |")
    if summary.get("majority_test_acc") is not None:
        lines.append(f"| majority class (no skill) | {_fmt(summary['majority_test_acc'])} | "
                     "0.5 |")
    best = summary.get("best_of_k")
    if best:
        lines += ["", "Random search with K candidates, each trained once and picked on its "
                  "validation metric (ties at random), then trained again: the expected test "
                  "metric of the pick (exact over the table; scored on its architecture's "
                  "other seeds, as a searched network is scored on fresh retrainings; t "
                  "interval for the pick's true mean):", "",
                  "| K | test ACC | test AUC |", "|---:|---:|---:|"]
        for k, acc in best["test_acc"].items():
            lines.append(f"| {k} | {_estimate(acc)} | {_estimate(best['test_auc'].get(k))} |")
    return lines + [""]


def _feature_lines(summary: dict[str, Any], figure: Path | None) -> list[str]:
    f = summary.get("features")
    if not f:
        return []
    name = METRIC_NAMES.get(f["metric"], f["metric"])
    lines = ["## What the architectures are made of, and what that explains", ""]
    fit = f.get("fit")
    if fit:
        lines += [f"A regression of each architecture's mean {name} on its live operations "
                  "(counted once per cell they repeat in), its cells and the first stage's "
                  "convolutions and poolings, each per standard deviation of the feature (a change of the "
                  "mean per SD, in the metric's units), 95% t intervals; R² "
                  f"{fit['r2']:.2f} (adjusted {fit['r2_adjusted']:.2f}) over {fit['n']} "
                  "architectures. The means carry seed noise, so R² cannot reach 1 even where "
                  "the features explain all of the architecture's part. Beside each feature, "
                  "its own Spearman ρ with the mean (2,000 bootstrap resamples)."
                  + (f" Left out as constant or collinear: {', '.join(fit['dropped'])}."
                     if fit["dropped"] else ""), "",
                  "| feature | per SD | 95% | p | Spearman ρ alone |", "|---|---:|---:|---:|---:|"]
        marginal = {m["key"]: m for m in f["marginal"]}
        for c in fit["coefficients"]:
            m = marginal.get(c["feature"], {})
            lines.append(f"| {c['label']} | {_signed(c['value'])} | "
                         f"[{_signed(c['low'])}, {_signed(c['high'])}] | {c['p_value']:.2g} | "
                         f"{_signed(m.get('spearman'))}"
                         f"{_interval(m.get('spearman_low'), m.get('spearman_high'), _signed)} |")
    else:
        lines += ["Too few architectures for the regression; each feature's own Spearman ρ:",
                  "", "| feature | Spearman ρ |", "|---|---:|"]
        for m in f["marginal"]:
            lines.append(f"| {m['feature']} | {_signed(m['spearman'])}"
                         f"{_interval(m['spearman_low'], m['spearman_high'], _signed)} |")
    if figure:
        lines += ["", f"![what explains the spread]({figure.name})"]
    return lines + [""]


def _compute_lines(summary: dict[str, Any]) -> list[str]:
    c = summary.get("compute")
    if not c:
        return []
    ks = [str(k) for k in c["ks"]]
    rows = c["rows"]
    lines = ["## What compute buys", "",
             "Test ACC at an equal number of retrainings K (the search's own cost not counted): "
             "(a) one random architecture, trained once; (b) the best of K random architectures "
             "picked on validation, trained again; (c) an ensemble of K seeds of one random "
             "architecture (class probabilities averaged); (d) an ensemble of K random "
             "architectures, one seed each; (e) each placed search, an ensemble of its K "
             f"retrainings. {c['archs']} architectures × {c['seeds']} seeds; 95% intervals "
             "((a), (c), (d): bootstrap over architectures; (b): t, as above). An ensemble of K "
             "networks costs K times one network's inference.", "",
             "| | " + " | ".join(f"K = {k}" for k in ks) + " |",
             "|---|" + "---:|" * len(ks)]
    for key, label in (("one", "(a) one random architecture"),
                       ("best_of_k", "(b) best of K, trained again"),
                       ("seed_ensemble", "(c) K seeds of one architecture"),
                       ("arch_ensemble", "(d) K random architectures")):
        cells = []
        for k in ks:
            e = rows.get(k, {}).get(key)
            if key == "one" and k != "1":
                e = None
            cells.append(_estimate(e) if e else "–")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    for p in c.get("placed") or []:
        cells = [_fmt(p["acc"].get(k)) for k in ks]
        lines.append(f"| (e) {p['label']} | " + " | ".join(cells) + " |")
    return lines + [""]


def _optimism_lines(summary: dict[str, Any]) -> list[str]:
    o = summary.get("optimism")
    if not o:
        return []
    low, high = o["excess_interval"] or (None, None)
    vm, vh = o["variance_max"], o["variance_honest"]
    r = o["rank"]
    return ["## The paper's number beside the honest one", "",
            "Each retraining measured test every epoch (`--train-test-every-epoch`): the "
            "ZO-DARTS++ authors report each network's maximum test ACC over its epochs "
            "(selected on test), this report the test ACC of the epoch validation picked. "
            f"Over {o['archs']} architectures, the maximum exceeds the honest number by "
            f"{100 * o['excess']:.1f} points on average"
            + (f" [{100 * low:.1f}, {100 * high:.1f}]" if low is not None else "")
            + f" (per architecture from {100 * o['excess_min']:.1f} to "
            f"{100 * o['excess_max']:.1f}; mean test ACC {o['max_mean']:.4f} against "
            f"{o['honest_mean']:.4f}). The two rank the architectures at Spearman ρ "
            f"{_signed(r['spearman'])}{_interval(r['spearman_low'], r['spearman_high'], _signed)}"
            f"; the architecture's share (ICC) is {_icc_cell(vm)} for the maximum and "
            f"{_icc_cell(vh)} for the honest number.", ""]


def _correlation_lines(summary: dict[str, Any]) -> list[str]:
    rows = summary.get("correlations")
    if not rows:
        return []
    lines = ["## What ranks like the test ACC", "",
             "Rank correlation of each architecture's mean test ACC with: its mean validation "
             "ACC (of the same runs, and of held-out seeds: one seed's val against the other "
             "seeds' test, which only the architecture links), its size, and each zero-cost "
             "proxy at initialisation. 95% bootstrap intervals over architectures (2,000 "
             "resamples) and scipy's p-value of ρ.", "",
             "| against | Spearman ρ | p | Kendall τ | architectures |",
             "|---|---:|---:|---:|---:|"]
    for r in rows:
        p = r.get("spearman_p")
        lines.append(f"| {r['against']} | {_signed(r['spearman'])}"
                     f"{_interval(r['spearman_low'], r['spearman_high'], _signed)} | "
                     f"{'–' if p is None or not np.isfinite(p) else f'{p:.2g}'} | "
                     f"{_signed(r['kendall'])}"
                     f"{_interval(r['kendall_low'], r['kendall_high'], _signed)} | {r['n']} |")
    return lines + [""]


def _placement_cells(entry: dict[str, Any], k: str | None) -> str:
    def within(bounds, fmt: Callable = _fmt) -> str:
        return _interval(*(bounds or (None, None)), fmt)

    cells = []
    for metric in ("test_acc", "test_auc"):
        m = entry[metric]
        cells += [f"{_fmt(m['mean'])}{within(m['mean_interval'])}",
                  f"{m['percentile']:.0f}"
                  f"{within(m.get('percentile_interval'), lambda x: f'{x:.0f}')}",
                  f"{_signed(m['minus_best_of_k'].get(k))}"
                  f"{within(m['minus_best_of_k_interval'].get(k), _signed)}"]
    return " | ".join(cells)


def _placed_lines(summary: dict[str, Any]) -> list[str]:
    placed = summary.get("placed")
    if not placed:
        return []
    gaps = placed[0]["test_acc"]["minus_best_of_k"]
    k = "10" if "10" in gaps else next(iter(gaps), None)
    header = (f"test ACC | percentile | ACC − best-of-{k} | test AUC | percentile | "
              f"AUC − best-of-{k} |")
    lines = ["## Searched architectures in the landscape", "",
             f"Each retrained with the landscape's seeds and settings (`zodarts landscape-place`)"
             f": its mean test ACC (t interval, the seed variance of the landscape's architectures of similar means), where it "
             f"falls among the landscape's architecture means (percentile), and its difference "
             f"to random search's expected best-of-{k} picked on validation and trained again "
             "(both sides means of fresh retrainings; t interval); the same for test AUC.", "",
             f"| placed | method | seeds | {header}",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for p in placed:
        note = " (deeper than the space)" if p.get("deeper_than_the_space") else ""
        lines.append(f"| {p['label']}{note} | {p.get('method') or '–'} | {p['seeds']} | "
                     f"{_placement_cells(p, k)} |")
    lines.append("")
    by_method = summary.get("by_method") or []
    if by_method:
        lines += ["**By method**: each number taken per search, then averaged over the "
                  "method's searches (a search's draws count as one search); the 95% interval "
                  "is Student's t over the searches, none for a single search.", "",
                  f"| method (budget, network) | searches | {header}",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for g in by_method:
            lines.append(f"| {g['name']} | {g['test_acc']['searches']} | "
                         f"{_placement_cells(g, k)} |")
        lines.append("")
    return lines


def _supernet_lines(summary: dict[str, Any]) -> list[str]:
    supernets = summary.get("supernets")
    if not supernets:
        return []
    lines = ["## Does a trained supernet rank the architectures?", "",
             "Each landscape architecture as a sub-network of a finished search's supernet "
             "(inherited weights, BatchNorm re-estimated per sub-network, the search's "
             "validation half), against its stand-alone mean (`zodarts landscape-supernet`; "
             "Yu et al., ICLR 2020). 95% bootstrap intervals. A dash: every sub-network "
             "predicts the same class, so the supernet scores tie and rank nothing.", "",
             "| search | method | τ with test ACC | ρ with test ACC | τ with val ACC | "
             "architectures |", "|---|---|---:|---:|---:|---:|"]
    for s in supernets:
        t, v = s["against_test_acc"], s["against_val_acc"]
        lines.append(f"| {s['label']} | {s['method']} | {_signed(t['kendall'])}"
                     f"{_interval(t['kendall_low'], t['kendall_high'], _signed)} | "
                     f"{_signed(t['spearman'])}"
                     f"{_interval(t['spearman_low'], t['spearman_high'], _signed)} | "
                     f"{_signed(v['kendall'])}"
                     f"{_interval(v['kendall_low'], v['kendall_high'], _signed)} | {t['n']} |")
    return lines + [""]


def _compare_lines(summary: dict[str, Any]) -> list[str]:
    if not summary.get("compare"):
        return []

    def rho(c: dict[str, Any] | None, key: str = "spearman") -> str:
        if not c:
            return "–"
        return f"{_signed(c[key])}{_interval(c[key + '_low'], c[key + '_high'], _signed)}"

    lines = ["## Across datasets", "",
             "Rank correlation of the architectures' mean metric here and in another "
             "landscape over the same genotypes (their cells; stem and classifier follow each "
             "dataset, or the schedule differs): does an architecture that is good here tend to "
             "be good there? The last column reads the others: the Spearman ρ between two "
             "retraining seeds of this landscape over the same architectures (one seed's test "
             "ACC against another's); where seeds of one landscape do not agree, another "
             "landscape cannot be expected to.", "",
             "| other landscape | dataset | common | ρ test ACC | τ test ACC | ρ test AUC | "
             "ρ val ACC | ρ test ACC, seed 0 vs 1 here |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for c in summary["compare"]:
        lines.append(f"| {c['other']} | {c['dataset']} | {c['common']} | "
                     f"{rho(c['test_acc'])} | {rho(c['test_acc'], 'kendall')} | "
                     f"{rho(c['test_auc'])} | {rho(c.get('val_acc'))} | "
                     f"{rho(c.get('seed_to_seed_test_acc'))} |")
    return lines + [""]


def _look_lines(summary: dict[str, Any]) -> list[str]:
    looks = summary.get("looks")
    if not looks:
        return []
    lines = ["## Grown until decided", "",
             "The landscape grew in rounds and its verdict was read after each, each look at "
             "its own planned level (Bonferroni over the planned looks, most of the 5% kept "
             "for the last: docs/methods.md), so that stopping at the first decided look keeps "
             "the error rate of the verdict.", "",
             "| look | architectures | level | ICC interval | verdict |",
             "|---:|---:|---:|---:|---|"]
    for i, look in enumerate(looks):
        v = look["verdict"]
        lines.append(f"| {i + 1} | {v['archs']} | {100 * v['confidence']:.4g}% | "
                     f"[{v['low']:.3f}, {v['high']:.3f}] | {v['word']} |")
    return lines + [""]


def _cost_lines(summary: dict[str, Any]) -> list[str]:
    lines = ["## Cost", "", f"{summary['train_seconds'] / 3600:.2f} hours of retraining (the "
             "epochs, validation included)."]
    for o in summary.get("overhead") or []:
        minutes = o["wall_seconds"] / 60
        lines.append(
            f"One invocation: {o['train_seconds']:.0f} s of training in {minutes:.1f} min on "
            f"{o['slots']:g} parallel slot(s). Besides training, the jobs spent "
            f"{100 * o['in_jobs']:.1f}% of the training time on loading data, proxies, FLOPs, "
            f"evaluation, checkpoints and imports; counting Ray and idle slots too, "
            f"{100 * o['end_to_end']:.1f}% (a share above 100% means that work took longer "
            "than the training itself).")
    return lines


def render(summary: dict[str, Any], figures: dict[str, Path | None],
           folder: str = "DIR") -> str:
    s = summary["settings"]
    train = s["train"]
    band = ("the whole space" if not s["band"] else
            f"the {s['budget']} band [{s['band'][0]:,.0f}, {s['band'][1]:,.0f}] parameters")
    lines = [f"# Landscape: {s['dataset']}", ""]
    lines += verdict_lines(summary, folder) + ["", RULE, ""]
    lines += [f"{summary['archs']} architectures ({summary['pairs']} retrainings) of the "
              f"`{s['preset']}` space (C = {s['C']}, up to {s['cells_per_stage']} cells per "
              f"stage), sampled uniformly from {band} with seed {s['sample_seed']}"
              + (f" (the genotypes of {s['genotypes_from']})" if s["genotypes_from"] else "")
              + f"; each retrained with seeds 0–{s['seeds'] - 1} at {train['epochs']} epochs, "
              f"batch {train['batch_size'] or 'the paper preset’s'}, lr {train['lr']}; the "
              "best-validation epoch's metrics. Written " + summary["written"] + ".", ""]
    lines += _look_lines(summary)
    lines += _variance_lines(summary)
    lines += _architecture_lines(summary)
    for name, title in (("caterpillar", "every architecture, sorted by its mean test ACC"),
                        ("acc_params", "mean test ACC against parameters")):
        if figures.get(name):
            lines += [f"![{title}]({figures[name].name})", ""]
    lines += _compute_lines(summary)
    lines += _optimism_lines(summary)
    lines += _feature_lines(summary, figures.get("features"))
    lines += _correlation_lines(summary)
    if figures.get("predictors"):
        lines += [f"![what ranks like the test ACC]({figures['predictors'].name})", ""]
    lines += _placed_lines(summary)
    lines += _supernet_lines(summary)
    lines += _compare_lines(summary)
    lines += _cost_lines(summary)
    return "\n".join(lines) + "\n"

