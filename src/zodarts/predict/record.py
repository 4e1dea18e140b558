"""What a trained model needs to be fed and read: the preprocessing record.

A run folder holds it in its checkpoints (genotype: image size and channels; normaliser; task;
class names); ``zodarts export`` writes it into the JSON beside the exported file, so that an
exported model predicts exactly as the run does without the run folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from zodarts.errors import ConfigError

if TYPE_CHECKING:
    from zodarts.data import ImageDataset
    from zodarts.train.checkpoint import Trained

# How an image of another size is brought to the training size (zodarts.predict.inputs).
RESIZE = "bilinear, antialiased"


@dataclass(frozen=True)
class Preprocessing:
    image_size: int
    channels: int
    mean: tuple[float, ...]      # per channel, of pixels / 255; applied inside exported models
    std: tuple[float, ...]
    task: str
    classes: tuple[str, ...]     # one name per output (multi-label: per label)
    batch: int | None = None     # a batch-statistics network's batch: its outputs depend on it

    def sidecar(self) -> dict:
        """The entries of an export's JSON that hold this record."""
        return {"task": self.task, "classes": list(self.classes), "preprocessing": {
            "image_size": self.image_size, "channels": self.channels, "pixel_scale": 255,
            "mean": list(self.mean), "std": list(self.std),
            "normalisation": "inside the model: feed pixels / 255",
            "resize": f"{RESIZE} (torch.nn.functional.interpolate), to image_size²",
            "batch": self.batch}}

    @classmethod
    def from_sidecar(cls, model: Path) -> "Preprocessing":
        """The record beside an exported ``model`` (MODEL.json)."""
        path = sidecar_path(model)
        how = (f"export the run again with `zodarts export RUN_DIR --out {model}` (it writes "
               "the record), or predict from the run folder itself")
        if not path.is_file():
            raise ConfigError(f"{model} has no preprocessing record: {path} does not exist; "
                              + how)
        try:
            meta = json.loads(path.read_text())
            p = meta["preprocessing"]
            return cls(int(p["image_size"]), int(p["channels"]), tuple(p["mean"]),
                       tuple(p["std"]), meta["task"], tuple(meta["classes"]), p.get("batch"))
        except (ValueError, KeyError, TypeError) as err:
            what = f"no {err}" if isinstance(err, KeyError) else str(err)
            raise ConfigError(f"{path} is not a complete preprocessing record ({what}); "
                              + how) from None


def sidecar_path(model: Path) -> Path:
    return model.with_name(model.name + ".json")


def of_run(run_dir: str | Path, trained: "Trained",
           dataset: "ImageDataset | None" = None) -> Preprocessing:
    """The record of a run (or ensemble) folder's trained model, from its checkpoint; a
    checkpoint written before checkpoints named the classes takes them from the dataset
    (``dataset``, else loaded)."""
    classes = trained.classes
    if classes is None:
        if dataset is None:
            from zodarts.data import load_dataset
            from zodarts.rundir import RunPaths
            from zodarts.train.evaluate import run_dataset

            dataset = load_dataset(*run_dataset(RunPaths(run_dir)))
        classes = dataset.class_names()
    g = trained.genotype
    return Preprocessing(g.image_size, g.in_channels, trained.normalizer.mean,
                         trained.normalizer.std, trained.task, tuple(classes),
                         trained.eval_batch if trained.bn_batch_stats else None)
