"""`zodarts landscape` end to end on a local Ray (digits, tiny preset): the table, a rerun that
trains nothing, growth, a refused rerun with other settings, a placement and a supernet's
ranking; and the sampler, transfers and records on their own."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from zodarts.cli import main

# In-process sweeps and landscapes share one Ray for the session (conftest.shared_ray).
pytestmark = pytest.mark.usefixtures("shared_ray")

TINY = ["--dataset", "digits", "--preset", "tiny", "--num-cpus", "1", "--quiet"]


def landscape(out: Path, *args: str) -> int:
    return main(["landscape", "--out", str(out), *TINY, *args])


def error_lines(captured) -> list[str]:
    return [line for line in captured.err.splitlines() if line.startswith("zodarts")]


@pytest.fixture(scope="module")
def tiny_landscape(tmp_path_factory):
    """4 architectures × 2 seeds of the tiny space, and a tiny search to place."""
    pytest.importorskip("ray")
    base = tmp_path_factory.mktemp("landscape")
    assert landscape(base / "land", "--archs", "4", "--seeds", "2") == 0
    assert main(["run", "--preset", "tiny", "--out", str(base / "search"), "--quiet"]) == 0
    return base


def test_a_landscape_records_every_architecture_and_seed(tiny_landscape):
    from zodarts.landscape.table import read_table

    root = tiny_landscape / "land"
    table = read_table(root)
    assert [a.id for a in table.archs] == ["a0000", "a0001", "a0002", "a0003"]
    for arch in table.archs:
        assert [r["seed"] for r in arch.records] == [0, 1]
        for r in arch.records:
            for key in ("val_acc", "val_auc", "val_loss", "test_acc", "test_auc", "test_loss",
                        "train_seconds", "seconds", "best_epoch"):
                assert r[key] is not None, key
            assert r["epochs"] == 2                          # the tiny preset's retraining
        assert arch.info["params"] > 0 and arch.info["flops"] > 0
        assert set(arch.info["proxies"]) >= {"synflow", "grad_norm", "naswot"}
        # Checkpoints go once the record is written: the table is what is kept.
        assert not list((root / "archs" / arch.id).rglob("*.pt"))
    document = json.loads((root / "landscape.json").read_text())
    assert document["pairs"] == 8 and len(document["archs"]) == 4
    assert document["invocations"][0]["overhead"]["train_seconds"] > 0
    rows = (root / "landscape.csv").read_text().splitlines()
    assert len(rows) == 9 and rows[0].startswith("arch,seed,val_acc")
    report = (root / "report" / "landscape.md").read_text()
    assert report.splitlines()[2].startswith("**Verdict: ")        # the first thing said
    assert "## How much of the metric is the architecture" in report
    assert "| test ACC |" in report and "ICC" in report
    assert "## What compute buys" in report
    for name in ("caterpillar.png", "acc_params.png", "predictors.png"):
        assert (root / "report" / name).stat().st_size > 1000
    # Each retraining keeps its class probabilities, for the ensembles of the report.
    with np.load(root / "archs/a0000/seed0/probabilities.npz") as kept:
        assert kept["test"].shape == (359, 10) and kept["val"].shape == (180, 10)


def test_a_landscape_grown_until_decided_looks_after_each_round(tmp_path, capsys):
    """Rounds of 2 architectures up to 4: a look after each, at its planned level; the
    command's last lines say the verdict; a rerun takes no look twice and trains nothing."""
    root = tmp_path / "seq"
    assert landscape(root, "--archs", "4", "--seeds", "2", "--until-verdict",
                     "--round-archs", "2", "--train-test-every-epoch") == 0
    out = capsys.readouterr()
    looks = [json.loads(line) for line in (root / "verdict.jsonl").read_text().splitlines()]
    assert [look["look"] for look in looks] in ([1], [1, 2])
    assert looks[0]["verdict"]["confidence"] == pytest.approx(1 - 0.05 * 0.2)
    assert "look 1/2 at 2 architectures" in out.err
    assert "Verdict: " in out.out
    report = (root / "report" / "landscape.md").read_text()
    assert "## Grown until decided" in report
    # --train-test-every-epoch keeps the paper's number beside the honest one.
    record = json.loads((root / "archs/a0000/seed0/record.json").read_text())
    assert record["test_max_acc"] >= record["test_acc"]
    stamps = {p: p.stat().st_mtime_ns for p in root.rglob("record.json")}
    assert landscape(root, "--archs", "4", "--seeds", "2", "--until-verdict",
                     "--round-archs", "2", "--train-test-every-epoch") == 0
    assert {p: p.stat().st_mtime_ns for p in root.rglob("record.json")} == stamps
    assert len((root / "verdict.jsonl").read_text().splitlines()) == len(looks)
    # A folder grown until decided cannot be continued as one of a fixed size.
    assert landscape(root, "--archs", "4", "--seeds", "2", "--train-test-every-epoch") == 1


def test_a_rerun_trains_nothing_and_growing_trains_only_what_is_new(tiny_landscape, tmp_path,
                                                                     capsys):
    root = tmp_path / "land"
    shutil.copytree(tiny_landscape / "land", root)
    stamps = {p: p.stat().st_mtime_ns for p in root.rglob("record.json")}
    assert landscape(root, "--archs", "4", "--seeds", "2") == 0
    err = capsys.readouterr().err
    assert "started" not in err and "] finished " not in err, err
    assert {p: p.stat().st_mtime_ns for p in root.rglob("record.json")} == stamps
    assert landscape(root, "--archs", "5", "--seeds", "2") == 0
    err = capsys.readouterr().err
    # (A warm worker can finish a tiny job before the driver's first poll sees it start.)
    assert err.count("] finished ") == 1 and "] finished a0004" in err, err
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    genotypes = json.loads((root / "genotypes.json").read_text())
    first = json.loads((tiny_landscape / "land" / "genotypes.json").read_text())
    assert genotypes[:4] == first and len(genotypes) == 5  # the same draws, one more


def test_a_rerun_with_other_settings_is_refused_before_any_work(tiny_landscape, tmp_path,
                                                                capsys):
    root = tmp_path / "land"
    shutil.copytree(tiny_landscape / "land", root)
    assert landscape(root, "--archs", "4", "--seeds", "2", "--train-epochs", "3") == 1
    lines = error_lines(capsys.readouterr())
    assert len(lines) == 1 and "made with other settings (train epochs: 2 -> 3)" in lines[0]


def test_placing_a_search_retrains_it_with_the_landscapes_seeds(tiny_landscape, tmp_path,
                                                                capsys):
    root = tmp_path / "land"
    shutil.copytree(tiny_landscape / "land", root)
    assert main(["landscape-place", str(root), str(tiny_landscape / "search"), "--num-cpus",
                 "1", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "search" in out and "percentile" in out
    placed = json.loads((root / "placed" / "placement.json").read_text())
    assert len(placed) == 1 and placed[0]["seeds"] == 2 and placed[0]["method"] == "zo-darts++"
    acc = placed[0]["test_acc"]
    records = [json.loads(p.read_text()) for p in
               sorted((root / "placed" / "search").glob("seed*/record.json"))]
    assert acc["mean"] == pytest.approx(np.mean([r["test_acc"] for r in records]))
    assert 0 <= acc["percentile"] <= 100 and acc["percentile_interval"] is None
    assert "## Searched architectures in the landscape" in \
        (root / "report" / "landscape.md").read_text()
    # The report computes the placements again from the placed retrainings: placement.json
    # is what the code that placed last computed, and may be stale.
    stale = [{**placed[0], "test_acc": {**acc, "mean": 0.123}}]
    (root / "placed" / "placement.json").write_text(json.dumps(stale))
    assert main(["landscape-report", str(root)]) == 0
    summary = json.loads((root / "report" / "summary.json").read_text())
    assert summary["placed"][0]["test_acc"]["mean"] == pytest.approx(acc["mean"])
    assert summary["by_method"][0]["placed"] == ["search"]
    # Placing again retrains nothing.
    stamps = {p: p.stat().st_mtime_ns for p in (root / "placed").rglob("record.json")}
    assert main(["landscape-place", str(root), str(tiny_landscape / "search"), "--num-cpus",
                 "1", "--quiet"]) == 0
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps


def test_searches_of_one_method_are_pooled(tiny_landscape, tmp_path, capsys):
    root = tmp_path / "land"
    shutil.copytree(tiny_landscape / "land", root)
    again = tmp_path / "again"   # a second search of the same method (a copy stands in for it)
    shutil.copytree(tiny_landscape / "search", again)
    assert main(["landscape-place", str(root), str(tiny_landscape / "search"), str(again),
                 "--num-cpus", "1", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "zo-darts++ (none, argmax)" in out
    placed = json.loads((root / "placed" / "placement.json").read_text())
    [method] = json.loads((root / "placed" / "by_method.json").read_text())
    assert (method["method"], method["budget"], method["network"]) == ("zo-darts++", "none",
                                                                       "argmax")
    assert sorted(method["placed"]) == ["again", "search"]
    assert method["test_acc"]["searches"] == 2
    assert method["test_acc"]["mean"] == pytest.approx(
        np.mean([p["test_acc"]["mean"] for p in placed]))
    assert "**By method**" in (root / "report" / "landscape.md").read_text()


def test_two_searches_of_one_name_are_refused_not_mixed(tiny_landscape, tmp_path, capsys):
    """A placed search is named by its folder; two of one name would share one record."""
    root = tmp_path / "land"
    shutil.copytree(tiny_landscape / "land", root)
    other = tmp_path / "elsewhere" / "search"
    shutil.copytree(tiny_landscape / "search", other)
    assert main(["landscape-place", str(root), str(tiny_landscape / "search"), str(other),
                 "--num-cpus", "1", "--quiet"]) == 1
    assert "two searches would be placed as search" in error_lines(capsys.readouterr())[0]
    # Across calls: a different network under a name already placed.
    (root / "placed" / "search").mkdir(parents=True)
    source = json.loads((tiny_landscape / "search" / "genotype.json").read_text())
    source["stages"][0]["edges"] = ["none" if e != "none" else "skip_connect"
                                    for e in source["stages"][0]["edges"]]
    (root / "placed" / "search" / "source.json").write_text(json.dumps(
        {"label": "search", "run": "/some/other/search", "genotype": source}))
    assert main(["landscape-place", str(root), str(tiny_landscape / "search"),
                 "--num-cpus", "1", "--quiet"]) == 1
    line = error_lines(capsys.readouterr())[0]
    assert "holds the placement of another network of the same name" in line
    assert "/some/other/search" in line


@pytest.mark.parametrize("command", ["landscape-place", "landscape-supernet"])
def test_placing_or_ranking_in_a_landscape_being_written_is_refused(tiny_landscape, tmp_path,
                                                                     capsys, command):
    """Both write into the landscape: never beside `zodarts landscape` growing it (a placement
    against half a table) or a second placement (the same seeds trained twice)."""
    from zodarts.utils.lock import folder_lock

    root = tmp_path / "land"
    shutil.copytree(tiny_landscape / "land", root)
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    with folder_lock(root, "zodarts landscape --out land"):  # flock: per open file, so held
        assert main([command, str(root), str(tiny_landscape / "search")]) == 1
    lines = error_lines(capsys.readouterr())
    assert len(lines) == 1 and "is in use by `zodarts landscape --out land`" in lines[0], lines
    assert lines[0].endswith("then run this again")   # no --out to offer: these have none
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before


def test_a_trained_supernet_ranks_the_landscape(tiny_landscape, tmp_path, capsys):
    root = tmp_path / "land"
    shutil.copytree(tiny_landscape / "land", root)
    assert main(["landscape-supernet", str(root), str(tiny_landscape / "search")]) == 0
    assert "Kendall τ" in capsys.readouterr().out
    result = json.loads((root / "supernet" / "search.json").read_text())
    assert [s["id"] for s in result["scores"]] == ["a0000", "a0001", "a0002", "a0003"]
    assert all(0 <= s["supernet_acc"] <= 1 for s in result["scores"])
    assert result["against_test_acc"]["n"] == 4
    assert "## Does a trained supernet rank the architectures?" in \
        (root / "report" / "landscape.md").read_text()


def test_two_searches_of_one_folder_name_keep_their_own_supernet_scores(tiny_landscape,
                                                                        tmp_path, capsys):
    root = tmp_path / "land"
    shutil.copytree(tiny_landscape / "land", root)
    runs = [tmp_path / sweep / "seed0" for sweep in ("a", "b")]
    for run in runs:
        shutil.copytree(tiny_landscape / "search", run)
    assert main(["landscape-supernet", str(root), *map(str, runs)]) == 0
    capsys.readouterr()
    assert len(list((root / "supernet").glob("*.json"))) == 2
    report = (root / "report" / "landscape.md").read_text()
    assert all(f"| {run} |" in report for run in runs), report


def test_supernet_scores_leave_the_trained_supernet_as_it_was(tiny_landscape):
    """Pinning α and re-estimating BatchNorm per genotype must not leak into the next one:
    scoring the same genotype twice, in two orders, gives the same numbers."""
    from zodarts.landscape.supernet import supernet_scores
    from zodarts.landscape.table import read_table

    table = read_table(tiny_landscape / "land")
    forward = supernet_scores(tiny_landscape / "search", table)
    table.archs.reverse()
    backward = supernet_scores(tiny_landscape / "search", table)
    assert {s["id"]: s for s in forward} == {s["id"]: s for s in backward}


def test_the_same_genotypes_on_another_dataset_and_the_cross_dataset_correlation(
        tiny_landscape, tmp_path):
    from conftest import make_npz
    from zodarts.landscape.report import write_report
    from zodarts.landscape.table import load_genotypes

    toy = make_npz(tmp_path / "toy.npz", sizes=(60, 12, 20), image_size=8, classes=3)
    other = tmp_path / "other"
    assert main(["landscape", "--out", str(other), "--dataset", str(toy), "--preset", "tiny",
                 "--genotypes-from", str(tiny_landscape / "land"), "--archs", "3", "--seeds",
                 "1", "--num-cpus", "1", "--quiet"]) == 0
    ours, theirs = load_genotypes(tiny_landscape / "land"), load_genotypes(other)
    assert [g.stages for g in theirs] == [g.stages for g in ours[:3]]
    assert {g.num_classes for g in theirs} == {3}             # built for the toy data
    report = write_report(other, compare=[tiny_landscape / "land"]).read_text()
    assert "## Across datasets" in report and "| 3 |" in report
    [row] = [line for line in report.splitlines() if line.startswith(f"| {tiny_landscape}")]
    assert row.count("|") == 9   # the 8 columns: val ACC, and this landscape's seeds (– here:
    assert row.endswith("| – |")  # one seed each, nothing to set against)
    # The tiny landscape (two seeds each) against the other: its seeds' own agreement is given.
    mine = tmp_path / "land"   # a copy: the module's landscape keeps its own report
    shutil.copytree(tiny_landscape / "land", mine)
    back = write_report(mine, compare=[other]).read_text()
    [row] = [line for line in back.splitlines() if line.startswith(f"| {other}")]
    assert not row.endswith("| – |")


def test_sampling_is_sequential_distinct_and_inside_the_band():
    from zodarts.landscape.driver import sample_architectures
    from zodarts.landscape.table import LandscapeSettings
    from zodarts.space import count_params

    def settings(archs, band=None):
        return LandscapeSettings("digits", None, "tiny", 4, 1, "none", band, 0, None, archs, 1)

    ten = sample_architectures(settings(10), 1, 10, 8)
    assert sample_architectures(settings(4), 1, 10, 8) == ten[:4]
    assert len({g.pruned().to_json() for g in ten}) == 10
    assert all(not g.disconnected_stages() for g in ten)
    counts = sorted(count_params(g) for g in ten)
    band = [counts[3], counts[6]]
    inside = sample_architectures(settings(5, band), 1, 10, 8)
    assert all(band[0] <= count_params(g) <= band[1] for g in inside)
