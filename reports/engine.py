"""The engine record: every fact any consumer needs about one engine, in one frozen value.

A family file in ``reports/engines/`` builds these records and exports them as ``ENGINES``
(a list); ``reports/registry.py`` discovers the family files. Every consumer (the CLI, ``layers``,
the report's cost table and comparison sections, the benchmarks, the three-way cross-check)
iterates the registry and reads these fields; nothing outside a family file dispatches on an
engine's name or type.

The contract every family speaks (the cross-check, ``bitweight cosim`` and the benchmarks use
it and nothing else):

    cases = engine.golden(seed)                   # [Case(name, operands)]: numpy operands
    cfg = engine.crosscheck_config()              # the small configuration the RTL runs
    out = engine.run_model(cfg, case.operands)    # Outcome: values, cycles, fold_cycles, events
    val = engine.run_kernel(cfg, case.operands)       # the GPU kernel's values (numpy), same as out.values
    ref = engine.run_reference(cfg, case.operands)    # the plain torch reference, same again
    rtl = engine.run_cosim(cfg, [c.operands ...], sim=..., seed=...)   # [outcome]: values, cycles,
                                                  # fold_cycles, measured by the cocotb bench

``values`` of the three are compared with ``np.array_equal`` (integer and FP8 paths are exact:
the FP8 engines' kernel is the sequential-order emulation; kernels/fp8_gemm.py's Triton GEMM is
held to it within a stated bound in its own tests), cycles and per-fold cycles of model and RTL
with ``==``.

Names of functions in ``sim/``, ``kernels/`` and ``rtl_models/`` are given as
"module:attribute" strings and imported on use, so the registry imports on a GPU machine that
has no RTL tools and on a CPU machine that has no GPU.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


def load(ref: str) -> Any:
    """Import "package.module:attribute"."""
    module, sep, attr = ref.partition(":")
    if not sep or not module or not attr:
        raise ValueError(f"a reference must read 'package.module:attribute', got {ref!r}")
    return getattr(importlib.import_module(module), attr)


@dataclass(frozen=True)
class Case:
    """One golden workload: a name and the operands all three implementations take."""

    name: str
    operands: tuple


@dataclass(frozen=True)
class Outcome:
    """What the cycle model says of one case: the values, total and per-fold cycles, events."""

    values: np.ndarray
    cycles: int
    fold_cycles: tuple[int, ...] = ()
    events: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Sizes:
    """How large the report and the benchmarks build the engines: the INT8 arrays rows x cols,
    the tree's K x N tile, the cube's edge, the 2D-matrix grid, the LUT array's lanes."""

    rows: int = 16
    cols: int = 16
    tree: tuple[int, int] = (16, 4)
    cube: int = 4
    grid: int = 16
    lut_lanes: int = 4
    lut_q: int = 3
    lut_group: int = 128
    toggle_array: int = 4  # the WS array whose whole netlist the gate-level toggle estimate drives

    @classmethod
    def quick(cls, rows: int = 16, cols: int = 16) -> "Sizes":
        """The reduced sizes of ``bitweight report --quick``."""
        return cls(rows, cols, tree=(4, 2), cube=2, grid=4, lut_lanes=2, toggle_array=2)

    @classmethod
    def full(cls, rows: int = 16, cols: int = 16) -> "Sizes":
        return cls(rows, cols, grid=rows)


@dataclass(frozen=True)
class Priced:
    """One row group of the report's cost table: an engine at one size, its label and config."""

    label: str
    config: Any
    description: str = ""


@dataclass(frozen=True)
class Sizing:
    """How ``bitweight layers`` (and the sweeps) run an M x N x K GEMM on this engine, sized from
    a SCALE-Sim architecture (sim.topology.ArchConfig: ArrayHeight H, ArrayWidth W, dataflow).

    ``config(arch)`` gives the sized config; ``slots_event`` the event counting its multiply slots (None: cycles x units);
    ``sram_events`` the events SCALE-Sim's ifmap / filter / ofmap SRAM columns come from (an
    ofmap of None: 4 bytes per output); ``note`` one line for the CLI's help."""

    config: Callable[[Any], Any]
    slots_event: str | None
    sram_events: tuple[str, str, str | None]
    note: str


GAUSSIAN = "gaussian int8 std 30"  # the operand data every toggle driver measures


def gaussian_int8(*shapes: tuple[int, int], seed: int = 0) -> list[np.ndarray]:
    """Gaussian INT8 operands (std 30, rounded and clipped) of each shape, drawn in turn from one
    generator: the toggle drivers' data."""
    rng = np.random.default_rng(seed)
    return [np.clip(np.rint(rng.normal(0, 30, shape)), -128, 127).astype(np.int64) for shape in shapes]


def _no_params(cfg) -> dict:
    return {}


def _nothing(sizes: Sizes) -> list:
    return []


@dataclass(frozen=True)
class Engine:
    """One engine: its arithmetic three times (model, RTL, kernel), its contract binding, how it
    is sized, priced and synthesised, and which comparison tables it belongs to."""

    name: str
    description: str
    family: str  # the family file that declares it (reports/engines/<family>.py)
    config: Callable[..., Any]  # the model's config, from keyword arguments with defaults
    model: str  # "module:function": exact result, cycles and events
    estimate: str | None  # "module:function": cycles and events without data (None: data-dependent)
    rtl_top: str  # Verilog module in rtl_models/verilog/
    rtl_params: Callable[[Any], dict]  # config -> the top's Verilog parameters
    pe_top: str  # its processing element alone, for the synthesis table
    kernel: str  # "module:function" on torch tensors
    kernel_reference: str  # "module:function": the plain torch reference
    # -- the contract (module docstring) --
    golden: Callable[[int], list[Case]]
    crosscheck_config: Callable[[], Any]
    run_model: Callable[[Any, tuple], Outcome]
    run_kernel: Callable[[Any, tuple], np.ndarray]  # (cfg, operands): formats and widths come from cfg
    run_reference: Callable[[Any, tuple], np.ndarray]  # the plain torch reference on the same operands
    run_cosim: Callable[..., list]  # (cfg, [operands], sim=, seed=) -> [outcome with values, cycles, fold_cycles]
    # the co-simulation drivers run_cosim takes as driver= (the first is its default); () : one driver,
    # no driver= argument
    cosim_drivers: tuple[str, ...] = ()
    # -- sizing, pricing, synthesis --
    mac_units: Callable[[Any], int] = lambda cfg: 1  # config -> multiply units working in parallel
    sizing: Sizing | None = None  # None: not an M x N x K GEMM engine (no ``layers --engine``)
    event_energy: Callable[..., tuple] | None = None  # (cfg, sram_key=...) -> reports.cost.EventEnergy rows
    pe_params: Callable[[Any], dict] = _no_params  # config -> the PE's Verilog parameters
    priced: Callable[[Sizes], list[Priced]] = _nothing  # the report's cost-table rows of this engine
    pe_in_cost_table: bool = True  # the cost table's synthesis rows include the PE at pe_params(cfg)
    pe_alone: bool = False  # the synthesis table adds the PE at its RTL defaults (engines priced elsewhere)
    # gate-level activity: (sizes, progress=None) -> {operand data: pJ per MAC} from toggles of its
    # synthesised netlist (reports/toggles.py drivers); every driver labels its Gaussian INT8
    # (std 30) operands GAUSSIAN
    toggle_energy: Callable[..., dict[str, float]] | None = None
    # -- the comparison tables --
    # the comparison tables it appears in, each with what that table needs of it (or None):
    # "bitserial" -> a function bits -> reports.sections.bitserial_compare.BitSerialPE | None; "lowbit",
    # "lowbit_planes", "tpe" -> None; "quant_planes" -> None (the engine whose priced row prices the
    # binary-coded quantisation formats, reports/quant_cost.py: its first spec); "memory" -> None (the memory section's whole-network table and
    # roofline, reports/sections/memory.py: engines with a ``sizing`` and a data-free ``estimate``)
    tables: Mapping[str, Any] = field(default_factory=dict)
    # (config, (a, b)): an integer GEMM the model-speed benchmark runs through ``model``, checked
    # against the exact product
    benchmark: Callable[[], tuple[Any, tuple]] | None = None
    # -- the memory system (sim/memory.py, reports/memory.py) --
    # config -> sim.memory.OperandBits: the widths its operands are stored and moved at (None: the
    # config's a_bits / b_bits / acc_bits, else INT8 x INT8 -> INT32)
    operand_bits: Callable[[Any], Any] | None = None
    # config -> (m, n, k): the memory model's tiles are multiples of this (e.g. the LUT engines'
    # K tile a multiple of the scale group); None: any size
    tile_granule: Callable[[Any], tuple[int, int, int]] | None = None
    # (config, estimate result) -> {"ifmap", "filter", "ofmap": bytes the array moves through that
    # buffer}: what buffers with limited ports (sim.memory.Buffer ``ports``) pace. None: from the
    # ``sizing.sram_events`` counts (entries of the a / b operands at their widths, ofmap in bytes;
    # reports.memory.buffer_traffic)
    buffer_traffic: Callable[[Any, Any], Mapping[str, float]] | None = None

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"engine name must be an identifier, got {self.name!r}")
        for attr in ("model", "kernel", "kernel_reference"):
            ref = getattr(self, attr)
            if ":" not in ref:
                raise ValueError(f"engine {self.name}: {attr} must be 'module:function', got {ref!r}")

    def sized_config(self, rows: int, cols: int) -> Any:
        """The config sized from an array of ``rows`` x ``cols`` (its ``sizing``; the dataflow
        SCALE-Sim's description carries is the engine's own, so none is passed)."""
        if self.sizing is None:
            raise ValueError(f"engine {self.name} is not sized from an array (it runs no M x N x K GEMM)")
        return self.sizing.config(load("sim.topology:ArchConfig")(rows, cols, "os"))

    def estimate_gemm(self, m: int, n: int, k: int, cfg) -> Any:
        """Cycles and events of an M x N x K GEMM without data (the estimate's own signature)."""
        if self.estimate is None:
            raise ValueError(f"engine {self.name} has no data-free estimate (its cycles depend on the data)")
        return load(self.estimate)(m, n, k, cfg)

    def energy_table(self, cfg, sram_key: str = "sram_32kb_read_64bit") -> tuple:
        if self.event_energy is None:
            raise ValueError(f"engine {self.name} has no event -> energy table")
        return self.event_energy(cfg, sram_key=sram_key)


def gemm_case_list(workloads: Sequence[tuple]) -> list[Case]:
    """[(name, *operands)] -> [Case]: the form most sim/ golden-workload functions return."""
    return [Case(w[0], tuple(w[1:])) for w in workloads]
