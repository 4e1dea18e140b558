"""Export the trained network as TorchScript or ONNX, normalisation included.

The exported model takes float images in [0, 1], shape (N, C, H, W) (uint8 pixels / 255), and
returns logits: the per-channel standardisation learnt on the train split is baked in, so a user
of the file needs nothing from zodarts. A JSON file beside it (MODEL.json) says so, with the
class names and the preprocessing record `zodarts predict` feeds the file by. An ensemble folder
exports as one model whose logits are the log of its members' mean probability.
Every export is checked: the exported model must reproduce the PyTorch logits on a test batch.
"""

from __future__ import annotations

import importlib.util
import io
import json
import logging
import warnings
from contextlib import redirect_stdout
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from zodarts.data import Normalizer, load_dataset
from zodarts.errors import ConfigError
from zodarts.predict.record import Preprocessing, of_run, sidecar_path
from zodarts.rundir import RunPaths
from zodarts.train.checkpoint import Trained, load_trained
from zodarts.train.ensemble import COMBINE, ensemble_seeds
from zodarts.train.evaluate import run_dataset
from zodarts.utils.io import atomic_write_bytes, atomic_write_text
from zodarts.utils.kinds import RUN, require_kind

FORMATS = {"torchscript": ".pt", "onnx": ".onnx"}
TOLERANCE = 1e-4  # max |Δ logit|: float32 kernels differ in summation order across runtimes


class Deployable(nn.Module):
    """Standardise, then the network: the whole inference path in one module."""

    def __init__(self, network: nn.Module, normalizer: Normalizer):
        super().__init__()
        self.network = network
        shape = (1, len(normalizer.mean), 1, 1)
        self.register_buffer("mean", torch.tensor(normalizer.mean).view(shape))
        self.register_buffer("std", torch.tensor(normalizer.std).view(shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network((x - self.mean) / self.std)


def export_model(run_dir: str | Path, fmt: str = "torchscript", out: str | Path | None = None,
                 check: bool = True) -> Path:
    """Write the run's best model as ``fmt`` to ``out`` (default RUN_DIR/export/model.EXT)."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}: use {' or '.join(FORMATS)}")
    paths = RunPaths(run_dir)
    require_kind(paths.root, RUN, "give `zodarts export` a trained run folder")
    trained = load_trained(paths.root, "best", "cpu")
    model = Deployable(trained.model, trained.normalizer).eval()
    name, root = run_dataset(paths)
    dataset = load_dataset(name, root)
    example = dataset.splits["test"].images[:16].float() / 255.0
    out = Path(out) if out else paths.export_dir / f"model{FORMATS[fmt]}"
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "torchscript":
        _torchscript(model, out)
    else:
        _onnx(model, example, out)
    if check:
        check_export(out, fmt, model, example)
    model_uri = log_model(paths.root, out, fmt, example)
    atomic_write_text(sidecar_path(out), json.dumps(
        _sidecar(fmt, trained, of_run(paths.root, trained, dataset), dataset.name, model_uri,
                 paths), indent=2) + "\n")
    return out


def _sidecar(fmt: str, trained: Trained, record: Preprocessing, dataset: str,
             model_uri: str | None, paths: RunPaths) -> dict:
    """The JSON beside an exported file: what goes in, what comes out, and the preprocessing
    record `zodarts predict` reads."""
    g = trained.genotype
    multilabel = trained.task == "multi-label"
    output = "logits" + (" (sigmoid per label)" if multilabel else " (softmax over classes)")
    if trained.members > 1:
        output = (f"the {'logit' if multilabel else 'log'} of the {trained.members} members' "
                  f"mean probability{' per label' if multilabel else ''}: its "
                  f"{'sigmoid' if multilabel else 'softmax'} is the ensemble's probability")
    return {
        "format": fmt, "input": {"shape": ["N", g.in_channels, g.image_size, g.image_size],
                                 "dtype": "float32", "range": [0, 1],
                                 "note": "uint8 pixels / 255; normalisation is inside the model"},
        "output": output, **record.sidecar(), "dataset": dataset,
        "genotype": g.pruned().to_dict(),
        **({"ensemble": {"members": trained.members, "seeds": ensemble_seeds(paths),
                         "combine": COMBINE}} if trained.members > 1 else {}),
        **({"batch_statistics": "BatchNorm uses each input batch's own statistics (trained "
                                "with --bn-batch-stats): a prediction depends on the other "
                                f"images of its batch; it was evaluated in batches of "
                                f"{trained.eval_batch}"} if trained.bn_batch_stats else {}),
        **({"mlflow_model_uri": model_uri} if model_uri else {})}


def _torchscript(model: nn.Module, out: Path) -> None:
    with warnings.catch_warnings():
        # torch >= 2.10 marks torch.jit deprecated; TorchScript is still what C++/mobile load.
        warnings.simplefilter("ignore", DeprecationWarning)
        buffer = io.BytesIO()
        torch.jit.save(torch.jit.script(model), buffer)
    atomic_write_bytes(out, buffer.getvalue())


def _onnx(model: nn.Module, example: torch.Tensor, out: Path) -> None:
    if importlib.util.find_spec("onnx") is None:
        raise ConfigError("ONNX export needs the onnx package: pip install 'zodarts[onnx]'")
    # The torch.export-based exporter needs onnxscript; without it, the TorchScript-based one
    # (deprecated in torch 2.9 but complete for these plain conv nets) does the job.
    dynamo = importlib.util.find_spec("onnxscript") is not None
    tmp = out.with_name(f".{out.name}.tmp")
    # The exporter logs a warning per torchvision operator it cannot find: none is used here.
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    with warnings.catch_warnings(), redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        kwargs = ({"dynamic_shapes": ({0: torch.export.Dim("batch")},)} if dynamo else
                  {"dynamic_axes": {"images": {0: "batch"}, "logits": {0: "batch"}}})
        torch.onnx.export(model, (example,), str(tmp), input_names=["images"],
                          output_names=["logits"], dynamo=dynamo, external_data=False,
                          **kwargs)
    quiet.setLevel(level)
    atomic_write_bytes(out, tmp.read_bytes())
    tmp.unlink()


def load_exported(path: Path, fmt: str, device: torch.device | str = "cpu"
                  ) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """An exported file as a function of images → logits (on the CPU); None for ONNX when
    onnxruntime is not installed."""
    if fmt == "torchscript":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            loaded = torch.jit.load(str(path), map_location=device)

        def scripted(x: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                return loaded(x.to(device)).float().cpu()
        return scripted
    if importlib.util.find_spec("onnxruntime") is None:
        return None
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda x: torch.from_numpy(session.run(None, {name: x.cpu().numpy()})[0])


def exported_logits(path: Path, fmt: str, x: torch.Tensor) -> torch.Tensor | None:
    """Run an exported file on ``x``; None for ONNX when onnxruntime is not installed."""
    run = load_exported(path, fmt)
    return None if run is None else run(x)


def check_export(path: Path, fmt: str, model: nn.Module, x: torch.Tensor) -> float | None:
    """Largest |Δ logit| between the file and ``model`` on ``x``; raises above TOLERANCE."""
    got = exported_logits(path, fmt, x)
    if got is None:
        return None
    with torch.no_grad():
        want = model(x)
    diff = (got - want).abs().max().item()
    if not diff <= TOLERANCE:
        raise RuntimeError(f"the exported {fmt} model differs from the PyTorch one by {diff:.3g} "
                          f"in its logits (tolerance {TOLERANCE}); please report this")
    return diff


def log_model(run_dir: Path, path: Path, fmt: str, example: torch.Tensor) -> str | None:
    """Log an exported model to the MLflow run of a tracked run folder (its tracking.json),
    in MLflow's own flavour (pytorch: the TorchScript file; onnx), with an input example and
    its signature, so MLflow's tools can register and serve it. A run folder that was never
    tracked is left alone; a tracker that fails is a warning, the export stands."""
    from zodarts.tracking import TRACKING_FILE, log_exported

    state = run_dir / TRACKING_FILE
    if not state.is_file():
        return None
    return log_exported(json.loads(state.read_text()), path, fmt, example)
