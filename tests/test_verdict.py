"""The landscape's verdict: the rule on tables of known structure, the sequential rule's error
rates by simulation, and the words."""

import numpy as np
import pytest

from zodarts.stats import variance_split
from zodarts.stats.sequential import ALPHA, LookPlan, simulate
from zodarts.stats.verdict import (FLAT, STRUCTURED, THRESHOLD, UNDETERMINED, archs_to_decide,
                                   decide, primary_metric, verdict_of)


def table(icc: float, archs: int, seeds: int, rng) -> list[np.ndarray]:
    arch = rng.normal(0.8, 0.02 * np.sqrt(icc), size=archs)
    return [a + rng.normal(0.0, 0.02 * np.sqrt(1 - icc), size=seeds) for a in arch]


def test_the_rule_reads_the_interval_against_the_threshold():
    assert decide(0.0, 0.29) == FLAT
    assert decide(0.3, 0.9) == STRUCTURED
    assert decide(0.1, 0.5) == UNDETERMINED and decide(0.0, THRESHOLD) == UNDETERMINED
    assert decide(float("nan"), 0.1) == UNDETERMINED
    assert primary_metric("multi-label") == "test_auc" and primary_metric("binary") == "test_acc"


@pytest.mark.parametrize("icc, archs, seeds, word", [
    (0.0, 150, 3, FLAT), (0.8, 30, 2, STRUCTURED), (0.3, 12, 2, UNDETERMINED)])
def test_tables_of_known_structure_get_their_verdict(icc, archs, seeds, word):
    rng = np.random.default_rng(1)
    v = verdict_of(variance_split(table(icc, archs, seeds, rng)), "test_acc")
    assert v.word == word
    if word == UNDETERMINED:
        assert v.suggested_archs is None or v.suggested_archs > archs


def test_what_would_decide_it_does_decide_it_when_the_estimate_holds():
    f, archs, seeds = 1.3, 20, 3                    # ICC 0.09: flat-looking but undecided
    k = archs_to_decide(f, archs, seeds)
    from zodarts.stats.verdict import icc_interval
    assert icc_interval(f, k, seeds, 0.95)[1] < THRESHOLD <= icc_interval(f, k - 1, seeds,
                                                                          0.95)[1]
    assert archs_to_decide((1 + 2 * THRESHOLD) / (1 - THRESHOLD), 20, 3) is None   # at τ


def test_the_looks_spend_alpha_mostly_on_the_last():
    plan = LookPlan(10, 60)
    assert plan.archs == [10, 20, 30, 40, 50, 60]
    assert sum(plan.alphas) == pytest.approx(ALPHA)
    assert plan.alphas[-1] == pytest.approx(0.8 * ALPHA)
    assert LookPlan(10, 25).archs == [10, 20, 25]
    with pytest.raises(ValueError):
        LookPlan(1, 10)


def test_stopping_at_the_first_decided_look_keeps_the_error_rate():
    """At the threshold itself (ICC 0.3) any claim is wrong: each kind of wrong claim must stay
    at or below α/2 = 2.5% (plus three standard errors of the simulation, 0.01 at 2,000
    tables); far from it the rule decides, and early where the answer is obvious."""
    plan = LookPlan(10, 50)
    at = simulate(THRESHOLD, plan, seeds=3, reps=2000, seed=1)
    assert at[FLAT] <= ALPHA / 2 + 0.01 and at[STRUCTURED] <= ALPHA / 2 + 0.01
    flat = simulate(0.0, plan, seeds=3, reps=1000, seed=2)
    assert flat[FLAT] > 0.8 and flat[STRUCTURED] == 0.0
    strong = simulate(0.8, plan, seeds=2, reps=1000, seed=3)
    assert strong[STRUCTURED] > 0.95 and strong["mean_archs"] < 30
    # Reading every look at 95% instead (no correction) would not keep it.
    naive = LookPlan(10, 50)
    object.__setattr__(naive, "alphas", [ALPHA] * len(naive.archs))
    loose = simulate(THRESHOLD, naive, seeds=3, reps=2000, seed=1)
    assert loose[FLAT] + loose[STRUCTURED] > 2 * (at[FLAT] + at[STRUCTURED])


# ---- what compute buys: ensembles of the landscape's retrainings ------------------------------

def test_ensemble_statistics_match_a_brute_force_computation(tmp_path):
    """On a made-up landscape with kept probabilities: one random architecture, K seeds of one
    architecture and K random architectures, each against every combination listed."""
    import itertools

    from conftest import fake_landscape
    from zodarts.landscape.compute import accuracy, what_compute_buys
    from zodarts.landscape.table import ARCHS, PROBABILITIES, arch_id, read_table, seed_folder

    rng = np.random.default_rng(0)
    archs, seeds, n = 5, 3, 40
    labels = rng.integers(0, 2, n)
    root = fake_landscape(tmp_path / "land", "breastmnist", [[0.5] * seeds] * archs)
    probs = rng.dirichlet([1, 1], size=(archs, seeds, n))
    for i in range(archs):
        for s in range(seeds):
            np.savez(seed_folder(root / ARCHS / arch_id(i), s) / PROBABILITIES,
                     test=probs[i, s].astype(np.float16), val=probs[i, s].astype(np.float16))
    probs = probs.astype(np.float16).astype(np.float64)
    out = what_compute_buys(read_table(root), "binary", labels, ks=(1, 2, 3), n_boot=20)

    def acc(p):
        return float(accuracy("binary", p, labels))

    one = np.mean([acc(probs[i, s]) for i in range(archs) for s in range(seeds)])
    assert out["rows"]["1"]["one"]["value"] == pytest.approx(one)
    for k in (2, 3):
        seed_ens = np.mean([acc(probs[i, list(c)].mean(axis=0)) for i in range(archs)
                            for c in itertools.combinations(range(seeds), k)])
        assert out["rows"][str(k)]["seed_ensemble"]["value"] == pytest.approx(seed_ens)
        arch_ens = np.mean([acc(np.mean([probs[a, s] for a, s in zip(c, chosen)], axis=0))
                            for c in itertools.combinations(range(archs), k)
                            for chosen in itertools.product(range(seeds), repeat=k)])
        # A mean over 2,000 random draws: its standard error is below 0.005 here.
        assert out["rows"][str(k)]["arch_ensemble"]["value"] == pytest.approx(arch_ens, abs=0.015)
        low, high = (out["rows"][str(k)]["arch_ensemble"][b] for b in ("low", "high"))
        assert low <= high


def test_consistent_chance_level_architectures_are_flat_not_structured():
    """Architectures that each predict one class (shuffled labels, a collapse) differ
    consistently across seeds — a high ICC on pure noise. The no-skill guard reads the best
    architecture's test AUC trained again: at chance, the verdict is flat."""
    split = variance_split([np.array([0.497, 0.4975]), np.array([0.503, 0.5025])] * 10)
    assert split.icc_low >= THRESHOLD                         # the ICC alone says structured
    assert verdict_of(split, "test_acc").word == STRUCTURED
    v = verdict_of(split, "test_acc", best_auc=(0.49, 0.51))
    assert v.word == FLAT and v.no_skill
    assert verdict_of(split, "test_acc", best_auc=(0.52, 0.58)).word == STRUCTURED


def test_the_papers_test_maximum_is_set_beside_the_honest_number(tmp_path):
    """With each retraining's maximum test ACC over its epochs recorded, the report gives its
    mean excess over the validation-selected number (a t interval over architectures) and how
    the two rank the architectures."""
    import json

    from conftest import fake_landscape
    from zodarts.landscape.summary import optimism
    from zodarts.landscape.table import RECORD, read_table

    honest = [[0.80, 0.82], [0.70, 0.74], [0.90, 0.88], [0.60, 0.66]]
    root = fake_landscape(tmp_path / "land", "breastmnist", honest)
    excess = [[0.02, 0.01], [0.05, 0.03], [0.00, 0.02], [0.04, 0.04]]
    for path in sorted(root.glob("archs/*/seed*/" + RECORD)):
        i, s = int(path.parts[-3][1:]), int(path.parts[-2][4:])
        record = json.loads(path.read_text())
        record["test_max_acc"] = honest[i][s] + excess[i][s]
        path.write_text(json.dumps(record))
    o = optimism(read_table(root))
    per_arch = [np.mean(e) for e in excess]
    assert o["excess"] == pytest.approx(np.mean(per_arch))
    assert o["excess_interval"][0] < o["excess"] < o["excess_interval"][1]
    assert o["rank"]["spearman"] == pytest.approx(1.0)


def test_the_structured_verdict_tells_a_methods_ablations_apart_by_their_searches():
    from zodarts.landscape.verdict import verdict_lines

    def group(method, placed, mean):
        return {"method": method, "placed": placed,
                "test_acc": {"mean": mean, "minus_best_of_k": {"10": mean - 0.97}}}

    summary = {"verdict": {"word": STRUCTURED, "metric": "test_acc", "icc": 0.7, "low": 0.5,
                           "high": 0.8, "confidence": 0.95, "threshold": 0.3, "archs": 60,
                           "seeds": 2.0},
               "by_method": [group("darts-2nd", ["d2-s0", "d2-s1"], 0.951),
                             group("zo-darts++", ["zo-s0", "zo-s1"], 0.972),
                             group("zo-darts++", ["zo-nosize-s0"], 0.948)]}
    text = verdict_lines(summary)[0]
    assert "darts-2nd 0.951 (-1.9 points" in text
    assert "zo-darts++ (zo-s0, zo-s1) 0.972" in text and "zo-darts++ (zo-nosize-s0) 0.948" in text


def test_the_structured_verdict_says_how_far_the_best_stays_above_the_median():
    """The room a search has to win: the best architecture on a fresh seed against the median."""
    from zodarts.landscape.verdict import verdict_lines

    summary = {"verdict": {"word": STRUCTURED, "metric": "test_acc", "icc": 0.7, "low": 0.5,
                           "high": 0.8, "confidence": 0.95, "threshold": 0.3, "archs": 60,
                           "seeds": 2.0},
               "held_out": {"test_acc": {"best": {"value": 0.95, "low": 0.93, "high": 0.97}}},
               "architectures": {"test_acc": {"median": {"value": 0.88}}}}
    assert ("reaches 0.950 [0.930, 0.970] when trained again, +7.0 points from the median "
            "architecture's 0.880.") in verdict_lines(summary)[0]
    del summary["architectures"]
    assert "when trained again." in verdict_lines(summary)[0]
