"""A placement's arithmetic on a made-up landscape: one search, and a method pooled over its
searches (whose interval must carry the spread between search seeds)."""

from pathlib import Path

import numpy as np
import pytest

from zodarts.landscape.place import placement
from zodarts.landscape.stats import percentile_of
from zodarts.landscape.table import ArchRows, Table


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


def test_one_search_in_a_list_is_placed_as_on_its_own(table):
    search = rows("s", [0.80, 0.81, 0.79])
    alone = placement(table, search, ks=(1, 10), n_boot=50)
    assert placement(table, [search], ks=(1, 10), n_boot=50) == alone
    assert alone["percentile"] == percentile_of(0.80, table.means("test_acc"))
    assert alone["minus_best_of_k"][10] == pytest.approx(0.80 - alone["best_of_k"][10])


def test_a_method_averages_its_searches_and_its_interval_carries_their_spread(table):
    good, bad = rows("good", [0.89, 0.89, 0.89]), rows("bad", [0.71, 0.71, 0.71])
    each = [placement(table, r, ks=(1, 10), n_boot=200) for r in (good, bad)]
    method = placement(table, [good, bad], ks=(1, 10), n_boot=200)
    assert method["mean"] == pytest.approx(0.80)
    assert method["seeds"] == 6
    assert method["percentile"] == pytest.approx(np.mean([p["percentile"] for p in each]))
    assert method["minus_best_of_k"][10] == pytest.approx(
        np.mean([p["minus_best_of_k"][10] for p in each]))
    # Each search alone is certain of its own mean (identical seeds); the method is not: a
    # resample of its two searches can be both good or both bad.
    for p in each:
        assert p["mean_interval"][1] - p["mean_interval"][0] == pytest.approx(0)
    low, high = method["mean_interval"]
    assert low == pytest.approx(0.71) and high == pytest.approx(0.89)
    assert method["percentile_interval"][0] < each[1]["percentile"] + 5
    assert method["percentile_interval"][1] > each[0]["percentile"] - 5


def test_no_search_is_refused(table):
    with pytest.raises(ValueError, match="at least one"):
        placement(table, [])
