"""How fast the engines' cycle models simulate (simulated MACs per second): every registered engine
whose record names a benchmark GEMM (all-MiniLM-L6-v2's Q projection shape, or a slice of it for
the per-dot-product models), beside the systolic model of bench/test_bench_sim.py. Data-dependent
models (OPT3, OPT4E, Laconic, Stripes) walk their digits; the OPT1 trees reduce every unit's Booth
words through the carry-save schedule; the others are closed forms plus one exact product."""

import numpy as np
import pytest

from reports.registry import ENGINES, load

BENCHED = [name for name, e in ENGINES.items() if e.benchmark is not None]


@pytest.mark.parametrize("name", BENCHED)
def test_engine_model_speed(benchmark, name):
    engine = ENGINES[name]
    cfg, (a, b) = engine.benchmark()
    res = benchmark.pedantic(load(engine.model), args=(a, b, cfg), rounds=3)
    macs = a.shape[0] * b.shape[1] * a.shape[1]
    rate = macs / benchmark.stats.stats.median
    assert np.array_equal(np.asarray(res.c, np.int64), a.astype(np.int64) @ b.astype(np.int64))
    benchmark.extra_info.update(engine=name, config=repr(cfg), shape=f"{a.shape[0]}x{b.shape[1]}x{a.shape[1]}",
                                simulated_macs=macs, macs_per_s=rate)
    print(f"\n[{name} {cfg}] {rate:.3g} simulated MAC/s")
