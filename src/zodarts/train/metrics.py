"""Losses and accuracy shared by search and retraining, per MedMNIST task type."""

from __future__ import annotations

import torch
from torch import nn


def is_multilabel(task: str) -> bool:
    return task == "multi-label"


def make_criterion(task: str, label_smoothing: float = 0.0) -> nn.Module:
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
