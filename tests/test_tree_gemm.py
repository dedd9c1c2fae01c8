"""The multiplier-adder tree engine and its OPT2 same-bit-weight variant: kernel == model == RTL."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels.int8_gemm import int8_gemm
from rtl_models.testing import needs
from rtl_models.tree_gemm_cosim import run_tree_cosim_batch
from sim.adder_tree import (
    PES,
    TreeConfig,
    edge_workloads,
    estimate_gemm,
    sbw_column_sums,
    simulate_gemm,
)
from sim.digits import booth_radix4_digits

WORKLOADS = edge_workloads(seed=7)


@pytest.mark.parametrize("pe", PES)
@settings(max_examples=25, deadline=None)
@given(m=st.integers(1, 6), n=st.integers(1, 9), k=st.integers(1, 40), tk=st.integers(2, 17), tn=st.integers(1, 5),
       rows=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_model_is_exact_and_estimate_matches(pe, m, n, k, tk, tn, rows, seed):
    rng = np.random.default_rng(seed)
    a = rng.integers(-128, 128, (m, k)).astype(np.int8)
    b = rng.integers(-128, 128, (k, n)).astype(np.int8)
    cfg = TreeConfig(tk, tn, pe, rows=rows)
    r = simulate_gemm(a, b, cfg)
    assert np.array_equal(r.c, (a.astype(np.int64) @ b.astype(np.int64)).astype(np.int32))
    folds, groups = -(-n // tn) * -(-k // tk), -(-m // rows)
    assert r.fold_cycles == [tk + groups + 1] * folds and r.cycles == folds * (tk + groups + 1)
    e = estimate_gemm(m, n, k, cfg)
    assert e.cycles == r.cycles and e.events["macs"] == m * n * k == r.events["macs"]
    assert e.events["tree_slots"] == r.events["tree_slots"] == groups * rows * tk * tn * folds


def test_same_bit_weight_sums_recombine():
    rng = np.random.default_rng(1)
    a = rng.integers(-128, 128, 16)
    b = rng.integers(-128, 128, (16, 4))
    s = sbw_column_sums(a, b)
    assert s.shape == (4, 4)
    assert np.array_equal(np.array([1, 4, 16, 64]) @ s, a @ b)
    # each per-weight sum is narrow: |S_j| <= 2 * 128 * K
    assert np.abs(s).max() <= 2 * 128 * 16
    assert (booth_radix4_digits(a) != 0).sum() > 0


def test_kernel_equals_model():
    for name, a, b in WORKLOADS:
        c_kernel = int8_gemm(torch.from_numpy(a), torch.from_numpy(b)).numpy()
        for pe in PES:
            assert np.array_equal(c_kernel, simulate_gemm(a, b, TreeConfig(5, 3, pe)).c), (name, pe)


@pytest.mark.parametrize("sim", ["icarus", "verilator"])
@pytest.mark.parametrize("pe", PES)
@pytest.mark.parametrize("shape", [(5, 3, 1), (3, 3, 3)], ids=["tree_5x3", "cube_3x3x3"])
def test_rtl_equals_model_and_kernel(sim, pe, shape):
    needs(sim)
    k, n, rows = shape
    cfg = TreeConfig(k, n, pe, rows=rows)
    res = run_tree_cosim_batch([(a, b) for _, a, b in WORKLOADS], cfg, sim=sim)
    for (name, a, b), r in zip(WORKLOADS, res):
        model = simulate_gemm(a, b, cfg)
        assert np.array_equal(r.c, model.c), name
        assert r.fold_cycles == model.fold_cycles, name
        assert np.array_equal(r.c, int8_gemm(torch.from_numpy(a), torch.from_numpy(b)).numpy()), name


@pytest.mark.parametrize("pe", PES)
def test_rtl_paper_tile_k16(pe):
    """The paper's K = 16 tile, 4 columns, on real-model INT8 data (Icarus)."""
    needs("icarus")
    from kernels.real_tensors import real_int8_gemms

    _, a, b = real_int8_gemms(max_m=6, max_n=5, max_k=40, layers=["blocks.1.ffn_down"])[0]
    cfg = TreeConfig(16, 4, pe)
    r = run_tree_cosim_batch([(a, b)], cfg, sim="icarus")[0]
    model = simulate_gemm(a, b, cfg)
    assert np.array_equal(r.c, model.c) and r.fold_cycles == model.fold_cycles


@pytest.mark.parametrize("kwargs,message", [
    ({"k": 1}, r"k must be >= 2"),
    ({"k": 300}, r"k must be an integer tile size in 1..256, got 300"),
    ({"n": 0}, r"n must be an integer tile size in 1..256, got 0"),
    ({"pe": "booth"}, r"pe must be one of \('mult', 'sbw'\)"),
    ({"acc_bits": 16}, r"acc_bits must be 32"),
    ({"rows": 0}, r"rows must be an integer tile size in 1..256, got 0"),
])
def test_config_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TreeConfig(**kwargs)


def test_operand_errors():
    a = np.zeros((2, 3), np.int8)
    with pytest.raises(ValueError, match=r"shape mismatch: a is \(2, 3\) \(M x K\) but b is \(4, 2\)"):
        simulate_gemm(a, np.zeros((4, 2), np.int8))
    with pytest.raises(ValueError, match="GEMM dimension N must be a positive integer"):
        estimate_gemm(1, 0, 4, TreeConfig())
    with pytest.raises(TypeError, match="cfg must be a sim.adder_tree.TreeConfig"):
        run_tree_cosim_batch([(a, a.T)], {"k": 4})
    with pytest.raises(ValueError, match="sim must be one of"):
        run_tree_cosim_batch([(a, a.T)], TreeConfig(), sim="vcs")
    with pytest.raises(ValueError, match="workload 0 must be an"):
        run_tree_cosim_batch([a], TreeConfig())
