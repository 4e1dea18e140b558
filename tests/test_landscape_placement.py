"""A placement's arithmetic on a made-up landscape: one search, and a method over its searches
(a search's draws one unit; a t interval over the searches)."""

from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from zodarts.landscape.place import method_key, method_placement, placement
from zodarts.landscape.table import ArchRows, Table
from zodarts.stats import percentile_of


def rows(name: str, test_acc: list[float], val_acc: list[float] | None = None) -> ArchRows:
    val_acc = test_acc if val_acc is None else val_acc
    return ArchRows(name, None, None, [{"test_acc": t, "val_acc": v}
                                       for t, v in zip(test_acc, val_acc)])


@pytest.fixture
def table():
    """40 architectures whose means spread over 0.70-0.90, three seeds each."""
    rng = np.random.default_rng(0)
    archs = [rows(f"a{i}", list(0.70 + 0.005 * i + rng.normal(0, 0.01, 3))) for i in range(40)]
    return Table(Path("."), None, archs)


def test_one_search_is_placed_by_its_mean_among_the_architecture_means(table):
    search = rows("s", [0.80, 0.81, 0.79])
    p = placement(table, search, ks=(1, 10))
    assert p["percentile"] == percentile_of(0.80, table.means("test_acc"))
    assert p["minus_best_of_k"][10] == pytest.approx(0.80 - p["best_of_k"][10])
    assert p["mean_interval"][0] <= 0.80 <= p["mean_interval"][1]
    # The mean's interval uses the seed variance of the 14 architectures (a third of 40) whose
    # means are closest to 0.80, pooled (28 dof); the difference adds the reference's error.
    near = sorted(table.archs, key=lambda a: abs(a.values("test_acc").mean() - 0.80))[:14]
    half = stats.t.ppf(0.975, 28) * np.sqrt(np.mean([np.var(a.values("test_acc"), ddof=1)
                                                     for a in near]) / 3)
    assert p["mean_interval"][1] - 0.80 == pytest.approx(half)
    gap = p["minus_best_of_k_interval"][10]
    assert gap[1] - gap[0] > 2 * half and p["percentile_interval"] is None


def test_a_method_averages_its_searches_with_a_t_interval_over_them(table):
    searches = [[rows("s0", [0.84, 0.86])], [rows("s1", [0.74, 0.76])], [rows("s2", [0.80])]]
    each = [placement(table, s[0], ks=(1, 10)) for s in searches]
    method = method_placement(table, searches, ks=(1, 10))
    means = [0.85, 0.75, 0.80]
    assert method["searches"] == 3
    assert method["mean"] == pytest.approx(np.mean(means))
    half = stats.t.ppf(0.975, 2) * np.std(means, ddof=1) / np.sqrt(3)
    assert method["mean_interval"] == pytest.approx([np.mean(means) - half,
                                                     np.mean(means) + half])
    assert method["percentile"] == pytest.approx(np.mean([p["percentile"] for p in each]))
    assert method["minus_best_of_k"][10] == pytest.approx(
        np.mean([p["minus_best_of_k"][10] for p in each]))
    # Wider than any one search's own interval: the search seed is part of the outcome.
    width = method["mean_interval"][1] - method["mean_interval"][0]
    assert all(width > p["mean_interval"][1] - p["mean_interval"][0] for p in each)


def test_a_methods_interval_stays_within_what_the_quantity_can_take(table):
    top, bottom = [rows("top", [0.95, 0.95])], [rows("bottom", [0.60, 0.60])]
    method = method_placement(table, [top, top, bottom], ks=(1,))
    assert method["percentile_interval"] == [0.0, 100.0]
    assert 0.0 <= method["mean_interval"][0] and method["mean_interval"][1] <= 1.0


def test_a_searchs_draws_are_one_unit_and_one_search_has_no_interval(table):
    draws = [rows("d0", [0.70, 0.72]), rows("d1", [0.88, 0.90])]
    method = method_placement(table, [draws], ks=(1, 10))
    assert method["searches"] == 1 and method["mean"] == pytest.approx(0.80)
    assert method["mean_interval"] is None and method["percentile_interval"] is None
    assert method["minus_best_of_k_interval"][10] is None


def test_what_searches_pool_by():
    base = {"method": "zo-darts++", "budget": "none", "network": "argmax", "settings": "abc"}
    assert method_key(base) == ("zo-darts++", "none", "argmax", "abc")
    assert method_key({**base, "method": None}) is None   # unknown: never pooled
    # Placed before the kind of network was recorded: a draw is told by its label.
    old = {"method": "darts-2nd", "label": "breastmnist/darts-2nd/none/seed0/d2"}
    assert method_key(old) == ("darts-2nd", "unknown", "draw", "unknown")


def test_no_search_is_refused(table):
    with pytest.raises(ValueError, match="at least one"):
        method_placement(table, [])
