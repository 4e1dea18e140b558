"""Ensembles (`zodarts train RUN --seeds`): the mean of the members' probabilities, evaluated and
reported as one model of the members' summed size, and a killed member that resumes exactly."""

import json

import numpy as np
import pytest
import torch

from zodarts.cli import main
from zodarts.config import TRAIN_PRESETS, TrainConfig, make_config
from zodarts.space import count_flops, count_params, sample_genotype
from zodarts.train.ensemble import EnsembleNetwork
from zodarts.train.retrain import Trainer, run_train
from zodarts.utils.io import read_jsonl

GENOTYPE = sample_genotype(0, 1, 10, C=4, cells_per_stage=1, image_size=8)


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("multilabel", [False, True])
def test_the_combined_logits_give_the_mean_probability(multilabel):
    """softmax (sigmoid) of the ensemble's output is the mean of the members' probabilities,
    and stays finite where a member is certain (logits of ±200: a probability of 1 or 0 in
    float32). Float32 logsumexp of three terms: ~1e-7 relative."""
    torch.manual_seed(0)
    members = [torch.nn.Linear(4, 3) for _ in range(3)]
    net = EnsembleNetwork(members, multilabel)
    x = torch.randn(5, 4)
    squash = torch.sigmoid if multilabel else (lambda z: torch.softmax(z, -1))
    with torch.no_grad():
        mean = torch.stack([squash(m(x)) for m in members]).mean(0)
        assert torch.allclose(squash(net(x)), mean, atol=1e-6)
        members[0].bias.fill_(200.0)
        members[1].bias.fill_(-200.0)
        assert torch.isfinite(net(x)).all()
        mean = torch.stack([squash(m(x)) for m in members]).mean(0)
        assert torch.allclose(squash(net(x)), mean, atol=1e-6)


def test_ensemble_is_trained_evaluated_and_reported_as_one_model(tmp_path, capsys):
    GENOTYPE.save(tmp_path / "g.json")
    run = tmp_path / "run"
    code, out, err = run_cli(capsys, "train", "--genotype", tmp_path / "g.json", "--dataset",
                             "digits", "--preset", "tiny", "--out", run, "--seeds", "0,1",
                             "--quiet")
    assert code == 0, err
    folder = run / "ensemble"
    assert json.loads((folder / "ensemble.json").read_text())["seeds"] == [0, 1]
    assert (run / "genotype.json").is_file()                 # the run stays whole
    code, out, err = run_cli(capsys, "evaluate", folder)
    assert code == 0, err
    assert "member m1 (seed 1)" in out and "the sum of 2 members" in out
    e = json.loads((folder / "eval.json").read_text())
    assert e["params"] == 2 * count_params(GENOTYPE) and e["flops"] == 2 * count_flops(GENOTYPE)
    assert e["ensemble"]["params_per_member"] == count_params(GENOTYPE)
    assert e["seeds"]["train"] == [0, 1] and e["checkpoint"]["epoch"] is None
    members = [np.load(folder / f"m{s}" / "predictions.npz")["test_scores"] for s in (0, 1)]
    ensemble = np.load(folder / "predictions.npz")["test_scores"]
    assert not np.allclose(members[0], members[1], atol=1e-3)    # two different networks
    assert np.abs(ensemble - np.mean(members, axis=0)).max() <= 1e-6
    assert [m["test"]["acc"] for m in e["ensemble"]["member_results"]] == [
        json.loads((folder / f"m{s}" / "eval.json").read_text())["test"]["acc"] for s in (0, 1)]
    code, _, err = run_cli(capsys, "report", folder)
    text = (folder / "report" / "report.md").read_text()
    assert code == 0 and "### Ensemble" in text and "| `m1/` | 1 |" in text
    # The run folder itself has no single network: commands point at the ensemble.
    code, _, err = run_cli(capsys, "evaluate", run)
    assert code == 1 and f"give its folder, {folder}" in err


def test_a_killed_member_resumes_exactly(tmp_path, capsys, monkeypatch):
    """Member m1 killed after its first epoch; `--resume` leaves m0 alone and ends m1 with
    the weights of an uninterrupted training of seed 1."""
    GENOTYPE.save(tmp_path / "g.json")
    run = tmp_path / "run"
    save_last = Trainer._save_last

    def save_then_die(self, next_epoch, val, best):
        save_last(self, next_epoch, val, best)
        if self.paths.root.name == "m1" and next_epoch == 1:
            raise KeyboardInterrupt
    monkeypatch.setattr(Trainer, "_save_last", save_then_die)
    argv = ["train", "--genotype", tmp_path / "g.json", "--dataset", "digits", "--preset",
            "tiny", "--out", run, "--seeds", "0,1", "--quiet"]
    code, _, err = run_cli(capsys, *argv)
    assert code == 130 and f"zodarts train --out {run} --seeds 0,1 --resume" in err
    monkeypatch.setattr(Trainer, "_save_last", save_last)
    m0 = (run / "ensemble" / "m0" / "train" / "last.pt").stat().st_mtime_ns

    code, out, err = run_cli(capsys, "train", run, "--seeds", "0,1", "--resume", "--quiet")
    assert code == 0, err
    assert "member 2/2 (seed 1)" in err and "member 1/2" not in err
    assert (run / "ensemble" / "m0" / "train" / "last.pt").stat().st_mtime_ns == m0
    straight = tmp_path / "straight"
    run_train(make_config(TrainConfig, TRAIN_PRESETS, "tiny", dataset="digits", seed=1),
              straight, GENOTYPE, progress=False, log=None)
    a = torch.load(straight / "train/last.pt", weights_only=False)["model"]
    b = torch.load(run / "ensemble/m1/train/last.pt", weights_only=False)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [r["epoch"] for r in read_jsonl(run / "ensemble/m1/train/log.jsonl")] == [0, 1]
