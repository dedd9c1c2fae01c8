"""Cycle-level model of an R x C output-stationary array of FP8 MACs (FP8 x FP8 -> FP32),
the golden model of rtl_models/verilog/fp8_os_array.v.

C = A @ B with A an M x K matrix and B a K x N matrix of FP8 codes (uint8 bit patterns, formats
``fmt_a`` / ``fmt_b``: e4m3 or e5m2, sim/fp8.py), the result as FP32 bit patterns (uint32).

Arithmetic: the single MAC's (sim/fp8.py), per output
----------------------------------------------------
Every product is exact in FP32 (sim/fp8.py's ``fp8_product_bits``) and the K products of one
output are added **in order k = 0, 1, ..., K-1, starting from +0, one IEEE round-to-nearest-even
FP32 add each** (``fp32_add_bits``): C[m, n] is bit for bit ``dot_fp8_bits(A[m, :], B[:, n])``,
the result of ``sim.fp8.simulate_dot`` and of ``kernels.fp8.scaled_fp8_gemm_emulated`` with unit
scales. The order is the array's own: PE (i, j) meets k-slice k before k-slice k+1, and its
accumulator is a single-cycle adder. Specials as the MAC's: NaN inputs, Inf * 0 and Inf - Inf give
the canonical NaN 0x7FC00000; e5m2 Inf propagates; e4m3 has no Inf (a caller's Inf or overflow
saturates to +-448 when quantised, sim.fp8.encode). The accumulator cannot overflow for any
K <= depth <= 65536 (|product| < 2**32, so |sum| < 2**48, far below FP32's 2**128).

The array (output-stationary, as sim/systolic.py's OS INT8 array)
----------------------------------------------------------------
PE (i, j) owns C[m0+i, n0+j] of a fold (one (m-tile, n-tile) pair, the whole K streamed,
``t = K``). The host writes t k-slices into the operand buffers (A column k: R codes, B row k:
C codes, zero-padded for partial tiles), then pulses start. k-slices leave the buffers one per
cycle; row i of A is delayed i cycles and column j of B j cycles (the skew), the A operand carries
a valid bit, and the operands hop one PE right (A) / down (B) per cycle. The PE has two stages
(the MAC's multiply and add stages; the buffer read is the skew's job here):

  multiply  p_q <= fp8_mul(a_in, b_in)   on edge k + i + j  (a_out <= a_in, b_out <= b_in: the hop)
  add       acc <= fp32_add(acc, p_q)    on edge k + i + j + 1 (single-cycle, loop-carried)

counting the edge that samples start as edge 0 (the slice at address 0 enters on it). PE
(R-1, C-1) adds its last product on edge t + R + C - 2. Then R drain edges shift the accumulators
down their columns, the bottom row into the output buffer (row R-1 first), +0 entering at the
top, which leaves every accumulator +0 for the next fold; done rises with the last drain edge.
Start edge to done edge, both counted:

    fold_cycles = (t + R + C - 1) + R = 2R + C + t - 1

one more than the INT8 OS array (its PE multiplies and adds in one stage). The output buffer is
read through a registered port (rd_data shows row rd_addr one clock later), as in
os_systolic_array.v. Per fold the full array runs whatever the tile's occupancy (padding).

Two ways to run the model: ``mode="fast"`` (closed-form cycles and events, the product by a
vectorised sequential FP32 accumulation over k) and ``mode="stepwise"``, which steps every fold's
registers clock by clock (operand, valid, product and accumulator registers, the drain) and holds
its own cycles, events and result to the closed forms and the fast result; tests hold both to
the RTL.

Events (clock-gated registers: written only with valid data), per fold, ``slots = R * C * t``:
fp8_mults and fp32_adds = slots (padding included; ``macs`` counts the useful ones); the
operand-forwarding registers (8 bits each, two per slot), the product register (32) and the
accumulator (32) once per slot; the drain writes R(R+1)/2 accumulators per column (rows already
drained hold +0 and are not rewritten); the A buffer gives t * R bytes, the B buffer t * C bytes;
the output buffer takes R * C * 4 bytes. Valid bits and the skew registers are not counted (as in
sim/systolic.py).

numpy only: the cocotb bench imports this module as its golden model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from sim.fp8 import bits_to_f32, fp8_product_bits, fp32_add_bits, get_format
from sim.systolic import Fold

MAX_DEPTH = 1 << 16
ACC_BYTES = 4  # FP32 results


def _is_int(v) -> bool:
    return not isinstance(v, bool) and isinstance(v, (int, np.integer))


@dataclass(frozen=True)
class Fp8ArrayConfig:
    """An R x C output-stationary FP8 MAC array: size, operand formats, operand-buffer depth.

    ``depth`` (a power of two in 2..65536) is the number of k-slices the operand buffers hold:
    the largest K of a GEMM (K is not folded, so every output is one sequential accumulation).
    The formats are stored by name ('e4m3', 'e5m2'); the RTL codes 0 / 1 are accepted too.
    """

    rows: int
    cols: int
    fmt_a: str = "e4m3"
    fmt_b: str = "e4m3"
    depth: int = 64

    def __post_init__(self) -> None:
        for name in ("rows", "cols"):
            v = getattr(self, name)
            if not _is_int(v) or v < 1:
                raise ValueError(f"{name} must be a positive integer (array size), got {v!r}")
        for name in ("fmt_a", "fmt_b"):
            try:
                f = get_format(getattr(self, name))
            except ValueError as e:
                raise ValueError(f"{name}: {e}") from None
            object.__setattr__(self, name, f.name)
        d = self.depth
        if not _is_int(d) or not 2 <= d <= MAX_DEPTH or d & (d - 1):
            raise ValueError(f"depth must be a power of two in 2..{MAX_DEPTH} (operand buffer k-slices), got {d!r}")

    @property
    def pes(self) -> int:
        return self.rows * self.cols

    @property
    def rtl_params(self) -> dict[str, int]:
        """The Verilog parameters of fp8_os_array for this configuration."""
        return {"R": int(self.rows), "C": int(self.cols), "FMT_A": get_format(self.fmt_a).code,
                "FMT_B": get_format(self.fmt_b).code, "DEPTH": int(self.depth)}


def _check_dims(m, n, k, cfg: Fp8ArrayConfig) -> None:
    for name, v in (("M", m), ("N", n), ("K", k)):
        if not _is_int(v) or v < 1:
            raise ValueError(f"GEMM dimension {name} must be a positive integer, got {v!r}")
    if k > cfg.depth:
        raise ValueError(f"K = {k} exceeds the operand buffer depth {cfg.depth} (K is streamed whole, "
                         "not folded: build the array with depth >= K)")


def fold_schedule(m: int, n: int, k: int, cfg: Fp8ArrayConfig) -> list[Fold]:
    """The folds of an M x K by K x N GEMM: m-tiles (outer) x n-tiles (inner), each streaming all K."""
    _check_dims(m, n, k, cfg)
    return [Fold(m0, min(m0 + cfg.rows, m), n0, min(n0 + cfg.cols, n), 0, k, False, k)
            for m0 in range(0, m, cfg.rows) for n0 in range(0, n, cfg.cols)]


def fold_cycles(cfg: Fp8ArrayConfig, t: int) -> int:
    """Start edge to done edge, both counted, of one fold streaming t k-slices: 2R + C + t - 1.

    t + R + C - 1 edges until PE (R-1, C-1) has added its last product (skews R-1 and C-1, the
    multiply and add stages), then R drain edges.
    """
    if not _is_int(t) or t < 1:
        raise ValueError(f"t (streamed length, K) must be a positive integer, got {t!r}")
    return 2 * cfg.rows + cfg.cols + int(t) - 1


def fold_events(cfg: Fp8ArrayConfig, fold: Fold) -> dict[str, int]:
    """Event counts of one fold (clock-gated registers; the full array runs, padding included)."""
    r, c, t = cfg.rows, cfg.cols, fold.t
    slots = r * c * t
    drain = c * r * (r + 1) // 2
    return {
        "macs": (fold.m1 - fold.m0) * (fold.n1 - fold.n0) * (fold.k1 - fold.k0),
        "mac_slots": slots,
        "fp8_mults": slots,
        "fp32_adds": slots,
        "pe_operand_reg_writes": 2 * slots,
        "pe_product_reg_writes": slots,
        "pe_acc_reg_writes": slots,
        "pe_drain_reg_writes": drain,
        "reg_bits_written": slots * (8 + 8 + 32 + 32) + drain * 32,
        "a_buffer_reads_bytes": t * r,
        "b_buffer_reads_bytes": t * c,
        "out_buffer_writes_bytes": r * c * ACC_BYTES,
        "psum_writes": r * c,
    }


EVENT_NAMES = tuple(fold_events(Fp8ArrayConfig(1, 1), Fold(0, 1, 0, 1, 0, 1, False, 1)))


@dataclass
class Fp8GemmResult:
    """What the model returns for one GEMM."""

    c_bits: np.ndarray | None  # uint32 FP32 bit patterns, M x N (NaN canonical); None from estimate_gemm
    cycles: int
    fold_cycles: list[int]
    folds: list[Fold]
    events: dict[str, int]
    config: Fp8ArrayConfig
    shape: tuple[int, int, int]  # (M, N, K)
    extra: dict = field(default_factory=dict)

    @property
    def c(self) -> np.ndarray:
        """The result as float32 values."""
        if self.c_bits is None:
            raise ValueError("this result holds no C (it came from estimate_gemm)")
        return bits_to_f32(self.c_bits)

    @property
    def utilisation(self) -> float:
        """Useful MACs over the array's PE-cycles."""
        return self.events["macs"] / (self.cycles * self.config.pes)

    @property
    def mapping_efficiency(self) -> float:
        """Useful MACs over MAC slots: how full the folds' tiles are."""
        return self.events["macs"] / self.events["mac_slots"]


def estimate_gemm(m: int, n: int, k: int, cfg: Fp8ArrayConfig) -> Fp8GemmResult:
    """Cycles and events of an M x N x K FP8 GEMM without computing the product."""
    if not isinstance(cfg, Fp8ArrayConfig):
        raise TypeError(f"cfg must be an Fp8ArrayConfig, got {type(cfg).__name__}")
    folds = fold_schedule(m, n, k, cfg)
    cycles = [fold_cycles(cfg, f.t) for f in folds]
    events = dict.fromkeys(EVENT_NAMES, 0)
    for f in folds:
        for name, count in fold_events(cfg, f).items():
            events[name] += count
    return Fp8GemmResult(None, sum(cycles), cycles, folds, events, cfg, (m, n, k))


def check_operands(a_codes, b_codes, cfg: Fp8ArrayConfig) -> tuple[np.ndarray, np.ndarray]:
    """A (M x K) and B (K x N): non-empty 2-D integer arrays of FP8 codes 0..255, K <= depth."""
    if not isinstance(cfg, Fp8ArrayConfig):
        raise TypeError(f"cfg must be an Fp8ArrayConfig, got {type(cfg).__name__}")
    out = []
    for name, x in (("a", a_codes), ("b", b_codes)):
        x = np.asarray(x)
        if x.dtype.kind not in "iu":
            raise TypeError(f"{name} must be an integer array of FP8 codes (uint8 bit patterns), got dtype {x.dtype}")
        if x.ndim != 2 or 0 in x.shape:
            raise ValueError(f"{name} must be a non-empty 2-D matrix of FP8 codes, got shape {x.shape}")
        if x.min() < 0 or x.max() > 255:
            raise ValueError(f"{name} holds values outside the FP8 codes 0..255 (min {x.min()}, max {x.max()})")
        out.append(x.astype(np.int64))
    a, b = out
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"inner dimensions differ: a is {a.shape} (M x K), b is {b.shape} (K x N)")
    _check_dims(a.shape[0], b.shape[1], a.shape[1], cfg)
    return a, b


def gemm_fp8_bits(a: np.ndarray, b: np.ndarray, fmt_a, fmt_b) -> np.ndarray:
    """C[m, n] = sequential FP32 sum over k = 0..K-1 from +0 of the exact products (uint32 bits).

    Vectorised over (M, N): one exact product slice and one elementwise FP32 add per k, so every
    output sees exactly the adds of ``sim.fp8.dot_fp8_bits``, in the same order.
    """
    m, k_len = a.shape
    acc = np.zeros((m, b.shape[1]), np.uint32)  # +0
    for k in range(k_len):
        acc = fp32_add_bits(acc, fp8_product_bits(a[:, k : k + 1], b[k : k + 1, :], fmt_a, fmt_b))
    return acc


def simulate_gemm(a_codes, b_codes, cfg: Fp8ArrayConfig, mode: Literal["fast", "stepwise"] = "fast") -> Fp8GemmResult:
    """C = A @ B on the array: exact FP32 result bits (M x N uint32), cycles per fold and total, events."""
    a, b = check_operands(a_codes, b_codes, cfg)
    if mode not in ("fast", "stepwise"):
        raise ValueError(f"mode must be 'fast' or 'stepwise', got {mode!r}")
    m, k = a.shape
    n = b.shape[1]
    res = estimate_gemm(m, n, k, cfg)
    c = gemm_fp8_bits(a, b, cfg.fmt_a, cfg.fmt_b)
    if mode == "stepwise":
        stepped = np.zeros((m, n), np.uint32)
        for i, f in enumerate(res.folds):
            tile, cycles, events = simulate_fold_stepwise(a, b, f, cfg)
            if cycles != res.fold_cycles[i]:  # the closed form is wrong: say so, never hide it
                raise AssertionError(f"fold {i}: stepwise {cycles} cycles != closed form {res.fold_cycles[i]}")
            if events != fold_events(cfg, f):
                raise AssertionError(f"fold {i}: stepwise events {events} != closed form {fold_events(cfg, f)}")
            stepped[f.m0 : f.m1, f.n0 : f.n1] = tile
        if not np.array_equal(stepped, c):
            bad = np.argwhere(stepped != c)[0]
            raise AssertionError(f"stepwise C[{bad[0]},{bad[1]}] = {int(stepped[tuple(bad)]):#010x} != "
                                 f"sequential {int(c[tuple(bad)]):#010x}")
    res.c_bits = c
    return res


def simulate_fold_stepwise(a: np.ndarray, b: np.ndarray, fold: Fold,
                           cfg: Fp8ArrayConfig) -> tuple[np.ndarray, int, dict[str, int]]:
    """Step one fold's registers clock by clock, as fp8_os_array.v does; (tile bits, cycles, events).

    Registers are (R, C) numpy arrays over the PEs; each loop iteration is one rising edge, edge 0
    the one that samples start. The B operand carries its own valid flag here only to check that
    the skew lines every A operand up with a B operand (the RTL carries A's alone).
    """
    r, c, t = cfg.rows, cfg.cols, fold.t
    at = np.zeros((r, t), np.int64)  # zero-padded tiles: code 0 is +0
    at[: fold.m1 - fold.m0] = a[fold.m0 : fold.m1, fold.k0 : fold.k1]
    bt = np.zeros((t, c), np.int64)
    bt[:, : fold.n1 - fold.n0] = b[fold.k0 : fold.k1, fold.n0 : fold.n1]
    a_reg = np.zeros((r, c), np.int64)
    b_reg = np.zeros((r, c), np.int64)
    a_v = np.zeros((r, c), bool)
    b_v = np.zeros((r, c), bool)
    p_reg = np.zeros((r, c), np.uint32)
    p_v = np.zeros((r, c), bool)
    acc = np.zeros((r, c), np.uint32)  # +0: reset, or the previous fold's drain
    ev = dict.fromkeys(EVENT_NAMES, 0)
    rows_i, cols_j = np.arange(r), np.arange(c)
    edge, last_add = 0, -1
    while True:
        if edge > t + 2 * (r + c) + 8:
            raise AssertionError("the fold never finished")
        # the buffer read: k-slice `edge` while edge < t (R + C bytes)
        if edge < t:
            ev["a_buffer_reads_bytes"] += r
            ev["b_buffer_reads_bytes"] += c
        # the skewed edges: row i presents A[i, edge - i], column j B[edge - j, j]
        ka, kb = edge - rows_i, edge - cols_j
        in_av, in_bv = (ka >= 0) & (ka < t), (kb >= 0) & (kb < t)
        a_in = np.hstack([np.where(in_av, at[rows_i, np.clip(ka, 0, t - 1)], 0)[:, None], a_reg[:, :-1]])
        av_in = np.hstack([in_av[:, None], a_v[:, :-1]])
        b_in = np.vstack([np.where(in_bv, bt[np.clip(kb, 0, t - 1), cols_j], 0)[None, :], b_reg[:-1, :]])
        bv_in = np.vstack([in_bv[None, :], b_v[:-1, :]])
        if (av_in != bv_in).any():
            raise AssertionError("skew broken: an A operand met no B operand")
        # add stage (old p_q), multiply stage (operands arriving now), hop: all on this edge
        n_add, n_mul = int(p_v.sum()), int(av_in.sum())
        if n_add:
            acc = np.where(p_v, fp32_add_bits(acc, p_reg), acc)
            last_add = edge
        prod = fp8_product_bits(a_in, b_in, cfg.fmt_a, cfg.fmt_b)
        p_reg = np.where(av_in, prod, p_reg)
        p_v = av_in
        a_reg, b_reg = np.where(av_in, a_in, a_reg), np.where(av_in, b_in, b_reg)
        a_v, b_v = av_in, bv_in
        ev["fp32_adds"] += n_add
        ev["pe_acc_reg_writes"] += n_add
        ev["fp8_mults"] += n_mul
        ev["mac_slots"] += n_mul
        ev["pe_product_reg_writes"] += n_mul
        ev["pe_operand_reg_writes"] += 2 * n_mul
        edge += 1
        if edge >= t and not (a_v.any() or p_v.any()):
            break
    tile = acc[: fold.m1 - fold.m0, : fold.n1 - fold.n0].copy()
    # drain: R edges, each shifting the accumulators down a row (+0 into row 0) and writing the
    # bottom row into the output buffer; a PE writes when it holds or receives an undrained value
    out_buf = np.zeros((r, c), np.uint32)
    live = np.ones(r, bool)
    for d in range(r):
        out_buf[r - 1 - d] = acc[r - 1]
        incoming = np.concatenate([[False], live[:-1]])
        ev["pe_drain_reg_writes"] += int((live | incoming).sum()) * c
        acc = np.vstack([np.zeros((1, c), np.uint32), acc[:-1]])
        live = incoming
        ev["out_buffer_writes_bytes"] += c * ACC_BYTES
        ev["psum_writes"] += c
    if acc.any():
        raise AssertionError("the drain left an accumulator that is not +0")
    if not np.array_equal(out_buf[: fold.m1 - fold.m0, : fold.n1 - fold.n0], tile):
        raise AssertionError("the drain scrambled the rows")
    ev["macs"] = (fold.m1 - fold.m0) * (fold.n1 - fold.n0) * (fold.k1 - fold.k0)
    ev["reg_bits_written"] = (8 * ev["pe_operand_reg_writes"] + 32 * ev["pe_product_reg_writes"]
                              + 32 * ev["pe_acc_reg_writes"] + 32 * ev["pe_drain_reg_writes"])
    return tile, last_add + 1 + r, ev


def edge_workloads(cfg: Fp8ArrayConfig, seed: int = 0) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Golden (name, a_codes M x K, b_codes K x N) GEMMs for an array: random finite codes in
    full and partial tiles, zeros of both signs, subnormals, the largest codes (the saturation
    values of the encoder), a cancellation whose result depends on the order, NaN operands and,
    where a format has them, Inf (and Inf - Inf, Inf * 0). Shapes stay small (K <= min(depth, 8))
    so that Icarus runs them in seconds."""
    if not isinstance(cfg, Fp8ArrayConfig):
        raise TypeError(f"cfg must be an Fp8ArrayConfig, got {type(cfg).__name__}")
    fa, fb = get_format(cfg.fmt_a), get_format(cfg.fmt_b)
    rng = np.random.default_rng(seed)
    r, c = cfg.rows, cfg.cols
    k = min(cfg.depth, 8)

    def finite(f, shape):
        x = rng.integers(0, 256, shape)
        return np.where((x & 0x7F) > f.max_code, x & 0x80, x)

    def sub(f, shape):  # subnormals (exponent field 0) and zeros, both signs
        return rng.integers(0, 1 << f.man_bits, shape) | (rng.integers(0, 2, shape) << 7)

    out = [
        ("random_full_tile", finite(fa, (r, k)), finite(fb, (k, c))),
        ("random_partial_tiles", finite(fa, (r + 1, k)), finite(fb, (k, c + 1))),
        ("random_k1", finite(fa, (r, 1)), finite(fb, (1, c))),
        ("zeros_both_signs", rng.integers(0, 2, (r, k)) << 7, rng.integers(0, 2, (k, c)) << 7),
        ("subnormals", sub(fa, (r, k)), sub(fb, (k, c))),
        ("max_codes", np.full((r, k), fa.max_code) | (rng.integers(0, 2, (r, k)) << 7),
         np.full((k, c), fb.max_code) | (rng.integers(0, 2, (k, c)) << 7)),
    ]
    # cancellation: k-slices (max, tiny, -max), tiny the smallest subnormal (code 1): its product
    # is lost when added to max * max first, so the sequential sum is +0, the exact sum tiny
    ca = np.tile(np.array([fa.max_code, 1, fa.max_code | 0x80]), (r, 1))
    cb = np.tile(np.array([[fb.max_code], [1], [fb.max_code]]), (1, c))
    if k >= 3:
        out.append(("order_cancellation", ca, cb))
    nan_a = finite(fa, (r, k))
    nan_a[0, k // 2] = fa.nan_code  # row 0 NaN: all of C's row 0 is NaN, the others finite
    out.append(("nan_operand", nan_a, finite(fb, (k, c))))
    if fa.has_inf or fb.has_inf:
        inf_a = fa.max_code + 1 if fa.has_inf else fa.max_code
        inf_b = fb.max_code + 1 if fb.has_inf else fb.max_code
        ia, ib = finite(fa, (r, k)), finite(fb, (k, c))
        ia[0, 0] = inf_a
        ib[0, :] = inf_b  # C[0, :] Inf (or NaN if a zero met it), other rows finite + Inf
        ib[0, 0] = 0  # C[i, 0]: inf_a * 0 in row 0 when fa has Inf
        out.append(("inf", ia, ib))
        if k >= 2:
            xa = np.full((r, 2), inf_a)
            xa[:, 1] |= 0x80
            out.append(("inf_minus_inf", xa, np.full((2, c), inf_b)))
    return [(name, x.astype(np.int64), y.astype(np.int64)) for name, x, y in out]


def nan_mask(c_bits) -> np.ndarray:
    """Where FP32 bit patterns are NaN (the model's are all the canonical 0x7FC00000)."""
    c_bits = np.asarray(c_bits, np.uint32)
    return ((c_bits & 0x7F800000) == 0x7F800000) & ((c_bits & 0x007FFFFF) != 0)

