"""MedMNIST-convention metrics against scikit-learn on hand-made cases, one per task type."""

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import (accuracy_score, auc, confusion_matrix as sk_confusion_matrix,
                             multilabel_confusion_matrix, precision_recall_fscore_support,
                             roc_auc_score)

from zodarts.train.metrics import (batch_accuracy, confusion_matrix, majority_baseline,
                                   make_criterion, per_class_metrics, predicted_labels,
                                   roc_curves, scores_from_logits, task_metrics)
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


def test_majority_baseline_binary_and_multiclass_use_the_training_majority():
    # The training split's majority, not the test split's (which differs here).
    assert majority_baseline("binary", np.array([[0], [1], [1], [1], [0]]),
                             np.array([[1], [0], [0], [0], [1]])) == {"acc": 0.4, "prediction": 1}
    base = majority_baseline("multi-class", np.array([2, 2, 1, 0, 2, 1]),
                             np.array([0, 0, 0, 2, 1]))
    assert base == {"acc": 0.2, "prediction": 2}
    # A tie goes to the lower class; a class absent from the test labels scores 0.
    assert majority_baseline("ordinal", np.array([3, 1, 1, 3]), np.array([0, 2])) == \
        {"acc": 0.0, "prediction": 1}


def test_majority_baseline_multilabel_is_the_mean_over_labels():
    train = np.array([[1, 0, 1], [1, 0, 0], [1, 1, 1], [0, 0, 0]])   # label means .75 .25 .5
    test = np.array([[1, 1, 0], [0, 0, 0], [1, 0, 1], [1, 0, 0], [1, 1, 1]])
    base = majority_baseline("multi-label", train, test)
    assert base["prediction"] == [1, 0, 0]                           # a tie (.5) is negative
    per_label = [accuracy_score(test[:, k], np.full(5, [1, 0, 0][k])) for k in range(3)]
    assert base["acc"] == pytest.approx(np.mean(per_label)) == pytest.approx((4 + 3 + 3) / 15)


def test_always_predicting_the_majority_scores_exactly_the_baseline():
    labels = np.array([1, 1, 0, 1, 0, 1, 1])
    always_positive = np.tile([0.3, 0.7], (len(labels), 1))
    base = majority_baseline("binary", labels, labels)
    assert task_metrics("binary", labels, always_positive).acc == base["acc"] == 5 / 7


def brute_force_confusion(truth, predicted, k):
    counts = np.zeros((k, k), dtype=int)
    for t, p in zip(truth, predicted):
        counts[int(t), int(p)] += 1
    return counts


def test_confusion_matrix_counts_multiclass_and_binary():
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 4, 50)
    scores = softmax(rng.normal(size=(50, 4)) + 1.5 * np.eye(4)[labels])
    counts = confusion_matrix("multi-class", labels[:, None], scores)
    assert counts.shape == (4, 4) and counts.sum() == 50
    assert (counts == brute_force_confusion(labels, scores.argmax(1), 4)).all()
    assert (counts == sk_confusion_matrix(labels, scores.argmax(1), labels=range(4))).all()
    # Binary follows ACC's rule: p(positive) > 0.5, so an exact tie is a negative prediction.
    binary = confusion_matrix("binary", np.array([1, 1, 0, 0, 1]),
                              np.array([[0.5, 0.5], [0.2, 0.8], [0.9, 0.1], [0.4, 0.6], [1, 0]]))
    assert binary.tolist() == [[1, 1], [2, 1]]


def test_confusion_matrix_multilabel_is_per_label_two_by_two():
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 2, (30, 4))
    scores = rng.random((30, 4))
    counts = confusion_matrix("multi-label", labels, scores)
    assert counts.shape == (4, 2, 2) and (counts.sum((1, 2)) == 30).all()
    assert (counts == multilabel_confusion_matrix(labels, scores > 0.5)).all()
    for k in range(4):
        assert (counts[k] == brute_force_confusion(labels[:, k], scores[:, k] > 0.5, 2)).all()


def test_per_class_numbers_match_scikit_learn():
    rng = np.random.default_rng(6)
    labels = np.array([0, 1, 2, 2, 1, 0, 2, 1, 2, 2])
    scores = softmax(rng.normal(size=(10, 4)) + np.eye(4)[labels])  # class 3 never occurs
    scores[:, 3] = 0.0                                               # nor is ever predicted
    m = per_class_metrics("multi-class", labels, scores)
    precision, recall, _, support = precision_recall_fscore_support(
        labels, scores.argmax(1), labels=range(4), zero_division=np.nan)
    assert m["support"] == support.tolist() == [2, 3, 5, 0]
    assert np.allclose(m["precision"], precision, equal_nan=True)
    assert np.allclose(m["recall"], recall, equal_nan=True)
    assert math.isnan(m["recall"][3]) and math.isnan(m["precision"][3])
    assert m["auc"][:3] == pytest.approx([roc_auc_score(labels == k, scores[:, k])
                                          for k in range(3)])
    assert math.isnan(m["auc"][3])


def test_per_label_numbers_match_scikit_learn():
    rng = np.random.default_rng(7)
    labels = rng.integers(0, 2, (40, 3))
    scores = 1 / (1 + np.exp(-(rng.normal(size=(40, 3)) + 2 * labels - 1)))
    m = per_class_metrics("multi-label", labels, scores)
    precision, recall, _, support = precision_recall_fscore_support(labels, scores > 0.5,
                                                                    average=None)
    assert m["support"] == support.tolist()
    assert m["precision"] == pytest.approx(precision) and m["recall"] == pytest.approx(recall)
    assert m["acc"] == pytest.approx([accuracy_score(labels[:, k], scores[:, k] > 0.5)
                                      for k in range(3)])
    assert np.mean(m["acc"]) == pytest.approx(task_metrics("multi-label", labels, scores).acc)
    assert m["auc"] == pytest.approx(roc_auc_score(labels, scores, average=None))


def test_roc_curves_are_those_behind_the_auc():
    rng = np.random.default_rng(8)
    labels = np.array([0, 1, 0, 1, 1, 0, 1, 0])
    scores = softmax(rng.normal(size=(8, 2)) + np.eye(2)[labels])
    (curve,) = roc_curves("binary", labels, scores)          # the positive class only
    assert curve.index == 1 and auc(curve.fpr, curve.tpr) == pytest.approx(curve.auc)
    assert curve.auc == pytest.approx(task_metrics("binary", labels, scores).auc)
    labels3 = np.array([0, 1, 0, 1, 1, 0])                    # class 2 absent: no curve
    curves = roc_curves("multi-class", labels3, softmax(rng.normal(size=(6, 3))))
    assert [c.index for c in curves] == [0, 1]
    for c in curves:
        assert auc(c.fpr, c.tpr) == pytest.approx(c.auc)


def test_predicted_labels_are_those_acc_counts():
    scores = np.array([[0.2, 0.5, 0.3], [0.6, 0.1, 0.3]])
    assert predicted_labels("multi-class", scores).tolist() == [1, 0]
    assert predicted_labels("multi-label", scores).tolist() == [[0, 0, 0], [1, 0, 0]]
    assert predicted_labels("binary", np.array([[0.5, 0.5], [0.4, 0.6]])).tolist() == [0, 1]


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
