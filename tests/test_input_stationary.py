"""The input-stationary (IS) systolic array: sim/input_stationary.py's model against the exact
product, its per-fold cycle formula, its data-free estimate and its events; and, marked rtl,
rtl_models/verilog/is_systolic_array.v co-simulated under cocotb on Icarus and Verilator:
RTL C == model C == A @ B bit for bit, measured cycles per fold == the model's, and a planted
one-cycle error on either side (RTL or model) is caught.
"""

from __future__ import annotations

import dataclasses
import textwrap

import numpy as np
import pytest

from rtl_models import is_cosim
from rtl_models.cosim import CosimError
from rtl_models.is_cosim import rtl_params, run_is_cosim_batch
from rtl_models.testing import broken_rtl, check_gemm_outcome, needs, run_cache
from sim import systolic
from sim.input_stationary import (
    ISConfig,
    edge_workloads,
    estimate_gemm,
    fold_cycles,
    fold_events,
    fold_schedule,
    simulate_gemm,
)
from sim.systolic import EVENT_NAMES, SystolicConfig

WORKLOADS = edge_workloads(seed=0)
NAMES = [name for name, _, _ in WORKLOADS]
ROWS = COLS = 4


def ref(a, b):
    return a.astype(np.int64) @ b.astype(np.int64)


def formula(cfg: ISConfig, n: int) -> int:
    return 2 * cfg.rows + cfg.cols + n - 2 + (2 if cfg.pe == "booth_csa" else 0)


# ------------------------------------------------------------------------------------------
# the model
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cfg", [ISConfig(4, 4), ISConfig(3, 5), ISConfig(4, 4, pe="booth_csa")], ids=str)
@pytest.mark.parametrize("name", NAMES)
def test_model_is_the_exact_product_on_golden_workloads(name, cfg):
    _, a, b = WORKLOADS[NAMES.index(name)]
    res = simulate_gemm(a, b, cfg)
    assert res.c.dtype == np.int32 and res.c.shape == (a.shape[0], b.shape[1])
    np.testing.assert_array_equal(res.c.astype(np.int64), ref(a, b))
    assert res.shape == (a.shape[0], b.shape[1], a.shape[1]) and res.config is cfg


def test_golden_workloads_are_small_and_awkward():
    shapes = [(a.shape[0], b.shape[1], a.shape[1]) for _, a, b in WORKLOADS]
    for _, a, b in WORKLOADS:
        assert a.dtype == b.dtype == np.int8 and a.shape[1] == b.shape[0]
    assert max(max(s) for s in shapes) <= 20
    assert any(s[0] == 1 for s in shapes) and any(s[1] == 1 for s in shapes) and any(s[2] == 1 for s in shapes)
    assert any(all(d % 4 for d in s) for s in shapes)  # no dimension a multiple of the 4x4 array
    values = np.concatenate([np.concatenate([a.ravel(), b.ravel()]) for _, a, b in WORKLOADS])
    assert values.min() == -128 and values.max() == 127
    again = edge_workloads(seed=0)
    assert all(np.array_equal(x[1], y[1]) and np.array_equal(x[2], y[2]) for x, y in zip(WORKLOADS, again))


def test_random_shapes_exact_and_stepwise():
    """Random shapes and arrays (non-square, 1 x 1, OPT1): the exact product, and the clock-by-clock
    stepper (sim.systolic's WS registers on the transposed operands) agrees with the closed form."""
    rng = np.random.default_rng(11)
    for i in range(12):
        cfg = ISConfig(int(rng.integers(1, 6)), int(rng.integers(1, 6)), pe="booth_csa" if i % 4 == 3 else "mac")
        m, n, k = (int(x) for x in rng.integers(1, 14, 3))
        a = rng.integers(-128, 128, (m, k), dtype=np.int8)
        b = rng.integers(-128, 128, (k, n), dtype=np.int8)
        fast = simulate_gemm(a, b, cfg)
        step = simulate_gemm(a, b, cfg, mode="stepwise")
        np.testing.assert_array_equal(fast.c.astype(np.int64), ref(a, b))
        np.testing.assert_array_equal(step.c, fast.c)
        assert step.fold_cycles == fast.fold_cycles and step.events == fast.events


@pytest.mark.parametrize("cfg", [ISConfig(4, 4), ISConfig(2, 3), ISConfig(5, 1, pe="booth_csa")], ids=str)
def test_fold_schedule_and_cycle_formula(cfg):
    m, n, k = 9, 7, 11
    folds = fold_schedule(m, n, k, cfg)
    m_tiles, k_tiles = -(-m // cfg.cols), -(-k // cfg.rows)
    assert len(folds) == m_tiles * k_tiles
    for i, f in enumerate(folds):
        mt, kt = divmod(i, k_tiles)  # m-tiles outer, k-tiles inner
        assert (f.m0, f.m1) == (mt * cfg.cols, min((mt + 1) * cfg.cols, m))
        assert (f.k0, f.k1) == (kt * cfg.rows, min((kt + 1) * cfg.rows, k))
        assert (f.n0, f.n1, f.t, f.accumulate) == (0, n, n, kt > 0)
    res = estimate_gemm(m, n, k, cfg)
    assert res.fold_cycles == [formula(cfg, n)] * len(folds) == [fold_cycles(cfg, n)] * len(folds)
    assert res.cycles == len(folds) * formula(cfg, n)
    # the same per-fold formula as sim.systolic's WS array with t = N
    assert fold_cycles(cfg, n) == systolic.fold_cycles(SystolicConfig(cfg.rows, cfg.cols, "ws", pe=cfg.pe), n)


@pytest.mark.parametrize("cfg", [ISConfig(4, 4), ISConfig(3, 2, pe="booth_csa"), ISConfig(4, 4, a_bits=4)], ids=str)
def test_estimate_equals_simulate(cfg):
    rng = np.random.default_rng(5)
    for m, n, k in [(1, 1, 1), (7, 5, 11), (13, 2, 6), (4, 17, 8)]:
        hi = 2 ** (cfg.a_bits - 1)
        a = rng.integers(-hi, hi, (m, k), dtype=np.int8)
        b = rng.integers(-128, 128, (k, n), dtype=np.int8)
        sim_res, est = simulate_gemm(a, b, cfg), estimate_gemm(m, n, k, cfg)
        assert est.c is None
        assert (est.cycles, est.fold_cycles, est.folds, est.events) == (
            sim_res.cycles, sim_res.fold_cycles, sim_res.folds, sim_res.events)
        total = dict.fromkeys(EVENT_NAMES, 0)
        for f in est.folds:
            for key, v in fold_events(cfg, f).items():
                total[key] += v
        assert total == est.events


def test_events_attribute_the_stationary_operand_to_a():
    cfg = ISConfig(4, 4)
    m, n, k = 7, 5, 11  # 2 m-tiles x 3 k-tiles
    ev = estimate_gemm(m, n, k, cfg).events
    assert tuple(ev) == EVENT_NAMES
    folds = 6
    assert ev["a_buffer_reads_bytes"] == folds * 4 * 4  # A's R x C tile once per fold
    assert ev["b_buffer_reads_bytes"] == folds * n * 4  # one R-wide column of B per streamed n
    assert ev["pe_weight_reg_writes"] == folds * 4 * (4 * 5 // 2)  # the stationary tile shifting in
    assert ev["mac_slots"] == folds * 16 * n and ev["macs"] == m * n * k
    assert ev["out_buffer_writes_bytes"] == folds * n * 4 * 4
    assert ev["out_buffer_reads_bytes"] == 2 * 2 * n * 4 * 4  # 2 accumulating k-tiles per m-tile
    # the WS array on the transposed GEMM, with the operand buffers swapped
    ws = systolic.estimate_gemm(n, m, k, SystolicConfig(4, 4, "ws")).events
    assert ev == ws | {"a_buffer_reads_bytes": ws["b_buffer_reads_bytes"],
                       "b_buffer_reads_bytes": ws["a_buffer_reads_bytes"]}
    # an A that is larger than B makes IS read less A than WS reads activations
    assert ev["a_buffer_reads_bytes"] < systolic.estimate_gemm(m, n, k, SystolicConfig(4, 4, "ws")).events[
        "a_buffer_reads_bytes"]


def test_events_are_priced_by_the_int_gemm_table():
    from reports.cost import int_gemm_event_energy

    priced = {row.event for row in int_gemm_event_energy(8, 8, 32)}
    assert set(EVENT_NAMES) <= priced
    ev = estimate_gemm(7, 5, 11, ISConfig(4, 4)).events
    energy = sum(row.energy_pj * ev[row.event] for row in int_gemm_event_energy(8, 8, 32))
    assert energy > 0


@pytest.mark.parametrize("kwargs,message", [
    (dict(rows=0), r"^rows must be a positive integer \(array size\), got 0$"),
    (dict(cols=2.5), r"^cols must be a positive integer \(array size\), got 2\.5$"),
    (dict(a_bits=1), r"^a_bits must be an integer operand width in 2\.\.16 bits, got 1$"),
    (dict(b_bits=17), r"^b_bits must be an integer operand width in 2\.\.16 bits, got 17$"),
    (dict(acc_bits=12), r"^acc_bits must be an integer in 16\.\.64 .* got 12$"),
    (dict(pe="wallace"), r"^pe must be one of \('mac', 'booth_csa'\), got 'wallace'$"),
    (dict(pe="booth_csa", b_bits=4), r"^pe='booth_csa' needs b_bits=8 \(in the IS array B streams .*got b_bits=4$"),
])
def test_config_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ISConfig(**({"rows": 4, "cols": 4} | kwargs))


def test_booth_csa_allows_a_narrow_stationary_operand():
    cfg = ISConfig(2, 2, a_bits=4, pe="booth_csa")
    a = np.array([[-8, 7, 3]], np.int8)
    b = np.array([[-128], [127], [5]], np.int8)
    np.testing.assert_array_equal(simulate_gemm(a, b, cfg, mode="stepwise").c, ref(a, b))


def test_model_rejects_bad_inputs():
    cfg = ISConfig(4, 4)
    a, b = np.zeros((2, 3), np.int8), np.zeros((3, 4), np.int8)
    with pytest.raises(TypeError, match=r"^a must be an integer array \(e\.g\. int8\), got dtype float64$"):
        simulate_gemm(a.astype(float), b, cfg)
    with pytest.raises(ValueError,
                       match=r"^inner dimensions differ: a is \(2, 3\) \(M x K\), b is \(4, 4\) \(K x N\)$"):
        simulate_gemm(a, np.zeros((4, 4), np.int8), cfg)
    with pytest.raises(ValueError, match=r"^b holds values outside the signed 4-bit range \[-8, 7\] \(min 9, max 9\)$"):
        simulate_gemm(a, np.full((3, 4), 9, np.int16), ISConfig(4, 4, b_bits=4))
    with pytest.raises(ValueError, match=r"^mode must be 'fast' or 'stepwise', got 'exact'$"):
        simulate_gemm(a, b, cfg, mode="exact")
    with pytest.raises(TypeError, match=r"^cfg must be a sim\.input_stationary\.ISConfig, got SystolicConfig$"):
        simulate_gemm(a, b, SystolicConfig(4, 4, "ws"))
    with pytest.raises(ValueError, match=r"^GEMM dimension N must be a positive integer, got 0$"):
        estimate_gemm(2, 0, 3, cfg)
    with pytest.raises(ValueError, match=r"^GEMM dimension M must be a positive integer, got -1$"):
        fold_schedule(-1, 2, 3, cfg)
    with pytest.raises(ValueError, match=r"^K=131072 exceeds the accumulator's safe range: at most 131071 products"):
        estimate_gemm(1, 1, 131072, cfg)
    with pytest.raises(ValueError, match=r"^t \(streamed length, N\) must be a positive integer, got 0$"):
        fold_cycles(cfg, 0)


# ------------------------------------------------------------------------------------------
# the co-simulation's arguments (no simulator runs)
# ------------------------------------------------------------------------------------------


def test_rtl_params():
    assert rtl_params(ISConfig(4, 4)) == {"R": 4, "C": 4, "A_W": 8, "B_W": 8, "ACC_W": 32, "DEPTH": 16}
    assert rtl_params(ISConfig(2, 3, a_bits=4), t_max=17) == {"R": 2, "C": 3, "A_W": 4, "B_W": 8, "ACC_W": 32,
                                                              "DEPTH": 32}
    assert rtl_params(ISConfig(4, 4, pe="booth_csa"), t_max=3)["PE_KIND"] == 1
    with pytest.raises(TypeError, match=r"^cfg must be a sim\.input_stationary\.ISConfig, got SystolicConfig$"):
        rtl_params(SystolicConfig(4, 4, "ws"))
    with pytest.raises(ValueError,
                       match=r"^t_max must be a positive integer \(the longest streamed length N\), got 0$"):
        rtl_params(ISConfig(4, 4), t_max=0)


A = np.zeros((2, 3), np.int8)
B = np.zeros((3, 4), np.int8)


@pytest.mark.parametrize("kwargs,error,message", [
    (dict(cfg=SystolicConfig(4, 4, "ws")), TypeError, r"^cfg must be an ISConfig, got SystolicConfig$"),
    (dict(cfg=ISConfig(4, 4, a_bits=12)), ValueError,
     r"^the co-simulation takes int8 operands: a_bits and b_bits must be <= 8, got a_bits=12, b_bits=8$"),
    (dict(cfg=ISConfig(4, 4, acc_bits=40)), ValueError, r"^the co-simulation returns int32 results: acc_bits must "),
    (dict(sim="vcs"), ValueError, r"^sim must be one of \('icarus', 'verilator'\), got 'vcs'$"),
    (dict(seed="x"), ValueError, r"^seed must be an integer, got 'x'$"),
    (dict(waves=1), ValueError, r"^waves must be True or False, got 1$"),
    (dict(workloads=[]), ValueError, r"^workloads must be a non-empty list holding at least one \(a, b\) pair of int8 matrices$"),
    (dict(workloads=[A]), ValueError, r"^workload 0 must be an \(a, b\) pair of int8 matrices, got ndarray$"),
    (dict(workloads=[(A.astype(np.int32), B)]), ValueError, r"^workload 0: a must be an int8 numpy array, got int32$"),
    (dict(workloads=[(A, np.zeros((4, 4), np.int8))]), ValueError,
     r"^workload 0: inner dimensions differ: a is \(2, 3\) \(M x K\), b is \(4, 4\) \(K x N\)$"),
    (dict(workloads=[(A, B), (A, np.full((3, 1), 8, np.int8))], cfg=ISConfig(4, 4, b_bits=4)), ValueError,
     r"^workload 1: b holds values outside the signed 4-bit range \[-8, 7\] \(min 8, max 8\)$"),
])
def test_cosim_rejects_bad_arguments(kwargs, error, message):
    args = dict(workloads=[(A, B)], cfg=ISConfig(4, 4), sim="icarus") | kwargs
    with pytest.raises(error, match=message):
        run_is_cosim_batch(**args)


# ------------------------------------------------------------------------------------------
# co-simulation
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def golden_runs():
    """(sim, pe) -> {workload name: CosimOutcome}: one simulator run per pair, on demand."""
    return run_cache(lambda sim, pe: run_is_cosim_batch([(a, b) for _, a, b in WORKLOADS],
                                                        ISConfig(ROWS, COLS, pe=pe), sim=sim), NAMES)


def check_against_model(res, a, b, cfg):
    check_gemm_outcome(res, simulate_gemm(a, b, cfg), a, b)


@pytest.mark.rtl
@pytest.mark.parametrize("name", NAMES)
# the MAC array on both simulators is tests/test_crosscheck.py's (the same golden GEMMs); the OPT1 PE here
@pytest.mark.parametrize("sim,pe", [("icarus", "booth_csa")])
def test_golden_workloads_cosim(golden_runs, sim, pe, name):
    _, a, b = WORKLOADS[NAMES.index(name)]
    res = golden_runs(sim, pe)[name]
    assert res.sim == sim and res.build_dir.name.startswith(f"{sim}-is_systolic_array-")
    check_against_model(res, a, b, ISConfig(ROWS, COLS, pe=pe))


@pytest.mark.rtl
def test_non_square_array_cosim():
    """Rows != columns (and a narrow stationary operand) catches a transposed index."""
    needs("icarus")
    cfg = ISConfig(3, 2, a_bits=6)
    rng = np.random.default_rng(3)
    workloads = [(rng.integers(-32, 32, (m, k), dtype=np.int8), rng.integers(-128, 128, (k, n), dtype=np.int8))
                 for m, n, k in [(5, 7, 4), (1, 3, 7), (4, 1, 2)]]
    for (a, b), res in zip(workloads, run_is_cosim_batch(workloads, cfg, seed=1)):
        check_against_model(res, a, b, cfg)


@pytest.mark.rtl
def test_planted_rtl_cycle_bug_is_caught(tmp_path, monkeypatch):
    """Cycles are measured: an array whose done comes one cycle late fails the bench."""
    needs("icarus")
    build_root = broken_rtl(tmp_path, monkeypatch, "ws_systolic_array.v", "LAST_I = 2 * R + C - 3 + RO",
                            "LAST_I = 2 * R + C - 2 + RO")
    a, b = np.ones((2, 3), np.int8), np.ones((3, 5), np.int8)
    with pytest.raises(CosimError, match=r"fold 0 .*: 16 cycles, model 15"):
        run_is_cosim_batch([(a, b)], ISConfig(4, 4), build_root=build_root)


@pytest.mark.rtl
def test_planted_model_cycle_bug_is_caught(tmp_path, monkeypatch):
    """The bench compares with the model, not with itself: a model that expects one cycle more per
    fold (patched inside the simulator's Python, before the bench imports it) fails the run."""
    needs("icarus")
    (tmp_path / "planted_is_bench.py").write_text(textwrap.dedent("""\
        import sim.input_stationary as model

        _true_fold_cycles = model.fold_cycles
        model.fold_cycles = lambda cfg, t: _true_fold_cycles(cfg, t) + 1  # the planted bug

        from rtl_models.benches.is_systolic_bench import is_gemm_folds  # noqa: E402,F401
    """))
    monkeypatch.syspath_prepend(str(tmp_path))  # the simulator's PYTHONPATH is this sys.path
    monkeypatch.setattr(is_cosim, "BINDING", dataclasses.replace(is_cosim.BINDING, bench="planted_is_bench"))
    a, b = np.ones((2, 3), np.int8), np.ones((3, 5), np.int8)
    with pytest.raises(CosimError, match=r"fold 0 .*: 15 cycles, model 16"):
        run_is_cosim_batch([(a, b)], ISConfig(4, 4))
