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

The rest (majority baseline, confusion matrix, per-class numbers, ROC curves) is what eval.json
and the report add to ACC and AUC; each is a pure function of labels and scores, and takes its
hard predictions from :func:`predicted_labels`, so it always agrees with ACC.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

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
    labels = as_labels(task, labels)
    hits = predicted_labels(task, scores, threshold) == labels
    aucs = one_vs_rest_aucs(task, labels, scores)
    if is_multilabel(task):
        return _with_auc(float(hits.mean(axis=0).mean()), aucs, "label")
    if task == "binary":  # MedMNIST's binary AUC is that of the positive-class score only
        aucs = aucs[-1:]
    return _with_auc(float(hits.mean()), aucs, "class")


def as_labels(task: str, labels) -> np.ndarray:
    """(n,) int class indices, or (n, L) int 0/1 for multi-label (MedMNIST stores (n, 1))."""
    labels = np.asarray(labels).astype(np.int64)
    return labels if is_multilabel(task) else labels.reshape(-1)


def predicted_labels(task: str, scores: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """The hard predictions behind ACC: (n,) class indices, or (n, L) 0/1 for multi-label."""
    scores = np.asarray(scores, dtype=np.float64)
    if is_multilabel(task):
        return (scores > threshold).astype(np.int64)
    if task == "binary":
        # MedMNIST thresholds the positive-class probability (identical to the argmax for two
        # classes, except that an exact tie counts as negative).
        return (scores[:, -1] > threshold).astype(np.int64)
    return scores.argmax(axis=1)


def one_vs_rest_aucs(task: str, labels, scores: np.ndarray) -> list[float]:
    """Per class (one against the rest) or per label, the AUC of its own score column; nan where
    the labels hold only one side."""
    truth = _indicators(task, labels, np.asarray(scores).shape[1])
    return [_binary_auc(truth[:, k], scores[:, k]) for k in range(truth.shape[1])]


def _indicators(task: str, labels, classes: int) -> np.ndarray:
    """(n, classes) bool: one-hot class membership, or the multi-label matrix itself."""
    labels = as_labels(task, labels)
    if is_multilabel(task):
        return labels.astype(bool)
    return labels[:, None] == np.arange(classes)


def majority_baseline(task: str, train_labels, labels) -> dict:
    """ACC of always predicting the training split's most frequent class (multi-label: each
    label's more frequent value, ACC averaged over labels as MedMNIST does), on ``labels``.

    ``{"acc": float, "prediction": class index, or one 0/1 per label}``. A model whose ACC does
    not beat this has learnt nothing the class balance does not already give.
    """
    train, labels = as_labels(task, train_labels), as_labels(task, labels)
    if is_multilabel(task):
        # A tie goes to negative, like sigmoid > 0.5 at exactly 0.5.
        prediction = (train.mean(axis=0) > 0.5).astype(np.int64)
        hits = (labels == prediction).mean(axis=0) if len(labels) else np.full(len(prediction),
                                                                               np.nan)
        return {"acc": float(hits.mean()), "prediction": prediction.tolist()}
    prediction = int(np.bincount(train).argmax())  # a tie goes to the lower class index
    acc = float((labels == prediction).mean()) if len(labels) else math.nan
    return {"acc": acc, "prediction": prediction}


def confusion_matrix(task: str, labels, scores: np.ndarray, threshold: float = 0.5
                     ) -> np.ndarray:
    """Counts of (true, predicted) pairs: (K, K) with rows the true class; for multi-label,
    (L, 2, 2) per label, ``[[TN, FP], [FN, TP]]`` (scikit-learn's layouts)."""
    labels, predicted = as_labels(task, labels), predicted_labels(task, scores, threshold)
    if is_multilabel(task):
        return np.stack([_pair_counts(labels[:, k], predicted[:, k], 2)
                         for k in range(labels.shape[1])])
    return _pair_counts(labels, predicted, np.asarray(scores).shape[1])


def _pair_counts(truth: np.ndarray, predicted: np.ndarray, k: int) -> np.ndarray:
    return np.bincount(truth * k + predicted, minlength=k * k).reshape(k, k)


def per_class_metrics(task: str, labels, scores: np.ndarray, threshold: float = 0.5) -> dict:
    """One list entry per class (multi-label: per label): ``support`` (true members;
    multi-label: positives), ``precision`` and ``recall`` of that class (nan where nothing was
    predicted or present), ``auc`` one-vs-rest; multi-label adds each label's ``acc``."""
    counts = confusion_matrix(task, labels, scores, threshold)
    if is_multilabel(task):  # each label's positive side
        true_pos, support, predicted = counts[:, 1, 1], counts[:, 1].sum(1), counts[:, :, 1].sum(1)
    else:
        true_pos, support, predicted = np.diag(counts), counts.sum(1), counts.sum(0)
    out = {"support": support.tolist(),
           "precision": _ratios(true_pos, predicted), "recall": _ratios(true_pos, support),
           "auc": one_vs_rest_aucs(task, labels, scores)}
    if is_multilabel(task):
        out["acc"] = _ratios(counts[:, 0, 0] + true_pos, counts.sum((1, 2)))
    return out


def _ratios(numerator: np.ndarray, denominator: np.ndarray) -> list[float]:
    return [float(a / b) if b else math.nan for a, b in zip(numerator, denominator)]


class RocCurve(NamedTuple):
    index: int            # the class or label the curve is of
    fpr: np.ndarray
    tpr: np.ndarray
    auc: float


def roc_curves(task: str, labels, scores: np.ndarray) -> list[RocCurve]:
    """The ROC curves behind the AUC: binary, the positive class only; otherwise one per class
    (one against the rest) or per label. Classes with an undefined curve are left out."""
    from sklearn.metrics import roc_curve

    scores = np.asarray(scores, dtype=np.float64)
    truth = _indicators(task, labels, scores.shape[1])
    aucs = one_vs_rest_aucs(task, labels, scores)
    which = [scores.shape[1] - 1] if task == "binary" else range(scores.shape[1])
    curves = []
    for k in which:
        if not math.isnan(aucs[k]):
            fpr, tpr, _ = roc_curve(truth[:, k], scores[:, k])
            curves.append(RocCurve(k, fpr, tpr, aucs[k]))
    return curves


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
