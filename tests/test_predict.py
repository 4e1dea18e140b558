"""`zodarts predict`: the probabilities evaluate computes, from a run folder, an ensemble and their
TorchScript and ONNX exports; image files, folders and .npz inputs; one line for bad input."""

import csv
import os
import shutil
import sys

import numpy as np
import pytest
import torch

from zodarts import api
from zodarts.cli import main
from zodarts.config import TRAIN_PRESETS, TrainConfig, make_config
from zodarts.data import load_dataset
from zodarts.errors import ZodartsWarning
from zodarts.space import sample_genotype
from zodarts.train.evaluate import evaluate_run
from zodarts.train.metrics import predicted_labels
from zodarts.train.retrain import run_train

sys.path.insert(0, os.path.dirname(__file__))
from conftest import make_npz  # noqa: E402

# Float32 logits through other kernels (batch 256 here, 512 in evaluate; onnxruntime's MLAS):
# ~1e-7 on probabilities of order 0.1 (measured ≤ 4e-8); 1e-5 leaves two orders of margin and
# is still far below any gap between two classes' probabilities that decides a label.
ATOL = 1e-5


def tiny(**overrides) -> TrainConfig:
    return make_config(TrainConfig, TRAIN_PRESETS, "tiny", **overrides)


def write_npz(path, dataset) -> str:
    """A dataset's splits as a MedMNIST-layout file, (n, H, W) grey images."""
    np.savez(path, **{f"{s}_images": split.images[:, 0].numpy()
                      for s, split in dataset.splits.items()},
             **{f"{s}_labels": split.labels.numpy()[:, None]
                for s, split in dataset.splits.items()})
    return str(path)


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """One tiny network and, in its folder, an ensemble of two; both evaluated; the digits
    splits as an .npz."""
    root = tmp_path_factory.mktemp("predict")
    run = root / "run"
    genotype = sample_genotype(0, 1, 10, C=4, cells_per_stage=1, image_size=8)
    run_train(tiny(dataset="digits"), run, genotype, progress=False, log=None)
    api.train(run, seeds=[3, 4], preset="tiny")      # the run's dataset (digits) and genotype
    evaluate_run(run)
    evaluate_run(run / "ensemble")
    return {"run": run, "npz": write_npz(root / "digits.npz", load_dataset("digits"))}


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


@pytest.mark.parametrize("which", ["run", "ensemble"])
def test_predict_equals_evaluate_in_every_format(which, digits, tmp_path):
    folder = digits["run"] if which == "run" else digits["run"] / "ensemble"
    with np.load(folder / "predictions.npz") as saved:
        want = saved["test_scores"]
    models = [folder, api.export(folder, "torchscript", tmp_path / "m.pt"),
              api.export(folder, "onnx", tmp_path / "m.onnx")]
    for model in models:
        got = api.predict(model, digits["npz"], out=tmp_path / "p.csv")
        assert got.probabilities.shape == want.shape == (359, 10)
        assert np.abs(got.probabilities - want).max() <= ATOL, model
        assert (got.predicted == predicted_labels("multi-class", want)).all(), model
        rows = read_csv(tmp_path / "p.csv")
        assert rows[0] == ["file", "index", "prediction", *(f"p_{k}" for k in range(10))]
        assert [r[1] for r in rows[1:]] == [str(i) for i in range(359)]
        assert [r[2] for r in rows[1:]] == [str(k) for k in got.predicted]
        assert np.allclose(np.array([r[3:] for r in rows[1:]], float), got.probabilities,
                           atol=1e-8)


def test_image_files_and_folders_predict_as_their_rows(digits, tmp_path):
    """A grey PNG, an RGB PNG of a grey image (converted back exactly: PIL's luma of
    (v, v, v) is v) and one at another size (resized, with a note), found in a folder."""
    from PIL import Image

    images = load_dataset("digits").splits["test"].images[:3, 0].numpy()
    (tmp_path / "in" / "sub").mkdir(parents=True)
    Image.fromarray(images[0]).save(tmp_path / "in" / "a.png")
    Image.fromarray(np.stack([images[1]] * 3, -1)).save(tmp_path / "in" / "sub" / "b.png")
    Image.fromarray(images[2]).resize((24, 24)).save(tmp_path / "c.png")
    rows = api.predict(digits["run"], digits["npz"])
    with pytest.warns(ZodartsWarning) as notes:
        got = api.predict(digits["run"], [tmp_path / "in", tmp_path / "c.png"])
    assert got.files == [str(tmp_path / "in" / "a.png"), str(tmp_path / "in" / "sub" / "b.png"),
                         str(tmp_path / "c.png")]
    assert got.indices == [None] * 3
    assert np.abs(got.probabilities[:2] - rows.probabilities[:2]).max() <= ATOL
    said = " ".join(str(n.message) for n in notes)
    assert "1 image RGB converted to grey" in said and "b.png" in said
    assert "1 image resized to 8×8" in said and "c.png (24×24)" in said


def test_multi_label_rgb_predictions(tmp_path):
    """One probability per label (sigmoid), the labels above 0.5 named; a grey image is
    copied to the three channels of an RGB model, with a note."""
    from PIL import Image

    npz = make_npz(tmp_path / "labels.npz", channels=3, image_size=8, multi_label=3)
    genotype = sample_genotype(0, 3, 3, C=4, cells_per_stage=1, image_size=8)
    run = tmp_path / "run"
    run_train(tiny(dataset=str(npz)), run, genotype, progress=False, log=None)
    evaluate_run(run)
    with np.load(run / "predictions.npz") as saved:
        want = saved["test_scores"]
    got = api.predict(run, npz, out=tmp_path / "p.csv")
    assert np.abs(got.probabilities - want).max() <= ATOL
    on = want > 0.5
    assert got.labels() == [";".join(f"class {k}" for k in range(3) if row[k]) for row in on]
    rows = read_csv(tmp_path / "p.csv")
    assert rows[0][3:] == ["p_class 0", "p_class 1", "p_class 2"]
    Image.fromarray(np.full((8, 8), 128, np.uint8)).save(tmp_path / "grey.png")
    with pytest.warns(ZodartsWarning, match="grey converted to RGB"):
        api.predict(run, tmp_path / "grey.png")


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def bad_input(kind, tmp, digits):
    """(model, inputs, what the one line names) for each kind of bad input."""
    from PIL import Image

    run = digits["run"]
    if kind == "unreadable":    # after a good batch: nothing of it may reach the CSV
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp / "good.png")
        (tmp / "bad.png").write_text("not an image")
        return run, [tmp / "good.png", tmp / "bad.png"], "bad.png: cannot read image"
    if kind == "channels":
        np.savez(tmp / "four.npz", test_images=np.zeros((2, 8, 8, 4), np.uint8))
        return run, [tmp / "four.npz"], "four.npz: test_images has 4 channels"
    if kind == "empty folder":
        (tmp / "empty").mkdir()
        (tmp / "empty" / "notes.txt").write_text("no images here")
        return run, [tmp / "empty"], "empty: no images"
    if kind == "no record":
        exported = api.export(run, "torchscript", tmp / "exported" / "model.pt")
        shutil.copy(exported, tmp / "model.pt")
        return tmp / "model.pt", [digits["npz"]], "model.pt has no preprocessing record"
    if kind == "no split":
        np.savez(tmp / "train_only.npz", train_images=np.zeros((2, 8, 8), np.uint8))
        return run, [tmp / "train_only.npz"], "no test_images array (it holds train)"
    return run, [tmp / "missing.png"], "missing.png: no such file or folder"


@pytest.mark.parametrize("kind", ["unreadable", "channels", "empty folder", "no record",
                                  "no split", "missing"])
def test_bad_input_is_one_line_and_no_csv(kind, digits, tmp_path, capsys):
    model, inputs, said = bad_input(kind, tmp_path, digits)
    out = tmp_path / "preds.csv"
    code, stdout, err = run_cli(capsys, "predict", model, *inputs, "--out", out,
                                "--batch-size", 1)
    lines = [line for line in err.strip().splitlines() if line.startswith("zodarts")]
    assert code == 1 and len(lines) == 1 and lines[0].startswith("zodarts predict: error:"), err
    assert said in lines[0]
    assert not out.exists() and stdout == ""
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".preds.csv")]


def test_cli_prints_the_csv(digits, capsys):
    code, stdout, _ = run_cli(capsys, "predict", digits["run"] / "ensemble", digits["npz"],
                              "--split", "val", "--quiet")
    assert code == 0
    rows = list(csv.reader(stdout.splitlines()))
    assert len(rows) == 1 + len(load_dataset("digits").splits["val"])
    assert all(abs(sum(map(float, r[3:])) - 1) < 1e-6 for r in rows[1:])
    assert torch.tensor([float(v) for v in rows[1][3:]]).argmax().item() == int(rows[1][2])
