"""How fast the other engines' cycle models simulate (simulated MACs per second), on one MiniLM
layer shape, beside the systolic model of bench/test_bench_sim.py. Data-dependent models (OPT3,
OPT4E, Laconic) walk their digits; the OPT1 trees reduce every unit's Booth words through the
carry-save schedule; the others are closed forms plus one exact product."""

import numpy as np
import pytest

from sim import adder_tree, bitserial, broadcast, digit_skip, digit_skip_4e
from sim.workloads import random_int8

M, N, K = 128, 384, 384  # all-MiniLM-L6-v2 Q projection, 128 tokens

ENGINES = {
    "tree_16x4": (adder_tree.simulate_gemm, adder_tree.TreeConfig(16, 4)),
    "tree_16x4_opt2": (adder_tree.simulate_gemm, adder_tree.TreeConfig(16, 4, "sbw")),
    "tree_16x4_opt1": (adder_tree.simulate_gemm, adder_tree.TreeConfig(16, 4, "csa")),
    "cube_8": (adder_tree.simulate_gemm, adder_tree.TreeConfig(8, 8, rows=8)),
    "cube_8_opt1": (adder_tree.simulate_gemm, adder_tree.TreeConfig(8, 8, "csa", rows=8)),
    "bcast_16x16": (broadcast.simulate_gemm, broadcast.BroadcastConfig(16, 16)),
    "opt3_row_16": (digit_skip.simulate_gemm, digit_skip.DigitSkipConfig("ent", cols=16)),
    "opt4e_row_16": (digit_skip_4e.simulate_gemm, digit_skip_4e.DigitSkip4EConfig("ent", cols=16)),
    "laconic_16": (bitserial.simulate_gemm, bitserial.LaconicConfig(8, 8, 16)),
    "stripes_16": (bitserial.simulate_gemm, bitserial.StripesConfig(8, 8, 16)),
}


@pytest.mark.parametrize("name", sorted(ENGINES))
def test_engine_model_speed(benchmark, name):
    fn, cfg = ENGINES[name]
    rng = np.random.default_rng(0)
    a, b = random_int8(rng, (M, K)), random_int8(rng, (K, N))
    if name in ("opt3_row_16", "opt4e_row_16", "laconic_16", "stripes_16"):  # per-dot-product models: a smaller GEMM
        a, b = a[:16], b[:, :32]
    res = benchmark.pedantic(fn, args=(a, b, cfg), rounds=3)
    macs = a.shape[0] * b.shape[1] * a.shape[1]
    rate = macs / benchmark.stats.stats.median
    c = getattr(res, "c", getattr(res, "values", None))
    assert np.array_equal(np.asarray(c, np.int64), a.astype(np.int64) @ b.astype(np.int64))
    benchmark.extra_info.update(shape=f"{a.shape[0]}x{b.shape[1]}x{a.shape[1]}", simulated_macs=macs, macs_per_s=rate)
    print(f"\n[{name}] {rate:.3g} simulated MAC/s")
