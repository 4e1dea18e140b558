"""Does a trained supernet rank architectures the way training them does? (Yu et al.,
"Evaluating the Search Phase of Neural Architecture Search", ICLR 2020.)

Every landscape genotype is evaluated as a sub-network of a finished search's supernet: α pinned
one-hot on the genotype (``SuperNet.set_architecture``: only its operations run, with the weights
the search trained; kernels the search never trained are the centre crops of its 7×7 ones, as its
own size phase would make them), BatchNorm statistics recomputed for that sub-network on training
batches of the search's weights half (the shared running statistics describe the mixture, not
any one sub-network), then accuracy and loss on the search's validation half, the split the
supernet's weights never trained on. The Kendall τ of those accuracies with the stand-alone means
says whether the one-shot model ranks architectures at all on this data.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch

from zodarts.errors import ConfigError
from zodarts.landscape.table import SUPERNET, Table, label_folder
from zodarts.utils.io import atomic_write_text

BN_BATCHES = 10   # training batches that re-estimate a sub-network's BatchNorm statistics


@torch.no_grad()
def recalibrate_batchnorm(net: torch.nn.Module, batches, count: int) -> None:
    """Running statistics of every BatchNorm re-estimated as the plain average over ``count``
    batches (momentum None), as one-shot NAS evaluates sub-networks (Guo et al., SPOS, 2020)."""
    norms = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    net.train()
    for i, (x, _) in enumerate(batches):
        if i >= count:
            break
        net(x)
    for m, momentum in zip(norms, saved):
        m.momentum = momentum
    net.eval()


@torch.no_grad()
def _evaluate(loop) -> tuple[float, float]:
    """The supernet's accuracy and loss on the search's validation half (its fixed order)."""
    from zodarts.train.metrics import batch_accuracy

    net, correct, loss, n = loop.supernet, 0.0, 0.0, 0
    net.eval()
    for x, y in loop.eval_batches.epoch(0):
        logits = net(x).float()
        loss += loop.criterion(logits, y).item() * len(x)
        correct += batch_accuracy(logits, y).item() * len(x)
        n += len(x)
    return correct / n, loss / n


def supernet_scores(run_dir: Path, table: Table, device: str = "cpu",
                    bn_batches: int = BN_BATCHES) -> list[dict[str, Any]]:
    """Accuracy and loss of each landscape architecture as a sub-network of ``run_dir``'s
    trained supernet."""
    from zodarts.search.loop import load_search

    loop = load_search(run_dir, device)
    net = loop.supernet
    if not loop.searcher_cls.uses_alpha:
        raise ConfigError(f"{run_dir} is a {loop.config.method} search: it trains no supernet")
    scores = []
    original = {k: v.clone() for k, v in net.state_dict().items()}
    size_search = net.size_search
    for arch in table.archs:
        genotype = dataclasses.replace(arch.genotype, in_channels=net.in_channels,
                                       num_classes=net.num_classes, C=net.C)
        if arch.genotype.C != net.C or any(s.depth > net.cells_per_stage
                                            for s in genotype.stages):
            raise ConfigError(f"{run_dir}'s supernet (C={net.C}, {net.cells_per_stage} cells per "
                              f"stage) cannot hold the landscape's {arch.id} (C="
                              f"{arch.genotype.C}): search and landscape need the same preset")
        net.set_architecture(genotype)
        recalibrate_batchnorm(net, loop.train_batches.epoch(0), bn_batches)
        acc, loss = _evaluate(loop)
        scores.append({"id": arch.id, "supernet_acc": acc, "supernet_loss": loss})
        net.load_state_dict(original)   # the next genotype starts from the trained supernet
        net.size_search = size_search
    return scores


def rank_supernet(table: Table, run_dir: str | Path, label: str | None = None,
                  device: str = "cpu") -> dict[str, Any]:
    """The supernet's scores of the landscape and their rank correlation with the stand-alone
    means (test ACC and val ACC); written to DIR/supernet/LABEL.json. LABEL: ``label``, else a
    sweep trial's cell, else the run folder's name."""
    import numpy as np

    from zodarts.config import SearchConfig, load_config
    from zodarts.landscape.place import run_label
    from zodarts.rundir import RunPaths
    from zodarts.stats import rank_correlation

    run_dir = Path(run_dir)
    label = label or run_label(run_dir)
    method = load_config(SearchConfig, RunPaths(run_dir).config).method
    scores = supernet_scores(run_dir, table, device)
    by_id = {s["id"]: s for s in scores}
    complete = table.complete()
    supernet = np.array([by_id[a.id]["supernet_acc"] for a in complete])
    result = {"label": label, "run": str(run_dir.resolve()), "method": method,
              "scores": scores, "bn_batches": BN_BATCHES,
              "against_test_acc": dataclasses.asdict(
                  rank_correlation(supernet, table.means("test_acc"))),
              "against_val_acc": dataclasses.asdict(
                  rank_correlation(supernet, table.means("val_acc")))}
    path = table.root / SUPERNET / f"{label_folder(label)}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(result, indent=1) + "\n")
    return result
