"""The cycle model on its own: exact results, closed-form cycles proved by clock stepping,
event counts, and its error messages."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.systolic import (
    SystolicConfig,
    estimate_gemm,
    fold_cycles,
    fold_schedule,
    max_safe_k,
    simulate_gemm,
)
from sim.workloads import edge_workloads


def ref(a, b):
    return a.astype(np.int64) @ b.astype(np.int64)


@pytest.mark.parametrize("dataflow", ["os", "ws"])
@pytest.mark.parametrize("name,a,b", edge_workloads(seed=1), ids=lambda x: x if isinstance(x, str) else "")
def test_edge_workloads_exact_in_both_modes(dataflow, name, a, b):
    cfg = SystolicConfig(4, 4, dataflow)
    fast = simulate_gemm(a, b, cfg)
    step = simulate_gemm(a, b, cfg, mode="stepwise")
    assert fast.c.dtype == np.int32
    np.testing.assert_array_equal(fast.c, ref(a, b))
    np.testing.assert_array_equal(step.c, fast.c)
    assert step.fold_cycles == fast.fold_cycles
    assert fast.cycles == sum(fast.fold_cycles)


@settings(max_examples=40, deadline=None)
@given(
    dataflow=st.sampled_from(["os", "ws"]),
    rows=st.integers(1, 6),
    cols=st.integers(1, 6),
    m=st.integers(1, 13),
    n=st.integers(1, 13),
    k=st.integers(1, 13),
    seed=st.integers(0, 2**32 - 1),
)
def test_stepwise_proves_closed_form(dataflow, rows, cols, m, n, k, seed):
    """Clock-stepping every register must land on the closed-form cycles, for any shape."""
    rng = np.random.default_rng(seed)
    a = rng.integers(-128, 128, (m, k), dtype=np.int8)
    b = rng.integers(-128, 128, (k, n), dtype=np.int8)
    cfg = SystolicConfig(rows, cols, dataflow)
    step = simulate_gemm(a, b, cfg, mode="stepwise")  # raises if any fold disagrees
    np.testing.assert_array_equal(step.c, ref(a, b))
    folds = fold_schedule(m, n, k, cfg)
    assert step.fold_cycles == [2 * rows + cols + f.t - 2 for f in folds]


def test_fold_schedule_tiles_cover_the_gemm_once():
    cfg = SystolicConfig(4, 3, "os")
    folds = fold_schedule(10, 7, 5, cfg)
    assert len(folds) == 3 * 3
    cover = np.zeros((10, 7), int)
    for f in folds:
        cover[f.m0 : f.m1, f.n0 : f.n1] += 1
        assert (f.k0, f.k1, f.t, f.accumulate) == (0, 5, 5, False)
    assert (cover == 1).all()

    ws = fold_schedule(10, 7, 9, SystolicConfig(4, 3, "ws"))
    assert len(ws) == 3 * 3  # n-tiles x k-tiles
    assert [f.accumulate for f in ws[:3]] == [False, True, True]
    assert all(f.t == 10 for f in ws)


def test_scale_sim_fold_formula_and_counts():
    cfg = SystolicConfig(16, 16, "os")
    assert fold_cycles(cfg, 64) == 2 * 16 + 16 + 64 - 2
    res = estimate_gemm(32, 48, 64, cfg)
    assert len(res.folds) == 2 * 3
    assert res.cycles == 6 * (2 * 16 + 16 + 64 - 2)
    assert res.events["macs"] == 32 * 48 * 64
    assert res.events["mac_slots"] == 6 * 16 * 16 * 64
    assert res.mapping_efficiency == 1.0
    assert res.events["a_buffer_reads_bytes"] == 6 * 64 * 16
    assert res.events["out_buffer_writes_bytes"] == 32 * 48 * 4


def test_partial_tiles_lower_mapping_efficiency():
    res = estimate_gemm(17, 16, 8, SystolicConfig(16, 16, "os"))
    assert res.events["mac_slots"] == 2 * 256 * 8
    assert res.mapping_efficiency == pytest.approx(17 / 32)
    ws = estimate_gemm(8, 16, 17, SystolicConfig(16, 16, "ws"))
    assert ws.events["out_buffer_reads_bytes"] == 8 * 16 * 4  # the second k-tile reads back
    assert 0 < ws.utilisation < ws.mapping_efficiency <= 1


def test_accumulator_bound():
    assert max_safe_k(8, 8, 32) == 131071
    cfg = SystolicConfig(2, 2, "os")
    k = cfg.max_k
    a = np.full((1, k), -128, np.int8)
    res = simulate_gemm(a, a.T.copy(), cfg)
    assert int(res.c[0, 0]) == k * 16384 <= 2**31 - 1
    with pytest.raises(ValueError, match=r"K=131072 exceeds the accumulator's safe range: at most 131071"):
        estimate_gemm(1, 1, k + 1, cfg)


def test_wider_accumulator_returns_int64():
    cfg = SystolicConfig(2, 2, "ws", a_bits=16, b_bits=16, acc_bits=48)
    a = np.full((3, 5), -(2**15), np.int16)
    res = simulate_gemm(a, a.T.copy(), cfg)
    assert res.c.dtype == np.int64
    np.testing.assert_array_equal(res.c, ref(a, a.T))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(rows=0, cols=4), r"rows must be a positive integer \(array size\), got 0"),
        (dict(rows=4, cols=-2), r"cols must be a positive integer \(array size\), got -2"),
        (dict(rows=4.0, cols=4), r"rows must be a positive integer"),
        (dict(rows=4, cols=4, dataflow="is"), r"dataflow must be one of \('os', 'ws'\), got 'is'"),
        (dict(rows=4, cols=4, a_bits=1), r"a_bits must be an integer operand width in 2..16 bits, got 1"),
        (dict(rows=4, cols=4, acc_bits=12), r"acc_bits must be an integer in 16..64"),
    ],
)
def test_bad_config_messages(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SystolicConfig(**kwargs)


def test_bad_operand_messages():
    cfg = SystolicConfig(4, 4)
    a = np.zeros((3, 5), np.int8)
    with pytest.raises(TypeError, match=r"a must be an integer array \(e.g. int8\), got dtype float32"):
        simulate_gemm(a.astype(np.float32), np.zeros((5, 2), np.int8), cfg)
    with pytest.raises(ValueError, match=r"inner dimensions differ: a is \(3, 5\) \(M x K\), b is \(4, 2\)"):
        simulate_gemm(a, np.zeros((4, 2), np.int8), cfg)
    with pytest.raises(ValueError, match=r"b must be 2-D, got shape \(5,\)"):
        simulate_gemm(a, np.zeros(5, np.int8), cfg)
    with pytest.raises(ValueError, match=r"b holds values outside the signed 8-bit range \[-128, 127\]"):
        simulate_gemm(a, np.full((5, 2), 200, np.int16), cfg)
    with pytest.raises(ValueError, match=r"GEMM dimension K must be >= 1, got 0"):
        simulate_gemm(np.zeros((3, 0), np.int8), np.zeros((0, 2), np.int8), cfg)
    with pytest.raises(ValueError, match=r"mode must be 'fast' or 'stepwise', got 'exact'"):
        simulate_gemm(a, np.zeros((5, 2), np.int8), cfg, mode="exact")


@pytest.mark.parametrize("name,a,b", edge_workloads(seed=5), ids=lambda x: x if isinstance(x, str) else "")
def test_booth_csa_pe_steps_to_the_exact_product(name, a, b):
    """OPT1 stepped clock by clock: Booth partial products and (sum, carry) words through the
    carry-save tree every edge, one carry-propagate add at drain, pipelined over two cycles."""
    cfg = SystolicConfig(4, 4, "os", pe="booth_csa")
    step = simulate_gemm(a, b, cfg, mode="stepwise")
    np.testing.assert_array_equal(step.c, ref(a, b))
    # one more cycle per fold: the read-out add is pipelined over two cycles
    assert step.fold_cycles == [c + 1 for c in simulate_gemm(a, b, SystolicConfig(4, 4, "os")).fold_cycles]


@pytest.mark.parametrize("name,a,b", edge_workloads(seed=6), ids=lambda x: x if isinstance(x, str) else "")
def test_ws_booth_csa_pairs_step_to_the_exact_product(name, a, b):
    """OPT1 in the WS array: (sum, carry) pairs travel down the columns through each PE's
    carry-save tree; the bottom pair is registered and added in two halves (two more cycles)."""
    cfg = SystolicConfig(3, 4, "ws", pe="booth_csa")
    step = simulate_gemm(a, b, cfg, mode="stepwise")
    np.testing.assert_array_equal(step.c, ref(a, b))
    assert step.fold_cycles == [c + 2 for c in simulate_gemm(a, b, SystolicConfig(3, 4, "ws")).fold_cycles]
    assert step.cycles == simulate_gemm(a, b, cfg).cycles


def test_booth_csa_config_limits():
    with pytest.raises(ValueError, match=r"pe must be one of \('mac', 'booth_csa'\), got 'wallace'"):
        SystolicConfig(4, 4, pe="wallace")
    with pytest.raises(ValueError, match=r"pe='booth_csa' needs a_bits=8 \(4 radix-4 Booth digits"):
        SystolicConfig(4, 4, "ws", a_bits=6, pe="booth_csa")
