"""Cycle-level model of an INT8 x INT8 -> INT32 GEMM on an R x C systolic array.

Two dataflows, the classic pair from the TPU / SCALE-Sim literature:

* **output-stationary (OS)**: each PE (i, j) owns one output C[m0+i, n0+j]. A-operands enter
  from the left edge (row i skewed by i cycles), B-operands from the top (column j skewed by j
  cycles), both hop one PE per cycle, and every PE multiply-accumulates in place. After the last
  MAC the R x C accumulators drain, one row per cycle, into the output buffer.
  A fold is one (m-tile, n-tile) pair with the whole K streamed: ``t = K``.
* **weight-stationary (WS)**: a K-tile x N-tile of weights is shifted into the PEs (one row per
  cycle, R cycles), then the M activation rows stream in from the left (row r skewed by r cycles)
  and partial sums flow down the columns; the bottom row writes (or, for every K-tile after the
  first, adds) one output row per cycle into the output buffer. A fold is one (n-tile, k-tile)
  pair with all of M streamed: ``t = M``.

Per fold the array always runs its full skew, whether or not the tile is full (partial tiles are
zero-padded), so one fold costs ``fold_cycles(cfg, t)`` whatever its occupancy; that is what
SCALE-Sim's "mapping efficiency" measures. The formula is the one the Verilog in
rtl_models/verilog/ achieves, checked cycle for cycle by the co-simulation tests, and is derived
by :func:`simulate_fold_stepwise`, which steps the array's registers one clock at a time.

Two ways to run the model:

* :func:`simulate_gemm` (the default, ``mode="fast"``): closed-form cycle and event counts per
  fold plus one exact matrix product (integers in float64 are exact below 2**53, and the K bound
  keeps every partial sum far below that), so a 1024^3 GEMM takes a fraction of a second.
* ``mode="stepwise"``: every fold is stepped clock by clock through the PE registers
  (vectorised over PEs). Slow; it exists to prove the closed forms, and tests hold the two equal.

Event counts assume clock-gated registers (a register is written only when it takes valid data);
their definitions are in :func:`fold_events` and priced in reports/cost.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from sim.lazy import LazySeq, repeated

from sim.carry_save import booth_partial_products, reduce_words

DATAFLOWS = ("os", "ws")
# Processing elements: "mac" multiplies then adds (two carry-propagate chains per cycle);
# "booth_csa" is the TPE paper's OPT1: radix-4 Booth partial products and the accumulator's
# (sum, carry) pair in one carry-save tree, one carry-propagate add per result at read-out.
# Same results, one (OS) or two (WS) more cycles per fold (the read-out add is pipelined); they
# differ in area, clock and energy, which synthesis and the report measure. In the WS array the
# partial sums travel down the columns as (sum, carry) pairs.
PES = ("mac", "booth_csa")


@dataclass(frozen=True)
class SystolicConfig:
    """An R x C systolic array: its size, dataflow and datapath widths (signed operands)."""

    rows: int
    cols: int
    dataflow: Literal["os", "ws"] = "os"
    a_bits: int = 8
    b_bits: int = 8
    acc_bits: int = 32
    pe: Literal["mac", "booth_csa"] = "mac"

    def __post_init__(self) -> None:
        for name in ("rows", "cols"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer (array size), got {value!r}")
        if self.dataflow not in DATAFLOWS:
            raise ValueError(f"dataflow must be one of {DATAFLOWS}, got {self.dataflow!r}")
        for name in ("a_bits", "b_bits"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 2 <= value <= 16:
                raise ValueError(f"{name} must be an integer operand width in 2..16 bits, got {value!r}")
        prod_bits = self.a_bits + self.b_bits
        if isinstance(self.acc_bits, bool) or not isinstance(self.acc_bits, (int, np.integer)) or not (
            prod_bits <= self.acc_bits <= 64
        ):
            raise ValueError(
                f"acc_bits must be an integer in {prod_bits}..64 (at least the product width "
                f"a_bits + b_bits = {prod_bits}), got {self.acc_bits!r}"
            )

        if self.pe not in PES:
            raise ValueError(f"pe must be one of {PES}, got {self.pe!r}")
        if self.pe == "booth_csa" and self.a_bits != 8:
            raise ValueError(
                "pe='booth_csa' needs a_bits=8 (4 radix-4 Booth digits of the activation into a 7-input "
                f"carry-save tree), got a_bits={self.a_bits}"
            )

    @property
    def pes(self) -> int:
        return self.rows * self.cols

    @property
    def max_k(self) -> int:
        """Largest K whose dot product cannot overflow the signed accumulator."""
        return max_safe_k(self.a_bits, self.b_bits, self.acc_bits)


def max_safe_k(a_bits: int, b_bits: int, acc_bits: int) -> int:
    """The largest K for which sum_k a_k * b_k always fits a signed ``acc_bits`` accumulator.

    The worst case is (-2^(a-1)) * (-2^(b-1)) = +2^(a+b-2) added K times against the positive
    limit 2^(acc-1) - 1 (the negative side, -2^(a-1) * (2^(b-1) - 1), is smaller in magnitude).
    For 8 x 8 -> 32 bits that is (2^31 - 1) // 16384 = 131071.
    """
    return (2 ** (acc_bits - 1) - 1) // 2 ** (a_bits + b_bits - 2)


@dataclass(frozen=True)
class Fold:
    """One mapping of a tile onto the array: rows m0:m1, columns n0:n1, reduction k0:k1.

    ``accumulate`` is True when the fold adds into partial sums an earlier fold left in the
    output buffer (WS K-tiles after the first); ``t`` is the streamed length of the fold.
    """

    m0: int
    m1: int
    n0: int
    n1: int
    k0: int
    k1: int
    accumulate: bool
    t: int


def fold_schedule(m: int, n: int, k: int, cfg: SystolicConfig) -> list[Fold]:
    """The folds of an M x K by K x N GEMM in execution order.

    OS: m-tiles (outer) x n-tiles (inner), each streaming all of K.
    WS: n-tiles (outer) x k-tiles (inner), each streaming all of M; k-tiles after the first
    accumulate into the output buffer, so an n-tile's outputs are final after its last k-tile.
    """
    return list(lazy_fold_schedule(m, n, k, cfg))


def lazy_fold_schedule(m: int, n: int, k: int, cfg: SystolicConfig) -> LazySeq:
    """:func:`fold_schedule` as a sequence whose folds are computed when read."""
    _check_dims(m, n, k)
    r, c = cfg.rows, cfg.cols
    if cfg.dataflow == "os":
        nt = -(-n // c)

        def os_fold(i: int) -> Fold:
            mi, ni = divmod(i, nt)
            m0, n0 = mi * r, ni * c
            return Fold(m0, min(m0 + r, m), n0, min(n0 + c, n), 0, k, False, k)

        return LazySeq(-(-m // r) * nt, os_fold)
    kt = -(-k // r)

    def ws_fold(i: int) -> Fold:
        ni, ki = divmod(i, kt)
        n0, k0 = ni * c, ki * r
        return Fold(0, m, n0, min(n0 + c, n), k0, min(k0 + r, k), k0 > 0, m)

    return LazySeq(-(-n // c) * kt, ws_fold)


def fold_cycles(cfg: SystolicConfig, t: int) -> int:
    """Clock cycles of one fold from the edge that samples ``start`` to ``done``.

    Both dataflows: ``2R + C + t - 2`` (SCALE-Sim's per-fold formula), plus 1 with the OPT1 PE
    (``pe="booth_csa"``), whose read-out add is pipelined over two cycles.
    OS: ``t + R + C - 2`` cycles until PE (R-1, C-1) has taken its last operand pair (skews of
    R-1 and C-1 on top of K operands), then R cycles to drain the accumulators a row at a time.
    WS: R cycles to shift the weights in, then ``t + R + C - 2`` cycles until the last output row
    has left the bottom of the last column (skew R-1 down the column plus C-1 across).
    """
    if t < 1:
        raise ValueError(f"t (streamed length) must be >= 1, got {t}")
    return 2 * cfg.rows + cfg.cols + t - 2 + readout_pipeline_cycles(cfg)


def readout_pipeline_cycles(cfg: SystolicConfig) -> int:
    """Extra cycles at the end of a fold with the OPT1 PE, whose carry-propagate add is split over
    two cycles (low half, then high half with its carry) so it does not set the array's clock:
    OS 1 (the add follows the drained accumulator); WS 2 (the bottom row's (sum, carry) pair is
    registered first, then folded into the buffer's old value and added in two halves)."""
    if cfg.pe != "booth_csa":
        return 0
    return 1 if cfg.dataflow == "os" else 2


def fold_events(cfg: SystolicConfig, fold: Fold) -> dict[str, int]:
    """Event counts of one fold (clock-gated registers; the full array runs, padding included).

    OS: every PE does t MAC slots; each slot writes the PE's two operand-forwarding registers
    and its accumulator; the drain shifts column j's R results down an R-deep chain
    (R(R+1)/2 register writes per column); the A buffer is read one R-wide k-slice per cycle,
    the B buffer one C-wide k-slice per cycle; R x C results are written out.
    WS: R rows of C weights are shifted in (R(R+1)/2 writes per column), then every PE does
    t MAC slots, each writing its activation-forwarding register and its partial-sum register;
    the A buffer is read one R-wide row per streamed row; the output buffer takes t x C partial
    sums, read first when accumulating.
    """
    r, c, t = cfg.rows, cfg.cols, fold.t
    a_bytes, b_bytes, acc_bytes = (cfg.a_bits + 7) // 8, (cfg.b_bits + 7) // 8, (cfg.acc_bits + 7) // 8
    slots = r * c * t
    useful = (fold.m1 - fold.m0) * (fold.n1 - fold.n0) * (fold.k1 - fold.k0)
    if cfg.dataflow == "os":
        return {
            "macs": useful,
            "mac_slots": slots,
            "pe_operand_reg_writes": 2 * slots,
            "pe_acc_reg_writes": slots,
            "pe_drain_reg_writes": c * r * (r + 1) // 2,
            "pe_weight_reg_writes": 0,
            "a_buffer_reads_bytes": t * r * a_bytes,
            "b_buffer_reads_bytes": t * c * b_bytes,
            "out_buffer_writes_bytes": r * c * acc_bytes,
            "out_buffer_reads_bytes": 0,
            "psum_writes": r * c,
        }
    return {
        "macs": useful,
        "mac_slots": slots,
        "pe_operand_reg_writes": slots,
        "pe_acc_reg_writes": slots,
        "pe_drain_reg_writes": 0,
        "pe_weight_reg_writes": c * r * (r + 1) // 2,
        "a_buffer_reads_bytes": t * r * a_bytes,
        "b_buffer_reads_bytes": r * c * b_bytes,
        "out_buffer_writes_bytes": t * c * acc_bytes,
        "out_buffer_reads_bytes": t * c * acc_bytes if fold.accumulate else 0,
        "psum_writes": t * c,
    }


EVENT_NAMES = tuple(fold_events(SystolicConfig(1, 1), Fold(0, 1, 0, 1, 0, 1, False, 1)))


@dataclass
class GemmResult:
    """What the model returns for one GEMM."""

    c: np.ndarray | None  # int32 (or int64 for acc_bits > 32) M x N; None from estimate_gemm
    cycles: int
    fold_cycles: list[int]  # a list, or from estimate_gemm a sim.lazy.LazySeq (computed when read)
    folds: list[Fold]  # likewise
    events: dict[str, int]
    config: SystolicConfig
    shape: tuple[int, int, int]  # (M, N, K)
    extra: dict = field(default_factory=dict)

    @property
    def utilisation(self) -> float:
        """Useful MACs over the array's PE-cycles (SCALE-Sim's compute utilisation)."""
        return self.events["macs"] / (self.cycles * self.config.pes)

    @property
    def mapping_efficiency(self) -> float:
        """Useful MACs over MAC slots: how full the folds' tiles are."""
        return self.events["macs"] / self.events["mac_slots"]


def estimate_gemm(m: int, n: int, k: int, cfg: SystolicConfig) -> GemmResult:
    """Cycles and events of an M x N x K GEMM without computing the product."""
    _check_dims(m, n, k)
    if k > cfg.max_k:
        raise ValueError(
            f"K={k} exceeds the accumulator's safe range: at most {cfg.max_k} products of "
            f"{cfg.a_bits}x{cfg.b_bits} bits fit a signed {cfg.acc_bits}-bit accumulator"
        )
    # closed form: every fold streams the same t, so all take as long; a fold's events depend on
    # its extents only through "macs" (which the folds partition: M N K in all), so the folds of
    # one kind (OS: all; WS: first k-tile / later k-tiles, which accumulate) add up as one times
    # their count. folds and fold_cycles are computed when read.
    folds = lazy_fold_schedule(m, n, k, cfg)
    per_fold = fold_cycles(cfg, folds[0].t)
    kinds = [(folds[0], len(folds))]
    if cfg.dataflow == "ws" and k > cfg.rows:
        n_tiles = -(-n // cfg.cols)
        kinds = [(folds[0], n_tiles), (folds[1], len(folds) - n_tiles)]
    events = dict.fromkeys(EVENT_NAMES, 0)
    for f, count in kinds:
        for name, value in fold_events(cfg, f).items():
            events[name] += count * value
    events["macs"] = m * n * k
    return GemmResult(None, per_fold * len(folds), repeated(per_fold, len(folds)), folds, events, cfg, (m, n, k))


def simulate_gemm(a, b, cfg: SystolicConfig, mode: Literal["fast", "stepwise"] = "fast") -> GemmResult:
    """Run C = A @ B through the array: exact result, cycles per fold and in total, events."""
    a, b = check_operands(a, b, cfg)
    m, k = a.shape
    n = b.shape[1]
    res = estimate_gemm(m, n, k, cfg)
    out_dtype = np.int32 if cfg.acc_bits <= 32 else np.int64
    if mode == "fast":
        res.c = exact_matmul(a, b).astype(out_dtype)
    elif mode == "stepwise":
        c = np.zeros((m, n), dtype=np.int64)
        for i, f in enumerate(res.folds):
            tile, cycles = simulate_fold_stepwise(a, b, f, cfg)
            if cycles != res.fold_cycles[i]:  # the closed form is wrong: say so, never hide it
                raise AssertionError(f"fold {i}: stepwise {cycles} cycles != closed form {res.fold_cycles[i]}")
            if f.accumulate:
                c[f.m0 : f.m1, f.n0 : f.n1] += tile
            else:
                c[f.m0 : f.m1, f.n0 : f.n1] = tile
        res.c = c.astype(out_dtype)
    else:
        raise ValueError(f"mode must be 'fast' or 'stepwise', got {mode!r}")
    return res


def exact_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact integer A @ B as int64.

    float64 BLAS is exact while every partial sum stays below 2**53; beyond that (very wide
    operands with long K) fall back to numpy's integer matmul.
    """
    bound = float(np.abs(a).max(initial=0)) * float(np.abs(b).max(initial=0)) * a.shape[1]
    if bound < 2.0**53:
        return (a.astype(np.float64) @ b.astype(np.float64)).astype(np.int64)
    return a.astype(np.int64) @ b.astype(np.int64)


def check_operands(a, b, cfg: SystolicConfig) -> tuple[np.ndarray, np.ndarray]:
    """Validate A (M x K) and B (K x N): integer arrays within the operand widths, K in range."""
    arrays = []
    for name, x, bits in (("a", a, cfg.a_bits), ("b", b, cfg.b_bits)):
        x = np.asarray(x)
        if x.dtype.kind not in "iu":
            raise TypeError(f"{name} must be an integer array (e.g. int8), got dtype {x.dtype}")
        if x.ndim != 2:
            raise ValueError(f"{name} must be 2-D, got shape {x.shape}")
        lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
        if x.size and (x.min() < lo or x.max() > hi):
            raise ValueError(
                f"{name} holds values outside the signed {bits}-bit range [{lo}, {hi}] "
                f"(min {x.min()}, max {x.max()})"
            )
        arrays.append(x)
    a, b = arrays
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"inner dimensions differ: a is {a.shape} (M x K), b is {b.shape} (K x N)")
    _check_dims(a.shape[0], b.shape[1], a.shape[1])
    if a.shape[1] > cfg.max_k:
        raise ValueError(
            f"K={a.shape[1]} exceeds the accumulator's safe range: at most {cfg.max_k} products of "
            f"{cfg.a_bits}x{cfg.b_bits} bits fit a signed {cfg.acc_bits}-bit accumulator"
        )
    return a, b


def _check_dims(m: int, n: int, k: int) -> None:
    for name, v in (("M", m), ("N", n), ("K", k)):
        if v < 1:
            raise ValueError(f"GEMM dimension {name} must be >= 1, got {v}")


# --------------------------------------------------------------------------------------------
# Clock-by-clock stepping of one fold: the mechanism behind fold_cycles and fold_events.
# --------------------------------------------------------------------------------------------


def simulate_fold_stepwise(a: np.ndarray, b: np.ndarray, fold: Fold, cfg: SystolicConfig) -> tuple[np.ndarray, int]:
    """Step one fold's registers clock by clock; return (the tile's partial result, cycles).

    Registers are numpy arrays over all PEs; each loop iteration is one rising clock edge.
    """
    r, c = cfg.rows, cfg.cols
    if cfg.dataflow == "os":
        # A tile: R x K (zero-padded rows), B tile: K x C (zero-padded columns)
        at = np.zeros((r, fold.t), np.int64)
        at[: fold.m1 - fold.m0] = a[fold.m0 : fold.m1, :]
        bt = np.zeros((fold.t, c), np.int64)
        bt[:, : fold.n1 - fold.n0] = b[:, fold.n0 : fold.n1]
        a_reg = np.zeros((r, c), np.int64)
        b_reg = np.zeros((r, c), np.int64)
        a_val = np.zeros((r, c), bool)
        b_val = np.zeros((r, c), bool)
        acc = np.zeros((r, c), np.int64)
        sum_reg = np.zeros((r, c), np.uint64)
        carry_reg = np.zeros((r, c), np.uint64)
        rows_i = np.arange(r)
        cols_j = np.arange(c)
        cycle = 0
        last_mac = -1
        while True:
            # operands entering at the edges this cycle: row i takes A[i, cycle - i], column j B[cycle - j, j]
            ka = cycle - rows_i
            kb = cycle - cols_j
            in_a_val = (ka >= 0) & (ka < fold.t)
            in_b_val = (kb >= 0) & (kb < fold.t)
            a_reg[:, 1:], a_val[:, 1:] = a_reg[:, :-1].copy(), a_val[:, :-1].copy()
            b_reg[1:, :], b_val[1:, :] = b_reg[:-1, :].copy(), b_val[:-1, :].copy()
            a_reg[:, 0] = np.where(in_a_val, at[rows_i, np.clip(ka, 0, fold.t - 1)], 0)
            a_val[:, 0] = in_a_val
            b_reg[0, :] = np.where(in_b_val, bt[np.clip(kb, 0, fold.t - 1), cols_j], 0)
            b_val[0, :] = in_b_val
            both = a_val & b_val
            if (a_val ^ b_val).any():
                raise AssertionError("OS skew broken: an A operand met no B operand")
            if cfg.pe == "booth_csa":
                # OPT1: every edge, Booth partial products + correction + the stored (sum, carry)
                # words go through the carry-save tree, as the RTL does (zeros when idle)
                words = booth_partial_products(a_reg, b_reg, cfg.acc_bits)
                sum_reg, carry_reg = reduce_words(words + [sum_reg, carry_reg], cfg.acc_bits)
            else:
                acc += np.where(both, a_reg * b_reg, 0)
            cycle += 1
            if both.any():
                last_mac = cycle
            if not (in_a_val.any() or in_b_val.any() or a_val.any() or b_val.any()):
                break
        # drain: one row of accumulators per cycle into the output buffer (OPT1: through the
        # single carry-propagate add, sum + carry modulo 2^acc_bits, read as signed)
        cycles = last_mac + r + readout_pipeline_cycles(cfg)
        if cfg.pe == "booth_csa":
            wrapped = ((sum_reg + carry_reg) & np.uint64((1 << cfg.acc_bits) - 1)).astype(np.int64)
            acc = np.where(wrapped >= 2 ** (cfg.acc_bits - 1), wrapped - 2**cfg.acc_bits, wrapped)
        tile = acc[: fold.m1 - fold.m0, : fold.n1 - fold.n0]
        return tile, cycles

    # weight-stationary
    wt = np.zeros((r, c), np.int64)
    wt[: fold.k1 - fold.k0, : fold.n1 - fold.n0] = b[fold.k0 : fold.k1, fold.n0 : fold.n1]
    w_reg = np.zeros((r, c), np.int64)
    cycle = 0
    # weights shift down one row per cycle: after R cycles row i holds weight row i
    for step in range(r):
        w_reg[1:, :] = w_reg[:-1, :].copy()
        w_reg[0, :] = wt[r - 1 - step, :]
        cycle += 1
    if not np.array_equal(w_reg, wt):
        raise AssertionError("WS weight load broken")
    at = np.zeros((fold.t, r), np.int64)
    at[:, : fold.k1 - fold.k0] = a[:, fold.k0 : fold.k1]
    x_reg = np.zeros((r, c), np.int64)
    x_val = np.zeros((r, c), bool)
    x_m = np.full((r, c), -1)
    p_reg = np.zeros((r, c), np.int64)
    s_reg = np.zeros((r, c), np.uint64)  # OPT1: the (sum, carry) pairs each PE registers
    c_reg = np.zeros((r, c), np.uint64)
    mask = (1 << cfg.acc_bits) - 1
    rows_i = np.arange(r)
    out = np.zeros((fold.t, c), np.int64)
    written = np.zeros((fold.t, c), bool)
    s = 0
    last_write = -1
    while True:
        m_in = s - rows_i  # row r takes activation row m = s - r
        in_val = (m_in >= 0) & (m_in < fold.t)
        x_reg[:, 1:], x_val[:, 1:], x_m[:, 1:] = x_reg[:, :-1].copy(), x_val[:, :-1].copy(), x_m[:, :-1].copy()
        x_reg[:, 0] = np.where(in_val, at[np.clip(m_in, 0, fold.t - 1), rows_i], 0)
        x_val[:, 0] = in_val
        x_m[:, 0] = np.where(in_val, m_in, -1)
        # partial sums: PE (i, j) adds its product to what PE (i-1, j) registered last cycle;
        # the bottom row's sum goes straight into the output buffer on this edge.
        bottom_val = x_val[r - 1, :]
        if cfg.pe == "booth_csa":
            # OPT1: Booth partial products of the activation times the weight, their correction
            # word and the pair from above, through the 7-input tree; every PE registers its pair
            zero = np.zeros((1, c), np.uint64)
            words = booth_partial_products(np.where(x_val, x_reg, 0), w_reg, cfg.acc_bits)
            s_new, c_new = reduce_words(words + [np.vstack([zero, s_reg[:-1]]), np.vstack([zero, c_reg[:-1]])],
                                        cfg.acc_bits)
            wrapped = ((s_new[r - 1] + c_new[r - 1]) & np.uint64(mask)).astype(np.int64)
            bottom = np.where(wrapped >= 2 ** (cfg.acc_bits - 1), wrapped - 2**cfg.acc_bits, wrapped)
            s_reg, c_reg = s_new, c_new
        else:
            above = np.vstack([np.zeros((1, c), np.int64), p_reg[:-1, :]])
            new_p = above + np.where(x_val, x_reg * w_reg, 0)
            bottom = new_p[r - 1]
            p_reg = new_p
        if bottom_val.any():
            js = np.nonzero(bottom_val)[0]
            out[x_m[r - 1, js], js] = bottom[js]
            written[x_m[r - 1, js], js] = True
            last_write = cycle + s + 1 + readout_pipeline_cycles(cfg)
        s += 1
        if not (in_val.any() or x_val.any()):
            break
    if not written.all():
        raise AssertionError("WS stream broken: some outputs were never written")
    tile = out[:, : fold.n1 - fold.n0]
    return tile, last_write
