"""The model to predict with, from wherever it is: a run folder or an ensemble folder (its best
checkpoint), or a file of `zodarts export` (TorchScript or ONNX, with its JSON record). Each is
one function of float images in [0, 1] → logits, with the record that says how to feed it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from zodarts.errors import ConfigError
from zodarts.predict.record import Preprocessing, of_run
from zodarts.utils.runtime import resolve_device

SUFFIX_FORMATS = {".pt": "torchscript", ".onnx": "onnx"}


@dataclass
class LoadedModel:
    path: Path
    kind: str                                           # checkpoint, torchscript or onnx
    record: Preprocessing
    logits: Callable[[torch.Tensor], torch.Tensor]      # (N, C, S, S) in [0, 1] → CPU float


def load_model(path: str | Path, device: str = "auto") -> LoadedModel:
    """The model at ``path``: a folder is a run (or ensemble) folder, a file an export."""
    from zodarts.export import Deployable, load_exported
    from zodarts.train.checkpoint import load_trained

    path = Path(path).expanduser()
    dev = resolve_device(device)
    if path.is_dir():
        trained = load_trained(path, "best", dev)
        model = Deployable(trained.model, trained.normalizer).to(dev).eval()

        def checkpoint(x: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                return model(x.to(dev)).float().cpu()
        return LoadedModel(path, "checkpoint", of_run(path, trained), checkpoint)
    if not path.is_file():
        raise ConfigError(f"{path} does not exist: give a run folder (RUN_DIR, or "
                          "RUN_DIR/ensemble) or a model.pt / model.onnx of `zodarts export`")
    fmt = SUFFIX_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ConfigError(f"{path}: not a model zodarts can read; give a run folder or an "
                          f"exported {' or '.join(SUFFIX_FORMATS)} file")
    record = Preprocessing.from_sidecar(path)
    try:
        run = load_exported(path, fmt, dev)
    except Exception as err:   # a damaged or foreign file: torch and onnxruntime raise their own
        raise ConfigError(f"cannot load {path} as {fmt} ({str(err).splitlines()[0]}); export "
                          "it again with `zodarts export`") from None
    if run is None:
        raise ConfigError("predicting with an ONNX model needs onnxruntime: pip install "
                          "'zodarts[onnx]', or predict with the TorchScript export or the run "
                          "folder")
    return LoadedModel(path, fmt, record, run)
