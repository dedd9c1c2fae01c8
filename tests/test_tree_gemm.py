"""The multiplier-adder tree engine and its OPT1 carry-save and OPT2 same-bit-weight variants:
kernel == model == RTL."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels.int8_gemm import int8_gemm
from rtl_models.csa_gen import VERILOG_DIR, csa_tree_verilog
from rtl_models.testing import needs
from rtl_models.tree_gemm_cosim import run_tree_cosim_batch
from sim.adder_tree import (
    CSA_KS,
    PES,
    TreeConfig,
    csa_correction,
    csa_tree_words,
    csa_unit_outputs,
    edge_workloads,
    estimate_gemm,
    sbw_column_sums,
    simulate_gemm,
)
from sim.digits import booth_radix4_digits

WORKLOADS = edge_workloads(seed=7)
# K x N x ROWS engines the RTL runs per datapath: csa only has generated trees for K in CSA_KS
RTL_SHAPES = {"mult": [(5, 3, 1), (3, 3, 3)], "sbw": [(5, 3, 1), (3, 3, 3)], "csa": [(16, 4, 1), (4, 4, 4)]}


@pytest.mark.parametrize("pe", PES)
@settings(max_examples=25, deadline=None)
@given(m=st.integers(1, 6), n=st.integers(1, 9), k=st.integers(1, 40), tk=st.integers(2, 17), tn=st.integers(1, 5),
       rows=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_model_is_exact_and_estimate_matches(pe, m, n, k, tk, tn, rows, seed):
    rng = np.random.default_rng(seed)
    a = rng.integers(-128, 128, (m, k)).astype(np.int8)
    b = rng.integers(-128, 128, (k, n)).astype(np.int8)
    if pe == "csa":
        tk = CSA_KS[tk % len(CSA_KS)]
    cfg = TreeConfig(tk, tn, pe, rows=rows)
    r = simulate_gemm(a, b, cfg)
    assert np.array_equal(r.c, (a.astype(np.int64) @ b.astype(np.int64)).astype(np.int32))
    folds, groups = -(-n // tn) * -(-k // tk), -(-m // rows)
    stages = 2 if pe == "csa" else 1  # csa: the (sum, carry) register, then the carry-propagate add
    assert r.fold_cycles == [tk + groups + stages] * folds and r.cycles == folds * (tk + groups + stages)
    e = estimate_gemm(m, n, k, cfg)
    assert e.cycles == r.cycles and e.events["macs"] == m * n * k == r.events["macs"]
    assert e.events["tree_slots"] == r.events["tree_slots"] == groups * rows * tk * tn * folds
    if pe == "csa":  # data-independent: the estimate is exact
        assert e.events == r.events
        trees = groups * rows * tn * folds
        assert r.events["booth_pps"] == 4 * groups * rows * tk * tn * folds
        assert r.events["csa_compressions"] == trees * 4 * tk  # 4K + 2 words down to 2: one word per 3:2
        assert r.events["cpa_adds"] == trees
        assert r.events["encodes"] == groups * rows * tk * folds


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


def test_csa_words_sum_to_every_int8_product_without_sign_extension():
    """OPT1's tree words: every one of the 65536 int8 products (with a partial sum) comes out of the
    carry-save tree exactly, and each partial-product word only holds bits 2j-2 .. 2j+9."""
    v = np.arange(-128, 128)
    a = np.zeros((256, 4), np.int64)
    a[:, 0] = v  # K = 4: product 0 carries the value, products 1..3 are padding (a = 0)
    b = np.zeros((4, 256), np.int64)
    b[0] = v
    psum = np.random.default_rng(3).integers(-2**20, 2**20, (256, 256))
    words = csa_tree_words(a, b, psum)
    assert len(words) == 4 * 4 + 2
    total = sum(w.astype(np.int64) for w in words)  # plain integer sum of the words
    assert np.array_equal(total % 2**32, (np.outer(v, v) + psum) % 2**32)
    for kk in range(4):
        for j in range(4):
            used = int(np.bitwise_or.reduce(words[4 * kk + j], axis=None))
            assert used >> (2 * j + 10) == 0 and used & ((1 << max(2 * j - 2, 0)) - 1) == 0, (kk, j, hex(used))
    assert np.array_equal(csa_unit_outputs(a, b, psum), (np.outer(v, v) + psum).astype(np.int32))


@pytest.mark.parametrize("k", CSA_KS)
def test_csa_correction_word_is_wires(k):
    """The correction 64 c3 - K (2^9 + 2^11 + 2^13 + 2^15): 64 c3 (c3 <= K) stays below the constant's
    lowest set bit, so tree_gemm.v's subtraction is an OR of wires; and the count is the top digits'."""
    const = (-k * (2**9 + 2**11 + 2**13 + 2**15)) % 2**32
    assert (64 * k) < (const & -const)
    rows = np.array([[-128] * k, [0] * k, [127] * k, [-1, -33] * (k // 2), list(range(-64, -64 + k))], np.int64)
    x = rows & 0xFF
    top = -2 * ((x >> 7) & 1) + ((x >> 6) & 1) + ((x >> 5) & 1)  # radix-4 digit 3: bits 7, 6, 5
    c3 = (top < 0).sum(axis=1)
    assert list(c3[:4]) == [k, 0, 0, k // 2]
    assert np.array_equal(csa_correction(rows, k), (64 * c3 + const) % 2**32)


def test_csa_trees_are_generated_for_every_csa_k():
    """Each K of CSA_KS has its committed csa_tree<4K+2>.v (as the generator writes it) and a branch
    of tree_gemm.v's generate chain."""
    chain = (VERILOG_DIR / "tree_gemm.v").read_text()
    for k in CSA_KS:
        path = VERILOG_DIR / f"csa_tree{4 * k + 2}.v"
        assert path.read_text() == csa_tree_verilog(4 * k + 2), path.name
        assert f"(CSA_IN == {4 * k + 2})" in chain and f"csa_tree{4 * k + 2} #(" in chain


def test_kernel_equals_model():
    for name, a, b in WORKLOADS:
        c_kernel = int8_gemm(torch.from_numpy(a), torch.from_numpy(b)).numpy()
        for pe in PES:
            cfg = TreeConfig(4 if pe == "csa" else 5, 3, pe)
            assert np.array_equal(c_kernel, simulate_gemm(a, b, cfg).c), (name, pe)


# Icarus here; Verilator runs these tops in tests/test_crosscheck.py (one build per engine, shared): mat, cube and their sbw / csa forms
@pytest.mark.parametrize("sim", ["icarus"])
@pytest.mark.parametrize("pe,shape", [(pe, shape) for pe in PES for shape in RTL_SHAPES[pe]],
                         ids=[f"{pe}-{'tree' if r == 1 else 'cube'}_{k}x{n}" + (f"x{r}" if r > 1 else "")
                              for pe in PES for k, n, r in RTL_SHAPES[pe]])
def test_rtl_equals_model_and_kernel(sim, pe, shape):
    needs(sim)
    k, n, rows = shape
    cfg = TreeConfig(k, n, pe, rows=rows)
    res = run_tree_cosim_batch([(a, b) for _, a, b in WORKLOADS], cfg, sim=sim)
    for (name, a, b), r in zip(WORKLOADS, res):
        model = simulate_gemm(a, b, cfg)
        assert np.array_equal(r.values, model.c), name
        assert list(r.fold_cycles) == model.fold_cycles, name
        assert np.array_equal(r.values, int8_gemm(torch.from_numpy(a), torch.from_numpy(b)).numpy()), name


def test_rtl_csa_cube_8():
    """OPT1 on the 8^3 cube (Icarus: a Verilator build of it costs a minute or more of the test run)."""
    needs("icarus")
    cfg = TreeConfig(8, 8, "csa", rows=8)
    rng = np.random.default_rng(8)
    work = [(rng.integers(-128, 128, (11, 19)).astype(np.int8), rng.integers(-128, 128, (19, 10)).astype(np.int8)),
            (np.full((8, 8), -128, np.int8), np.full((8, 8), -128, np.int8))]
    for (a, b), r in zip(work, run_tree_cosim_batch(work, cfg, sim="icarus")):
        model = simulate_gemm(a, b, cfg)
        assert np.array_equal(r.values, (a.astype(np.int64) @ b.astype(np.int64)).astype(np.int32))
        assert list(r.fold_cycles) == model.fold_cycles == [8 + -(-a.shape[0] // 8) + 2] * len(model.folds)


@pytest.mark.parametrize("pe", PES)
def test_rtl_paper_tile_k16(pe):
    """The paper's K = 16 tile, 4 columns, on real-model INT8 data (Icarus)."""
    needs("icarus")
    from kernels.models.real_tensors import real_int8_gemms

    _, a, b = real_int8_gemms(max_m=6, max_n=5, max_k=40, layers=["blocks.1.ffn_down"])[0]
    cfg = TreeConfig(16, 4, pe)
    r = run_tree_cosim_batch([(a, b)], cfg, sim="icarus")[0]
    model = simulate_gemm(a, b, cfg)
    assert np.array_equal(r.values, model.c) and list(r.fold_cycles) == model.fold_cycles


@pytest.mark.parametrize("kwargs,message", [
    ({"k": 1}, r"k must be >= 2"),
    ({"k": 300}, r"k must be an integer tile size in 1..256, got 300"),
    ({"n": 0}, r"n must be an integer tile size in 1..256, got 0"),
    ({"pe": "booth"}, r"pe must be one of \('mult', 'sbw', 'csa'\)"),
    ({"pe": "csa", "k": 5}, r"k must be one of \(4, 8, 16\) for pe='csa' .*got 5; .*python -m rtl_models\.csa_gen 22"),
    ({"pe": "csa", "k": 32, "n": 32, "rows": 32}, r"add csa_tree130 to the generate chain in rtl_models/verilog"),
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
    with pytest.raises(TypeError, match="cfg must be a TreeConfig, got dict"):
        run_tree_cosim_batch([(a, a.T)], {"k": 4})
    with pytest.raises(ValueError, match="sim must be one of"):
        run_tree_cosim_batch([(a, a.T)], TreeConfig(), sim="vcs")
    with pytest.raises(ValueError, match="workload 0 must be an"):
        run_tree_cosim_batch([a], TreeConfig())
