"""Losses and metrics shared by search and retraining, per MedMNIST task type.

``task_metrics`` follows the conventions of MedMNIST's own evaluator (``medmnist.Evaluator``) so
numbers are comparable with the published benchmarks:

* binary: ACC of ``p(positive) > 0.5``; AUC of the positive-class score;
* multi-class and ordinal: ACC of the argmax; AUC is the macro mean of one-vs-rest AUCs;
* multi-label: ACC is the mean over labels of the per-label accuracy at ``sigmoid > 0.5``; AUC is
  the mean over labels of the per-label AUC.

Where an AUC is undefined (a class or label with no positive or no negative example in the
labels, e.g. a small test subset), the result is ``nan`` with a note that says which and gives
the mean over the classes where it is defined, rather than scikit-learn's exception.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn


def is_multilabel(task: str) -> bool:
    return task == "multi-label"


def make_criterion(task: str, label_smoothing: float = 0.0) -> nn.Module:
    # Label smoothing is a softmax notion; BCE per label is left unsmoothed.
    if is_multilabel(task):
        return _MultiLabelBCE()
    return nn.CrossEntropyLoss(label_smoothing=label_smoothing)


class _MultiLabelBCE(nn.BCEWithLogitsLoss):
    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return super().forward(logits, target.to(logits.dtype))


@torch.no_grad()
def batch_accuracy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Share of correct predictions; for multi-label targets, of correct labels at p = 0.5."""
    if target.dim() == 2:
        return ((logits > 0) == target.bool()).float().mean()
    return (logits.argmax(-1) == target).float().mean()


def scores_from_logits(task: str, logits: torch.Tensor | np.ndarray) -> np.ndarray:
    """Per-class probabilities: sigmoid per label (multi-label), else softmax."""
    logits = torch.as_tensor(logits, dtype=torch.float64)
    probs = torch.sigmoid(logits) if is_multilabel(task) else torch.softmax(logits, dim=-1)
    return probs.numpy()


@dataclass
class TaskMetrics:
    acc: float
    auc: float
    auc_per_class: list[float] = field(default_factory=list)
    note: str | None = None

    def to_dict(self) -> dict:
        out = {"acc": self.acc, "auc": self.auc}
        if self.note:
            out["note"] = self.note
        return out


def task_metrics(task: str, labels: np.ndarray | torch.Tensor, scores: np.ndarray,
                 threshold: float = 0.5) -> TaskMetrics:
    """ACC and AUC of ``scores`` (probabilities, see :func:`scores_from_logits`) against
    ``labels`` ((n,) class indices, or (n, L) 0/1 for multi-label), MedMNIST's way."""
    labels = np.asarray(labels)
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or len(scores) != len(labels):
        raise ValueError(f"scores must be (n, classes) for n = {len(labels)} labels, got "
                         f"{scores.shape}")
    if len(labels) == 0:
        return TaskMetrics(math.nan, math.nan, [], "no samples")
    if is_multilabel(task):
        truth = labels.astype(bool)
        acc = float(((scores > threshold) == truth).mean(axis=0).mean())
        per_class = [_binary_auc(truth[:, k], scores[:, k]) for k in range(truth.shape[1])]
        return _with_auc(acc, per_class, "label")
    labels = labels.reshape(-1).astype(np.int64)
    if task == "binary":
        # MedMNIST thresholds the positive-class probability (identical to the argmax for two
        # classes, except that an exact tie counts as negative).
        acc = float(((scores[:, -1] > threshold).astype(np.int64) == labels).mean())
        return _with_auc(acc, [_binary_auc(labels == scores.shape[1] - 1, scores[:, -1])],
                         "class")
    acc = float((scores.argmax(axis=1) == labels).mean())
    per_class = [_binary_auc(labels == k, scores[:, k]) for k in range(scores.shape[1])]
    return _with_auc(acc, per_class, "class")


def _binary_auc(truth: np.ndarray, score: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    if truth.all() or not truth.any():
        return math.nan  # one class only: the ROC curve does not exist
    return float(roc_auc_score(truth, score))


def _with_auc(acc: float, per_class: list[float], kind: str) -> TaskMetrics:
    undefined = [k for k, value in enumerate(per_class) if math.isnan(value)]
    if not undefined:
        return TaskMetrics(acc, float(np.mean(per_class)), per_class)
    defined = [value for value in per_class if not math.isnan(value)]
    which = ", ".join(map(str, undefined))
    partial = (f"; the mean over the other {len(defined)} is {np.mean(defined):.4f}"
               if defined else "")
    return TaskMetrics(acc, math.nan, per_class,
                       f"AUC undefined: no positive or no negative example of {kind} {which} "
                       f"in these labels{partial}")
