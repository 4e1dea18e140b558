"""`zodarts budgets` and `zodarts describe` through the real CLI entry point."""

from __future__ import annotations

import json

import pytest

from zodarts.cli import main
from zodarts.space import (EDGES, Genotype, StageGenotype, budget_bands, build_network,
                           count_flops, count_params, count_params_all_ops, live_edges,
                           sample_genotype)
from zodarts.space.network import FixedCell
from zodarts.space.resources import _space_extremes


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ---- budgets ---------------------------------------------------------------------------------
def test_budgets_json(capsys):
    code, out, err = run_cli(capsys, "budgets", "--dataset", "breastmnist", "--preset", "paper",
                             "--json")
    assert code == 0 and err == ""
    doc = json.loads(out)
    assert {"dataset", "C", "small", "medium", "large", "min", "max"} <= set(doc)
    assert doc["dataset"] == "breastmnist" and doc["C"] == 16 and doc["cells_per_stage"] == 3
    assert (doc["channels"], doc["classes"]) == (1, 2)
    bands = budget_bands(1, 2, 16, 3)  # what `search --budget` resolves to
    for name in ("small", "medium", "large"):
        assert doc[name] == pytest.approx(list(bands[name]), abs=0.05)
    assert (doc["min"], doc["max"]) == (bands["min"], bands["max"])
    small, medium, large = doc["small"], doc["medium"], doc["large"]
    assert small[0] == 0 <= small[1] <= medium[0] <= medium[1] <= large[0] <= large[1] == doc["max"]
    assert doc["space_range"] == list(_space_extremes(1, 2, 16, 3))


def test_budgets_json_follows_dataset_and_options(capsys):
    _, out, _ = run_cli(capsys, "budgets", "--dataset", "PathMNIST", "--C", "8",
                        "--cells-per-stage", "2", "--json")
    doc = json.loads(out)
    assert (doc["dataset"], doc["channels"], doc["classes"], doc["C"]) == ("pathmnist", 3, 9, 8)
    assert doc["max"] == budget_bands(3, 9, 8, 2)["max"]
    _, out, _ = run_cli(capsys, "budgets", "--dataset", "digits", "--json")
    digits = json.loads(out)
    assert (digits["channels"], digits["classes"]) == (1, 10)
    assert digits["large"][1] != doc["large"][1]


def test_budgets_by_default_are_the_bands_a_default_run_uses(capsys, tmp_path):
    from zodarts.config import make_search_config
    from zodarts.search.loop import SearchLoop

    _, out, _ = run_cli(capsys, "budgets", "--dataset", "digits", "--json")
    doc = json.loads(out)
    loop = SearchLoop(make_search_config("quick", dataset="digits",
                                         budget="small"), tmp_path, progress=False, log=None)
    loop.build()  # what `zodarts run --budget small` (quick preset, the default) resolves
    assert (doc["C"], doc["cells_per_stage"]) == (loop.config.C, loop.config.cells_per_stage)
    assert doc["small"] == pytest.approx(list(loop.budget), abs=0.05)


def test_budgets_table(capsys):
    code, out, err = run_cli(capsys, "budgets", "--dataset", "octmnist", "--preset", "paper")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].startswith("parameter budgets for octmnist (1 channel, 4 classes), C=16")
    names = [line.split()[0] for line in lines[2:5]]
    assert names == ["small", "medium", "large"]
    bands = budget_bands(1, 4, 16, 3)
    assert f"{round(bands['large'][1]):,}" in lines[4]
    assert "--budget medium" in out


def test_budgets_reads_the_shape_of_a_dataset_file(capsys, tmp_path):
    from conftest import make_npz

    path = make_npz(tmp_path / "mine.npz", channels=3, classes=4)
    code, out, _ = run_cli(capsys, "budgets", "--dataset", str(path), "--json")
    assert code == 0
    doc = json.loads(out)
    assert (doc["channels"], doc["classes"]) == (3, 4)


@pytest.mark.parametrize("argv,message", [
    (["--dataset", "nosuchmnist"], "unknown dataset 'nosuchmnist'"),
    (["--dataset", "breastmnist", "--C", "0"], "--C must be >= 1"),
    (["--dataset", "breastmnist", "--cells-per-stage", "0"], "--cells-per-stage must be >= 1"),
])
def test_budgets_errors(capsys, argv, message):
    code, out, err = run_cli(capsys, "budgets", *argv)
    assert code == 1 and out == ""
    assert err.startswith("zodarts budgets: error: ") and message in err
    assert len(err.strip().splitlines()) == 1


# ---- describe --------------------------------------------------------------------------------
@pytest.fixture()
def genotype_file(tmp_path):
    g = sample_genotype(4, 3, 9, C=8, cells_per_stage=3)
    path = tmp_path / "genotype.json"
    g.save(path)
    return g, path


def test_describe_json(capsys, genotype_file):
    g, path = genotype_file
    assert g.dead_ops()  # the point: what is described is the network, without them
    code, out, err = run_cli(capsys, "describe", str(path), "--json")
    assert code == 0 and err == ""
    doc = json.loads(out)
    assert set(doc) == {"params", "params_all_ops", "flops", "image_size", "genotype", "stages",
                        "dead_ops"}
    net = build_network(g)
    assert doc["params"] == count_params(g) == sum(p.numel() for p in net.parameters())
    assert doc["params_all_ops"] == count_params_all_ops(g) > doc["params"]
    assert doc["flops"] == count_flops(g) and doc["image_size"] == 28
    assert Genotype.from_dict(doc["genotype"]) == g.pruned()
    assert [s["stage"] for s in doc["stages"]] == [0, 1, 2]
    cells = iter(m for m in net.layers if isinstance(m, FixedCell))
    for s, stage in enumerate(doc["stages"]):
        assert stage["channels"] == 8 * 2 ** s and stage["depth"] == g.stages[s].depth
        assert [(e["from"], e["to"]) for e in stage["edges"]] == list(EDGES)
        # Every op listed is built; the others are `none` or listed as dead.
        listed = [e["op"] for e in stage["edges"]]
        assert [op for op in listed if op != "none"] == [
            op for op, live in zip(g.stages[s].edges, live_edges(g.stages[s].edges)) if live]
        dead = {(d["from"], d["to"]): d["op"] for d in doc["dead_ops"] if d["stage"] == s}
        assert [dead.get(edge, op) for edge, op in zip(EDGES, listed)] == list(g.stages[s].edges)
        assert stage["params"] == sum(sum(p.numel() for p in next(cells).parameters())
                                      for _ in range(stage["depth"]))
    # Per-stage cell counts add up with the fixed part to the exact total.
    none = Genotype(tuple(StageGenotype(1, ("none",) * 6) for _ in range(3)), 3, 9, 8)
    assert sum(s["params"] for s in doc["stages"]) + count_params(none) == doc["params"]


def test_describe_image_size_override(capsys, genotype_file):
    g, path = genotype_file
    _, out, _ = run_cli(capsys, "describe", str(path), "--json", "--image-size", "56")
    doc = json.loads(out)
    assert doc["image_size"] == 56 and doc["flops"] == count_flops(g, 56)
    assert doc["params"] == count_params(g)  # global pooling: size-free


def test_describe_text(capsys, genotype_file):
    g, path = genotype_file
    code, out, err = run_cli(capsys, "describe", str(path))
    assert code == 0 and err == ""
    assert f"parameters: {count_params(g):,}" in out
    assert f"(params_all_ops, dead ops too: {count_params_all_ops(g):,})" in out
    assert "FLOPs:" in out and "28×28" in out
    for line in g.pruned().describe().splitlines():
        assert line in out
    dead = out.rstrip().splitlines()[-1]
    assert dead.startswith("dead ops, not built")
    for s, (j, i), op in g.dead_ops():
        assert f"{i}←{j} {op}" in dead.split(f"stage {s}: ")[1]


def test_describe_text_without_dead_ops(capsys, tmp_path):
    g = Genotype(tuple(StageGenotype(1, ("conv_3x3",) * 6) for _ in range(3)), 1, 2, C=4)
    g.save(tmp_path / "g.json")
    _, out, _ = run_cli(capsys, "describe", str(tmp_path / "g.json"))
    assert out.rstrip().endswith(g.describe().splitlines()[-1])
    assert "dead" not in out and "params_all_ops" not in out


def test_describe_accepts_a_run_directory(capsys, genotype_file):
    g, path = genotype_file
    _, out, _ = run_cli(capsys, "describe", str(path.parent), "--json")
    assert json.loads(out)["params"] == count_params(g)


@pytest.mark.parametrize("content,message", [
    (None, "genotype file not found"),
    ("{broken", "not valid JSON"),
    ('{"format": 7}', "genotype format 7 is not supported"),
    (b"\x80\x03binary\xff", "cannot read genotype file"),
    ("[]", "expected a JSON object"),
])
def test_describe_errors_are_one_line(capsys, tmp_path, content, message):
    path = tmp_path / "g.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    code, out, err = run_cli(capsys, "describe", str(path))
    assert code == 1 and out == ""
    assert err.startswith("zodarts describe: error: ") and message in err
    assert len(err.strip().splitlines()) == 1


def test_describe_bad_op_names_the_op(capsys, tmp_path, genotype_file):
    g, _ = genotype_file
    d = g.to_dict()
    d["stages"][1]["edges"][2] = "dil_conv_3x3"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(d))
    code, _, err = run_cli(capsys, "describe", str(path))
    assert code == 1 and "stage 1: unknown operation 'dil_conv_3x3'" in err


def test_describe_rejects_a_bad_image_size(capsys, genotype_file):
    _, path = genotype_file
    code, _, err = run_cli(capsys, "describe", str(path), "--image-size", "0")
    assert code == 1 and "--image-size must be >= 1" in err
