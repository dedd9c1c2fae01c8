"""The LUT array (one table builder, P look-up lanes, optional double-buffered table) three ways:

    Triton kernel lut_gemm_pow2 (interpreted on the CPU here) == cycle model (closed form and
        clock-stepped) == lut_array.v on Icarus (P = 1, 2, 3, 4; single and double buffer)
        and Verilator (P = 3, double buffer),

bit for bit on sim.lut_array's golden workloads (random, both accumulator extremes, N not a
multiple of P, N < P, lane-bound and builder-bound shapes), and the start->done cycles the
cocotb bench measures == the model's closed form in both modes. Integer path: no tolerance.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels.lut_gemm import lut_gemm_pow2, lut_gemm_pow2_reference
from rtl_models.lut_array_cosim import (
    CosimError,
    run_lut_array_cosim,
    run_lut_array_cosim_batch,
)
from rtl_models.sources import sources_for
from rtl_models.testing import broken_rtl, needs, run_cache
from sim.lut_array import (
    BUILD_CYCLES,
    LutArrayConfig,
    estimate_lut_array,
    lane_slots,
    lut_array_cycles,
    lut_array_workloads,
    simulate_lut_array,
)
from sim.lut_pe import lut_cycles, lut_events, simulate_lut_gemm

WORKLOADS = lut_array_workloads(seed=0)
NAMES = [w[0] for w in WORKLOADS]
# (sim, lanes, double_buffer): every build is one simulator run over all golden workloads
# (Verilator: the cross-check's lut_array; Verilator runs these tops in tests/test_crosscheck.py (one build per engine, shared))
RTL_CONFIGS = [("icarus", 1, False), ("icarus", 2, False), ("icarus", 3, True), ("icarus", 4, True)]



# ------------------------------------------------------------------------------- model alone
def test_closed_form_by_hand():
    # M=1, N=10, K=16 (S = 2 tables), q=2, P=4: NL = 3 slots, L = 6 look-up cycles per table
    assert lane_slots(10, 4) == 3
    assert lut_array_cycles(1, 16, 10, 2, 4, double_buffer=False) == 2 * (263 + 6)
    assert lut_array_cycles(1, 16, 10, 2, 4, double_buffer=True) == 263 + 263 + 6  # builder-bound
    # lane-bound: N=140, q=4, P=2: L = 280 > 263, so the overlapped phases last 280 cycles
    assert lut_array_cycles(1, 16, 140, 4, 2, double_buffer=True) == 263 + 280 + 280
    assert lut_array_cycles(1, 16, 140, 4, 2, double_buffer=False) == 2 * (263 + 280)
    # one table: nothing to overlap
    assert lut_array_cycles(1, 8, 7, 3, 2, True) == lut_array_cycles(1, 8, 7, 3, 2, False) == 263 + 12


def test_estimate_and_utilisations():
    est = estimate_lut_array(2, 10, 16, 2, 8, LutArrayConfig(lanes=4, double_buffer=True))
    s, look = 4, 6  # M * K/8 tables, q * ceil(10/4) cycles each
    assert est.y is None and est.cycles == 263 + 3 * 263 + 6
    assert est.extra == {"lanes": 4, "double_buffer": True, "lookup_cycles_per_table": look, "build_cycles": 263}
    assert est.events == lut_events(2, 16, 10, 2)  # the PE's work, same names, same counts
    assert est.events["table_reads"] == s * 2 * 10  # idle slots (n = 10, 11) read nothing
    assert est.lane_utilisation == s * 20 / (4 * est.cycles)
    assert est.builder_utilisation == s * 263 / est.cycles


@pytest.mark.parametrize("name,x,packed,exps,g", WORKLOADS, ids=NAMES)
def test_one_lane_single_buffer_is_the_pe(name, x, packed, exps, g):
    """P = 1 without overlap is sim.lut_pe's engine: same y, cycles and events."""
    pe = simulate_lut_gemm(x, packed, exps, g)
    arr = simulate_lut_array(x, packed, exps, g, LutArrayConfig(lanes=1, double_buffer=False), mode="stepwise")
    np.testing.assert_array_equal(arr.y, pe.y)
    assert arr.cycles == pe.cycles == lut_cycles(x.shape[0], x.shape[1], packed.shape[1], packed.shape[0])
    assert arr.events == pe.events


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 3), st.integers(1, 11), st.integers(1, 4), st.integers(1, 4), st.integers(1, 5),
       st.booleans(), st.integers(0, 2**31))
def test_stepwise_equals_closed_form(m, n, kbytes, q, lanes, dbuf, seed):
    rng = np.random.default_rng(seed)
    k = 8 * kbytes
    g = 8 * int(rng.choice([d for d in range(1, kbytes + 1) if kbytes % d == 0]))
    x = rng.integers(-128, 128, (m, k), dtype=np.int8)
    packed = rng.integers(0, 256, (q, n, kbytes), dtype=np.uint8)
    exps = rng.integers(0, 16, (q, n, k // g))
    cfg = LutArrayConfig(lanes=lanes, double_buffer=dbuf)
    fast = simulate_lut_array(x, packed, exps, g, cfg)
    step = simulate_lut_array(x, packed, exps, g, cfg, mode="stepwise")  # raises if cycles or events differ
    np.testing.assert_array_equal(fast.y, step.y)
    np.testing.assert_array_equal(fast.y, simulate_lut_gemm(x, packed, exps, g).y)
    assert fast.cycles == step.cycles
    assert fast.events == step.events == lut_events(m, k, n, q)


def test_lanes_and_double_buffer_never_slower_and_bounded():
    """More lanes / a second table never cost cycles; the array is never faster than its builder
    (S * 263) or its lanes (S * q * ceil(N/P)) allow."""
    for m, n, k, q in [(1, 1, 8, 1), (2, 37, 64, 3), (4, 4096, 256, 3), (1, 300, 16, 4)]:
        s = m * k // 8
        prev = None
        for lanes in (1, 2, 3, 4, 8, 16):
            single = lut_array_cycles(m, k, n, q, lanes, False)
            double = lut_array_cycles(m, k, n, q, lanes, True)
            assert double <= single
            assert double >= max(s * BUILD_CYCLES, s * q * lane_slots(n, lanes))
            if prev is not None:
                assert single <= prev[0] and double <= prev[1]
            prev = (single, double)


X = np.zeros((2, 16), np.int8)
P = np.zeros((2, 3, 2), np.uint8)
E = np.zeros((2, 3, 2), np.int64)


@pytest.mark.parametrize("kwargs,exc,message", [
    ({"lanes": 0}, ValueError, r"lanes must be an integer in 1..64, got 0"),
    ({"lanes": 65}, ValueError, r"lanes must be an integer in 1..64, got 65"),
    ({"lanes": 2.0}, ValueError, r"lanes must be an integer in 1..64, got 2.0"),
    ({"lanes": True}, ValueError, r"lanes must be an integer in 1..64, got True"),
    ({"double_buffer": "yes"}, TypeError, r"double_buffer must be True or False, got 'yes'"),
    ({"exp_bits": 6}, ValueError, r"exp_bits must be an integer in 1..5, got 6"),
])
def test_config_rejects_bad_values(kwargs, exc, message):
    with pytest.raises(exc, match=message):
        LutArrayConfig(**kwargs)


@pytest.mark.parametrize("args,kwargs,exc,message", [
    ((X, P, E, 8), {"cfg": object()}, TypeError, r"cfg must be a LutArrayConfig, got object"),
    ((X, P, E, 8), {"mode": "exact"}, ValueError, r"mode must be 'fast' or 'stepwise', got 'exact'"),
    ((X.astype(float), P, E, 8), {}, TypeError, r"x must be a 2-D integer array \(M, K\), got dtype float64"),
    ((X[:, :8], P, E, 8), {}, ValueError, r"packed has 2 bytes per row \(K = 16\) but x has K = 8"),
    ((X, np.zeros((5, 3, 2), np.uint8), E, 8), {}, ValueError, r"q must be in 1..4, got 5"),
    ((X, P, E, 12), {}, ValueError, r"group_size must be a positive multiple of 8 dividing K = 16, got 12"),
    ((X, P, E[:, :, :1], 8), {}, ValueError, r"exps must be an integer array of shape \(q, N, K/g\) = \(2, 3, 2\)"),
    ((X, P, E + 8, 8), {"cfg": LutArrayConfig(exp_bits=3)}, ValueError,
     r"exps must lie in 0..7 \(3-bit exponents\), got min 8, max 8"),
    ((X, P, E - 1, 8), {}, ValueError, r"exps must lie in 0..15 \(4-bit exponents\), got min -1"),
])
def test_model_rejects_bad_input(args, kwargs, exc, message):
    with pytest.raises(exc, match=message):
        simulate_lut_array(*args, **kwargs)


def test_estimate_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"GEMM dimension N must be >= 1, got 0"):
        estimate_lut_array(1, 0, 8, 1, 8)
    with pytest.raises(ValueError, match=r"K = 12 must be a multiple of 8"):
        estimate_lut_array(1, 1, 12, 1, 8)


# ------------------------------------------------------------------------------- three ways
@pytest.fixture(scope="module")
def golden():
    """Per workload: the Triton kernel's y (checked against its torch reference)."""
    out = {}
    for name, x, packed, exps, g in WORKLOADS:
        args = (torch.from_numpy(x), torch.from_numpy(packed), torch.from_numpy(exps), g)
        y = lut_gemm_pow2(*args)
        assert y.dtype == torch.int32 and torch.equal(y, lut_gemm_pow2_reference(*args)), name
        out[name] = y.numpy()
    return out


@pytest.mark.parametrize("lanes,dbuf", [(3, True), (4, False)])
def test_kernel_equals_model(golden, lanes, dbuf):
    cfg = LutArrayConfig(lanes=lanes, double_buffer=dbuf)
    for name, x, packed, exps, g in WORKLOADS:
        np.testing.assert_array_equal(golden[name], simulate_lut_array(x, packed, exps, g, cfg).y, err_msg=name)


@pytest.fixture(scope="module")
def models():
    """(lanes, double_buffer) -> {workload: stepwise model result} (stepwise == closed form is checked inside)."""
    cache = {}

    def get(lanes, dbuf):
        if (lanes, dbuf) not in cache:
            cfg = LutArrayConfig(lanes=lanes, double_buffer=dbuf)
            cache[lanes, dbuf] = {name: simulate_lut_array(x, p, e, g, cfg, mode="stepwise")
                                  for name, x, p, e, g in WORKLOADS}
        return cache[lanes, dbuf]

    return get


@pytest.fixture(scope="module")
def rtl_runs():
    """(sim, lanes, double_buffer) -> {workload name: CosimOutcome}, one simulator run each."""
    return run_cache(lambda sim, lanes, dbuf: run_lut_array_cosim_batch(
        [w[1:] for w in WORKLOADS], sim=sim, seed=0, config=LutArrayConfig(lanes=lanes, double_buffer=dbuf)), NAMES)


@pytest.mark.rtl
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("sim,lanes,dbuf", RTL_CONFIGS, ids=[f"{s}-P{p}-{'dbuf' if d else 'sbuf'}"
                                                             for s, p, d in RTL_CONFIGS])
def test_rtl_equals_kernel_and_model(golden, models, rtl_runs, sim, lanes, dbuf, name):
    model = models(lanes, dbuf)[name]
    res = rtl_runs(sim, lanes, dbuf)[name]
    assert res.sim == sim and res.values.dtype == np.int32
    np.testing.assert_array_equal(res.values, golden[name])
    np.testing.assert_array_equal(res.values, model.y)
    assert res.cycles == model.cycles
    if lanes == 1 and not dbuf:
        m, k = model.shape[0], model.shape[2]
        assert res.cycles == lut_cycles(m, k, model.shape[1], model.shape[3])  # lut_pe's count


@pytest.mark.rtl
def test_bench_catches_a_cycle_off_by_one(tmp_path, monkeypatch):
    """Cycles are measured: a table build one cycle too long (2 tables here) must fail the bench."""
    needs("icarus")
    build_root = broken_rtl(tmp_path, monkeypatch, "lut_builder.v", "LAST_BUILD = 9'd262", "LAST_BUILD = 9'd263")
    x = np.ones((1, 16), np.int8)
    with pytest.raises(CosimError, match=r"workload 0 \(M=1 N=5 K=16 q=1 g=8 P=2 DBUF=1\): 531 cycles, model 529"):
        run_lut_array_cosim(x, np.zeros((1, 5, 2), np.uint8), np.zeros((1, 5, 2), np.int64), 8,
                            config=LutArrayConfig(lanes=2, double_buffer=True), build_root=build_root)


@pytest.mark.rtl
def test_bench_catches_lanes_reading_the_wrong_table(tmp_path, monkeypatch):
    """Double buffering is checked by the data: lanes that never switch tables read table 0 while
    table 1 is the one built for them; the cycle count is unchanged and y gives it away."""
    needs("icarus")
    build_root = broken_rtl(tmp_path, monkeypatch, "lut_array.v", "lk_bank <= lk_bank ^ (DBUF != 0);",
                            "lk_bank <= 1'b0;")
    rng = np.random.default_rng(5)
    x = rng.integers(-128, 128, (1, 24), dtype=np.int8)
    packed = rng.integers(0, 256, (1, 3, 3), dtype=np.uint8)
    with pytest.raises(CosimError, match=r"P=2 DBUF=1\): \d outputs differ from the model; first y\[0,"):
        run_lut_array_cosim(x, packed, np.zeros((1, 3, 3), np.int64), 8,
                            config=LutArrayConfig(lanes=2, double_buffer=True), build_root=build_root)


def test_sources_are_the_array_and_builder_files():
    assert [p.name for p in sources_for("lut_array")] == ["lut_array.v", "lut_builder.v"]
    assert [p.name for p in sources_for("lut_array_lane")] == ["lut_array.v", "lut_builder.v"]
    assert [p.name for p in sources_for("lut_pe")] == ["lut_builder.v", "lut_pe.v"]


@pytest.mark.parametrize("kwargs,exc,message", [
    ({"sim": "vcs"}, ValueError, r"sim must be one of \('icarus', 'verilator'\), got 'vcs'"),
    ({"seed": "x"}, ValueError, r"seed must be an integer, got 'x'"),
    ({"config": (4, True)}, TypeError, r"cfg must be a LutArrayConfig, got tuple"),
    ({"exps": E + 16}, ValueError, r"exps must lie in 0..15"),
])
def test_cosim_rejects_bad_arguments(kwargs, exc, message):
    args = {"x": X, "packed": P, "exps": E, "group_size": 8} | kwargs
    with pytest.raises(exc, match=message):
        run_lut_array_cosim(**args)


def test_cosim_batch_needs_workloads():
    with pytest.raises(ValueError, match="at least one"):
        run_lut_array_cosim_batch([])
    with pytest.raises(ValueError, match=r"workload 0 must be an \(x, packed, exps, group_size\) tuple"):
        run_lut_array_cosim_batch([(X, P)])
