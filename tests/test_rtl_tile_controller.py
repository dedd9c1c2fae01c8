"""The tile controllers in Verilog (rtl_models/verilog/tile_controller.v, output-stationary;
tile_controller_ws.v, weight-stationary) with the bench's DRAM model, co-simulated on Icarus and
Verilator: C == the exact int GEMM, and the measured total, compute and stall cycles, DRAM busy
cycles and DRAM bytes == sim.memory.simulate's (through sim.tile_controller.predict /
predict_ws), exactly.

Cost: one build per simulator and controller (OS: 4 x 4 array, KT = 4; WS: 3 x 4 array, TM = 8;
16-byte bus) serves every case; each DRAM setting is one simulator run over all workloads,
shared by its test items.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from rtl_models.cosim import CosimError
from rtl_models.testing import SIMS, broken_rtl, needs, run_cache
from rtl_models.tile_cosim import (
    model_for,
    model_for_ws,
    model_mismatches,
    run_tile_cosim,
    run_tile_cosim_batch,
    run_tile_cosim_ws_batch,
)
from sim.tile_controller import (
    SLOT_OVERHEAD,
    TileConfig,
    WsTileConfig,
    address_map,
    blocked,
    predict,
    predict_config,
    predict_ws,
    tile_compute_cycles,
    unblocked,
    ws_tile_compute_cycles,
)

ROWS = COLS = 4
# (M, N, K): one whole tile, non-multiples of the 4 x 4 x tk tile in every dimension, a K below tk
SHAPES = [(4, 4, 4), (7, 6, 10), (9, 5, 3), (1, 3, 1)]
# name -> (tk, bandwidth bytes/cycle, read latency cycles)
SETTINGS = {"fast": (4, 16, 0), "slow": (4, 1, 0), "latency": (3, 2, 3)}


def _workloads(seed: int = 0):
    rng = np.random.default_rng(seed)
    return [(rng.integers(-128, 128, (m, k), dtype=np.int8), rng.integers(-128, 128, (k, n), dtype=np.int8))
            for m, n, k in SHAPES]


WORKLOADS = _workloads()
# the accumulator's extremes: -128 * -128 summed over K = 10 k in three k tiles
WORKLOADS.append((np.full((5, 10), -128, np.int8), np.full((10, 5), -128, np.int8)))
CASES = [f"{a.shape[0]}x{b.shape[1]}x{a.shape[1]}" for a, b in WORKLOADS]


@pytest.fixture(scope="module")
def runs():
    """(sim, setting) -> {case: CosimOutcome}: one simulator run per pair, on demand."""
    return run_cache(lambda sim, setting: run_tile_cosim_batch(WORKLOADS, ROWS, COLS, *SETTINGS[setting], sim=sim,
                                                               seed=0), CASES)


def _model(setting: str, a, b):
    tk, bw, lat = SETTINGS[setting]
    return model_for(a, b, ROWS, COLS, tk, bw, lat)


@pytest.mark.rtl
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("setting", list(SETTINGS))
@pytest.mark.parametrize("sim", SIMS)
def test_values_and_cycles_equal_the_memory_model(runs, sim, setting, case):
    a, b = WORKLOADS[CASES.index(case)]
    res = runs(sim, setting)[case]
    assert res.sim == sim and res.values.dtype == np.int32
    np.testing.assert_array_equal(res.values.astype(np.int64), a.astype(np.int64) @ b.astype(np.int64))
    model = _model(setting, a, b)
    assert model_mismatches(res, a, b, model) == []
    assert res.cycles == model.total_cycles
    assert res.extra["compute_cycles"] == model.compute_cycles
    assert res.extra["stall_cycles"] == model.stall_cycles == res.cycles - res.extra["compute_cycles"]


def _prologue_epilogue(a, b, tk: int, bw: int, lat: int, tm: int = ROWS, tn: int = COLS) -> int:
    """Stall cycles when no computing slot waits on DRAM: slot 0 (tile 0's A and B reads), slot
    T+1 (the last C tile's write) and every slot's overhead (tiles tm x tn x tk; the last tile
    is the last m and n tile in both controllers' loop orders)."""
    m, k = a.shape
    n = b.shape[1]
    t0m, t0n, t0k = min(tm, m), min(tn, n), min(tk, k)
    last_m, last_n = m - (math.ceil(m / tm) - 1) * tm, n - (math.ceil(n / tn) - 1) * tn
    tiles = math.ceil(m / tm) * math.ceil(n / tn) * math.ceil(k / tk)
    slot0 = 2 * lat + math.ceil(t0m * t0k / bw) + math.ceil(t0k * t0n / bw)
    last = math.ceil(4 * last_m * last_n / bw)
    return slot0 + last + SLOT_OVERHEAD * (tiles + 2)


@pytest.mark.rtl
@pytest.mark.parametrize("sim", SIMS)
def test_fast_dram_never_stalls_the_array(runs, sim):
    """At 16 bytes/cycle the only stall is the prologue, the epilogue and the slot overheads."""
    tk, bw, lat = SETTINGS["fast"]
    for case, (a, b) in zip(CASES, WORKLOADS):
        res = runs(sim, "fast")[case]
        assert res.extra["stall_cycles"] == _prologue_epilogue(a, b, tk, bw, lat), case


@pytest.mark.rtl
@pytest.mark.parametrize("sim", SIMS)
def test_slow_dram_stalls_most_cycles(runs, sim):
    """At one byte per cycle most cycles of the run stall, and every workload of several tiles
    waits on DRAM in computing slots, beyond the prologue and epilogue."""
    tk, bw, lat = SETTINGS["slow"]
    total = stall = 0
    for case, (a, b) in zip(CASES, WORKLOADS):
        res = runs(sim, "slow")[case]
        total += res.cycles
        stall += res.extra["stall_cycles"]
        if predict(a.shape[0], b.shape[1], a.shape[1], ROWS, COLS, tk, bw, lat).tiles > 1:
            assert res.extra["stall_cycles"] > _prologue_epilogue(a, b, tk, bw, lat), case
        # one byte per cycle, no latency: the port is busy exactly the bytes moved
        assert res.extra["dram_busy_cycles"] == res.extra["dram_read_bytes"] + res.extra["dram_write_bytes"]
    assert stall > total / 2


@pytest.mark.rtl
@pytest.mark.parametrize("sim", SIMS)
def test_latency_is_paid_once_per_read_burst(runs, sim):
    tk, bw, lat = SETTINGS["latency"]
    for case, (a, b) in zip(CASES, WORKLOADS):
        res = runs(sim, "latency")[case]
        model = _model("latency", a, b)
        reads = model.fills["ifmap"] + model.fills["filter"]
        assert res.extra["bursts"] == reads + model.fills["ofmap"]
        no_latency = predict(a.shape[0], b.shape[1], a.shape[1], ROWS, COLS, tk, bw, 0)
        assert res.extra["dram_busy_cycles"] == no_latency.dram_cycles + lat * reads


@pytest.mark.rtl
def test_a_wrong_model_is_caught(runs):
    """Measurements against a model that is off by one cycle somewhere: every variant is flagged."""
    needs("icarus")
    tk, bw, lat = SETTINGS["latency"]
    for case, (a, b) in zip(CASES, WORKLOADS):
        res = runs("icarus", "latency")[case]
        m, n, k = a.shape[0], b.shape[1], a.shape[1]
        assert model_mismatches(res, a, b, predict(m, n, k, ROWS, COLS, tk, bw, lat)) == []
        wrong = {"latency + 1": predict(m, n, k, ROWS, COLS, tk, bw, lat + 1),
                 "latency - 1": predict(m, n, k, ROWS, COLS, tk, bw, lat - 1),
                 "slot overhead 0": predict(m, n, k, ROWS, COLS, tk, bw, lat, slot_overhead=0)}
        for name, model in wrong.items():
            problems = model_mismatches(res, a, b, model)
            assert any(p.startswith("total_cycles") for p in problems), (case, name, problems)
        # a wrong C is caught too
        bad = type(res)(res.values + 1, res.cycles, res.fold_cycles, res.sim, res.build_dir)
        assert "C differs from the exact product" in model_mismatches(bad, a, b, _model("latency", a, b))


@pytest.mark.rtl
def test_bench_catches_rtl_one_cycle_slower_per_tile(tmp_path, monkeypatch):
    """A controller whose compute ends one edge late gives the right C but not the model's cycles:
    the bench's own comparison raises."""
    needs("icarus")
    root = broken_rtl(tmp_path, monkeypatch, "tile_controller.v", "if (ccyc == rd0 + R) begin",
                      "if (ccyc == rd0 + R + 1) begin")
    a, b = WORKLOADS[1]
    with pytest.raises(CosimError, match="cycles"):
        run_tile_cosim(a, b, ROWS, COLS, 4, 2, 1, sim="icarus", build_root=root)


@pytest.mark.parametrize("kwargs,match", [
    ({"bandwidth": 0}, "bandwidth must be a positive integer, got 0"),
    ({"tk": 0}, "tk must be a positive integer"),
    ({"bandwidth": 2.5}, "bandwidth must be a positive integer, got 2.5"),
    ({"latency": -1}, "latency must be a non-negative integer"),
    ({"rows": 0}, "rows must be a positive integer"),
])
def test_bad_arguments_are_refused_before_any_build(kwargs, match):
    args = {"rows": 4, "cols": 4, "tk": 4, "bandwidth": 4, "latency": 0} | kwargs
    a, b = WORKLOADS[0]
    with pytest.raises(ValueError, match=match):
        run_tile_cosim_batch([(a, b)], **args)


def test_bad_workloads_are_refused():
    a, b = WORKLOADS[0]
    with pytest.raises(ValueError, match="int8"):
        run_tile_cosim_batch([(a.astype(np.int16), b)], 4, 4, 4, 4)
    with pytest.raises(ValueError, match="shape mismatch"):
        run_tile_cosim_batch([(a, b[:2])], 4, 4, 4, 4)
    with pytest.raises(ValueError, match="DRAM bandwidth"):
        predict(4, 4, 4, 4, 4, 4, 0, 0)
    with pytest.raises(ValueError, match="tk must be a positive integer"):
        predict(4, 4, 4, 4, 4, 0, 4, 0)


def test_schedule_and_layout_helpers():
    assert tile_compute_cycles(4, 4, 4, 4, 4) == 4 + 2 * 4 + 4 + 1
    assert tile_compute_cycles(1, 2, 3, 4, 4) == tile_compute_cycles(4, 4, 3, 4, 4)  # the array runs whole
    x = np.arange(7 * 10).reshape(7, 10)
    flat = blocked(x, 4, 3)
    np.testing.assert_array_equal(unblocked(flat, 7, 10, 4, 3), x)
    # tile (mi, ki) starts at mi*R*K + em*ki*tk: the controller's address formula
    assert flat[1 * 4 * 10 + 3 * 2 * 3] == x[4, 6]
    amap = address_map(7, 5, 10)
    assert amap["b_base"] == 70 and amap["c_base"] % 4 == 0 and amap["size"] == amap["c_base"] + 4 * 35
    with pytest.raises(ValueError):
        TileConfig(4, 4, 4, 0)


@pytest.mark.rtl
def test_non_square_array_odd_tile_and_bandwidth():
    """3 x 5 array, tk 5 (KT 8), 3 bytes/cycle (C's 4-byte words straddle beats), latency 2:
    catches a transposed index that the square array would hide."""
    needs("icarus")
    rng = np.random.default_rng(5)
    workloads = [(rng.integers(-128, 128, (m, k), dtype=np.int8), rng.integers(-128, 128, (k, n), dtype=np.int8))
                 for m, n, k in [(7, 11, 13), (5, 4, 1)]]
    for (a, b), res in zip(workloads, run_tile_cosim_batch(workloads, 3, 5, 5, 3, 2, sim="icarus", seed=2)):
        assert model_mismatches(res, a, b, model_for(a, b, 3, 5, 5, 3, 2)) == []


# ------------------------------------------------------------------------------------------------
# the weight-stationary controller (tile_controller_ws.v): tiles tm x cols x rows, loop order "nmk"
# ------------------------------------------------------------------------------------------------

WS_ROWS, WS_COLS = 3, 4  # non-square, so a transposed index shows
# (M, N, K): non-multiples of the 3 (K) x 4 (N) x tm tile in every dimension; K = R with M over
# several tm chunks (the weight tile stays); K < R with M < tm; one element
WS_SHAPES = [(7, 6, 5), (12, 5, 3), (3, 9, 2), (1, 1, 1)]
# name -> (tm, bandwidth bytes/cycle, read latency cycles); every tm needs TM = 8: one build
WS_SETTINGS = {"fast": (5, 16, 0), "slow": (8, 1, 0), "latency": (5, 3, 2)}


def _ws_workloads(seed: int = 1):
    rng = np.random.default_rng(seed)
    out = [(rng.integers(-128, 128, (m, k), dtype=np.int8), rng.integers(-128, 128, (k, n), dtype=np.int8))
           for m, n, k in WS_SHAPES]
    # the accumulator's extremes: -128 * -128 summed over K = 10 in four k tiles (3, 3, 3, 1)
    out.append((np.full((6, 10), -128, np.int8), np.full((10, 5), -128, np.int8)))
    return out


WS_WORKLOADS = _ws_workloads()
WS_CASES = [f"{a.shape[0]}x{b.shape[1]}x{a.shape[1]}" for a, b in WS_WORKLOADS]


@pytest.fixture(scope="module")
def ws_runs():
    """(sim, setting) -> {case: CosimOutcome} of the WS controller: one simulator run per pair."""
    return run_cache(lambda sim, setting: run_tile_cosim_ws_batch(WS_WORKLOADS, WS_ROWS, WS_COLS,
                                                                  *WS_SETTINGS[setting], sim=sim, seed=0), WS_CASES)


def _ws_model(setting: str, a, b, **kwargs):
    return model_for_ws(a, b, WS_ROWS, WS_COLS, *WS_SETTINGS[setting], **kwargs)


@pytest.mark.rtl
@pytest.mark.parametrize("case", WS_CASES)
@pytest.mark.parametrize("setting", list(WS_SETTINGS))
@pytest.mark.parametrize("sim", SIMS)
def test_ws_values_and_cycles_equal_the_memory_model(ws_runs, sim, setting, case):
    a, b = WS_WORKLOADS[WS_CASES.index(case)]
    res = ws_runs(sim, setting)[case]
    assert res.sim == sim and res.values.dtype == np.int32
    np.testing.assert_array_equal(res.values.astype(np.int64), a.astype(np.int64) @ b.astype(np.int64))
    model = _ws_model(setting, a, b)
    assert model_mismatches(res, a, b, model) == []
    assert res.cycles == model.total_cycles
    assert res.extra["compute_cycles"] == model.compute_cycles
    assert res.extra["stall_cycles"] == model.stall_cycles == res.cycles - res.extra["compute_cycles"]


@pytest.mark.rtl
@pytest.mark.parametrize("sim", SIMS)
def test_ws_fast_dram_never_stalls_the_array(ws_runs, sim):
    """At 16 bytes/cycle the only stall is the prologue, the epilogue and the slot overheads."""
    tm, bw, lat = WS_SETTINGS["fast"]
    for case, (a, b) in zip(WS_CASES, WS_WORKLOADS):
        res = ws_runs(sim, "fast")[case]
        assert res.extra["stall_cycles"] == _prologue_epilogue(a, b, WS_ROWS, bw, lat, tm=tm, tn=WS_COLS), case


@pytest.mark.rtl
@pytest.mark.parametrize("sim", SIMS)
def test_ws_slow_dram_stalls_most_cycles(ws_runs, sim):
    tm, bw, lat = WS_SETTINGS["slow"]
    total = stall = 0
    for case, (a, b) in zip(WS_CASES, WS_WORKLOADS):
        res = ws_runs(sim, "slow")[case]
        total += res.cycles
        stall += res.extra["stall_cycles"]
        if _ws_model("slow", a, b).tiles > 1:
            assert res.extra["stall_cycles"] > _prologue_epilogue(a, b, WS_ROWS, bw, lat, tm=tm, tn=WS_COLS), case
        assert res.extra["dram_busy_cycles"] == res.extra["dram_read_bytes"] + res.extra["dram_write_bytes"]
    assert stall > total / 2


@pytest.mark.rtl
@pytest.mark.parametrize("sim", SIMS)
def test_ws_latency_is_paid_once_per_read_burst_and_nothing_spills(ws_runs, sim):
    tm, bw, lat = WS_SETTINGS["latency"]
    for case, (a, b) in zip(WS_CASES, WS_WORKLOADS):
        res = ws_runs(sim, "latency")[case]
        model = _ws_model("latency", a, b)
        reads = model.fills["ifmap"] + model.fills["filter"]
        assert res.extra["bursts"] == reads + model.fills["ofmap"]
        no_latency = predict_ws(a.shape[0], b.shape[1], a.shape[1], WS_ROWS, WS_COLS, tm, bw, 0)
        assert res.extra["dram_busy_cycles"] == no_latency.dram_cycles + lat * reads
        # k innermost: every C tile is written once, finished; no partial sum goes out or comes back
        assert model.dram_read_bytes["ofmap"] == 0
        assert res.extra["dram_write_bytes"] == 4 * a.shape[0] * b.shape[1]
        assert res.extra["dram_read_bytes"] == model.dram_read_bytes["ifmap"] + model.dram_read_bytes["filter"]


def test_ws_weight_tile_stays_while_m_chunks_stream():
    """K <= R (one k tile): B is fetched once per n tile, A once per m chunk and n tile."""
    tm, bw, lat = WS_SETTINGS["fast"]
    model = predict_ws(12, 5, 3, WS_ROWS, WS_COLS, tm, bw, lat)
    assert model.tiles == 2 * 3 and model.fills["filter"] == 2 and model.fills["ifmap"] == 6
    assert model.dram_read_bytes["filter"] == 3 * 5 and model.dram_read_bytes["ifmap"] == 2 * 12 * 3
    assert model.mapping.order == "nmk" and (model.mapping.tm, model.mapping.tn, model.mapping.tk) == (tm, 4, 3)


@pytest.mark.rtl
def test_ws_a_wrong_model_is_caught(ws_runs):
    needs("icarus")
    tm, bw, lat = WS_SETTINGS["latency"]
    for case, (a, b) in zip(WS_CASES, WS_WORKLOADS):
        res = ws_runs("icarus", "latency")[case]
        m, n, k = a.shape[0], b.shape[1], a.shape[1]
        assert model_mismatches(res, a, b, predict_ws(m, n, k, WS_ROWS, WS_COLS, tm, bw, lat)) == []
        wrong = {"latency + 1": predict_ws(m, n, k, WS_ROWS, WS_COLS, tm, bw, lat + 1),
                 "latency - 1": predict_ws(m, n, k, WS_ROWS, WS_COLS, tm, bw, lat - 1),
                 "slot overhead 0": predict_ws(m, n, k, WS_ROWS, WS_COLS, tm, bw, lat, slot_overhead=0)}
        if (m, n, k) != (1, 1, 1):  # one 1 x 1 x 1 tile: both controllers' schedules coincide
            wrong["the OS controller"] = predict(m, n, k, WS_ROWS, WS_COLS, tm, bw, lat)
        for name, model in wrong.items():
            problems = model_mismatches(res, a, b, model)
            assert any(p.startswith("total_cycles") for p in problems), (case, name, problems)


@pytest.mark.rtl
def test_ws_bench_catches_rtl_one_cycle_slower_per_tile(tmp_path, monkeypatch):
    needs("icarus")
    root = broken_rtl(tmp_path, monkeypatch, "tile_controller_ws.v", "if (ccyc == RD0 + c_em) begin",
                      "if (ccyc == RD0 + c_em + 1) begin")
    a, b = WS_WORKLOADS[0]
    with pytest.raises(CosimError, match="cycles"):
        run_tile_cosim_ws_batch([(a, b)], WS_ROWS, WS_COLS, 5, 2, 1, sim="icarus", build_root=root)


def test_ws_schedule_config_and_arguments():
    assert ws_tile_compute_cycles(5, 4, 3, 3, 4) == 5 + 2 * 3 + 4 + 1
    assert ws_tile_compute_cycles(5, 1, 1, 3, 4) == ws_tile_compute_cycles(5, 4, 3, 3, 4)  # the array runs whole
    cfg = WsTileConfig(3, 4, 5, 3, 2)
    assert cfg.dataflow == "ws" and TileConfig(4, 4, 4, 4).dataflow == "os"
    assert predict_config(cfg, 7, 6, 5) == predict_ws(7, 6, 5, 3, 4, 5, 3, 2)
    assert predict_config(TileConfig(4, 4, 3, 2, 3), 7, 6, 10) == predict(7, 6, 10, 4, 4, 3, 2, 3)
    a, b = WS_WORKLOADS[0]
    for kwargs, match in [({"tm": 0}, "tm must be a positive integer"),
                          ({"bandwidth": 0}, "bandwidth must be a positive integer"),
                          ({"latency": -1}, "latency must be a non-negative integer")]:
        args = {"rows": 3, "cols": 4, "tm": 5, "bandwidth": 4, "latency": 0} | kwargs
        with pytest.raises(ValueError, match=match):
            run_tile_cosim_ws_batch([(a, b)], **args)
