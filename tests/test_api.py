"""The Python API (``zodarts.api``) on digits with the tiny presets, after every module of the
package has been imported: a subpackage bound on its parent must never shadow a function."""

import importlib
import inspect
import json
import pkgutil
import subprocess
import sys
import types

import pytest

import zodarts
from zodarts.errors import ConfigError
from zodarts.space import Genotype


def _import_everything() -> list[types.ModuleType]:
    modules = [zodarts]
    for info in pkgutil.walk_packages(zodarts.__path__, "zodarts."):
        modules.append(importlib.import_module(info.name))
    return modules


def test_import_zodarts_does_not_import_torch():
    code = "import sys, zodarts; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_no_public_name_is_both_a_module_and_a_function():
    """For every package: no submodule's name is also a function of the package, bound or
    served lazily by its ``__getattr__`` (importing the submodule rebinds the attribute to the
    module), and no module is made callable to be both."""
    clashes = []
    for module in _import_everything():
        if not hasattr(module, "__path__"):
            continue
        submodules = {info.name for info in pkgutil.iter_modules(module.__path__)}
        for name in submodules:
            if name.startswith("_"):
                continue
            values = [inspect.getattr_static(module, name, None)]
            lazy = vars(module).get("__getattr__")
            if lazy is not None:
                try:
                    values.append(lazy(name))
                except AttributeError:
                    pass
            if any(v is not None and (callable(v) or not isinstance(v, types.ModuleType))
                   for v in values):
                clashes.append(f"{module.__name__}.{name}")
    assert clashes == []


def test_documented_functions_work_after_every_module_is_imported(tmp_path):
    _import_everything()
    from zodarts import api

    for name in ("search", "train", "evaluate", "report", "export", "run"):
        assert inspect.isfunction(getattr(api, name)), name
    assert zodarts.api is api
    found = api.search(dataset="digits", preset="tiny", out=tmp_path / "s")
    assert isinstance(found.genotype, Genotype) and len(found.history) == 2
    assert Genotype.load(tmp_path / "s" / "genotype.json") == found.genotype
    trained = api.train(tmp_path / "s")
    assert len(trained.history) == 2  # the search's preset (tiny) by default
    evaluation = api.evaluate(tmp_path / "s")
    assert evaluation["params"] == trained.params
    assert api.report(tmp_path / "s").name == "report.md"
    assert api.export(tmp_path / "s").name == "model.pt"


def test_run_takes_the_search_and_training_settings(tmp_path):
    from zodarts import api

    result = api.run(preset="tiny", out=tmp_path / "run", epochs=1, train_epochs=3,
                     device="cpu", seed=3)
    assert len(result.search.history) == 1 and len(result.train.history) == 3
    assert result.evaluation["seeds"] == {"search": 3, "train": 3}
    assert result.evaluation["test"]["acc"] == json.loads(
        (tmp_path / "run" / "eval.json").read_text())["test"]["acc"]
    assert result.report.is_file()
    with pytest.raises(ConfigError, match=r"unknown keyword argument\(s\) train_nope.*train_lr"):
        api.run(preset="tiny", out=tmp_path / "other", train_nope=1)


def test_errors_speak_in_keyword_arguments(tmp_path):
    from zodarts import api

    api.search(dataset="digits", preset="tiny", epochs=1, out=tmp_path / "s")
    with pytest.raises(ConfigError) as again:
        api.search(dataset="digits", preset="tiny", epochs=1, out=tmp_path / "s")
    assert "resume=True" in str(again.value) and "--" not in str(again.value)
    with pytest.raises(ConfigError, match=r"epochs=5 \(the folder holds 1\)"):
        api.search(out=tmp_path / "s", resume=True, epochs=5)
    with pytest.raises(ConfigError) as missing:
        api.train(tmp_path / "nothing-here")
    assert "--" not in str(missing.value.args[0].split("`")[0])


def test_keyword_spelling_keeps_shell_commands():
    from zodarts.api import keyword_spelling

    text = ("continue it with --resume or choose another --out; pass --dataset NAME; "
            "--no-anneal; run `zodarts fetch breastmnist --root /data` first")
    assert keyword_spelling(text) == (
        "continue it with resume=True or choose another out=...; pass dataset=NAME; "
        "anneal=False; run `zodarts fetch breastmnist --root /data` first")


@pytest.mark.parametrize("settings,named", [
    ({"epochs": "x"}, "setting epochs must be an integer or unset, got 'x' (a string)"),
    ({"train_lr": "fast"}, "setting train_lr must be a number, got 'fast' (a string)"),
    ({"C": 2.5}, "setting C must be an integer, got 2.5 (a number)"),
])
def test_a_wrongly_typed_setting_is_a_config_error_naming_it(tmp_path, settings, named):
    """It used to be a bare TypeError from deep inside the config's validation."""
    from zodarts import api

    with pytest.raises(ConfigError) as err:
        api.run(out=tmp_path / "run", **settings)
    assert named in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "run").exists()
