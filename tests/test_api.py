"""The Python API: ``zodarts.search`` and ``zodarts.run`` on digits with the tiny presets.

``zodarts.search`` is both the API function and the searchers' subpackage; it must stay callable
after the subpackage's modules have been imported (a plain function would be replaced then).
"""

import json
import subprocess
import sys

import zodarts
import zodarts.search.loop as loop_module
from zodarts.space import Genotype


def test_import_zodarts_does_not_import_torch():
    code = "import sys, zodarts; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_search_is_callable_and_still_the_subpackage(tmp_path):
    assert loop_module.run_search is zodarts.search.loop.run_search
    first = zodarts.search(dataset="digits", preset="tiny", out=tmp_path / "a")
    second = zodarts.search(dataset="digits", preset="tiny", epochs=1, out=tmp_path / "b")
    assert isinstance(first.genotype, Genotype) and len(first.history) == 2
    assert len(second.history) == 1
    assert Genotype.load(tmp_path / "a" / "genotype.json") == first.genotype


def test_run_returns_the_evaluation_and_report(tmp_path):
    result = zodarts.run(preset="tiny", out=tmp_path / "run")
    assert result.evaluation["dataset"] == "digits"
    assert result.evaluation["test"]["acc"] == json.loads(
        (tmp_path / "run" / "eval.json").read_text())["test"]["acc"]
    assert 0.0 <= result.evaluation["test"]["majority"]["acc"] <= 1.0
    assert result.report.is_file() and result.report.name == "report.md"
    assert zodarts.evaluate(tmp_path / "run")["params"] == result.evaluation["params"]
