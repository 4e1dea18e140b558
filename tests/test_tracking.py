"""Tracking in MLflow (`--track`): a tiny run and a tiny sweep logged to a temporary SQLite
store and read back with MLflow's own client; the exported model loaded back through MLflow; a
killed-and-resumed run that stays one run; a tracker that cannot be reached, or that fails
mid-run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from zodarts.cli import main

mlflow = pytest.importorskip("mlflow")  # a dev dependency: `make test` installs it
from mlflow import MlflowClient  # noqa: E402

# In-process sweeps and landscapes share one Ray for the session (conftest.shared_ray).
pytestmark = pytest.mark.usefixtures("shared_ray")


def store(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


def runs(uri: str) -> list:
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("zodarts")
    return [] if experiment is None else client.search_runs([experiment.experiment_id])


def steps(uri: str, run_id: str, key: str) -> list[int]:
    return [m.step for m in MlflowClient(uri).get_metric_history(run_id, key)]


@pytest.fixture(scope="module")
def tracked_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("tracked")
    uri = store(base)
    out = base / "run"
    assert main(["run", "--preset", "tiny", "--out", str(out), "--quiet", "--track", uri]) == 0
    return uri, out


def test_a_run_is_one_mlflow_run_with_every_epoch_once_and_eval_jsons_numbers(tracked_run):
    uri, out = tracked_run
    (run,) = runs(uri)
    assert run.info.status == "FINISHED" and run.info.run_name == "run"
    assert json.loads((out / "tracking.json").read_text())["run_id"] == run.info.run_id
    evaluation = json.loads((out / "eval.json").read_text())
    metrics = run.data.metrics
    assert metrics["test_acc"] == pytest.approx(evaluation["test"]["acc"])
    assert metrics["test_auc"] == pytest.approx(evaluation["test"]["auc"])
    assert metrics["val_acc"] == pytest.approx(evaluation["val"]["acc"])
    assert metrics["params"] == evaluation["params"] and metrics["flops"] == evaluation["flops"]
    search_log = [json.loads(line) for line in
                  (out / "search/log.jsonl").read_text().splitlines()]
    assert steps(uri, run.info.run_id, "search/val_acc") == [r["epoch"] for r in search_log]
    assert steps(uri, run.info.run_id, "train/val_acc") == [0, 1]
    for key in ("search/temperature", "search/alpha_entropy", "search/margin_min",
                "search/expected_params", "search/train_loss"):
        assert key in metrics, key
    params = run.data.params
    assert params["method"] == "zo-darts++" and params["preset"] == "tiny"
    assert params["search.options.zo_steps"] == "2" and params["train.epochs"] == "2"
    tags = run.data.tags
    assert tags["decided"] == str(evaluation["search"]["decided"]) and tags["device"] == "cpu"
    artifacts = {a.path for a in MlflowClient(uri).list_artifacts(run.info.run_id)}
    assert {"genotype.json", "config.yaml", "eval.json", "report", "train"} <= artifacts


def test_the_exported_model_loads_back_through_mlflow_with_the_same_outputs(tracked_run):
    import torch

    from zodarts.data import load_dataset

    uri, out = tracked_run
    assert main(["export", str(out)]) == 0
    meta = json.loads((out / "export" / "model.pt.json").read_text())
    mlflow.set_tracking_uri(uri)
    loaded = mlflow.pytorch.load_model(meta["mlflow_model_uri"])
    exported = torch.jit.load(str(out / "export" / "model.pt"))
    x = load_dataset("digits").splits["test"].images[:20].float() / 255
    with torch.no_grad():
        assert torch.equal(loaded(x), exported(x))
    served = mlflow.pyfunc.load_model(meta["mlflow_model_uri"])   # what `mlflow models serve` uses
    assert served.metadata.signature is not None


def test_an_unreachable_tracker_is_one_line_before_anything_is_made(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "--preset", "tiny", "--out", str(out), "--track",
                 "http://127.0.0.1:1"]) == 1
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and "cannot reach the MLflow tracker at http://127.0.0.1:1" in lines[0]
    assert not out.exists()


def test_a_killed_run_resumes_its_own_mlflow_run_and_logs_each_epoch_once(tmp_path, capsys,
                                                                          monkeypatch):
    from zodarts.search.loop import SearchLoop

    uri, out = store(tmp_path), tmp_path / "run"
    original = SearchLoop._train_epoch

    def killed_at_epoch_3(self, epoch):
        if epoch == 2:
            raise KeyboardInterrupt
        return original(self, epoch)

    monkeypatch.setattr(SearchLoop, "_train_epoch", killed_at_epoch_3)
    args = ["run", "--preset", "tiny", "--epochs", "4", "--out", str(out), "--quiet",
            "--track", uri]
    assert main(args) == 130
    (killed,) = runs(uri)
    assert killed.info.status == "KILLED"
    monkeypatch.setattr(SearchLoop, "_train_epoch", original)
    assert main(["run", "--out", str(out), "--resume", "--quiet", "--track", uri]) == 0
    (run,) = runs(uri)                                # still one run: the same one, finished
    assert run.info.run_id == killed.info.run_id and run.info.status == "FINISHED"
    assert steps(uri, run.info.run_id, "search/val_acc") == [0, 1, 2, 3]


def test_a_tracker_failing_mid_run_leaves_the_run_and_its_folder_whole(tmp_path, capsys,
                                                                       monkeypatch):
    calls = {"n": 0}
    original = MlflowClient.log_batch

    def flaky(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 2:
            raise ConnectionError("the tracking server went away")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(MlflowClient, "log_batch", flaky)
    out = tmp_path / "run"
    assert main(["run", "--preset", "tiny", "--out", str(out), "--quiet", "--track",
                 store(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert err.count("tracking at") == 1 and "went away" in err
    for name in ("eval.json", "genotype.json", "report/report.md", "train/best.pt"):
        assert (out / name).is_file(), name


def test_without_track_mlflow_is_not_imported(tmp_path):
    code = ("import sys; from zodarts.cli import main; "
            f"main(['run', '--preset', 'tiny', '--epochs', '1', '--train-epochs', '1', '--out', "
            f"r'{tmp_path / 'run'}', '--quiet']); "
            "print('mlflow' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=600, env={k: v for k, v in __import__("os").environ.items()
                                            if k != "ZODARTS_TRACK"})
    assert done.stdout.strip().splitlines()[-1] == "False", done.stderr
    assert not (tmp_path / "run" / "tracking.json").exists()


def test_a_sweep_is_a_parent_run_with_a_nested_run_per_trial(tmp_path):
    pytest.importorskip("ray")
    uri, root = store(tmp_path), tmp_path / "sweep"
    assert main(["sweep", "--out", str(root), "--methods", "zo-darts++,random", "--preset",
                 "tiny", "--epochs", "1", "--train-epochs", "1", "--num-cpus", "2",
                 "--cpus-per-trial", "1", "--quiet", "--track", uri]) == 0
    all_runs = runs(uri)
    (parent,) = [r for r in all_runs if r.info.run_name == "sweep"]
    children = [r for r in all_runs if r.data.tags.get("mlflow.parentRunId")
                == parent.info.run_id]
    assert sorted(r.info.run_name for r in children) == ["digits/random/none/seed0",
                                                         "digits/zo-darts++/none/seed0"]
    assert {r.data.params["method"] for r in children} == {"zo-darts++", "random"}
    for child in children:
        folder = Path(child.data.tags["zodarts.folder"])
        evaluation = json.loads((folder / "eval.json").read_text())
        assert child.data.metrics["test_acc"] == pytest.approx(evaluation["test"]["acc"])
    assert parent.data.metrics["trials_finished"] == 2


def test_a_landscape_is_a_parent_run_with_a_nested_run_per_architecture(tmp_path):
    pytest.importorskip("ray")
    uri, root = store(tmp_path), tmp_path / "land"
    assert main(["landscape", "--out", str(root), "--dataset", "digits", "--preset", "tiny",
                 "--archs", "2", "--seeds", "2", "--num-cpus", "1", "--quiet",
                 "--track", uri]) == 0
    all_runs = runs(uri)
    (parent,) = [r for r in all_runs if r.info.run_name == "land"]
    children = {r.info.run_name: r for r in all_runs
                if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id}
    assert sorted(children) == ["a0000", "a0001"]
    for arch, run in children.items():
        records = [json.loads((root / "archs" / arch / f"seed{s}/record.json").read_text())
                   for s in (0, 1)]
        history = MlflowClient(uri).get_metric_history(run.info.run_id, "test_acc")
        assert [(m.step, m.value) for m in history] == [(r["seed"], pytest.approx(r["test_acc"]))
                                                         for r in records]
        info = json.loads((root / "archs" / arch / "arch.json").read_text())
        assert run.data.metrics["params"] == info["params"]
        assert run.data.metrics["proxy/synflow"] == pytest.approx(info["proxies"]["synflow"])
    assert parent.data.params["dataset"] == "digits" and parent.info.status == "FINISHED"


@pytest.mark.parametrize("error,status", [(KeyboardInterrupt, "KILLED"), (ValueError, "FAILED"),
                                          (None, None)])
def test_an_error_in_a_tracked_block_ends_the_run_with_its_status(error, status):
    from zodarts.tracking import Tracker

    class Recording(Tracker):
        ended = None

        def finish(self, status="FINISHED"):
            self.ended = status

    tracker = Recording()
    if error is None:
        with tracker.ending_on_error():
            pass
    else:
        with pytest.raises(error), tracker.ending_on_error():
            raise error()
    assert tracker.ended == status


def test_track_alone_puts_the_store_beside_the_run_and_says_how_to_open_it(tmp_path, capsys,
                                                                           monkeypatch):
    """It wrote ./runs/mlflow.db of the working directory whatever --out was, and said
    nothing."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    out = tmp_path / "elsewhere" / "run"
    assert main(["search", "--preset", "tiny", "--epochs", "1", "--out", str(out), "--quiet",
                 "--track"]) == 0
    uri = f"sqlite:///{tmp_path / 'elsewhere' / 'mlflow.db'}"
    assert (tmp_path / "elsewhere" / "mlflow.db").is_file() and not any(cwd.iterdir())
    assert [r.info.run_name for r in runs(uri)] == ["run"]
    err = capsys.readouterr().err
    assert f"tracking: {uri}; to see it: `mlflow ui --backend-store-uri {uri}`" in err


@pytest.mark.parametrize("from_env", [False, True])
def test_a_bad_scheme_is_one_whole_line_naming_where_it_came_from(tmp_path, capsys,
                                                                  monkeypatch, from_env):
    """It said "cannot reach ... start it", with MLflow's list of schemes cut off mid-word."""
    argv = ["search", "--preset", "tiny", "--out", str(tmp_path / "run")]
    if from_env:
        monkeypatch.setenv("ZODARTS_TRACK", "foo://bar")
    else:
        argv += ["--track", "foo://bar"]
    assert main(argv) == 1
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1
    line = lines[0]
    assert "MLflow has no tracking store of scheme 'foo'" in line and "sqlite:///" in line
    assert "cannot reach" not in line and "start it" not in line
    assert ("$ZODARTS_TRACK foo://bar" in line and "unset $ZODARTS_TRACK" in line) == from_env
    assert not (tmp_path / "run").exists()


def test_an_unreachable_server_from_the_environment_says_so(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ZODARTS_TRACK", "http://127.0.0.1:1")
    assert main(["search", "--preset", "tiny", "--out", str(tmp_path / "run")]) == 1
    line = capsys.readouterr().err.strip()
    assert "cannot reach the MLflow tracker at http://127.0.0.1:1 (from $ZODARTS_TRACK" in line
    assert "start it" in line and "unset $ZODARTS_TRACK" in line and "\n" not in line
