"""Exported models reproduce the PyTorch logits, in TorchScript and in onnxruntime."""

import json

import pytest
import torch

from zodarts.config import TRAIN_PRESETS, TrainConfig, make_config
from zodarts.data import load_dataset
from zodarts.export import Deployable, export_model, exported_logits
from zodarts.space import Genotype, sample_genotype
from zodarts.train.checkpoint import load_trained
from zodarts.train.retrain import run_train


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "run"
    genotype = sample_genotype(2, 1, 10, C=4, cells_per_stage=1, image_size=8)
    run_train(make_config(TrainConfig, TRAIN_PRESETS, "tiny", dataset="digits"), out, genotype,
              progress=False, log=None)
    return out


def reference_logits(run, x):
    trained = load_trained(run)
    with torch.no_grad():
        return trained.model(trained.normalizer(x))


def held_out_images():
    # Not the export's own check batch (the first 16 test images), and another batch size.
    return load_dataset("digits").splits["test"].images[100:125].float() / 255


def test_torchscript_gives_the_same_logits(trained_run):
    path = export_model(trained_run, "torchscript")
    assert path == trained_run / "export" / "model.pt"
    x = held_out_images()
    got = exported_logits(path, "torchscript", x)
    assert torch.allclose(got, reference_logits(trained_run, x), atol=1e-5)
    meta = json.loads(path.with_name("model.pt.json").read_text())
    assert meta["input"]["shape"] == ["N", 1, 8, 8] and meta["task"] == "multi-class"
    # The genotype of what was exported: the trained one without its dead ops.
    trained = load_trained(trained_run).genotype
    assert trained.dead_ops()
    assert Genotype.from_dict(meta["genotype"]) == trained.pruned()


def test_onnx_in_onnxruntime_gives_the_torchscript_outputs(trained_run, tmp_path):
    """onnx and onnxruntime are dev dependencies (`make test` installs them), so this runs in
    every suite. The bound, 1e-4 on a logit: both files hold the same float32 weights, and only
    the kernels differ (oneDNN in torch, MLAS in onnxruntime), which sum the convolutions' terms
    in another order; float32 rounding of sums of a few hundred terms of size ~1 is ~1e-6 per
    layer. Measured here: 3e-8 on logits of size 0.24, on one thread and on two."""
    onnx_path = export_model(trained_run, "onnx", tmp_path / "net.onnx")
    script_path = export_model(trained_run, "torchscript", tmp_path / "net.pt")
    x = held_out_images()
    got = exported_logits(onnx_path, "onnx", x)
    assert got is not None, "onnxruntime is not installed: pip install 'zodarts[onnx]'"
    assert got.shape == (25, 10)                       # the batch dimension is dynamic
    want = exported_logits(script_path, "torchscript", x)
    assert (got - want).abs().max().item() <= 1e-4
    assert torch.allclose(got, reference_logits(trained_run, x), atol=1e-4)


def test_deployable_folds_the_normalisation_in(trained_run):
    trained = load_trained(trained_run)
    x = held_out_images()
    with torch.no_grad():
        assert torch.allclose(Deployable(trained.model, trained.normalizer)(x),
                              reference_logits(trained_run, x))
