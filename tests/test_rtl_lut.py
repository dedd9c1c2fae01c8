"""The LUT binary-coded GEMM three times over, on sim.lut_pe's golden workloads (integer path):

    Triton kernel (interpreted on the CPU here, scales 2^e) == torch reference
        == cycle model (closed form and clock-stepped) == lut_pe.v on Icarus and Verilator,

bit for bit, and the start->done cycles the cocotb bench measures == the model's
M * (K/8) * (263 + q*N). All golden workloads go through one simulator run per simulator
(Icarus builds in well under a second, Verilator in about five).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels.lut_gemm import (
    count_lut_ops,
    lut_gemm,
    lut_gemm_pow2,
    lut_gemm_pow2_reference,
    lut_gemm_reference,
)
from rtl_models.lut_cosim import CosimError, run_lut_cosim, run_lut_cosim_batch
from rtl_models.testing import SIMS, broken_rtl, needs, run_cache
from sim.lut_pe import (
    BUILD_CYCLES,
    LutPEConfig,
    estimate_lut_gemm,
    lut_cycles,
    lut_edge_workloads,
    simulate_lut_gemm,
    table_direct,
)

WORKLOADS = lut_edge_workloads(seed=0)
NAMES = [w[0] for w in WORKLOADS]


def kernel_y(x, packed, exps, g) -> np.ndarray:
    """The Triton kernel's integer path with the PE's power-of-two scales, alpha = 2^e."""
    args = (torch.from_numpy(x), torch.from_numpy(packed), torch.from_numpy((1 << exps).astype(np.int32)), g)
    y = lut_gemm(*args)
    assert torch.equal(y, lut_gemm_reference(*args))
    pow2_args = (torch.from_numpy(x), torch.from_numpy(packed), torch.from_numpy(exps), g)
    assert torch.equal(lut_gemm_pow2(*pow2_args), y) and torch.equal(lut_gemm_pow2_reference(*pow2_args), y)
    return y.numpy()


# ------------------------------------------------------------------------------- model alone
def test_gray_code_table_build_equals_definition():
    rng = np.random.default_rng(3)
    for x8 in [rng.integers(-128, 128, 8), np.full(8, -128), np.full(8, 127), np.zeros(8, np.int64)]:
        res = simulate_lut_gemm(np.asarray(x8, np.int8)[None, :], np.arange(32, dtype=np.uint8).reshape(1, 32, 1),
                                np.zeros((1, 32, 1), np.int64), 8, mode="stepwise")
        np.testing.assert_array_equal(res.y[0], table_direct(x8)[:32])


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 3), st.integers(1, 6), st.integers(1, 4), st.integers(1, 4), st.integers(0, 2**31))
def test_model_stepwise_equals_closed_form(m, n, kbytes, q, seed):
    rng = np.random.default_rng(seed)
    k = 8 * kbytes
    g = 8 * int(rng.choice([d for d in range(1, kbytes + 1) if kbytes % d == 0]))
    x = rng.integers(-128, 128, (m, k), dtype=np.int8)
    packed = rng.integers(0, 256, (q, n, kbytes), dtype=np.uint8)
    exps = rng.integers(0, 16, (q, n, k // g))
    fast = simulate_lut_gemm(x, packed, exps, g)
    step = simulate_lut_gemm(x, packed, exps, g, mode="stepwise")  # raises if cycles or events differ
    np.testing.assert_array_equal(fast.y, step.y)
    assert fast.cycles == step.cycles == m * kbytes * (BUILD_CYCLES + q * n)
    ops = count_lut_ops(m, n, k, q, g)  # the kernel's counter describes the same algorithm
    assert (fast.events["table_builds"], fast.events["table_writes"], fast.events["table_reads"]) == \
        (ops.table_builds, ops.table_writes, ops.table_reads)
    assert fast.events["adds"] == ops.table_build_adds + ops.accumulate_adds


def test_model_events_and_estimate():
    est = estimate_lut_gemm(2, 3, 16, 2, 8)
    assert est.y is None and est.cycles == lut_cycles(2, 16, 3, 2) == 2 * 2 * (263 + 6)
    assert est.lookup_utilisation == 6 / (263 + 6)
    ev = est.events
    assert ev["table_builds"] == 4 and ev["table_writes"] == 1024 and ev["table_reads"] == 24
    assert ev["adds"] == 4 * 263 + 24 and ev["shifts"] == 24 and ev["reg_writes"] == 4 * 263 + 24


X = np.zeros((2, 16), np.int8)
P = np.zeros((2, 3, 2), np.uint8)
E = np.zeros((2, 3, 2), np.int64)


@pytest.mark.parametrize("args,exc,message", [
    ((X.astype(float), P, E, 8), TypeError, r"x must be a 2-D integer array \(M, K\), got dtype float64"),
    ((X.astype(np.int16) + 200, P, E, 8), ValueError, r"x holds values outside int8 \[-128, 127\]"),
    ((X, P.astype(np.int8), E, 8), TypeError, r"packed must be a 3-D uint8 array \(q, N, K/8\)"),
    ((X[:, :8], P, E, 8), ValueError, r"packed has 2 bytes per row \(K = 16\) but x has K = 8"),
    ((X, np.zeros((5, 3, 2), np.uint8), E, 8), ValueError, r"q must be in 1..4, got 5"),
    ((X, P, E, 12), ValueError, r"group_size must be a positive multiple of 8 dividing K = 16, got 12"),
    ((X, P, E[:, :, :1], 8), ValueError, r"exps must be an integer array of shape \(q, N, K/g\) = \(2, 3, 2\)"),
    ((X, P, E + 16, 8), ValueError, r"exps must lie in 0..15 \(4-bit exponents\), got min 16, max 16"),
])
def test_model_rejects_bad_input(args, exc, message):
    with pytest.raises(exc, match=message):
        simulate_lut_gemm(*args)


def test_model_rejects_possible_int32_overflow():
    x = np.zeros((1, 512), np.int8)
    with pytest.raises(ValueError, match=r"int32 overflow possible: q \* K \* 128 \* 2\^max_exp = 4294967296"):
        simulate_lut_gemm(x, np.zeros((4, 1, 64), np.uint8), np.full((4, 1, 64), 14), 8, LutPEConfig(exp_bits=5))


# ------------------------------------------------------------------------------- three ways
@pytest.fixture(scope="module")
def golden():
    """Per workload: the kernel's y and the model's result (fast and stepwise agree)."""
    out = {}
    for name, x, packed, exps, g in WORKLOADS:
        model = simulate_lut_gemm(x, packed, exps, g)
        step = simulate_lut_gemm(x, packed, exps, g, mode="stepwise")
        np.testing.assert_array_equal(model.y, step.y, err_msg=name)
        out[name] = (kernel_y(x, packed, exps, g), model)
    return out


def test_kernel_equals_model(golden):
    for name, (y_kernel, model) in golden.items():
        assert y_kernel.dtype == np.int32
        np.testing.assert_array_equal(y_kernel, model.y, err_msg=name)


@pytest.fixture(scope="module")
def rtl_runs():
    """sim -> {workload name: CosimOutcome}, one simulator run per simulator, on demand."""
    return run_cache(lambda sim: run_lut_cosim_batch([w[1:] for w in WORKLOADS], sim=sim, seed=0), NAMES)


@pytest.mark.rtl
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("sim", SIMS)
def test_rtl_equals_kernel_and_model(golden, rtl_runs, sim, name):
    y_kernel, model = golden[name]
    res = rtl_runs(sim)[name]
    assert res.sim == sim and res.values.dtype == np.int32
    np.testing.assert_array_equal(res.values, y_kernel)
    np.testing.assert_array_equal(res.values, model.y)
    assert res.cycles == model.cycles


@pytest.mark.rtl
def test_bench_catches_an_rtl_cycle_off_by_one(tmp_path, monkeypatch):
    """Cycles are measured: a table build one cycle too long (2 tables here) must fail the bench."""
    needs("icarus")
    # the table builder lut_pe instantiates
    build_root = broken_rtl(tmp_path, monkeypatch, "lut_builder.v", "LAST_BUILD = 9'd262", "LAST_BUILD = 9'd263",
                            count=None)
    x = np.ones((1, 16), np.int8)
    with pytest.raises(CosimError, match=r"workload 0 \(M=1 N=1 K=16 q=1 g=8\): 530 cycles, model 528"):
        run_lut_cosim(x, np.zeros((1, 1, 2), np.uint8), np.zeros((1, 1, 2), np.int64), 8, build_root=build_root)


@pytest.mark.parametrize("kwargs,message", [
    (dict(sim="vcs"), r"sim must be one of \('icarus', 'verilator'\), got 'vcs'"),
    (dict(seed="x"), r"seed must be an integer, got 'x'"),
    (dict(exps=E + 16), r"exps must lie in 0..15"),
])
def test_cosim_rejects_bad_arguments(kwargs, message):
    args = dict(x=X, packed=P, exps=E, group_size=8) | kwargs
    with pytest.raises(ValueError, match=message):
        run_lut_cosim(**args)


def test_pow2_adapter_rejects_bad_exponents():
    x, p = torch.zeros((1, 8), dtype=torch.int8), torch.zeros((1, 1, 1), dtype=torch.uint8)
    with pytest.raises(ValueError, match=r"exps must lie in 0..30 \(int32 scales 2\^e\), got min -1, max -1"):
        lut_gemm_pow2(x, p, torch.full((1, 1, 1), -1), 8)
    with pytest.raises(TypeError, match=r"exps must be an integer tensor of scale exponents, got torch.float32"):
        lut_gemm_pow2(x, p, torch.zeros((1, 1, 1)), 8)


def test_cosim_batch_needs_workloads():
    with pytest.raises(ValueError, match="at least one"):
        run_lut_cosim_batch([])
    with pytest.raises(ValueError, match=r"workload 0 must be an \(x, packed, exps, group_size\) tuple"):
        run_lut_cosim_batch([(X, P)])
