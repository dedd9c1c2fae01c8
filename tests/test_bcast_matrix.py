"""The 2D-matrix (broadcast) engine, MAC and OPT1 PEs: kernel == model == RTL, results and cycles."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels.int8_gemm import int8_gemm
from rtl_models.bcast_cosim import run_bcast_cosim_batch
from rtl_models.testing import needs
from sim.broadcast import (
    PES,
    BroadcastConfig,
    edge_workloads,
    estimate_gemm,
    simulate_gemm,
)

WORKLOADS = edge_workloads(seed=3)


@pytest.mark.parametrize("pe", PES)
@settings(max_examples=20, deadline=None)
@given(m=st.integers(1, 9), n=st.integers(1, 9), k=st.integers(1, 30), r=st.integers(1, 5), c=st.integers(1, 5),
       seed=st.integers(0, 2**16))
def test_model_is_exact_and_estimate_matches(pe, m, n, k, r, c, seed):
    rng = np.random.default_rng(seed)
    a = rng.integers(-128, 128, (m, k)).astype(np.int8)
    b = rng.integers(-128, 128, (k, n)).astype(np.int8)
    cfg = BroadcastConfig(r, c, pe)
    res = simulate_gemm(a, b, cfg)
    assert np.array_equal(res.c, (a.astype(np.int64) @ b.astype(np.int64)).astype(np.int32))
    folds = -(-m // r) * -(-n // c)
    per_fold = 1 + k + r + 2 * (pe == "booth_csa")
    assert res.fold_cycles == [per_fold] * folds
    est = estimate_gemm(m, n, k, cfg)
    assert est.cycles == res.cycles and est.events == res.events and est.events["macs"] == m * n * k


# Icarus here; Verilator runs these tops in tests/test_crosscheck.py (one build per engine, shared)
@pytest.mark.parametrize("sim", ["icarus"])
@pytest.mark.parametrize("pe", PES)
def test_rtl_equals_model_and_kernel(sim, pe):
    needs(sim)
    cfg = BroadcastConfig(3, 4, pe)
    for (name, a, b), r in zip(WORKLOADS, run_bcast_cosim_batch([(a, b) for _, a, b in WORKLOADS], cfg, sim=sim)):
        model = simulate_gemm(a, b, cfg)
        assert np.array_equal(r.values, model.c) and list(r.fold_cycles) == model.fold_cycles, name
        assert np.array_equal(r.values, int8_gemm(torch.from_numpy(a), torch.from_numpy(b)).numpy()), name


@pytest.mark.parametrize("kwargs,message", [
    ({"rows": 0}, r"rows must be an integer in 1..64, got 0"),
    ({"cols": 65}, r"cols must be an integer in 1..64, got 65"),
    ({"pe": "sbw"}, r"pe must be one of \('mac', 'booth_csa'\)"),
    ({"acc_bits": 24}, r"acc_bits must be 32"),
])
def test_config_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BroadcastConfig(**kwargs)


def test_operand_errors():
    a = np.zeros((2, 3), np.int8)
    with pytest.raises(ValueError, match=r"shape mismatch"):
        simulate_gemm(a, np.zeros((2, 2), np.int8))
    with pytest.raises(ValueError, match="GEMM dimension K must be a positive integer"):
        estimate_gemm(1, 1, 0, BroadcastConfig())
    with pytest.raises(TypeError, match="cfg must be a BroadcastConfig, got tuple"):
        run_bcast_cosim_batch([(a, a.T)], (3, 3))
    with pytest.raises(ValueError, match="workloads must be a non-empty list"):
        run_bcast_cosim_batch([], BroadcastConfig())
