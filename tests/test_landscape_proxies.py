"""Zero-cost proxies against hand computations on networks small enough to work out in numpy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from zodarts.landscape.proxies import grad_norm, naswot, synflow, zero_cost_proxies
from zodarts.space import sample_genotype

# Dyadic values: exact in the float32 model, so the float64 hand computation can be held to
# float64 precision.
W1 = np.array([[0.5, -1.0, 2.0],
               [-0.375, 0.25, 0.125],
               [1.5, 0.0, -0.75],
               [-2.0, 0.625, 0.875]])
W2 = np.array([[1.0, -0.5, 0.25, -2.0],
               [-0.125, 0.375, -1.25, 0.75]])
B1 = np.array([-0.5, 0.25, -1.0, 2.0])
B2 = np.array([-3.0, 0.5])


def _linear(weight: np.ndarray, bias: np.ndarray | None) -> nn.Linear:
    layer = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
    with torch.no_grad():
        layer.weight.copy_(torch.as_tensor(weight))
        if bias is not None:
            layer.bias.copy_(torch.as_tensor(bias))
    return layer


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _assert_unchanged(model: nn.Module, before: dict[str, torch.Tensor]) -> None:
    after = model.state_dict()
    assert after.keys() == before.keys()
    for k, v in before.items():
        assert after[k].dtype == v.dtype, k
        assert torch.equal(after[k], v), k
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("with_bias", [False, True])
def test_synflow_matches_hand_computation(with_bias: bool) -> None:
    b1, b2 = (B1, B2) if with_bias else (None, None)
    model = nn.Sequential(_linear(W1, b1), nn.ReLU(), _linear(W2, b2))
    before = _state(model)

    a1, a2 = np.abs(W1), np.abs(W2)
    # With every parameter made positive and an all-ones input, nothing is cut by the ReLU:
    # h = |W1| 1 + |b1|, R = 1ᵀ(|W2| h + |b2|), so ∂R/∂W1_jk = colsum(|W2|)_j · 1 and
    # ∂R/∂W2_ij = h_j. Biases shape R but are not summed into the score.
    h = a1.sum(axis=1) + (np.abs(b1) if with_bias else 0.0)
    colsum2 = a2.sum(axis=0)
    expected = (a1 * colsum2[:, None]).sum() + (a2 * h[None, :]).sum()
    if not with_bias:
        # Synaptic flow is conserved: each layer of a bias-free chain carries exactly R.
        assert expected == pytest.approx(2 * (colsum2 @ a1.sum(axis=1)))

    assert synflow(model, (3,)) == pytest.approx(expected, rel=1e-12)
    _assert_unchanged(model, before)
    assert model[0].weight.dtype == torch.float32


def test_synflow_sees_batchnorm_at_init_as_almost_identity() -> None:
    # Conv weights of -1 and 2 on a 1×1 kernel: |W| ones input gives 3 per position before BN;
    # eval-mode BN at init divides by sqrt(1 + eps), its weight 1 and bias 0 stay so under abs.
    conv = nn.Conv2d(1, 2, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([-1.0, 2.0]).view(2, 1, 1, 1))
    model = nn.Sequential(conv, nn.BatchNorm2d(2), nn.Flatten(), _linear(np.ones((1, 8)), None))
    model.train()
    before = _state(model)
    s = 1.0 / math.sqrt(1.0 + 1e-5)
    # Output R = Σ_positions Σ_channels s·|w_c|; each flow term equals R for both layers.
    r = 4 * s * 3.0
    assert synflow(model, (1, 2, 2)) == pytest.approx(2 * r, rel=1e-12)
    _assert_unchanged(model, before)
    assert model.training


def test_grad_norm_matches_softmax_regression_closed_form() -> None:
    rng = np.random.default_rng(3)
    w = rng.normal(size=(2, 3))
    x = rng.normal(size=(5, 3))
    y = np.array([0, 1, 1, 0, 1])
    model = _linear(w, None)
    before = _state(model)

    logits = x @ w.T
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    grad = (p - np.eye(2)[y]).T @ x / len(y)
    expected = np.linalg.norm(grad)

    got = grad_norm(model, torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y),
                    nn.CrossEntropyLoss())
    assert got == pytest.approx(expected, rel=1e-5)
    _assert_unchanged(model, before)


def test_grad_norm_leaves_batchnorm_statistics_alone() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(8, 3))
    model.eval()
    before = _state(model)
    x, y = torch.randn(4, 1, 4, 4) + 5.0, torch.tensor([0, 1, 2, 0])
    assert grad_norm(model, x, y, nn.CrossEntropyLoss()) > 0
    _assert_unchanged(model, before)
    assert not model.training


def _two_relu_model() -> nn.Sequential:
    return nn.Sequential(
        _linear(np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), np.array([0.0, 0.0, -1.0])),
        nn.ReLU(),
        _linear(np.array([[1.0, -1.0, 1.0]]), np.array([-0.5])),
        nn.ReLU(),
    )


def test_naswot_matches_hand_computed_kernel() -> None:
    x = torch.tensor([[1.0, 1.0], [-1.0, 1.0], [1.0, -1.0], [-1.0, -1.0]])
    # First ReLU's inputs: (x1, x2, x1 + x2 - 1) → codes 111, 010, 100, 000; its outputs
    # (1,1,1), (0,1,0), (1,0,0), (0,0,0) give the second ReLU the inputs 0.5, -1.5, 0.5, -0.5,
    # codes 1, 0, 1, 0.
    codes = np.array([[1, 1, 1, 1], [0, 1, 0, 0], [1, 0, 0, 1], [0, 0, 0, 0]])
    hamming = (codes[:, None, :] != codes[None, :, :]).sum(axis=2)
    kernel = 4 - hamming
    assert kernel.tolist() == [[4, 1, 2, 0], [1, 4, 1, 3], [2, 1, 4, 2], [0, 3, 2, 4]]
    sign, expected = np.linalg.slogdet(kernel.astype(float))
    assert sign != 0

    model = _two_relu_model()
    before = _state(model)
    assert naswot(model, x) == pytest.approx(expected, rel=1e-12)
    _assert_unchanged(model, before)


def test_naswot_is_minus_infinity_for_identical_codes() -> None:
    # Two inputs with the same activation pattern make two rows of K equal.
    x = torch.tensor([[1.0, 1.0], [2.0, 3.0], [-1.0, 1.0]])
    assert naswot(_two_relu_model(), x) == -math.inf


def _tiny_genotype(num_classes: int):
    genotype = sample_genotype(0, 1, num_classes, C=4, cells_per_stage=1, image_size=8)
    assert genotype.disconnected_stages() == []
    return genotype


def _batch(n: int = 8) -> torch.Tensor:
    return torch.randn(n, 1, 8, 8, generator=torch.Generator().manual_seed(1))


def test_zero_cost_proxies_on_a_real_network_are_finite_and_deterministic() -> None:
    genotype = _tiny_genotype(10)
    x, y = _batch(), torch.arange(8) % 10
    rng_before = torch.get_rng_state()
    a = zero_cost_proxies(genotype, x, y, "multi-class", seed=0)
    assert torch.equal(torch.get_rng_state(), rng_before)
    b = zero_cost_proxies(genotype, x, y, "multi-class", seed=0)
    c = zero_cost_proxies(genotype, x, y, "multi-class", seed=1)

    assert set(a) == {"synflow", "grad_norm", "naswot", "seconds"}
    assert all(math.isfinite(v) for v in a.values())
    assert a["synflow"] > 0 and a["grad_norm"] > 0 and a["seconds"] >= 0
    assert {k: a[k] for k in ("synflow", "grad_norm", "naswot")} == \
        {k: b[k] for k in ("synflow", "grad_norm", "naswot")}
    assert (c["synflow"], c["grad_norm"]) != (a["synflow"], a["grad_norm"])


def test_zero_cost_proxies_multi_label() -> None:
    genotype = _tiny_genotype(3)
    x = _batch()
    y = (torch.arange(24).view(8, 3) % 2 == 0).float()
    out = zero_cost_proxies(genotype, x, y, "multi-label", seed=0)
    assert all(math.isfinite(out[k]) for k in ("synflow", "grad_norm", "naswot"))
    assert out["grad_norm"] > 0
