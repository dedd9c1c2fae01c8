"""RTL co-simulation speed on 16x16 arrays: the OS and WS arrays through their bench-side host
(rtl_models/verilog/systolic_host.v, operands streamed inside the simulator) against the same
arrays driven edge by edge from Python (the port driver, the suite's only driver before the host)
and against the simulator alone (the native driver: the same host under an HDL-only bench, no
cocotb, no Python in the simulation: the ceiling any cocotb driver can reach), on Verilator and
Icarus, measured in the same run; and a whole BERT-base FFN layer through the host and natively
on Verilator.

Every run checks every result and every fold's cycle count against the cycle model on the way.
Reported: array cycles (the folds' start-to-done cycles, the number the model predicts) per
wall-clock second of the whole co-simulation call (job files, simulator start, loads, run,
results; the build is done once before timing). Both drivers also spend about t clock edges per
fold loading the operand buffers, which these rates do not count.
"""

import platform
import time

import numpy as np
import pytest

from rtl_models.cosim import simulator_missing
from rtl_models.systolic_cosim import run_cosim
from sim.systolic import SystolicConfig, estimate_gemm
from sim.workloads import random_int8

ROWS = COLS = 16
M, N, K = 64, 64, 1024
BERT_FFN = (128, 3072, 768)  # 128 tokens x 768 -> 3072: M, N, K
_rates: dict[tuple[str, str, str], float] = {}


@pytest.mark.parametrize("dataflow,driver", [(df, d) for df in ("os", "ws") for d in ("native", "ports", "host")])
@pytest.mark.parametrize("sim", ["icarus", "verilator"])  # icarus first: verilator's ratio needs it
def test_rtl_sim_speed_16x16(benchmark, sim, dataflow, driver):
    reason = simulator_missing(sim)
    if reason:
        pytest.skip(reason)
    rng = np.random.default_rng(0)
    a, b = random_int8(rng, (M, K)), random_int8(rng, (K, N))
    kwargs = {"sim": sim, "driver": driver}
    run_cosim(a, b, ROWS, COLS, dataflow, **kwargs)  # build (cached) and warm up outside the timing
    res = benchmark.pedantic(run_cosim, args=(a, b, ROWS, COLS, dataflow), kwargs=kwargs, rounds=2)
    assert res.cycles == estimate_gemm(M, N, K, SystolicConfig(ROWS, COLS, dataflow)).cycles
    rate = res.cycles / benchmark.stats.stats.median
    _rates[(sim, dataflow, driver)] = rate
    info = {"simulated_cycles": res.cycles, "cycles_per_s": rate, "driver": driver,
            "machine": platform.machine(), "cpus": 2}
    line = (f"\n[{dataflow} {ROWS}x{COLS} {M}x{N}x{K} on {sim}, {driver} driver] {res.cycles} array cycles, "
            f"{rate:,.0f} array cycles/s")
    if driver == "host" and (sim, dataflow, "ports") in _rates:
        info["ratio_vs_port_driver"] = rate / _rates[(sim, dataflow, "ports")]
        line += f", {info['ratio_vs_port_driver']:.1f}x the port driver"
    if driver != "native" and (sim, dataflow, "native") in _rates:
        info["percent_of_simulator_alone"] = 100 * rate / _rates[(sim, dataflow, "native")]
        line += f", {info['percent_of_simulator_alone']:.0f}% of the simulator alone"
    if sim == "verilator" and ("icarus", dataflow, driver) in _rates:
        info["ratio_vs_icarus"] = rate / _rates[("icarus", dataflow, driver)]
        line += f", {info['ratio_vs_icarus']:.1f}x Icarus"
    benchmark.extra_info.update(info)
    print(line)


_bert_walls: dict[str, float] = {}


@pytest.mark.parametrize("driver", ["native", "host"])  # native first: the host's share of it
def test_bert_ffn_layer_on_verilator(benchmark, driver):
    """BERT-base's FFN up-projection (128 tokens, 768 -> 3072) co-simulated whole on a 16x16 OS
    array on Verilator: 1,536 folds, every C element and fold cycle checked; through the cocotb
    host and through the HDL-only bench (the simulator alone)."""
    reason = simulator_missing("verilator")
    if reason:
        pytest.skip(reason)
    m, n, k = BERT_FFN
    rng = np.random.default_rng(1)
    a, b = random_int8(rng, (m, k)), random_int8(rng, (k, n))
    kwargs = {"sim": "verilator", "driver": driver}
    t0 = time.perf_counter()
    run_cosim(a, b, ROWS, COLS, "os", **kwargs)  # the build (cached) and a first run
    first = time.perf_counter() - t0
    res = benchmark.pedantic(run_cosim, args=(a, b, ROWS, COLS, "os"), kwargs=kwargs, rounds=2)
    assert res.cycles == estimate_gemm(m, n, k, SystolicConfig(ROWS, COLS, "os")).cycles
    wall = benchmark.stats.stats.median
    _bert_walls[driver] = wall
    info = {"simulated_cycles": res.cycles, "wall_s": wall, "cycles_per_s": res.cycles / wall, "driver": driver,
            "first_call_s": first, "machine": platform.machine(), "cpus": 2}
    line = (f"\n[BERT-base FFN {m}x{n}x{k} on os 16x16, Verilator, {driver} driver] {res.cycles:,} array cycles in "
            f"{wall:.1f} s ({res.cycles / wall:,.0f} array cycles/s; first call with build check {first:.1f} s)")
    if driver != "native" and "native" in _bert_walls:
        info["percent_of_simulator_alone"] = 100 * _bert_walls["native"] / wall
        line += f", {info['percent_of_simulator_alone']:.0f}% of the simulator alone"
    benchmark.extra_info.update(info)
    print(line)
