"""RTL simulation speed: Verilator vs Icarus on 16x16 arrays, the same workload through the same
cocotb bench (which checks every result and cycle count against the cycle model on the way).

Reports simulated clock cycles per wall-clock second for each simulator, excluding the build
(done once before timing), and Verilator's speed-up over Icarus measured in the same run.
"""

import platform

import numpy as np
import pytest

from rtl_models.cosim import simulator_missing
from rtl_models.systolic_cosim import run_cosim
from sim.systolic import SystolicConfig, estimate_gemm
from sim.workloads import random_int8

ROWS = COLS = 16
M, N, K = 64, 64, 1024
_rates: dict[tuple[str, str], float] = {}


@pytest.mark.parametrize("dataflow", ["os", "ws"])
@pytest.mark.parametrize("sim", ["icarus", "verilator"])  # icarus first: verilator's ratio needs it
def test_rtl_sim_speed_16x16(benchmark, sim, dataflow):
    reason = simulator_missing(sim)
    if reason:
        pytest.skip(reason)
    rng = np.random.default_rng(0)
    a, b = random_int8(rng, (M, K)), random_int8(rng, (K, N))
    run_cosim(a, b, ROWS, COLS, dataflow, sim=sim)  # build (cached) and warm up outside the timing
    res = benchmark.pedantic(run_cosim, args=(a, b, ROWS, COLS, dataflow), kwargs={"sim": sim}, rounds=3)
    assert res.cycles == estimate_gemm(M, N, K, SystolicConfig(ROWS, COLS, dataflow)).cycles
    rate = res.cycles / benchmark.stats.stats.median
    _rates[(sim, dataflow)] = rate
    info = {"simulated_cycles": res.cycles, "cycles_per_s": rate, "machine": platform.machine(), "cpus": 2}
    line = f"\n[{dataflow} {ROWS}x{COLS} {M}x{N}x{K} on {sim}] {res.cycles} cycles, {rate:,.0f} simulated cycles/s"
    if sim == "verilator" and ("icarus", dataflow) in _rates:
        ratio = rate / _rates[("icarus", dataflow)]
        info["ratio_vs_icarus"] = ratio
        line += f", {ratio:.2f}x Icarus"
    benchmark.extra_info.update(info)
    print(line)
