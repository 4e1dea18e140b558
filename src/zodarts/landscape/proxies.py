"""Zero-cost proxies: scores of an untrained network, computed once at initialisation on one
fixed batch, to ask whether something this cheap ranks architectures the way their trained
accuracy does.

Three proxies, each as the NAS literature defines it:

* :func:`synflow`: SynFlow (Tanaka et al., NeurIPS 2020) as used for NAS by Abdelfattah et al.,
  "Zero-Cost Proxies for Lightweight NAS", ICLR 2021; needs no data, only the input shape;
* :func:`grad_norm`: Abdelfattah et al. 2021's gradient norm on a labelled batch;
* :func:`naswot`: Mellor et al., "Neural Architecture Search without Training", ICML 2021; the
  log-determinant of the ReLU activation-pattern kernel of an unlabelled batch.

Each works on a deep copy of the model it is given: a forward pass in train mode updates
BatchNorm running statistics, and SynFlow rewrites every parameter, so the caller's model (and
the next proxy computed from it) sees the network exactly as it was.
:func:`zero_cost_proxies` builds one genotype's network under a given seed and computes all three.
"""

from __future__ import annotations

import copy
import math
import time

import torch
from torch import nn

from zodarts.space import Genotype, build_network
from zodarts.train.metrics import make_criterion

# The layers whose weights the proxies sum over, as in Abdelfattah et al.'s code: convolution
# and linear weights only, never biases or BatchNorm's affine parameters.
_WEIGHTED_LAYERS = (nn.Conv2d, nn.Linear)


def _weighted_layers(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, _WEIGHTED_LAYERS)]


def synflow(model: nn.Module, input_shape: tuple[int, ...] | torch.Size) -> float:
    """SynFlow score of ``model`` (data-free).

    Source: Tanaka et al., "Pruning neural networks without any data by iteratively conserving
    synaptic flow", NeurIPS 2020, used as a NAS proxy ("synflow") by Abdelfattah et al.,
    "Zero-Cost Proxies for Lightweight NAS", ICLR 2021.

    Computed on a deep copy of ``model`` converted to float64 and put in eval mode:

    1. every parameter ``θ`` is replaced by ``|θ|`` (buffers are kept; at initialisation
       BatchNorm's running mean is 0 and variance 1, so in eval mode each BatchNorm is
       ``x / sqrt(1 + eps)``, about the identity: the network seen without data, which is what
       the proxy is meant to measure; train-mode statistics of a single constant input would
       instead normalise most of the signal away);
    2. one all-ones input of shape ``(1, *input_shape)`` is fed forward and
       ``R = Σ outputs``;
    3. ``R`` is backpropagated and the score is
       ``Σ_{layers ∈ Conv2d, Linear} Σ |W ⊙ ∂R/∂W|`` over their (absolute-valued) weights.

    Float64 because ``R`` grows geometrically with depth (each all-positive layer multiplies
    it by roughly ``sqrt(fan_in)/2`` under PyTorch's default initialisation) and overflows
    float32 for deep networks (about 1e40 for three cells of 7×7 convolutions per stage,
    C = 16, 28×28 inputs, far below float64's 1e308). The raw sum is returned as is: rankings
    depend only on its order, so no log is taken; ``inf`` would mean float64 overflowed.
    The caller's model is not modified.
    """
    net = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
    for p in net.parameters():
        p.requires_grad_(True)
        p.grad = None
    device = next(net.parameters()).device
    ones = torch.ones((1, *tuple(input_shape)), dtype=torch.float64, device=device)
    net(ones).sum().backward()
    total = 0.0
    with torch.no_grad():
        for layer in _weighted_layers(net):
            if layer.weight.grad is not None:
                total += float((layer.weight * layer.weight.grad).abs().sum())
    return total


def grad_norm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, criterion: nn.Module) -> float:
    """Gradient-norm score of ``model`` on the batch ``(x, y)``.

    Source: "grad_norm" of Abdelfattah et al., "Zero-Cost Proxies for Lightweight NAS",
    ICLR 2021.

    On a deep copy of ``model`` in train mode (BatchNorm normalises with batch statistics):
    ``loss = criterion(model(x), y)``, one backward pass, and the score is
    ``Σ_{layers ∈ Conv2d, Linear} ‖∂loss/∂W‖_F``, the sum of the Frobenius norms of the
    weight gradients (biases and BatchNorm parameters excluded). The caller's model, its
    weights, gradients and BatchNorm running statistics, is not modified.
    """
    net = copy.deepcopy(model).train()
    for p in net.parameters():
        p.requires_grad_(True)
        p.grad = None
    criterion(net(x), y).backward()
    total = 0.0
    for layer in _weighted_layers(net):
        if layer.weight.grad is not None:
            total += float(layer.weight.grad.norm())
    return total


def naswot(model: nn.Module, x: torch.Tensor) -> float:
    """NASWOT score of ``model`` on the inputs ``x`` (labels are not used).

    Source: Mellor et al., "Neural Architecture Search without Training", ICML 2021.

    On a deep copy of ``model`` in train mode (as in the authors' code), without gradients:
    for every ``nn.ReLU`` module, each input ``i`` of the batch gets the binary code
    ``c = (input to the ReLU > 0)``, flattened; the codes of all ReLUs concatenated give one
    vector ``c_i`` of ``U`` units per input. With ``C`` the ``N × U`` matrix of codes,
    ``K = C Cᵀ + (1 − C)(1 − C)ᵀ`` (``K_ij = U − Hamming(c_i, c_j)``), and the score is
    ``log|det K|`` from ``torch.linalg.slogdet`` in float64. If ``K`` is singular (slogdet's
    sign is 0, e.g. two inputs with identical codes), the score is ``-inf``.
    """
    net = copy.deepcopy(model).train()
    n = x.shape[0]
    kernel = torch.zeros((n, n), dtype=torch.float64, device=x.device)

    # K is a sum over units, so each ReLU's share is added as it is seen: the concatenated
    # code vector of a large network never has to be held at once. The pre-hook reads the
    # ReLU's input even where the ReLU is in place.
    def record(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        codes = (inputs[0].reshape(n, -1) > 0).to(torch.float64)
        kernel.add_(codes @ codes.T + (1.0 - codes) @ (1.0 - codes).T)

    handles = [m.register_forward_pre_hook(record) for m in net.modules()
               if isinstance(m, nn.ReLU)]
    try:
        with torch.no_grad():
            net(x)
    finally:
        for h in handles:
            h.remove()
    sign, logabsdet = torch.linalg.slogdet(kernel)
    if float(sign) == 0.0:
        return -math.inf
    return float(logabsdet)


def zero_cost_proxies(genotype: Genotype, x: torch.Tensor, y: torch.Tensor, task: str,
                      seed: int = 0) -> dict[str, float]:
    """SynFlow, grad_norm and NASWOT of ``genotype``'s network at initialisation.

    The network is ``build_network(genotype)`` initialised under ``torch.manual_seed(seed)``
    inside ``torch.random.fork_rng(devices=[])``: the same weights for all three proxies, a
    function of ``seed`` alone, and the caller's global CPU RNG state is left as it was.
    ``x`` is a normalised float batch ``(N, in_channels, H, W)``; ``y`` holds integer labels
    ``(N,)`` (binary, multi-class, ordinal) or 0/1 labels ``(N, L)`` (multi-label), and
    grad_norm's loss is ``make_criterion(task)``. SynFlow uses only ``x``'s shape, NASWOT only
    ``x``.

    Returns ``{"synflow": float, "grad_norm": float, "naswot": float, "seconds": float}``:
    the raw scores (see each function; ``synflow`` is the raw float64 sum, used as is for
    ranking) and the wall time of building the network and computing all three.
    """
    start = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_network(genotype).to(x.device)
    return {
        "synflow": synflow(model, tuple(x.shape[1:])),
        "grad_norm": grad_norm(model, x, y, make_criterion(task)),
        "naswot": naswot(model, x),
        "seconds": time.perf_counter() - start,
    }
