"""Per-step statistics kept on the device they are computed on.

Reading a CUDA tensor's value makes the host wait until the device has caught up; doing that
for a loss at every step serialises the host's Python work with the device's kernels, which for
this space's small kernels costs more than the kernels. Loops therefore keep each step's
statistics as 0-d tensors and read them in one transfer every ``READ_EVERY`` steps (to update
the progress bar and check for a non-finite loss) and at the end of the epoch.
"""

from __future__ import annotations

import math

import torch

READ_EVERY = 10  # steps between reads of the device's statistics (NaN check, progress bar)
# Statistics every weight step has; anything else comes from an architecture step.
ARCH_STATS_EXCLUDE = ("train_loss", "train_acc")


class StepStats:
    """An epoch's per-step statistics (0-d tensors or floats), read to the host in batches."""

    def __init__(self, device: torch.device):
        self.device = device
        self.steps: list[tuple[int, dict]] = []
        self.read: list[tuple[int, dict[str, float]]] = []

    def add(self, step: int, stats: dict) -> None:
        self.steps.append((step, stats))

    def _read(self) -> None:
        pending, self.steps = self.steps, []
        tensors = [torch.as_tensor(v, dtype=torch.float64).to(self.device).reshape(())
                   for _, stats in pending for v in stats.values()]
        values = iter(torch.stack(tensors).tolist() if tensors else [])
        self.read += [(step, {k: next(values) for k in stats}) for step, stats in pending]

    def first_nonfinite(self) -> tuple[int, float] | None:
        self._read()
        for step, stats in self.read:
            if not math.isfinite(stats["train_loss"]):
                return step, stats["train_loss"]
        return None

    def latest(self) -> dict[str, float]:
        self._read()
        return self.read[-1][1]

    def means(self) -> dict[str, float]:
        self._read()
        sums: dict[str, float] = {}
        counts: dict[str, int] = {}
        for _, stats in self.read:
            for key, value in stats.items():
                sums[key] = sums.get(key, 0.0) + value
                counts[key] = counts.get(key, 0) + 1
        return {key: sums[key] / counts[key] for key in sums}

    def arch_steps(self) -> list[tuple[int, dict[str, float]]]:
        self._read()
        return [(step, {k: v for k, v in stats.items() if k not in ARCH_STATS_EXCLUDE})
                for step, stats in self.read
                if any(k not in ARCH_STATS_EXCLUDE for k in stats)]
