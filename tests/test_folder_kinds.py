"""A run, a sweep and a landscape folder are each told by the file it writes first; a command
given a folder of another kind refuses it in one line that says what it is and what to do, and
writes nothing into it."""

import pytest

from zodarts.cli import main
from zodarts.utils.kinds import LANDSCAPE, RUN, SWEEP, folder_kind


def make(folder, mark):
    path = folder / mark
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x: 1\n")
    return folder


@pytest.fixture
def folders(tmp_path):
    return {RUN: make(tmp_path / "run", "config.yaml"),
            SWEEP: make(tmp_path / "sweep", "grid.yaml"),
            LANDSCAPE: make(tmp_path / "land", "landscape.yaml")}


def error_line(capsys) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(lines) == 1, lines
    return lines[0]


def test_each_kind_is_told_by_its_first_file(folders, tmp_path):
    assert {kind: folder_kind(folder)[0] for kind, folder in folders.items()} == \
        {RUN: RUN, SWEEP: SWEEP, LANDSCAPE: LANDSCAPE}
    assert folder_kind(make(tmp_path / "draw", "genotype.json"))[0] == RUN
    assert folder_kind(make(tmp_path / "trained", "train/config.yaml"))[0] == RUN
    assert folder_kind(tmp_path / "nothing") is None


@pytest.mark.parametrize("argv,kind,named", [
    (["landscape", "--out", "{run}", "--preset", "tiny"], RUN, "not a landscape folder: "
     "choose another --out for the landscape"),
    (["run", "--out", "{land}", "--preset", "tiny"], LANDSCAPE, "not a run folder: choose "
     "another --out for the run"),
    (["search", "--out", "{sweep}", "--preset", "tiny"], SWEEP, "not a run folder"),
    (["sweep", "--out", "{run}", "--preset", "tiny"], RUN, "not a sweep folder"),
    (["evaluate", "{sweep}"], SWEEP, "`zodarts sweep-report` reads it"),
    (["report", "{land}"], LANDSCAPE, "`zodarts landscape-report` reads it"),
    (["train", "{land}"], LANDSCAPE, "not a run folder"),
    (["sweep-report", "{run}"], RUN, "not a sweep folder"),
    (["landscape-report", "{run}"], RUN, "not a landscape folder"),
    (["landscape-supernet", "{land}", "{sweep}"], SWEEP, "not a run folder"),
])
def test_a_folder_of_another_kind_is_refused_in_one_line(folders, capsys, argv, kind, named):
    paths = {"run": folders[RUN], "sweep": folders[SWEEP], "land": folders[LANDSCAPE]}
    before = {p for folder in paths.values() for p in folder.rglob("*")}
    code = main([a.format(**paths) for a in argv])
    line = error_line(capsys)
    assert code == 1 and f"is a {kind} folder" in line and named in line, line
    assert {p for folder in paths.values() for p in folder.rglob("*")} == before


def test_landscape_place_with_a_run_first_says_the_order_instead_of_making_it_a_landscape(
        folders, capsys):
    """It advised `zodarts landscape --out RUN`, which was accepted and wrote a landscape into
    the run."""
    run = folders[RUN]
    assert main(["landscape-place", str(run), str(run)]) == 1
    line = error_line(capsys)
    assert f"{run} is a run folder" in line and "takes a landscape folder first" in line
    assert f"landscape --out {run}" not in line
