"""MedMNIST-convention metrics against scikit-learn on hand-made cases, one per task type."""

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, roc_auc_score

from zodarts.train.metrics import batch_accuracy, make_criterion, scores_from_logits, task_metrics
from zodarts.train.retrain import warmup_cosine


def softmax(z):
    z = np.asarray(z, dtype=float)
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def test_binary_auc_is_that_of_the_positive_class_score():
    labels = np.array([0, 0, 1, 1, 0, 1])
    scores = softmax([[2, 0], [1, 1.5], [0, 3], [0.5, 0.2], [1, -1], [-1, 2]])
    m = task_metrics("binary", labels[:, None], scores)
    assert m.auc == pytest.approx(roc_auc_score(labels, scores[:, 1]))
    assert m.acc == pytest.approx(accuracy_score(labels, scores[:, 1] > 0.5))
    assert m.note is None


def test_multiclass_auc_is_the_macro_one_vs_rest_mean():
    labels = np.array([0, 1, 2, 2, 1, 0, 2, 1])
    scores = softmax(np.random.default_rng(0).normal(size=(8, 3)) + np.eye(3)[labels])
    m = task_metrics("multi-class", labels, scores)
    assert m.auc == pytest.approx(roc_auc_score(labels, scores, multi_class="ovr",
                                                average="macro"))
    assert m.acc == pytest.approx(accuracy_score(labels, scores.argmax(1)))


def test_ordinal_is_scored_like_multiclass():
    labels = np.array([0, 1, 2, 3, 4, 4, 3, 2, 1, 0])
    scores = softmax(np.random.default_rng(1).normal(size=(10, 5)))
    m = task_metrics("ordinal", labels[:, None], scores)
    assert m.auc == pytest.approx(roc_auc_score(labels, scores, multi_class="ovr"))
    assert m.acc == pytest.approx(accuracy_score(labels, scores.argmax(1)))


def test_multilabel_auc_and_acc_are_means_over_labels():
    labels = np.array([[1, 0, 1], [0, 1, 1], [1, 1, 0], [0, 0, 0], [1, 0, 1]])
    logits = np.random.default_rng(2).normal(size=(5, 3)) + 1.5 * (2 * labels - 1)
    scores = scores_from_logits("multi-label", torch.tensor(logits))
    m = task_metrics("multi-label", labels, scores)
    assert m.auc == pytest.approx(roc_auc_score(labels, scores, average="macro"))
    per_label = [accuracy_score(labels[:, k], scores[:, k] > 0.5) for k in range(3)]
    assert m.acc == pytest.approx(np.mean(per_label))
    assert m.acc == pytest.approx(batch_accuracy(torch.tensor(logits),
                                                 torch.tensor(labels)).item())


def test_a_class_absent_from_the_labels_gives_nan_and_a_note_not_a_crash():
    labels = np.array([0, 1, 0, 1, 0])          # class 2 never occurs
    scores = softmax(np.random.default_rng(3).normal(size=(5, 3)))
    m = task_metrics("multi-class", labels, scores)
    assert math.isnan(m.auc)
    assert "class 2" in m.note and "the mean over the other 2" in m.note
    assert m.acc == pytest.approx(accuracy_score(labels, scores.argmax(1)))
    # A label that is always positive has no ROC curve either.
    ml = task_metrics("multi-label", np.array([[1, 0], [1, 1], [1, 0]]),
                      np.array([[0.9, 0.2], [0.8, 0.7], [0.6, 0.1]]))
    assert math.isnan(ml.auc) and "label 0" in ml.note
    assert math.isnan(task_metrics("binary", np.array([1, 1]), softmax([[0, 1], [1, 0]])).auc)


def test_multilabel_criterion_is_bce_and_others_smooth_labels():
    logits = torch.tensor([[2.0, -1.0], [0.5, 0.5]])
    target = torch.tensor([[1, 0], [0, 1]])
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, target.float())
    assert make_criterion("multi-label", 0.1)(logits, target).item() == pytest.approx(bce.item())
    assert make_criterion("multi-class", 0.1).label_smoothing == 0.1


def test_warmup_then_cosine():
    # The authors' recipe: linear from 0.01 × lr over the warm-up, then cosine.
    lrs = [warmup_cosine(step, 100, 10, 0.1, 0.001, start=0.01) for step in range(100)]
    assert lrs[0] == pytest.approx(0.001) and lrs[10] == pytest.approx(0.1)
    assert lrs[5] == pytest.approx(0.1 * (0.01 + 0.99 * 0.5))
    assert all(a < b for a, b in zip(lrs[:10], lrs[1:11]))
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    assert lrs[-1] == pytest.approx(0.001, abs=1e-4)
    assert warmup_cosine(0, 10, 0, 0.1, 0.0) == pytest.approx(0.1)
