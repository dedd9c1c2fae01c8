"""Cycle-level model of the 2D-matrix (broadcast) engine, with the baseline MAC PE or the TPE
paper's OPT1 carry-save PE.

An R x C grid of PEs computes an R x C tile of C = A @ B as a sum of K outer products. Every clock
one column of A (R values) is broadcast along the grid's rows and one row of B (C values) along its
columns, both through one register stage at the grid's edge, and PE (i, j) adds a_i * b_j to its
accumulator: no skew, no systolic forwarding, but wires that span the grid. The PEs are the ones of
the systolic array (rtl_models/verilog/mac_pe.v, booth_csa_pe.v), so the technique changes only
the PE; with OPT1 the accumulator stays in (sum, carry) form and a row is resolved by one
carry-propagate add on its way out, pipelined.

Schedule (rtl_models/verilog/bcast_matrix.v; the cocotb bench counts the same edges). A GEMM runs
fold by fold, M-tiles outer and N-tiles inner, each fold streaming the whole K:

* edge 1: ``clear`` empties every accumulator while the first operands (k = 0) are registered;
* edges 2 .. K+1: the PEs accumulate the operands registered on the edge before;
* edges K+2 .. K+1+R: rows 0 .. R-1 are read out, one per clock through a registered read port
  (the OPT1 grid takes two more edges: the row's (sum, carry) words are registered, then added
  in two 16-bit halves, so the carry chain is never longer than 16 bits).

    fold cycles = 1 + K + R  (+2 with OPT1)

counting from the clear edge to the edge that registers the last row, both included.

Events per fold (padding rows/columns of a partial tile run and are counted in the slots):
  mac_slots             R*C*K PE-cycles spent multiplying
  macs                  useful MACs
  edge_operand_reg_writes  (R + C) * K operands registered at the grid's edge
  pe_acc_reg_writes     R*C*(K + 1) accumulator writes (the clear and K adds)
  a_buffer_reads_bytes  real A bytes, b_buffer_reads_bytes real B bytes
  out_buffer_writes_bytes  4 bytes per real output
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Literal

import numpy as np

from sim.digits import check_gemm_dims, check_int8_gemm

PES = ("mac", "booth_csa")
READOUT_PIPELINE = 2  # OPT1: (sum, carry) registered, then a 32-bit add in two 16-bit halves


@dataclass(frozen=True)
class BroadcastConfig:
    rows: int = 4
    cols: int = 4
    pe: Literal["mac", "booth_csa"] = "mac"
    acc_bits: int = 32

    def __post_init__(self) -> None:
        for name in ("rows", "cols"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or not 1 <= v <= 64:
                raise ValueError(f"{name} must be an integer in 1..64, got {v!r}")
        if self.pe not in PES:
            raise ValueError(f"pe must be one of {PES}, got {self.pe!r}")
        if self.acc_bits != 32:
            raise ValueError(f"acc_bits must be 32 (the PEs' INT32 accumulator), got {self.acc_bits!r}")

    @property
    def max_k(self) -> int:
        return (2**31 - 1) // 2**14


@dataclass(frozen=True)
class BroadcastFold:
    m0: int
    m1: int
    n0: int
    n1: int


@dataclass
class BroadcastResult:
    c: np.ndarray | None
    cycles: int
    fold_cycles: list[int]
    folds: list[BroadcastFold]
    events: dict[str, int]
    config: BroadcastConfig
    shape: tuple[int, int, int]


def broadcast_folds(m: int, n: int, cfg: BroadcastConfig) -> list[BroadcastFold]:
    return [BroadcastFold(m0, min(m0 + cfg.rows, m), n0, min(n0 + cfg.cols, n))
            for m0 in range(0, m, cfg.rows) for n0 in range(0, n, cfg.cols)]


def fold_cycles(k: int, cfg: BroadcastConfig) -> int:
    return 1 + k + cfg.rows + (READOUT_PIPELINE if cfg.pe == "booth_csa" else 0)


def _check_dims(m, n, k, cfg: BroadcastConfig) -> None:
    check_gemm_dims(m, n, k, cfg.max_k)


def _events(k: int, folds: list[BroadcastFold], cfg: BroadcastConfig) -> dict[str, int]:
    r, c = cfg.rows, cfg.cols
    ev = dict.fromkeys(("mac_slots", "macs", "edge_operand_reg_writes", "pe_acc_reg_writes", "a_buffer_reads_bytes",
                        "b_buffer_reads_bytes", "out_buffer_writes_bytes"), 0)
    for f in folds:
        mr, nr = f.m1 - f.m0, f.n1 - f.n0
        ev["mac_slots"] += r * c * k
        ev["macs"] += mr * nr * k
        ev["edge_operand_reg_writes"] += (r + c) * k
        ev["pe_acc_reg_writes"] += r * c * (k + 1)
        ev["a_buffer_reads_bytes"] += mr * k
        ev["b_buffer_reads_bytes"] += nr * k
        ev["out_buffer_writes_bytes"] += 4 * mr * nr
    return ev


def estimate_gemm(m: int, n: int, k: int, cfg: BroadcastConfig) -> BroadcastResult:
    _check_dims(m, n, k, cfg)
    folds = broadcast_folds(m, n, cfg)
    fc = [fold_cycles(k, cfg)] * len(folds)
    return BroadcastResult(None, sum(fc), fc, folds, _events(k, folds, cfg), cfg, (m, n, k))


def simulate_gemm(a, b, cfg: BroadcastConfig | None = None) -> BroadcastResult:
    """C = A @ B on the grid: exact int32 result (the sum of outer products, as the PEs add it),
    cycles per fold and events."""
    cfg = BroadcastConfig() if cfg is None else cfg
    av, bv = check_int8_gemm(a, b)
    (m, k), n = av.shape, bv.shape[1]
    res = estimate_gemm(m, n, k, cfg)
    c = np.zeros((m, n), np.int64)
    for t in range(k):  # outer products in stream order: what the accumulators hold after edge t + 2
        c += np.outer(av[:, t].astype(np.int64), bv[t].astype(np.int64))
    res.c = c.astype(np.int32)
    return res


def edge_workloads(seed: int = 0) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Golden (name, a, b) int8 workloads of the 2D-matrix engine."""
    rng = np.random.default_rng(seed)
    r = lambda *s: rng.integers(-128, 128, s).astype(np.int8)  # noqa: E731
    return [
        ("random_5x7x13", r(5, 13), r(13, 7)),
        ("extremes_4x4x9", np.full((4, 9), -128, np.int8), np.full((9, 4), -128, np.int8)),
        ("mixed_6x3x8", rng.choice(np.array([-128, 127, 0, -1, 1], np.int8), (6, 8)),
         rng.choice(np.array([-128, 127, 0, -1, 1], np.int8), (8, 3))),
        ("k1_3x5x1", r(3, 1), r(1, 5)),
    ]
