"""`zodarts datasets`, `info` and `fetch`: the output contract outside scripts rely on."""

import dataclasses
import json
import subprocess
import sys

from conftest import make_npz

from zodarts.cli import main
from zodarts.data import REGISTRY, md5_of


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_datasets_json(capsys, isolated_roots, tmp_path):
    make_npz(tmp_path / "breastmnist.npz")
    code, out, _ = run_cli(capsys, "datasets", "--json", "--data-root", str(tmp_path))
    rows = {row["name"]: row for row in json.loads(out)}
    assert code == 0 and len(rows) == 16 and "digits" in rows
    closure = rows["control-closure"]
    assert closure["chance"] == 0.5 and "inside or outside" in closure["tests"]
    assert all(rows[name]["chance"] == 0.5
               for name in ("control-closure-tight", "control-closure-nearer"))
    breast = rows["breastmnist"]
    assert breast["task"] == "binary" and breast["channels"] == 1 and breast["classes"] == 2
    assert breast["splits"] == {"train": 546, "val": 78, "test": 156}
    assert breast["path"] == str(tmp_path / "breastmnist.npz")
    assert rows["pathmnist"]["path"] is None and rows["digits"]["path"] is None
    assert "md5_status" not in breast


def test_datasets_verify(capsys, isolated_roots, tmp_path, monkeypatch):
    official = make_npz(tmp_path / "dermamnist.npz", channels=3, classes=7)
    monkeypatch.setitem(REGISTRY, "dermamnist",
                        dataclasses.replace(REGISTRY["dermamnist"], md5=md5_of(official)))
    make_npz(tmp_path / "breastmnist.npz")
    code, out, _ = run_cli(capsys, "datasets", "--json", "--verify", "--data-root", str(tmp_path))
    status = {row["name"]: row["md5_status"] for row in json.loads(out)}
    assert code == 0
    assert status["dermamnist"] == "official" and status["breastmnist"] == "modified"
    assert status["pathmnist"] is None and status["digits"] is None
    code, out, _ = run_cli(capsys, "datasets", "--verify", "--data-root", str(tmp_path))
    line = next(line for line in out.splitlines() if line.startswith("breastmnist"))
    assert "modified" in line and str(tmp_path) in line


def test_datasets_table(capsys, isolated_roots):
    code, out, _ = run_cli(capsys, "datasets")
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:2] == ["name", "task"]
    assert sum(line.split()[0] in REGISTRY for line in lines if line.strip()) == 16
    assert any(line.strip().startswith("control-closure: is the dot") for line in lines)
    assert any(":shuffled" in line for line in lines)


def test_info_json(capsys, tmp_path):
    path = make_npz(tmp_path / "toy.npz", sizes=(12, 6, 6), classes=3)
    code, out, err = run_cli(capsys, "info", str(path), "--json")
    info = json.loads(out)
    assert code == 0 and err == ""
    assert {k: info[k] for k in ("name", "path", "channels", "classes", "image_size",
                                 "md5_status")} == {
        "name": "toy", "path": str(path), "channels": 1, "classes": 3, "image_size": 28,
        "md5_status": None}
    assert info["splits"] == {"train": 12, "val": 6, "test": 6}
    assert info["class_counts"] == {"train": [4, 4, 4], "val": [2, 2, 2], "test": [2, 2, 2]}


def test_info_digits_text(capsys):
    code, out, _ = run_cli(capsys, "info", "digits")
    assert code == 0 and "digits" in out and "1258" in out


def test_info_warnings_one_line_each_on_stderr(capsys, tmp_path):
    make_npz(tmp_path / "breastmnist.npz", sizes=(546, 78, 150))
    code, out, err = run_cli(capsys, "info", "breastmnist", "--data-root", str(tmp_path),
                             "--json")
    assert code == 0 and json.loads(out)["md5_status"] == "modified"
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("zodarts info: warning:")
    assert "test split has 150 images" in lines[0]


def test_info_missing_file(capsys, isolated_roots, tmp_path):
    code, out, err = run_cli(capsys, "info", "octmnist", "--data-root", str(tmp_path))
    assert code == 1 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert f"zodarts fetch octmnist --root {tmp_path}" in err


def test_info_corrupt_file(capsys, tmp_path):
    path = tmp_path / "breastmnist.npz"
    path.write_bytes(b"garbage")
    code, _, err = run_cli(capsys, "info", str(path))
    assert code == 1 and str(path) in err and "zodarts fetch breastmnist" in err


def test_fetch_md5_failure_exit_code(capsys, tmp_path):
    source = make_npz(tmp_path / "mirror" / "breastmnist.npz")
    code, out, err = run_cli(capsys, "fetch", "breastmnist", "--root", str(tmp_path / "d"),
                             "--url", source.as_uri(), "--quiet")
    assert code == 1 and "md5" in err and md5_of(source) in err
    assert not (tmp_path / "d" / "breastmnist.npz").exists()


def test_fetch_success_prints_path(capsys, tmp_path, monkeypatch):
    source = make_npz(tmp_path / "mirror" / "breastmnist.npz")
    monkeypatch.setitem(REGISTRY, "breastmnist",
                        dataclasses.replace(REGISTRY["breastmnist"], md5=md5_of(source)))
    code, out, _ = run_cli(capsys, "fetch", "breastmnist", "--root", str(tmp_path / "d"),
                           "--url", source.as_uri(), "--quiet")
    assert code == 0 and out.strip() == str(tmp_path / "d" / "breastmnist.npz")


def test_subprocess_exit_code_and_no_traceback(tmp_path):
    garbage = tmp_path / "breastmnist.npz"
    garbage.write_bytes(b"\x00" * 100)
    result = subprocess.run([sys.executable, "-m", "zodarts.cli", "info", str(garbage)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "error" in result.stderr
