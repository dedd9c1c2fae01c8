"""Cycle-level model of an INT8 x INT8 -> INT32 GEMM on an R x C input-stationary (IS) systolic
array, SCALE-Sim's third dataflow beside output- and weight-stationary (sim/systolic.py).

For C = A @ B (A is M x K, B is K x N) the *input* operand A is held stationary in the PEs:

* array rows map to K (the reduction), array columns map to M (rows of A): PE (r, c) holds
  A[m0 + c, k0 + r] for the whole fold;
* the N columns of B stream in from the left edge, one per cycle (row r skewed by r cycles), so a
  fold streams ``t = N``;
* partial sums flow down the columns exactly as in WS, and the bottom of column c delivers
  C[m0 + c, n] for n = 0..N-1: the array produces C^T tiles (column m of the array gives row m
  of C), written into (or, for every K-tile after the first, added to) the output buffer.

A fold is one (m-tile, k-tile) pair with all of N streamed: m-tiles (of C columns) outer, k-tiles
(of R rows) inner, k-tiles after the first accumulate.

An IS array *is* a WS array whose stationary operand is the input: C^T = B^T @ A^T is a WS GEMM
with weights A^T (K x M) and activations B^T (N x K). So this module runs sim.systolic's WS
machinery (schedule, closed-form cycles, events, the clock-by-clock stepper) on the transposed
operands instead of copying it, and renames the result back: folds in terms of (M, N, K) of the
original GEMM, C transposed back, and the two operand buffers' read counts swapped so that A's
and B's traffic is attributed to the right operand (A is the stationary one here). The event
names are sim.systolic.EVENT_NAMES, so reports.cost.int_gemm_event_energy prices them unchanged;
``pe_weight_reg_writes`` counts the *stationary* operand's register loads (A's here) and
``pe_operand_reg_writes`` the streamed operand's forwarding (B's here).

Per-fold cycles are WS's with t = N: ``2R + C + N - 2`` (plus 2 with the OPT1 ``booth_csa`` PE),
the cycles rtl_models/verilog/is_systolic_array.v takes from start to done.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from sim import systolic, workloads
from sim.lazy import LazySeq
from sim.systolic import EVENT_NAMES, PES, Fold, GemmResult, SystolicConfig

DATAFLOW = "is"


@dataclass(frozen=True)
class ISConfig:
    """An R x C input-stationary array: rows hold K, columns hold M; signed operand widths.

    ``pe`` is sim.systolic's PE ("mac", or "booth_csa": the TPE paper's OPT1 carry-save PE, whose
    radix-4 Booth digits are taken of the *streamed* operand, here B, so it needs b_bits = 8).
    """

    rows: int
    cols: int
    a_bits: int = 8
    b_bits: int = 8
    acc_bits: int = 32
    pe: Literal["mac", "booth_csa"] = "mac"

    def __post_init__(self) -> None:
        # rows, cols, a_bits, b_bits, acc_bits: sim.systolic's checks and messages, in this
        # orientation (A is M x K, B is K x N), so the names in the messages are ours
        SystolicConfig(self.rows, self.cols, "os", self.a_bits, self.b_bits, self.acc_bits, "mac")
        if self.pe not in PES:
            raise ValueError(f"pe must be one of {PES}, got {self.pe!r}")
        if self.pe == "booth_csa" and self.b_bits != 8:
            raise ValueError(
                "pe='booth_csa' needs b_bits=8 (in the IS array B streams through the PEs, and the OPT1 PE "
                f"takes 4 radix-4 Booth digits of the streamed operand), got b_bits={self.b_bits}"
            )

    @property
    def dataflow(self) -> str:
        return DATAFLOW

    @property
    def pes(self) -> int:
        return self.rows * self.cols

    @property
    def max_k(self) -> int:
        """Largest K whose dot product cannot overflow the signed accumulator."""
        return systolic.max_safe_k(self.a_bits, self.b_bits, self.acc_bits)

    @property
    def ws_config(self) -> SystolicConfig:
        """The WS array this IS array is: the stationary "weights" are A^T (a_bits wide), the
        streamed "activations" B^T (b_bits wide)."""
        return SystolicConfig(self.rows, self.cols, "ws", a_bits=self.b_bits, b_bits=self.a_bits,
                              acc_bits=self.acc_bits, pe=self.pe)


def _check_cfg(cfg) -> None:
    if not isinstance(cfg, ISConfig):
        raise TypeError(f"cfg must be a sim.input_stationary.ISConfig, got {type(cfg).__name__}")


def _check_dims(m, n, k) -> None:
    for name, v in (("M", m), ("N", n), ("K", k)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"GEMM dimension {name} must be a positive integer, got {v!r}")


def _from_ws(f: Fold) -> Fold:
    """A WS fold of C^T = B^T @ A^T as a fold of C = A @ B: its n-tile is our m-tile."""
    return Fold(f.n0, f.n1, f.m0, f.m1, f.k0, f.k1, f.accumulate, f.t)


_to_ws = _from_ws  # swapping the m and n ranges is its own inverse


def _swap_operands(events: dict[str, int]) -> dict[str, int]:
    """WS events of the transposed GEMM -> IS events: the WS "A" (streamed) buffer is our B's,
    the WS "B" (stationary) buffer our A's. Same keys, same order."""
    out = dict(events)
    out["a_buffer_reads_bytes"] = events["b_buffer_reads_bytes"]
    out["b_buffer_reads_bytes"] = events["a_buffer_reads_bytes"]
    return out


def fold_schedule(m: int, n: int, k: int, cfg: ISConfig) -> list[Fold]:
    """The folds of an M x K by K x N GEMM in execution order: m-tiles of C columns (outer) x
    k-tiles of R rows (inner), each streaming all N columns of B (``t = N``); k-tiles after the
    first accumulate, so an m-tile's rows of C are final after its last k-tile."""
    _check_cfg(cfg)
    _check_dims(m, n, k)
    return [_from_ws(f) for f in systolic.fold_schedule(n, m, k, cfg.ws_config)]


def fold_cycles(cfg: ISConfig, t: int) -> int:
    """Clock cycles of one fold from the edge that samples ``start`` to ``done``: WS's formula
    with t = N, ``2R + C + t - 2`` (R cycles to shift A's tile in, then t + R + C - 2 until the
    last C^T row leaves the last column), plus 2 with the OPT1 PE (pipelined read-out add)."""
    _check_cfg(cfg)
    if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or t < 1:
        raise ValueError(f"t (streamed length, N) must be a positive integer, got {t!r}")
    return systolic.fold_cycles(cfg.ws_config, int(t))


def fold_events(cfg: ISConfig, fold: Fold) -> dict[str, int]:
    """Event counts of one fold (sim.systolic.fold_events of the WS fold, operands attributed):
    A's R x C tile is read once (a_buffer_reads_bytes), B is read one R-wide column per streamed
    n (b_buffer_reads_bytes = t * R bytes), the output buffer takes t x C partial sums."""
    _check_cfg(cfg)
    return _swap_operands(systolic.fold_events(cfg.ws_config, _to_ws(fold)))


def _check_k(k: int, cfg: ISConfig) -> None:
    if k > cfg.max_k:
        raise ValueError(
            f"K={k} exceeds the accumulator's safe range: at most {cfg.max_k} products of "
            f"{cfg.a_bits}x{cfg.b_bits} bits fit a signed {cfg.acc_bits}-bit accumulator"
        )


def _from_ws_result(ws: GemmResult, cfg: ISConfig, shape: tuple[int, int, int]) -> GemmResult:
    c = None if ws.c is None else np.ascontiguousarray(ws.c.T)
    folds = ws.folds
    return GemmResult(c, ws.cycles, ws.fold_cycles, LazySeq(len(folds), lambda i: _from_ws(folds[i])),
                      _swap_operands(ws.events), cfg, shape, {"dataflow": DATAFLOW, "ws_config": ws.config})


def estimate_gemm(m: int, n: int, k: int, cfg: ISConfig) -> GemmResult:
    """Cycles and events of an M x N x K GEMM without computing the product (``c`` is None)."""
    _check_cfg(cfg)
    _check_dims(m, n, k)
    _check_k(k, cfg)
    return _from_ws_result(systolic.estimate_gemm(n, m, k, cfg.ws_config), cfg, (m, n, k))


def check_operands(a, b, cfg: ISConfig) -> tuple[np.ndarray, np.ndarray]:
    """Validate A (M x K) and B (K x N) against the operand widths: sim.systolic's checks and
    messages, with A and B named as in C = A @ B."""
    _check_cfg(cfg)
    as_os = SystolicConfig(cfg.rows, cfg.cols, "os", cfg.a_bits, cfg.b_bits, cfg.acc_bits, "mac")
    return systolic.check_operands(a, b, as_os)


def simulate_gemm(a, b, cfg: ISConfig, mode: Literal["fast", "stepwise"] = "fast") -> GemmResult:
    """Run C = A @ B through the IS array: exact result, cycles per fold and in total, events.

    ``mode="stepwise"`` steps every fold's registers clock by clock (sim.systolic's WS stepper on
    the transposed operands) and fails if a fold's cycles differ from :func:`fold_cycles`.
    """
    a, b = check_operands(a, b, cfg)
    if mode not in ("fast", "stepwise"):
        raise ValueError(f"mode must be 'fast' or 'stepwise', got {mode!r}")
    ws = systolic.simulate_gemm(b.T, a.T, cfg.ws_config, mode=mode)
    return _from_ws_result(ws, cfg, (a.shape[0], b.shape[1], a.shape[1]))


def edge_workloads(seed: int = 0) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Golden int8 GEMMs (name, a, b) for IS cross-checks on small (e.g. 4 x 4) arrays: random
    data; M, N or K = 1; shapes that are not multiples of the array (M tiles the columns, K the
    rows, N is the streamed length); the extremes -128 / 127. Every dimension is <= 19, so a
    whole batch co-simulates in seconds. (sim.workloads.edge_workloads' extremes use K = 37.)"""
    return workloads.edge_workloads(seed, shapes=workloads.EDGE_SHAPES + ((13, 17, 5),), extreme_k=19)


__all__ = ["DATAFLOW", "EVENT_NAMES", "ISConfig", "check_operands", "edge_workloads", "estimate_gemm",
           "fold_cycles", "fold_events", "fold_schedule", "simulate_gemm"]
