"""A gate-level simulator of a synthesised netlist: cycle-based, zero-delay, B lanes at once.

``GateSim`` takes one flattened yosys netlist (``write_json``'s module: ports, cells of yosys's
internal gate types ``$_AND_``, ``$_MUX_``, ``$_DFFE_PP_``..., bit numbers; rtl_models/synth.py
writes it) and evaluates it cycle by cycle: every gate settles once per cycle (no glitches),
every positive-edge flip-flop (plain, enable, synchronous reset) takes its next state on
``clock()``. Each net holds one bool per lane (numpy), so B operand streams run at once. It counts,
for every cell, how often its output changed; ``cell_area`` weighs each cell (reports/toggles.py
passes the technology table's cell area and prices the weighted toggles as energy).

numpy and the standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

_COMB = {
    "$_NOT_": lambda i: ~i["A"],
    "$_BUF_": lambda i: i["A"],
    "$_AND_": lambda i: i["A"] & i["B"],
    "$_NAND_": lambda i: ~(i["A"] & i["B"]),
    "$_OR_": lambda i: i["A"] | i["B"],
    "$_NOR_": lambda i: ~(i["A"] | i["B"]),
    "$_XOR_": lambda i: i["A"] ^ i["B"],
    "$_XNOR_": lambda i: ~(i["A"] ^ i["B"]),
    "$_ANDNOT_": lambda i: i["A"] & ~i["B"],
    "$_ORNOT_": lambda i: i["A"] | ~i["B"],
    "$_MUX_": lambda i: np.where(i["S"], i["B"], i["A"]),
    "$_NMUX_": lambda i: ~np.where(i["S"], i["B"], i["A"]),
}
# $_DFF_P_, $_DFFE_PP_, $_SDFF_PP0_, $_SDFFE_PP0P_, $_SDFFCE_PN1N_, ...: positive clock only
_FLOP = re.compile(r"^\$_(DFF|DFFE|SDFF|SDFFE|SDFFCE)_P([PN]?)([01]?)([PN]?)_$")


@dataclass
class _Flop:
    name: str
    kind: str  # DFF, DFFE, SDFF, SDFFE, SDFFCE
    d: int
    q: int
    e: int | None
    e_pol: bool
    r: int | None
    r_pol: bool
    r_val: bool
    area: float


class GateSim:
    """A cycle-based, zero-delay simulator of one flattened yosys netlist over B parallel lanes."""

    def __init__(self, module: Mapping, lanes: int, cell_area: Callable[[str], float] | None = None):
        """``cell_area``: the weight (e.g. area, um^2) of a cell of a given yosys type, for
        ``area`` and ``area_toggles``; None weighs every cell 1."""
        if lanes < 1:
            raise ValueError(f"lanes must be >= 1, got {lanes}")
        self.lanes = lanes
        self.ports = {name: p for name, p in module["ports"].items()}
        bits: set[int] = set()
        comb, flops = [], []
        for name, cell in module["cells"].items():
            typ, conns = cell["type"], cell["connections"]
            if typ not in _COMB and not _FLOP.match(typ):
                raise ValueError(f"cell {name}: gate type {typ} is not simulated (clocked on a negative edge, "
                                 "asynchronous reset or a latch?)")
            area = 1.0 if cell_area is None else cell_area(typ)
            one = {p: (v[0] if len(v) == 1 else v) for p, v in conns.items()}
            bits.update(b for v in conns.values() for b in v if isinstance(b, int))
            if typ in _COMB:
                ins = {p: one[p] for p, d in cell["port_directions"].items() if d == "input"}
                comb.append((name, typ, ins, one["Y"], area))
                continue
            kind, p1, v, p2 = _FLOP.match(typ).groups()
            if kind == "DFF":
                flops.append(_Flop(name, kind, one["D"], one["Q"], None, True, None, True, False, area))
            elif kind == "DFFE":
                flops.append(_Flop(name, kind, one["D"], one["Q"], one["E"], p1 == "P", None, True, False, area))
            elif kind == "SDFF":
                flops.append(_Flop(name, kind, one["D"], one["Q"], None, True, one["R"], p1 == "P", v == "1", area))
            else:
                flops.append(_Flop(name, kind, one["D"], one["Q"], one["E"], p2 == "P", one["R"], p1 == "P",
                                   v == "1", area))
        self.flops = flops
        self.comb = self._order(comb)
        for p in self.ports.values():
            bits.update(b for b in p["bits"] if isinstance(b, int))
        self.values: dict[int | str, np.ndarray] = {b: np.zeros(lanes, bool) for b in bits}
        self.values["0"] = np.zeros(lanes, bool)
        self.values["1"] = np.ones(lanes, bool)
        self.values["x"] = np.zeros(lanes, bool)  # undriven constants read as 0
        self.toggles = {name: 0 for name, *_ in comb} | {f.name: 0 for f in flops}
        self.area = {name: a for name, _, _, _, a in comb} | {f.name: f.area for f in flops}
        self.cycles = 0

    @staticmethod
    def _order(comb):
        driver = {y: i for i, (_, _, _, y, _) in enumerate(comb)}
        order, state = [], {}
        for root in range(len(comb)):
            stack = [(root, False)]
            while stack:
                i, done = stack.pop()
                if state.get(i) == 2:
                    continue
                if done:
                    state[i] = 2
                    order.append(comb[i])
                    continue
                if state.get(i) == 1:
                    raise ValueError(f"combinational loop through cell {comb[i][0]}")
                state[i] = 1
                stack.append((i, True))
                stack += [(driver[b], False) for b in comb[i][2].values()
                          if isinstance(b, int) and b in driver and state.get(driver[b]) != 2]
        return order

    def set_port(self, name: str, value) -> None:
        """Drive an input port with one integer per lane (two's complement bits, LSB first)."""
        if name not in self.ports or self.ports[name]["direction"] != "input":
            raise ValueError(f"{name!r} is not an input port; inputs: "
                             f"{sorted(p for p, d in self.ports.items() if d['direction'] == 'input')}")
        v = np.broadcast_to(np.asarray(value, np.int64), (self.lanes,))
        for i, b in enumerate(self.ports[name]["bits"]):
            if isinstance(b, int):
                self.values[b] = ((v >> i) & 1).astype(bool)

    def drive(self, name: str, word: int) -> None:
        """Drive an input port of any width with one Python integer, the same on every lane."""
        for i, bit in enumerate(self.ports[name]["bits"]):
            if isinstance(bit, int):
                self.values[bit] = np.full(self.lanes, bool((word >> i) & 1))

    def read(self, name: str) -> int:
        """A port of any width as one Python integer (lane 0)."""
        return sum(int(self.values[bit][0]) << i for i, bit in enumerate(self.ports[name]["bits"]))

    def reset(self, zero_inputs=()) -> None:
        """Drive ``zero_inputs`` to 0, hold rst for one clock and release it; nothing is counted."""
        for name in zero_inputs:
            self.drive(name, 0)
        self.set_port("rst", 1)
        self.settle(count=False)
        self.clock(count=False)
        self.set_port("rst", 0)
        self.settle(count=False)

    def get_port(self, name: str, signed: bool = False) -> np.ndarray:
        bits = self.ports[name]["bits"]
        out = np.zeros(self.lanes, np.int64)
        for i, b in enumerate(bits):
            out |= self.values[b].astype(np.int64) << i
        if signed:
            out = np.where(out >> (len(bits) - 1) & 1, out - (1 << len(bits)), out)
        return out

    def settle(self, count: bool = True) -> None:
        vals = self.values
        for name, typ, ins, y, _ in self.comb:
            new = _COMB[typ]({p: vals[b] for p, b in ins.items()})
            if count:
                self.toggles[name] += int(np.count_nonzero(new != vals[y]))
            vals[y] = new

    def clock(self, count: bool = True) -> None:
        """One rising edge: every flip-flop takes its next state, then the logic settles."""
        vals = self.values
        nxt = []
        for f in self.flops:
            q, d = vals[f.q], vals[f.d]
            en = np.ones(self.lanes, bool) if f.e is None else (vals[f.e] == f.e_pol)
            rst = np.zeros(self.lanes, bool) if f.r is None else (vals[f.r] == f.r_pol)
            if f.kind == "SDFFCE":  # reset only when enabled
                new = np.where(en, np.where(rst, f.r_val, d), q)
            else:  # SDFF / SDFFE: reset wins over enable
                new = np.where(rst, f.r_val, np.where(en, d, q))
            nxt.append((f, new))
        for f, new in nxt:
            if count:
                self.toggles[f.name] += int(np.count_nonzero(new != vals[f.q]))
            vals[f.q] = new
        if count:  # clock-pin events are charged for counted clocks only (reset and warm-up clocks are not)
            self.cycles += 1
        self.settle(count)

    def reset_counts(self) -> None:
        self.toggles = dict.fromkeys(self.toggles, 0)
        self.cycles = 0

    def area_toggles(self, exclude: frozenset | set = frozenset()) -> float:
        """Sum over cells (those in ``exclude`` left out) of toggles x cell area, all lanes."""
        return float(sum(n * self.area[c] for c, n in self.toggles.items() if c not in exclude))

    @property
    def flop_bits(self) -> int:
        return len(self.flops)

    def flop_bit_clocks(self, exclude: frozenset | set = frozenset()) -> int:
        """Flip-flop bits (those in ``exclude`` left out) x counted cycles x lanes: the clock-pin events."""
        return sum(1 for f in self.flops if f.name not in exclude) * self.cycles * self.lanes
