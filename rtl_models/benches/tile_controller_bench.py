"""cocotb test bench for tile_controller (rtl_models/verilog/tile_controller.v, output-stationary)
and tile_controller_ws (tile_controller_ws.v, weight-stationary) with a DRAM model.

The two controllers share the DRAM port, the blocked address map and the protocol (both are built
on rtl_models/verilog/tile_slot_engine.v); they differ in their tile (OS: rows x cols x tk,
runtime input tk_dim; WS: tm x cols x rows, runtime input tm_dim), which the job's config says
(sim.tile_controller.TileConfig or WsTileConfig).

The DRAM is a numpy byte array holding A and B in the controller's blocked layout
(sim.tile_controller.blocked, at sim.tile_controller.address_map's bases) and receiving C. The
model serves the controller's port one burst at a time: it sees a request in its request cycle,
then moves min(bandwidth, bytes left) bytes on each cycle, a read's first beat ``latency`` cycles
after the request cycle (0: in that cycle), a write's in the request cycle; so a burst of b bytes
holds the port ceil(b / bandwidth) (write) or latency + ceil(b / bandwidth) (read) cycles, which
the bench counts (dram busy cycles). It also counts the cycles the controller's comp_busy is high
(compute cycles; stall = total - compute).

Per workload the bench loads the DRAM, pulses start with M, N, K, the tile input (OS tk, WS tm) and
the bases, counts the
rising edges from the one that samples start to the one after which done is high (both counted),
reads C back from the DRAM and compares C with the exact product and the cycles (total, compute,
stall, DRAM busy) and DRAM bytes with sim.tile_controller.predict (sim.memory.simulate).

Run by rtl_models.tile_cosim through rtl_models.cosim; signals are driven and sampled on falling
edges (the controller's outputs are registered), race-free on Icarus and Verilator alike.
"""

from __future__ import annotations

import cocotb
import numpy as np

from rtl_models.benches.common import (
    Measured,
    clock_and_reset,
    compare,
    finish,
    load_job,
    pulse_start,
    timeout_ns,
)
from sim.tile_controller import TileConfig, WsTileConfig, address_map, blocked, predict_config, tile_dims, unblocked

INPUTS = ("start", "m_dim", "n_dim", "k_dim", "a_base", "b_base", "c_base", "dv", "dn", "rd_data")


def _tile_input(cfg: TileConfig | WsTileConfig) -> tuple[str, int]:
    """The controller's runtime tile input and its value: OS tk_dim = tk, WS tm_dim = tm."""
    return ("tm_dim", cfg.tm) if cfg.dataflow == "ws" else ("tk_dim", cfg.tk)


def _model(cfg: TileConfig | WsTileConfig, a: np.ndarray, b: np.ndarray):
    return predict_config(cfg, a.shape[0], b.shape[1], a.shape[1])


def _edge_budget(cfg: TileConfig | WsTileConfig, workloads) -> int:
    return 64 + sum(_model(cfg, a, b).total_cycles + 32 for a, b in workloads)


class DramModel:
    """The DRAM behind the controller's port; runs as a background coroutine, one step per
    falling edge."""

    def __init__(self, dut, bandwidth: int, latency: int, bus: int):
        self.dut, self.bw, self.lat, self.bus = dut, bandwidth, latency, bus
        self.mem = np.zeros(0, np.uint8)
        self.active = None
        self.cycle = 0
        self.reset_counts()

    def reset_counts(self) -> None:
        self.compute = 0  # cycles comp_busy was high
        self.busy = 0  # cycles a burst held the port (request cycle to last beat)
        self.read_bytes = 0
        self.write_bytes = 0
        self.bursts: list[tuple[int, int, int]] = []  # (write, addr, len)
        self.errors: list[str] = []

    async def run(self) -> None:
        from cocotb.triggers import FallingEdge

        dut = self.dut
        while True:
            await FallingEdge(dut.clk)
            self.cycle += 1
            if dut.comp_busy.value == 1:
                self.compute += 1
            if dut.req_valid.value == 1:
                write = int(dut.req_write.value)
                addr, length = int(dut.req_addr.value), int(dut.req_len.value)
                if self.active is not None:
                    self.errors.append(f"cycle {self.cycle}: request while a burst is in flight")
                if length < 1 or addr + length > self.mem.size:
                    self.errors.append(f"cycle {self.cycle}: burst [{addr}, +{length}) outside the DRAM "
                                       f"({self.mem.size} bytes)")
                    length = 0
                self.bursts.append((write, addr, length))
                if length:
                    self.active = {"write": write, "addr": addr, "len": length, "done": 0,
                                   "first": self.cycle + (0 if write else self.lat)}
            beat = False
            act = self.active
            if act is not None and self.cycle >= act["first"]:
                nb = min(self.bw, act["len"] - act["done"])
                at = act["addr"] + act["done"]
                if act["write"]:
                    word = dut.wr_data.value.to_unsigned()
                    self.mem[at:at + nb] = np.frombuffer(word.to_bytes(self.bus, "little")[:nb], np.uint8)
                    self.write_bytes += nb
                else:
                    dut.rd_data.value = int.from_bytes(self.mem[at:at + nb].tobytes(), "little")
                    self.read_bytes += nb
                dut.dv.value = 1
                dut.dn.value = nb
                act["done"] += nb
                if act["done"] == act["len"]:
                    self.active = None
                beat = True
            else:
                dut.dv.value = 0
            if beat or self.active is not None:
                self.busy += 1


@cocotb.test(timeout_time=timeout_ns(_edge_budget), timeout_unit="ns")
async def tile_gemms(dut):
    """Every workload of the job through the controller: C, cycles and DRAM traffic against
    sim.tile_controller.predict."""
    cfg, workloads = load_job()
    bus = len(dut.rd_data) // 8
    if cfg.bandwidth > bus:
        raise AssertionError(f"bandwidth {cfg.bandwidth} bytes/cycle exceeds the {bus}-byte bus of the build")
    tile_name, tile_value = _tile_input(cfg)
    tm, tn, tk = tile_dims(cfg)
    await clock_and_reset(dut, INPUTS + (tile_name,), cycles=3)
    dram = DramModel(dut, cfg.bandwidth, cfg.latency, bus)
    cocotb.start_soon(dram.run())

    results, errors = [], []
    for w, (a, b) in enumerate(workloads):
        m, k = a.shape
        n = b.shape[1]
        amap = address_map(m, n, k)
        mem = np.full(amap["size"], 0xA5, np.uint8)  # C's bytes must all be written
        mem[amap["a_base"]:amap["a_base"] + m * k] = blocked(a, tm, tk).view(np.uint8)
        mem[amap["b_base"]:amap["b_base"] + k * n] = blocked(b, tk, tn).view(np.uint8)
        dram.mem = mem
        dram.reset_counts()
        model = _model(cfg, a, b)
        edges = await pulse_start(dut, 2 * model.total_cycles + 64, m_dim=m, n_dim=n, k_dim=k,
                                  **{tile_name: tile_value}, a_base=amap["a_base"], b_base=amap["b_base"],
                                  c_base=amap["c_base"])
        c_flat = mem[amap["c_base"]:amap["c_base"] + 4 * m * n].view("<i4")
        c = unblocked(c_flat, m, n, tm, tn).astype(np.int32)
        exact = a.astype(np.int64) @ b.astype(np.int64)
        tag = (f"workload {w} ({m}x{n}x{k}, {cfg.dataflow} tiles {tm}x{tn}x{tk}, bw {cfg.bandwidth}, "
               f"latency {cfg.latency})")
        compare(errors, tag, c.astype(np.int64), exact, edges, model.total_cycles)
        measured = {"compute_cycles": dram.compute, "stall_cycles": edges - dram.compute,
                    "dram_busy_cycles": dram.busy, "dram_read_bytes": dram.read_bytes,
                    "dram_write_bytes": dram.write_bytes, "bursts": len(dram.bursts)}
        expected = {"compute_cycles": model.compute_cycles, "stall_cycles": model.stall_cycles,
                    "dram_busy_cycles": model.dram_cycles, "dram_read_bytes": sum(model.dram_read_bytes.values()),
                    "dram_write_bytes": model.dram_write_bytes["ofmap"],
                    "bursts": sum(model.fills[op] for op in ("ifmap", "filter")) + model.fills["ofmap"]}
        for name, got in measured.items():
            if got != expected[name]:
                errors.append(f"{tag}: {name} {got}, model {expected[name]}")
        errors.extend(f"{tag}: {e}" for e in dram.errors)
        results.append(Measured(c, edges, measured))
    finish(results, errors, "sim.tile_controller (sim.memory)")
