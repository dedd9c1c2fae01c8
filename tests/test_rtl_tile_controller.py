"""The tile controllers in Verilog (rtl_models/verilog/tile_controller.v, output-stationary;
tile_controller_ws.v, weight-stationary; both on tile_slot_engine.v) with the bench's DRAM model,
co-simulated on Icarus and Verilator: C == the exact int GEMM, and the measured total, compute
and stall cycles, DRAM busy cycles and DRAM bytes == sim.memory.simulate's (through
sim.tile_controller.predict / predict_ws), exactly.

Cost: one build per simulator and controller (OS: 4 x 4 array, KT = 4; WS: 3 x 4 array, TM = 8;
16-byte bus) serves every case; each DRAM setting is one simulator run over all workloads,
shared by its test items. The checks common to both controllers run on each (parametrized over
``flow``: OS, WS); each controller's own checks follow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

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


def _random_workloads(shapes, seed: int):
    rng = np.random.default_rng(seed)
    return [(rng.integers(-128, 128, (m, k), dtype=np.int8), rng.integers(-128, 128, (k, n), dtype=np.int8))
            for m, n, k in shapes]


def _extremes(m: int, k: int, n: int):
    """The accumulator's extremes: -128 * -128 summed over K."""
    return np.full((m, k), -128, np.int8), np.full((k, n), -128, np.int8)


# ------------------------------------------------------------------------------------------------
# the output-stationary controller (tile_controller.v): tiles rows x cols x tk, loop order "mnk"
# ------------------------------------------------------------------------------------------------

ROWS = COLS = 4
# (M, N, K): one whole tile, non-multiples of the 4 x 4 x tk tile in every dimension, a K below tk
SHAPES = [(4, 4, 4), (7, 6, 10), (9, 5, 3), (1, 3, 1)]
# name -> (tk, bandwidth bytes/cycle, read latency cycles)
SETTINGS = {"fast": (4, 16, 0), "slow": (4, 1, 0), "latency": (3, 2, 3)}
# the extremes over K = 10 in three k tiles
WORKLOADS = _random_workloads(SHAPES, 0) + [_extremes(5, 10, 5)]

# ------------------------------------------------------------------------------------------------
# the weight-stationary controller (tile_controller_ws.v): tiles tm x cols x rows, loop order "nmk"
# ------------------------------------------------------------------------------------------------

WS_ROWS, WS_COLS = 3, 4  # non-square, so a transposed index shows
# (M, N, K): non-multiples of the 3 (K) x 4 (N) x tm tile in every dimension; K = R with M over
# several tm chunks (the weight tile stays); K < R with M < tm; one element
WS_SHAPES = [(7, 6, 5), (12, 5, 3), (3, 9, 2), (1, 1, 1)]
# name -> (tm, bandwidth bytes/cycle, read latency cycles); every tm needs TM = 8: one build
WS_SETTINGS = {"fast": (5, 16, 0), "slow": (8, 1, 0), "latency": (5, 3, 2)}
# the extremes over K = 10 in four k tiles (3, 3, 3, 1)
WS_WORKLOADS = _random_workloads(WS_SHAPES, 1) + [_extremes(6, 10, 5)]


@dataclass(frozen=True)
class Flow:
    """One controller under test: its array, workloads and DRAM settings (name -> (tile, bandwidth,
    latency), the tile being OS tk, WS tm), how to run and model it, and the Verilog line that ends
    a tile's compute (the mutation test's target)."""

    name: str
    tile: str  # the runtime tile input: "tk" (OS) or "tm" (WS)
    rows: int
    cols: int
    workloads: list
    settings: dict
    batch: Callable  # run_tile_cosim_batch(workloads, rows, cols, tile, bandwidth, latency, ...)
    one: Callable  # one GEMM: (a, b, rows, cols, tile, bandwidth, latency, ...) -> CosimOutcome
    predict: Callable  # predict(m, n, k, rows, cols, tile, bandwidth, latency, slot_overhead=...)
    model_for: Callable  # model_for(a, b, rows, cols, tile, bandwidth, latency)
    verilog: str
    compute_end: str
    mutant: tuple  # (workload index, tile, bandwidth, latency) of the mutation test

    @property
    def cases(self) -> list[str]:
        return [f"{a.shape[0]}x{b.shape[1]}x{a.shape[1]}" for a, b in self.workloads]

    def items(self):
        return zip(self.cases, self.workloads)

    def dims(self, tile: int) -> tuple[int, int, int]:
        """(tm, tn, tk) of the controller's tiles."""
        return (self.rows, self.cols, tile) if self.tile == "tk" else (tile, self.cols, self.rows)

    def model(self, setting: str, a, b):
        return self.model_for(a, b, self.rows, self.cols, *self.settings[setting])

    def predict_gemm(self, a, b, tile: int, bw: int, lat: int, **kwargs):
        return self.predict(a.shape[0], b.shape[1], a.shape[1], self.rows, self.cols, tile, bw, lat, **kwargs)


OS = Flow("os", "tk", ROWS, COLS, WORKLOADS, SETTINGS, run_tile_cosim_batch, run_tile_cosim, predict, model_for,
          "tile_controller.v", ".comp_end(rd0 + R)", (1, 4, 2, 1))
WS = Flow("ws", "tm", WS_ROWS, WS_COLS, WS_WORKLOADS, WS_SETTINGS, run_tile_cosim_ws_batch,
          lambda a, b, *args, **kwargs: run_tile_cosim_ws_batch([(a, b)], *args, **kwargs)[0], predict_ws,
          model_for_ws, "tile_controller_ws.v", ".comp_end(RD0 + c_em)", (0, 5, 2, 1))
FLOWS = [OS, WS]
OTHER = {"os": WS, "ws": OS}
# both controllers, every DRAM setting and workload
FLOW_CASES = [pytest.param(f, setting, case, id=f"{f.name}-{setting}-{case}")
              for f in FLOWS for setting in f.settings for case in f.cases]
by_flow = pytest.mark.parametrize("flow", FLOWS, ids=[f.name for f in FLOWS])


@pytest.fixture(scope="module")
def runs():
    """(sim, flow, setting) -> {case: CosimOutcome}: one simulator run per triple, on demand."""
    def run(sim, name, setting):
        flow = OS if name == "os" else WS
        out = flow.batch(flow.workloads, flow.rows, flow.cols, *flow.settings[setting], sim=sim, seed=0)
        return dict(zip(flow.cases, out, strict=True))

    get = run_cache(run)
    return lambda sim, flow, setting: get(sim, flow.name, setting)


@pytest.mark.rtl
@pytest.mark.parametrize("flow,setting,case", FLOW_CASES)
@pytest.mark.parametrize("sim", SIMS)
def test_values_and_cycles_equal_the_memory_model(runs, sim, flow, setting, case):
    a, b = flow.workloads[flow.cases.index(case)]
    res = runs(sim, flow, setting)[case]
    assert res.sim == sim and res.values.dtype == np.int32
    np.testing.assert_array_equal(res.values.astype(np.int64), a.astype(np.int64) @ b.astype(np.int64))
    model = flow.model(setting, a, b)
    assert model_mismatches(res, a, b, model) == []
    assert res.cycles == model.total_cycles
    assert res.extra["compute_cycles"] == model.compute_cycles
    assert res.extra["stall_cycles"] == model.stall_cycles == res.cycles - res.extra["compute_cycles"]


def _prologue_epilogue(flow: Flow, setting: str, a, b) -> int:
    """Stall cycles when no computing slot waits on DRAM: slot 0 (tile 0's A and B reads), slot
    T+1 (the last C tile's write) and every slot's overhead (tiles tm x tn x tk; the last tile
    is the last m and n tile in both controllers' loop orders)."""
    tile, bw, lat = flow.settings[setting]
    tm, tn, tk = flow.dims(tile)
    m, k = a.shape
    n = b.shape[1]
    t0m, t0n, t0k = min(tm, m), min(tn, n), min(tk, k)
    last_m, last_n = m - (math.ceil(m / tm) - 1) * tm, n - (math.ceil(n / tn) - 1) * tn
    tiles = math.ceil(m / tm) * math.ceil(n / tn) * math.ceil(k / tk)
    slot0 = 2 * lat + math.ceil(t0m * t0k / bw) + math.ceil(t0k * t0n / bw)
    last = math.ceil(4 * last_m * last_n / bw)
    return slot0 + last + SLOT_OVERHEAD * (tiles + 2)


@pytest.mark.rtl
@by_flow
@pytest.mark.parametrize("sim", SIMS)
def test_fast_dram_never_stalls_the_array(runs, sim, flow):
    """At 16 bytes/cycle the only stall is the prologue, the epilogue and the slot overheads."""
    for case, (a, b) in flow.items():
        res = runs(sim, flow, "fast")[case]
        assert res.extra["stall_cycles"] == _prologue_epilogue(flow, "fast", a, b), case


@pytest.mark.rtl
@by_flow
@pytest.mark.parametrize("sim", SIMS)
def test_slow_dram_stalls_most_cycles(runs, sim, flow):
    """At one byte per cycle most cycles of the run stall, and every workload of several tiles
    waits on DRAM in computing slots, beyond the prologue and epilogue."""
    total = stall = 0
    for case, (a, b) in flow.items():
        res = runs(sim, flow, "slow")[case]
        total += res.cycles
        stall += res.extra["stall_cycles"]
        if flow.model("slow", a, b).tiles > 1:
            assert res.extra["stall_cycles"] > _prologue_epilogue(flow, "slow", a, b), case
        # one byte per cycle, no latency: the port is busy exactly the bytes moved
        assert res.extra["dram_busy_cycles"] == res.extra["dram_read_bytes"] + res.extra["dram_write_bytes"]
    assert stall > total / 2


@pytest.mark.rtl
@by_flow
@pytest.mark.parametrize("sim", SIMS)
def test_latency_is_paid_once_per_read_burst_and_nothing_spills(runs, sim, flow):
    tile, bw, lat = flow.settings["latency"]
    for case, (a, b) in flow.items():
        res = runs(sim, flow, "latency")[case]
        model = flow.model("latency", a, b)
        reads = model.fills["ifmap"] + model.fills["filter"]
        assert res.extra["bursts"] == reads + model.fills["ofmap"]
        no_latency = flow.predict_gemm(a, b, tile, bw, 0)
        assert res.extra["dram_busy_cycles"] == no_latency.dram_cycles + lat * reads
        # k innermost: every C tile is written once, finished; no partial sum goes out or comes back
        assert model.dram_read_bytes["ofmap"] == 0
        assert res.extra["dram_write_bytes"] == 4 * a.shape[0] * b.shape[1]
        assert res.extra["dram_read_bytes"] == model.dram_read_bytes["ifmap"] + model.dram_read_bytes["filter"]


@pytest.mark.rtl
@by_flow
def test_a_wrong_model_is_caught(runs, flow):
    """Measurements against a model that is off by one cycle somewhere, or that of the other
    controller: every variant is flagged."""
    needs("icarus")
    tile, bw, lat = flow.settings["latency"]
    for case, (a, b) in flow.items():
        res = runs("icarus", flow, "latency")[case]
        assert model_mismatches(res, a, b, flow.predict_gemm(a, b, tile, bw, lat)) == []
        wrong = {"latency + 1": flow.predict_gemm(a, b, tile, bw, lat + 1),
                 "latency - 1": flow.predict_gemm(a, b, tile, bw, lat - 1),
                 "slot overhead 0": flow.predict_gemm(a, b, tile, bw, lat, slot_overhead=0)}
        if flow.model("latency", a, b).tiles > 1:  # one tile: both controllers' schedules coincide
            wrong["the other controller"] = OTHER[flow.name].predict_gemm(a, b, tile, bw, lat)
        for name, model in wrong.items():
            problems = model_mismatches(res, a, b, model)
            assert any(p.startswith("total_cycles") for p in problems), (case, name, problems)
        # a wrong C is caught too
        bad = type(res)(res.values + 1, res.cycles, res.fold_cycles, res.sim, res.build_dir)
        assert "C differs from the exact product" in model_mismatches(bad, a, b, flow.model("latency", a, b))


@pytest.mark.rtl
@by_flow
def test_bench_catches_rtl_one_cycle_slower_per_tile(tmp_path, monkeypatch, flow):
    """A controller whose compute ends one edge late gives the right C but not the model's cycles:
    the bench's own comparison raises."""
    needs("icarus")
    root = broken_rtl(tmp_path, monkeypatch, flow.verilog, flow.compute_end, flow.compute_end[:-1] + " + 1)")
    w, tile, bw, lat = flow.mutant
    a, b = flow.workloads[w]
    with pytest.raises(CosimError, match="cycles"):
        flow.one(a, b, flow.rows, flow.cols, tile, bw, lat, sim="icarus", build_root=root)


@by_flow
@pytest.mark.parametrize("kwargs,match", [
    ({"bandwidth": 0}, "bandwidth must be a positive integer, got 0"),
    ({"tile": 0}, "{tile} must be a positive integer"),
    ({"bandwidth": 2.5}, "bandwidth must be a positive integer, got 2.5"),
    ({"latency": -1}, "latency must be a non-negative integer"),
    ({"rows": 0}, "rows must be a positive integer"),
])
def test_bad_arguments_are_refused_before_any_build(flow, kwargs, match):
    args = {"rows": flow.rows, "cols": flow.cols, flow.tile: flow.settings["fast"][0], "bandwidth": 4, "latency": 0}
    args |= {flow.tile if k == "tile" else k: v for k, v in kwargs.items()}
    a, b = flow.workloads[0]
    with pytest.raises(ValueError, match=match.format(tile=flow.tile)):
        flow.batch([(a, b)], **args)


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
    workloads = _random_workloads([(7, 11, 13), (5, 4, 1)], 5)
    for (a, b), res in zip(workloads, run_tile_cosim_batch(workloads, 3, 5, 5, 3, 2, sim="icarus", seed=2)):
        assert model_mismatches(res, a, b, model_for(a, b, 3, 5, 5, 3, 2)) == []


def test_ws_weight_tile_stays_while_m_chunks_stream():
    """K <= R (one k tile): B is fetched once per n tile, A once per m chunk and n tile."""
    tm, bw, lat = WS_SETTINGS["fast"]
    model = predict_ws(12, 5, 3, WS_ROWS, WS_COLS, tm, bw, lat)
    assert model.tiles == 2 * 3 and model.fills["filter"] == 2 and model.fills["ifmap"] == 6
    assert model.dram_read_bytes["filter"] == 3 * 5 and model.dram_read_bytes["ifmap"] == 2 * 12 * 3
    assert model.mapping.order == "nmk" and (model.mapping.tm, model.mapping.tn, model.mapping.tk) == (tm, 4, 3)


def test_ws_schedule_and_config():
    assert ws_tile_compute_cycles(5, 4, 3, 3, 4) == 5 + 2 * 3 + 4 + 1
    assert ws_tile_compute_cycles(5, 1, 1, 3, 4) == ws_tile_compute_cycles(5, 4, 3, 3, 4)  # the array runs whole
    cfg = WsTileConfig(3, 4, 5, 3, 2)
    assert cfg.dataflow == "ws" and TileConfig(4, 4, 4, 4).dataflow == "os"
    assert predict_config(cfg, 7, 6, 5) == predict_ws(7, 6, 5, 3, 4, 5, 3, 2)
    assert predict_config(TileConfig(4, 4, 3, 2, 3), 7, 6, 10) == predict(7, 6, 10, 4, 4, 3, 2, 3)
