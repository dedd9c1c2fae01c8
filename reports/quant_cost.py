"""Energy and latency per inference of a weight-quantised model's Linear layers, each format on
the engine that serves it, through the memory-aware cost model.

    qc = QuantCost(tokens=128)
    qc.price("gptq", 3, [(384, 384), (1536, 384), ...])
    # -> Price(engine="os_w4a8_16x16", energy_uj=..., latency_us=..., dram_bytes=..., note=...)

Which engine prices which stored format (the quantisation tables' ``engine`` column):

* **scale-and-grid formats** (``rtn``, ``gptq``, ``owq``, ``cbq``, and ``int8``): the INT8
  output-stationary array with narrow weights (the "lowbit" engines, reports/engines/systolic.py:
  ``os`` at 8 bits, ``os_w4a8`` at 4, ``os_w2a8`` at 2), the narrowest one holding the width (3-bit
  weights run on the 4-bit engine and are moved as 4-bit words). These engines take int8
  activations: a weight-only (A16) model is priced with its activations at 8 bits. OWQ's fp16
  columns add an FP16 GEMM of M x N x columns (energy from the FP16 baseline's prices on the INT8
  array's events; no FP16 RTL, so their latency is not included);
* **binary coding** (``bcq``, ``bcq_aw``): the LUT array (reports/engines/lut.py ``lut_array``)
  with q = bits sign planes, its power-of-two plane scales per group;
* **codebooks** (``nupes``, ``dgms``): the same LUT array as a stand-in, one table look-up per
  weight and batch row (M N K; kernels.codebook_gemm.count_codebook_ops ``engine_lookups``), which
  is what 8 sign planes cost (q M N K / 8): two passes of the engine at its 4 planes. Weights are
  moved at the codebook's width (plus NUPES's fp16 group scales). No engine record builds a
  codebook table (T[j] = x codebook[j]); the LUT engine's Gray-code table build stands in;
* **floating point** (``fp32``, ``fp16``): the FP16 baseline of the low-bit comparison (FP16 prices
  on the INT8 array's events, 2-byte operands), energy only (no FP16 RTL: latency NaN).

Energy is the engine's events priced (reports/cost.py) plus the memory system's buffer fills and
DRAM bytes (reports/memory.py, ``REPORT_MEMORY``); latency is the memory model's total cycles
(stalls included) at the engine's synthesised clock (yosys cache). The mapping is the one that
minimises DRAM bytes x cycles (``edp``): the latency-optimal mapping may re-read weights when it
gains a few cycles, which would make a 2-bit layer move a 4-bit layer's bytes. Scales and zeros
other than those named above are not charged as traffic.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace
from typing import Any

from sim.memory import OperandBits

__all__ = ["CODEBOOK", "FLOAT", "GRID", "PLANES", "Price", "QuantCost", "engine_kind"]

GRID = ("rtn", "gptq", "owq", "cbq", "int8")
PLANES = ("bcq", "bcq_aw")
CODEBOOK = ("nupes", "dgms")
FLOAT = ("fp32", "fp16")
TOKENS = 128
MAPPING = "edp"


def engine_kind(method: str) -> str:
    """"grid", "planes", "codebook" or "float": which engine family prices ``method``'s format."""
    for kind, members in (("grid", GRID), ("planes", PLANES), ("codebook", CODEBOOK), ("float", FLOAT)):
        if method in members:
            return kind
    raise ValueError(f"no engine prices method {method!r}; known: {', '.join(GRID + PLANES + CODEBOOK + FLOAT)}")


@dataclass(frozen=True)
class Price:
    """One model's Linear layers at ``tokens`` tokens on one engine."""

    engine: str
    energy_uj: float
    latency_us: float  # NaN where the engine has no RTL (the FP16 baseline)
    dram_bytes: int
    note: str


@dataclass(frozen=True)
class _Doubled:
    """An engine's data-free estimate run twice (two passes): cycles and events x 2."""

    cycles: int
    events: dict


class QuantCost:
    """Prices quantised formats on the engines (module docstring). ``quick``: the quick report's
    4 x 4 arrays and 2 LUT lanes (small syntheses)."""

    def __init__(self, tokens: int = TOKENS, quick: bool = False, mapping: str = MAPPING, progress=print):
        from reports.engine import Sizes
        from reports.memory import MAPPINGS

        if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 1:
            raise ValueError(f"tokens must be a positive integer, got {tokens!r}")
        if mapping not in MAPPINGS or mapping == "scalesim":
            raise ValueError(f"mapping must be one of latency, dram, edp, got {mapping!r}")
        self.tokens, self.mapping, self.progress = tokens, mapping, progress
        self.sizes = Sizes.quick(4, 4) if quick else Sizes(16, 16)
        self._clocks: dict[str, float] = {}

    # -- the engines ------------------------------------------------------------------------

    @functools.cached_property
    def grid(self) -> dict[int, Any]:
        from reports.build import priced_engines

        specs = {}
        for spec in priced_engines(self.sizes, table="lowbit"):
            b = getattr(spec.config, "b_bits", None)
            if b is not None and b not in specs:
                specs[b] = spec
        if not specs:
            raise RuntimeError("no engine of the 'lowbit' table has a weight width (b_bits)")
        return dict(sorted(specs.items()))

    @functools.lru_cache(maxsize=None)
    def planes(self, q: int):
        from reports.build import priced_engines

        specs = priced_engines(replace(self.sizes, lut_q=q), table="quant_planes")
        if not specs:
            raise RuntimeError("no engine is in the 'quant_planes' table (the sign-plane engine that prices "
                               "binary-coded formats: reports/engines/lut.py's lut_array)")
        return specs[0]

    def clock_mhz(self, spec) -> float:
        from reports import synth

        if spec.name not in self._clocks:
            self._clocks[spec.name] = synth.synthesize(spec.array.files(), spec.array.top, spec.array.params,
                                                       progress=self.progress).est_clock_mhz
        return self._clocks[spec.name]

    def grid_width(self, bits: int) -> int:
        """The narrowest scale-and-grid engine width holding ``bits``-bit weights."""
        for w in self.grid:
            if w >= bits:
                return w
        raise ValueError(f"no engine holds {bits}-bit weights (engine widths {tuple(self.grid)})")

    def engine_name(self, method: str, bits: int) -> str:
        kind = engine_kind(method)
        if kind == "grid":
            return self.grid[self.grid_width(bits)].name
        if kind == "planes":
            return self.planes(bits).name
        if kind == "codebook":
            return self.planes(4).name
        return f"os_fp16_{self.sizes.rows}x{self.sizes.cols}"

    # -- one GEMM ---------------------------------------------------------------------------

    @functools.lru_cache(maxsize=None)
    def gemm(self, kind: str, bits: float, n: int, k: int) -> tuple[float, float, int]:
        """(energy pJ, cycles, DRAM bytes) of one tokens x n x k GEMM of ``kind``."""
        from reports import cost, memory

        spec = self.spec_of(kind, bits)
        estimate, table, opbits = spec.estimate, spec.event_energy, spec.bits
        if kind == "float":
            table, opbits = cost.fp16_gemm_event_energy(), OperandBits(a=16, w=16, out=32, psum=32)
        elif kind == "codebook":  # one look-up per weight and row = two passes at 4 planes
            estimate, opbits = _twice(spec.estimate), replace(opbits, w=bits)
        m = self.tokens
        est = estimate(m, n, k, spec.config)
        by = cost.energy_by_component_pj({e: int(v) for e, v in est.events.items()}, table)
        mem = memory.gemm_memory(estimate, spec.config, opbits, m, n, k, memory.REPORT_MEMORY,
                                 mapping=self.mapping, unit=spec.unit)
        me = memory.memory_energy(mem, memory.REPORT_MEMORY)
        return sum(by.values()) + me.buffers_pj + me.dram_pj, mem.total_cycles, mem.dram_bytes

    def spec_of(self, kind: str, bits: float):
        if kind == "grid":
            return self.grid[self.grid_width(math.ceil(bits))]
        if kind == "float":  # the INT8 array's events, priced at FP16
            return self.grid[max(self.grid)]
        return self.planes(int(bits) if kind == "planes" else 4)

    # -- a model ----------------------------------------------------------------------------

    def price(self, method: str, bits: int, shapes, extra_columns: int = 0,
              codebook_bits_per_weight: float | None = None) -> Price:
        """``shapes``: the (N, K) of every Linear layer. ``extra_columns``: OWQ's fp16 columns per
        layer. ``codebook_bits_per_weight``: what a codebook weight moves (codes plus its share of
        group scales; default ``bits``)."""
        kind = engine_kind(method)
        shapes = [(int(n), int(k)) for n, k in shapes]
        if not shapes or any(n < 1 or k < 1 for n, k in shapes):
            raise ValueError(f"shapes must be a non-empty list of positive (N, K), got {shapes!r}")
        if kind != "float" and (isinstance(bits, bool) or not isinstance(bits, int) or bits < 1):
            raise ValueError(f"bits must be a positive integer, got {bits!r}")
        eng = self.engine_name(method, bits)
        wbits = {"float": 16, "codebook": codebook_bits_per_weight or bits}.get(kind, bits)
        parts = [self.gemm(kind, wbits, n, k) for n, k in shapes]
        energy = sum(p[0] for p in parts)
        cycles = sum(p[1] for p in parts)
        dram = sum(p[2] for p in parts)
        note = f"{self.tokens} tokens, {len(shapes)} layers on {eng}"
        if extra_columns:
            cols = [self.gemm("float", 16, n, extra_columns) for n, _ in shapes]
            energy += sum(p[0] for p in cols)
            dram += sum(p[2] for p in cols)
            note += f"; {extra_columns} fp16 columns per layer on the FP16 baseline (energy only)"
        if kind == "float":
            latency = math.nan
            note += " (FP16 baseline: energy only, no RTL)"
        else:
            latency = cycles / self.clock_mhz(self.spec_of(kind, bits))
        return Price(eng, energy / 1e6, latency, dram, note)


@functools.cache
def _twice(estimate):
    """``estimate`` run twice (two passes of the engine): cycles and events x 2. Cached per
    estimate, so the memory model's tile-cycle cache sees one function."""
    def run(m, n, k, cfg):
        est = estimate(m, n, k, cfg)
        return _Doubled(2 * int(est.cycles), {e: 2 * int(v) for e, v in est.events.items()})
    return run
