"""sim.hadamard on its own: the exact FWHT against the dense Hadamard matrix, the closed-form
cycles and events proved by clock stepping, the exact output width, and its error messages."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.hadamard import (
    EVENT_NAMES,
    FwhtConfig,
    batch_cycles,
    batch_events,
    edge_workloads,
    fwht_exact,
    hadamard_matrix,
    simulate_fwht,
)


@pytest.mark.parametrize("n", [2, 4, 8, 16, 64, 256])
def test_fwht_equals_dense_hadamard_matrix(n):
    rng = np.random.default_rng(n)
    x = rng.integers(-128, 128, (5, n), dtype=np.int8)
    h = hadamard_matrix(n)
    np.testing.assert_array_equal(fwht_exact(x), x.astype(np.int64) @ h.T)
    # Sylvester: H_2n = [[H, H], [H, -H]], symmetric, H H = n I
    np.testing.assert_array_equal(h, h.T)
    np.testing.assert_array_equal(h @ h, n * np.eye(n, dtype=np.int64))
    if n > 2:
        half = hadamard_matrix(n // 2)
        np.testing.assert_array_equal(h, np.block([[half, half], [half, -half]]))


def test_fwht_is_an_involution_up_to_n_and_keeps_leading_axes():
    rng = np.random.default_rng(1)
    x = rng.integers(-(2**15), 2**15, (2, 3, 32), dtype=np.int16)
    y = fwht_exact(x)
    assert y.shape == x.shape and y.dtype == np.int64
    np.testing.assert_array_equal(fwht_exact(y), 32 * x.astype(np.int64))
    np.testing.assert_array_equal(fwht_exact(np.eye(8, dtype=np.uint8)), hadamard_matrix(8))


@pytest.mark.parametrize("mode", ["fast", "stepwise"])
@pytest.mark.parametrize("in_bits", [2, 8, 16])
def test_extremes_need_every_output_bit(mode, in_bits):
    """All inputs at -2**(W-1): y[0] = -n * 2**(W-1), the most negative (W+L)-bit value."""
    n = 16
    cfg = FwhtConfig(n, in_bits)
    lo, hi = -(2 ** (in_bits - 1)), 2 ** (in_bits - 1) - 1
    x = np.array([[lo] * n, [hi] * n, [lo, hi] * (n // 2)], np.int64)
    res = simulate_fwht(x, cfg, mode=mode)
    assert res.y[0, 0] == -(2 ** (cfg.out_bits - 1))
    assert res.y[1, 0] == n * hi and np.all(res.y[1, 1:] == 0)
    np.testing.assert_array_equal(res.y, fwht_exact(x))


@settings(max_examples=40, deadline=None)
@given(
    log_n=st.integers(1, 6),
    vectors=st.integers(1, 9),
    in_bits=st.integers(2, 16),
    seed=st.integers(0, 2**32 - 1),
)
def test_stepwise_proves_closed_form(log_n, vectors, in_bits, seed):
    """Stepping every stage register clock by clock lands on L + B - 1 cycles and the same events."""
    n = 2**log_n
    cfg = FwhtConfig(n, in_bits)
    rng = np.random.default_rng(seed)
    x = rng.integers(-(2 ** (in_bits - 1)), 2 ** (in_bits - 1), (vectors, n))
    fast = simulate_fwht(x, cfg)
    step = simulate_fwht(x, cfg, mode="stepwise")  # raises if its cycles disagree with the closed form
    np.testing.assert_array_equal(step.y, fast.y)
    np.testing.assert_array_equal(fast.y, x @ hadamard_matrix(n))
    assert fast.cycles == step.cycles == log_n + vectors - 1
    assert fast.latency_cycles == step.latency_cycles == log_n
    assert fast.output_edges == step.output_edges == list(range(log_n, log_n + vectors))
    assert step.events == fast.events


def test_events_counted_by_hand():
    # n = 4, W = 8, 2 vectors: L = 2 stages of 2 butterflies; stage widths 9 and 10 bits; 3 cycles
    ev = batch_events(FwhtConfig(4, 8), 2)
    assert ev == {
        "vectors": 2,
        "butterfly_adds": 2 * 2 * 2,
        "butterfly_subs": 2 * 2 * 2,
        "stage_reg_writes": 2 * 2 * 4,
        "stage_reg_bits_written": 2 * 4 * (9 + 10),
        "valid_reg_writes": 2 * 3,
        "input_words": 8,
        "output_words": 8,
    }
    assert tuple(ev) == EVENT_NAMES


def test_config_widths_and_single_vector():
    cfg = FwhtConfig(64, 8)
    assert (cfg.stages, cfg.out_bits, cfg.stage_bits(0), cfg.stage_bits(5)) == (6, 14, 9, 14)
    res = simulate_fwht(np.arange(-32, 32), cfg)  # one (n,) vector is a batch of one
    assert res.y.shape == (1, 64) and res.cycles == res.latency_cycles == 6
    assert batch_cycles(cfg, 100) == 105


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("kwargs,exc,message", [
    (dict(n=3), ValueError, r"n must be a power of two >= 2 \(the FWHT pairs elements 2\*\*s apart\), got 3"),
    (dict(n=1), ValueError, r"n must be a power of two >= 2 .*got 1"),
    (dict(n=0), ValueError, r"n must be a power of two >= 2 .*got 0"),
    (dict(n=-4), ValueError, r"n must be a power of two >= 2 .*got -4"),
    (dict(n=8.0), TypeError, r"n must be an integer power of two >= 2, got 8.0"),
    (dict(n=True), TypeError, r"n must be an integer power of two >= 2, got True"),
    (dict(n=2**21), ValueError, r"n must be at most 1048576 \(2\*\*20\), got 2097152"),
    (dict(n=8, in_bits=1), ValueError, r"in_bits must be an integer input width in 2..32 bits, got 1"),
    (dict(n=8, in_bits=33), ValueError, r"in_bits must be an integer input width in 2..32 bits, got 33"),
    (dict(n=8, in_bits=8.0), ValueError, r"in_bits must be an integer input width in 2..32 bits, got 8.0"),
])
def test_config_rejects_bad_parameters(kwargs, exc, message):
    with pytest.raises(exc, match=message):
        FwhtConfig(**kwargs)


CFG = FwhtConfig(8, 8)


@pytest.mark.parametrize("x,exc,message", [
    (np.zeros((2, 8), np.float32), TypeError, r"x must be an integer array \(e.g. int8\), got dtype float32"),
    (np.zeros((2, 6), np.int8), ValueError, r"x has 6 elements per vector, the network takes n = 8"),
    (np.zeros((2, 2, 8), np.int8), ValueError,
     r"x must be a vector \(n,\) or a batch \(B, n\), got shape \(2, 2, 8\)"),
    (np.zeros((0, 8), np.int8), ValueError, r"x must hold at least one vector"),
    (np.full((1, 8), 128), ValueError,
     r"x holds values outside the signed 8-bit range \[-128, 127\] \(min 128, max 128\)"),
    (np.full((1, 8), -129), ValueError, r"outside the signed 8-bit range .*min -129"),
])
def test_simulate_rejects_bad_vectors(x, exc, message):
    with pytest.raises(exc, match=message):
        simulate_fwht(x, CFG)


def test_other_bad_arguments():
    with pytest.raises(ValueError, match=r"mode must be 'fast' or 'stepwise', got 'exact'"):
        simulate_fwht(np.zeros(8, np.int8), CFG, mode="exact")
    with pytest.raises(ValueError, match=r"vectors must be a positive integer, got 0"):
        batch_cycles(CFG, 0)
    with pytest.raises(TypeError, match=r"x must be an integer array, got dtype float64"):
        fwht_exact(np.zeros(8))
    with pytest.raises(ValueError, match=r"x.shape\[-1\] must be a power of two >= 2 .*got 6"):
        fwht_exact(np.zeros((3, 6), np.int8))
    with pytest.raises(ValueError, match=r"x must have at least one axis"):
        fwht_exact(np.int8(3))
    with pytest.raises(ValueError, match=r"x holds values outside \[-2\*\*60, 2\*\*60\) .*length-8 transform"):
        fwht_exact(np.full(8, 2**61, np.int64))
    with pytest.raises(ValueError, match=r"n must be a power of two >= 2 .*got 12"):
        hadamard_matrix(12)


def test_edge_workloads_fit_their_width():
    for name, x in edge_workloads(16, in_bits=4, seed=3):
        assert x.ndim == 2 and x.shape[1] == 16 and x.dtype == np.int64, name
        assert x.min() >= -8 and x.max() <= 7, name
        simulate_fwht(x, FwhtConfig(16, 4), mode="stepwise")
