"""How fast the cycle model simulates: simulated MACs per second (goal >= 1e8 on a 16x16 array,
1024^3 GEMM), fast closed-form mode against the clock-stepped mode that proves it."""

import platform

import numpy as np
import pytest

from sim.systolic import SystolicConfig, simulate_gemm
from sim.workloads import random_int8

GOAL_MACS_PER_S = 1e8


@pytest.mark.parametrize("dataflow", ["os", "ws"])
def test_cycle_model_speed_1024(benchmark, dataflow):
    rng = np.random.default_rng(0)
    a, b = random_int8(rng, (1024, 1024)), random_int8(rng, (1024, 1024))
    cfg = SystolicConfig(16, 16, dataflow)
    res = benchmark(simulate_gemm, a, b, cfg)
    macs = 1024**3
    rate = macs / benchmark.stats.stats.median
    benchmark.extra_info.update(
        simulated_macs=macs,
        macs_per_s=rate,
        goal_macs_per_s=GOAL_MACS_PER_S,
        ratio_to_goal=rate / GOAL_MACS_PER_S,
        cycles=res.cycles,
        machine=f"{platform.machine()} {platform.processor() or ''}".strip(),
        numpy=np.__version__,
    )
    print(f"\n[{dataflow} 16x16, 1024^3] {rate:.3g} simulated MAC/s ({rate / GOAL_MACS_PER_S:.0f}x the 1e8 goal), "
          f"{res.cycles} cycles, numpy {np.__version__}")
    assert rate >= GOAL_MACS_PER_S


@pytest.mark.parametrize("dataflow", ["os", "ws"])
def test_stepwise_model_speed(benchmark, dataflow):
    """The clock-stepped mode, for scale: it walks every register on every edge."""
    rng = np.random.default_rng(0)
    a, b = random_int8(rng, (64, 64)), random_int8(rng, (64, 64))
    cfg = SystolicConfig(16, 16, dataflow)
    res = benchmark.pedantic(simulate_gemm, args=(a, b, cfg), kwargs={"mode": "stepwise"}, rounds=3)
    assert np.array_equal(res.c, a.astype(np.int64) @ b.astype(np.int64))  # stepped registers, exact C
    rate = 64**3 / benchmark.stats.stats.median
    benchmark.extra_info.update(simulated_macs=64**3, macs_per_s=rate)
    print(f"\n[{dataflow} 16x16 stepwise, 64^3] {rate:.3g} simulated MAC/s")
