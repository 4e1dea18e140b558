"""``zodarts predict``: class probabilities of new images, as a CSV.

The probabilities are those evaluate computes (softmax over classes; sigmoid per label for
multi-label tasks, an ensemble's the mean of its members'), and the predicted label is the one
ACC counts (:func:`zodarts.train.metrics.predicted_labels`: argmax; binary and multi-label at
p > 0.5). The CSV is written once every image is done, atomically: an error on the way leaves
no partial file.
"""

from __future__ import annotations

import csv
import io
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm.auto import tqdm

from zodarts.errors import ConfigError, ZodartsWarning
from zodarts.predict.inputs import Notes, list_inputs, read_batches
from zodarts.predict.models import load_model
from zodarts.train.metrics import is_multilabel, predicted_labels, scores_from_logits
from zodarts.utils.io import atomic_write_text

BATCH_SIZE = 256   # images per forward pass: a few MB at 28×28, ~150 MB of RGB at 224×224
LABEL_SEPARATOR = ";"


@dataclass
class Predictions:
    task: str
    classes: tuple[str, ...]
    files: list[str]                  # the image file, or the .npz, of each row
    indices: list[int | None]         # the row of the .npz split; None for an image file
    probabilities: np.ndarray         # (n, classes) float64
    predicted: np.ndarray             # (n,) class index; multi-label: (n, labels) 0/1
    notes: list[str] = field(default_factory=list)
    out: Path | None = None           # the CSV written, if any

    def __len__(self) -> int:
        return len(self.files)

    def labels(self) -> list[str]:
        """Each row's predicted class name; multi-label: the predicted labels' names, joined
        by ';' (empty where none reaches 0.5)."""
        if is_multilabel(self.task):
            return [LABEL_SEPARATOR.join(c for c, on in zip(self.classes, row) if on)
                    for row in self.predicted]
        return [self.classes[k] for k in self.predicted]

    def csv_text(self) -> str:
        """file, index (the .npz row; empty for an image file), prediction, then p_NAME per
        class (or label)."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["file", "index", "prediction", *(f"p_{c}" for c in self.classes)])
        for file, index, label, p in zip(self.files, self.indices, self.labels(),
                                         self.probabilities):
            writer.writerow([file, "" if index is None else index, label,
                             *(f"{v:.9g}" for v in p)])   # 9 digits: float32 exactly
        return buffer.getvalue()


def predict_inputs(model: str | Path, inputs: Sequence[str | Path], out: str | Path | None = None,
                   split: str = "test", batch_size: int | None = None, device: str = "auto",
                   progress: bool = False) -> Predictions:
    """Predict every image ``inputs`` names (image files, folders, .npz files: their
    ``split``) with ``model`` (a run or ensemble folder, or an exported file); write the CSV to
    ``out`` when given. Notes on converted or resized images are ZodartsWarnings."""
    if batch_size is not None and batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1 (got {batch_size})")
    loaded = load_model(model, device)
    record = loaded.record
    listing = list_inputs(inputs, split)
    notes = Notes()
    extra = []
    batch = batch_size or BATCH_SIZE
    if record.batch and record.batch != batch:
        extra.append(f"the network normalises by each batch's own statistics (trained with "
                     f"--bn-batch-stats), so images go in batches of {record.batch}, as in its "
                     "evaluation; a prediction depends on the other images of its batch")
        batch = record.batch
    chunks = []
    bar = tqdm(total=len(listing), desc="predict", unit="image", leave=False,
               disable=not progress, file=sys.stderr, dynamic_ncols=True)
    try:
        for x in read_batches(listing, record, batch, notes):
            logits = loaded.logits(x.float().div_(255.0))   # as Normalizer scales uint8
            chunks.append(scores_from_logits(record.task, logits))
            bar.update(len(x))
    finally:
        bar.close()
    scores = np.concatenate(chunks)
    result = Predictions(record.task, record.classes, [str(i.file) for i in listing.items],
                         [i.index for i in listing.items], scores,
                         predicted_labels(record.task, scores), [*extra, *notes.lines(record)])
    for note in result.notes:
        warnings.warn(note, ZodartsWarning, stacklevel=2)
    if out is not None:
        result.out = Path(out)
        atomic_write_text(result.out, result.csv_text())
    return result
