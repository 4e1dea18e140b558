"""Genotypes: validation, JSON round trips, the format version and clear errors."""

from __future__ import annotations

import dataclasses
import json

import pytest

from zodarts.errors import ConfigError
from zodarts.space import EDGES, Genotype, StageGenotype, sample_genotype
from zodarts.space.genotype import FORMAT_VERSION


def _genotype(**kw) -> Genotype:
    stages = (StageGenotype(1, ("conv_3x3", "none", "skip_connect", "conv_1x1", "avg_pool_3x3",
                                "conv_7x7")),
              StageGenotype(2, ("none",) * 6),
              StageGenotype(3, ("conv_5x5",) * 6))
    return Genotype(stages, **{"in_channels": 1, "num_classes": 2, **kw})


def test_edges_are_ordered_by_destination():
    assert EDGES == ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))


@pytest.mark.parametrize("seed", range(10))
def test_json_round_trip(seed):
    g = sample_genotype(seed, 3, 9, C=8, cells_per_stage=3, image_size=64)
    d = g.to_dict()
    assert d["format"] == FORMAT_VERSION
    assert json.loads(g.to_json()) == d
    assert Genotype.from_json(g.to_json()) == g
    assert Genotype.from_json(g.to_json(indent=None)) == g
    assert Genotype.from_dict(json.loads(json.dumps(d))) == g
    assert hash(Genotype.from_json(g.to_json())) == hash(g)


def test_to_dict_layout():
    d = _genotype(C=8, image_size=32).to_dict()
    assert d == {"format": FORMAT_VERSION,
                 "stages": [{"depth": 1, "edges": ["conv_3x3", "none", "skip_connect", "conv_1x1",
                                                   "avg_pool_3x3", "conv_7x7"]},
                            {"depth": 2, "edges": ["none"] * 6},
                            {"depth": 3, "edges": ["conv_5x5"] * 6}],
                 "in_channels": 1, "num_classes": 2, "C": 8, "image_size": 32}


def test_save_and_load(tmp_path):
    g = _genotype()
    path = tmp_path / "sub" / "genotype.json"
    g.save(path)
    assert path.read_text().endswith("}\n")
    assert Genotype.load(path) == g
    assert Genotype.load(str(path)) == g
    assert [p.name for p in path.parent.iterdir()] == ["genotype.json"]  # no temp file left
    g2 = _genotype(C=4)
    g2.save(path)  # overwrite
    assert Genotype.load(path) == g2


def test_genotypes_are_frozen_and_hashable():
    g = _genotype()
    with pytest.raises(dataclasses.FrozenInstanceError):
        g.C = 3  # type: ignore[misc]
    assert len({g, _genotype(), _genotype(C=8)}) == 2


def test_image_size_defaults_to_28():
    d = _genotype().to_dict()
    del d["image_size"]
    assert Genotype.from_dict(d).image_size == 28


@pytest.mark.parametrize("version", [None, 0, 2, "1"])
def test_unsupported_format_version(version):
    d = _genotype().to_dict()
    if version is None:
        del d["format"]
    else:
        d["format"] = version
    with pytest.raises(ConfigError, match=r"genotype format .* not supported .*format 1"):
        Genotype.from_dict(d)


@pytest.mark.parametrize("text,message", [
    ("", "not valid JSON"),
    ("{not json", "not valid JSON"),
    ("[1, 2]", "expected a JSON object, got list"),
    ("null", "expected a JSON object"),
    ('"genotype"', "expected a JSON object"),
    ('{"format": 1}', "missing field 'stages'"),
    ('{"format": 1, "stages": [], "in_channels": 1, "num_classes": 2}', "missing field 'C'"),
    ('{"format": 1, "stages": [{"depth": 1}], "in_channels": 1, "num_classes": 2, "C": 4}',
     "missing field 'edges'"),
    ('{"format": 1, "stages": 3, "in_channels": 1, "num_classes": 2, "C": 4}', "malformed"),
    ('{"format": 1, "stages": [{"depth": "two", "edges": []}], "in_channels": 1, '
     '"num_classes": 2, "C": 4}', "malformed"),
])
def test_malformed_json_is_a_config_error(text, message):
    with pytest.raises(ConfigError, match=message):
        Genotype.from_json(text)


def _edit(**changes) -> str:
    d = _genotype().to_dict()
    for key, value in changes.items():
        if key.startswith("stage0_"):
            d["stages"][0][key[len("stage0_"):]] = value
        else:
            d[key] = value
    return json.dumps(d)


@pytest.mark.parametrize("text,message", [
    (_edit(stage0_edges=["conv_9x9"] + ["none"] * 5),
     r"stage 0: unknown operation 'conv_9x9' \(known: none, skip_connect, conv_1x1"),
    (_edit(stage0_edges=["sep_conv_3x3"] + ["none"] * 5), "unknown operation 'sep_conv_3x3'"),
    (_edit(stage0_edges=["none"] * 5), "stage 0: expected 6 edges, got 5"),
    (_edit(stage0_depth=0), "stage 0: depth must be >= 1, got 0"),
    (_edit(stages=[{"depth": 1, "edges": ["none"] * 6}] * 2), "expected 3 stages, got 2"),
    (_edit(in_channels=0), "in_channels must be >= 1"),
    (_edit(num_classes=-1), "num_classes must be >= 1"),
    (_edit(C=0), "C must be >= 1"),
])
def test_invalid_genotypes_name_the_problem(text, message):
    with pytest.raises(ConfigError, match=message) as err:
        Genotype.from_json(text)
    assert str(err.value).startswith("invalid genotype: ")
    assert "\n" not in str(err.value)


def test_direct_construction_is_validated_too():
    with pytest.raises(ConfigError, match="unknown operation 'conv_kxk'"):
        Genotype((StageGenotype(1, ("conv_kxk",) * 6),) * 3, 1, 2)


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="genotype file not found: .*missing.json"):
        Genotype.load(tmp_path / "missing.json")
    with pytest.raises(ConfigError, match="not found"):
        Genotype.load(tmp_path)  # a folder is not a genotype
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": 1, "stages": [')
    with pytest.raises(ConfigError, match=r"bad.json: genotype is not valid JSON"):
        Genotype.load(bad)
    binary = tmp_path / "model.pt"
    binary.write_bytes(b"\x80\x02\xff\xfe\x00 binary")
    with pytest.raises(ConfigError, match=r"model.pt: cannot read genotype file"):
        Genotype.load(binary)
    unknown = tmp_path / "op.json"
    unknown.write_text(_edit(stage0_edges=["conv_2x2"] + ["none"] * 5))
    with pytest.raises(ConfigError, match=r"op.json: invalid genotype: .*'conv_2x2'"):
        Genotype.load(unknown)


def test_describe_lists_every_stage_and_edge():
    text = _genotype(C=8).describe()
    lines = text.splitlines()
    assert len(lines) == 3
    assert lines[0] == ("stage 0 (C=8, 1 cell): 1←0 conv_3x3, 2←0 none, 2←1 skip_connect, "
                        "3←0 conv_1x1, 3←1 avg_pool_3x3, 3←2 conv_7x7")
    assert lines[1].startswith("stage 1 (C=16, 2 cells): ")
    assert lines[2].startswith("stage 2 (C=32, 3 cells): 1←0 conv_5x5")


# ---- connectivity: a cell whose output ignores its input -------------------------------------
def _outputs_depend_on_input(genotype: Genotype) -> bool:
    import torch

    from zodarts.space import build_network

    torch.manual_seed(0)
    net = build_network(genotype).eval()
    with torch.no_grad():
        a, b = net(torch.randn(2, 1, 8, 8)), net(torch.randn(2, 1, 8, 8))
    return not torch.allclose(a, b, atol=1e-6)


def test_cell_connectivity_matches_what_the_network_computes():
    """Brute force: a genotype is flagged disconnected exactly when its logits do not depend
    on the image."""
    import numpy as np

    rng = np.random.default_rng(0)
    flagged = 0
    for _ in range(40):
        g = sample_genotype(rng, 1, 3, C=4, cells_per_stage=1, image_size=8)
        # Each stage gets a fresh random cell with many `none` edges, to hit both cases often.
        stages = tuple(StageGenotype(1, tuple(str(op) for op in rng.choice(
            ["none", "none", "skip_connect", "conv_3x3", "avg_pool_3x3"], size=len(EDGES))))
            for _ in g.stages)
        g = dataclasses.replace(g, stages=stages)
        disconnected = bool(g.disconnected_stages())
        flagged += disconnected
        assert _outputs_depend_on_input(g) != disconnected, g.describe()
    assert 5 < flagged < 35  # both kinds were exercised


def test_supernet_derives_the_closest_connected_cell():
    import torch

    from zodarts.space import OP_NAMES, SuperNet

    net = SuperNet(1, 3, C=4, cells_per_stage=1, image_size=8)
    # Stage 0's argmax cell has every edge into node 3 `none` (disconnected); the gaps are what
    # switching each `none` edge to its second choice gives up.
    prefs = [("none", "conv_kxk", 0.1), ("conv_kxk", None, 0), ("none", "skip_connect", 3.0),
             ("none", "skip_connect", 2.0), ("none", "avg_pool_3x3", 0.5),
             ("none", "avg_pool_3x3", 0.4)]
    with torch.no_grad():
        net.alpha_op.zero_()
        for e, (top, second, gap) in enumerate(prefs):
            net.alpha_op[e, OP_NAMES.index(top)] = 5.0
            if second:
                net.alpha_op[e, OP_NAMES.index(second)] = 5.0 - gap
        net.alpha_op[len(EDGES):, OP_NAMES.index("skip_connect")] = 1.0  # stages 1, 2: fine
    argmax = net.genotype()
    assert argmax.disconnected_stages() == [0]
    fixed = net.genotype(connected=True)
    assert not fixed.disconnected_stages()
    assert fixed.stages[1:] == argmax.stages[1:]
    # 2←0 is conv, so node 2 is reached; the cheapest way on to node 3 is 3←2 as avg_pool (0.4),
    # cheaper than 3←0 (2.0) or 1←0 + 3←1 (0.1 + 0.5).
    assert fixed.stages[0].edges == ("none", "conv_7x7", "none", "none", "none",
                                     "avg_pool_3x3")
    changed = [e for e, (a, b) in enumerate(zip(argmax.stages[0].edges, fixed.stages[0].edges))
               if a != b]
    assert all(argmax.stages[0].edges[e] == "none" for e in changed)


def test_connected_derivation_keeps_a_connected_argmax():
    import numpy as np

    from zodarts.space import SuperNet

    rng = np.random.default_rng(1)
    net = SuperNet(1, 3, C=4, cells_per_stage=2, image_size=8)
    net.enable_size_search()
    for _ in range(10):
        g = sample_genotype(rng, 1, 3, C=4, cells_per_stage=2, image_size=8)
        if g.disconnected_stages():
            continue
        net.set_architecture(g)
        assert net.genotype(connected=True) == g == net.genotype()


# ---- liveness: which operations the network builds --------------------------------------------
def _on_some_input_output_path(edges, e: int) -> bool:
    """Brute force: edge e lies on a path 0 → … → 3 whose edges are all not `none`."""
    j, i = EDGES[e]
    for middle in ([], [1], [2], [1, 2]):  # every increasing node sequence from 0 to 3
        path = [0, *middle, 3]
        steps = list(zip(path, path[1:]))
        if (j, i) in steps and all(edges[EDGES.index(step)] != "none" for step in steps):
            return True
    return False


def test_live_edges_are_the_edges_on_an_input_output_path():
    import itertools

    from zodarts.space.genotype import cell_is_connected, live_edges

    dead_seen = 0
    for pattern in itertools.product(("none", "conv_3x3", "skip_connect"), repeat=len(EDGES)):
        live = live_edges(pattern)
        assert live == tuple(_on_some_input_output_path(pattern, e) for e in range(len(EDGES)))
        assert cell_is_connected(pattern) == any(live)
        dead_seen += sum(op != "none" and not on for op, on in zip(pattern, live))
    assert dead_seen > 0


def test_pruned_genotype_replaces_exactly_the_dead_ops_by_none():
    # 1←0, 2←0, 2←1 feed nothing (nodes 1 and 2 have no way on to node 3); 3←0 is live.
    g = Genotype((StageGenotype(2, ("conv_5x5", "conv_1x1", "conv_5x5", "conv_1x1", "none",
                                    "none")),
                  StageGenotype(1, ("none", "none", "conv_3x3", "skip_connect", "conv_3x3",
                                    "avg_pool_3x3")),  # node 1, so node 2, never reached
                  StageGenotype(3, ("conv_3x3",) * 6)), 1, 2, C=4, image_size=8)
    pruned = g.pruned()
    assert pruned.stages[0] == StageGenotype(2, ("none",) * 3 + ("conv_1x1", "none", "none"))
    assert pruned.stages[1] == StageGenotype(1, ("none",) * 3 + ("skip_connect", "none", "none"))
    assert pruned.stages[2] == g.stages[2]  # every op live
    assert (pruned.in_channels, pruned.num_classes, pruned.C, pruned.image_size) == (1, 2, 4, 8)
    assert pruned.pruned() == pruned
    assert g.dead_ops() == [(0, (0, 1), "conv_5x5"), (0, (0, 2), "conv_1x1"),
                            (0, (1, 2), "conv_5x5"), (1, (1, 2), "conv_3x3"),
                            (1, (1, 3), "conv_3x3"), (1, (2, 3), "avg_pool_3x3")]
    assert pruned.dead_ops() == [] and pruned.describe_dead_ops() is None
    assert g.describe_dead_ops().endswith(
        "stage 0: 1←0 conv_5x5, 2←0 conv_1x1, 2←1 conv_5x5; "
        "stage 1: 2←1 conv_3x3, 3←1 conv_3x3, 3←2 avg_pool_3x3")
