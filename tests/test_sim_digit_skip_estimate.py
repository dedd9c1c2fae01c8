"""The data-free OPT3 estimate (sim/digit_skip.py: estimate_gemm) against the exact model."""

import numpy as np
import pytest

from sim import digit_skip as ds
from sim.digits import gaussian_int8


def test_constant_data_is_exact():
    # every element the same value: the cycle count is deterministic, the expectation must equal it
    for value in (0, 1, -128, 127, 37):
        for k in (1, 4, 7, 64):
            a = np.full(k, value, np.int8)
            pmf = ds.int8_pmf(a)
            assert ds.expected_dot_cycles(k, pmf) == pytest.approx(ds.dot_cycles(a, ds.DigitSkipConfig()))


@pytest.mark.parametrize("encoding", ["ent", "booth"])
def test_expectation_matches_the_model_on_gaussian_data(encoding):
    rng = np.random.default_rng(0)
    cfg = ds.DigitSkipConfig(encoding, cols=4)
    m, n, k = 200, 8, 37  # K not a multiple of 4: the padded tail group is in the formula
    a = gaussian_int8(rng, m * k, 30).reshape(m, k)
    b = rng.integers(-128, 128, (k, n)).astype(np.int8)
    exact = ds.simulate_gemm(a, b, cfg)
    est = ds.estimate_gemm(m, n, k, cfg, ds.int8_pmf(gaussian_std=30.0))
    # 400 folds of ~45 cycles: the sample mean's standard error is ~0.1 cycle per fold
    assert est.cycles == pytest.approx(exact.cycles, rel=0.01)
    for e in ("selects", "idle_slots", "b_reads", "zero_digits_skipped"):
        assert est.events[e] == pytest.approx(exact.events[e], rel=0.03), e
    for e in ("encodes", "merges", "shifts", "final_adds"):
        assert est.events[e] == exact.events[e], e


def test_real_histogram_and_paper_statistic():
    # expected non-zero digits per group of 4 from the pmf alone: 4 * sum_j q_j / 4 positions
    q = ds.digit_nonzero_probability(ds.int8_pmf(gaussian_std=10.0))
    assert 4 * q.mean() == pytest.approx(1.76, abs=0.02)  # tests/test_sim_digits.py measures 1.76


def test_errors():
    with pytest.raises(ValueError, match="exactly one of values"):
        ds.int8_pmf()
    with pytest.raises(ValueError, match="gaussian_std must be a positive number"):
        ds.int8_pmf(gaussian_std=0)
    with pytest.raises(ValueError, match="256 non-negative probabilities"):
        ds.digit_nonzero_probability(np.ones(10) / 10)
    with pytest.raises(ValueError, match="GEMM dimension N must be a positive integer"):
        ds.estimate_gemm(1, 0, 4)
    with pytest.raises(ValueError, match="K = 200000 can overflow"):
        ds.estimate_gemm(1, 1, 200000)
    with pytest.raises(ValueError, match="K must be a positive integer"):
        ds.expected_dot_cycles(0, ds.int8_pmf(gaussian_std=3.0))
