"""Cycle-level model of the multiplier-adder tree engine, the 3D-cube, and their carry-save (TPE
OPT1) and same-bit-weight (TPE OPT2) variants.

The engine holds a K x N tile of B in registers and takes ROWS rows of A (K int8 values each) per
clock. Each of its ROWS x N dot-product units forms the dot product of its row with its column of
B in one pass and adds a partial sum from the output buffer (the previous K-tile's result, 0 for
the first):

    y[r, n] = psum[r, n] + sum_{k<K} a_{r,k} b_{k,n}

ROWS = 1 is the multiplier-adder tree (a K x N tile); ROWS = K = N is the 3D-cube (an N x N x N
block of multipliers, e.g. 8^3 or 16^3, as in Ascend's cube unit), the same datapath replicated
over rows that share the B tile.

Three datapaths compute the same y (``pe``):

* ``"mult"`` (the baseline): K multipliers per column and a balanced adder tree over their K
  products (levels grow one bit each), then the partial-sum add.
* ``"sbw"`` (the TPE paper's OPT2, same-bit-weight compression): the row of A is recoded once
  into 4 signed radix-4 Booth digits per element, d_{k,j} in {0, +-1, +-2} (sim/digits.py), and
  the digits are shared by every column. Column n adds, for each digit position j, the K terms
  d_{k,j} b_{k,n} of equal bit weight in one narrow tree (a negative term enters as the bitwise
  complement of |d| b plus a count of negative digits as one more leaf), and then
  y = psum + S_0 + 4 S_1 + 16 S_2 + 64 S_3. Unlike the paper's released code, which fixes K = 16,
  K is a parameter here.
* ``"csa"`` (the TPE paper's OPT1, carry-save: partial sums travel as (sum, carry) pairs): the row
  is Booth-recoded once as for sbw, and unit (r, n) puts all 4K radix-4 Booth partial products of
  its K products a_{r,k} b_{k,n}, one correction word and the incoming partial sum into ONE
  carry-save tree of 4K + 2 words (:func:`csa_tree_words`; rtl_models/csa_gen.py generated its
  Verilog, sim.carry_save.reduce_words steps the same schedule). The (sum, carry) pair is
  registered, and the one carry-propagate add, y = sum + carry (mod 2^32), happens in the next
  pipeline stage. Partial product j of (a_k, b): the 10-bit selection f = 0 / b / 2b, or its
  bitwise complement for a negative digit (value -(|d| b) - 1, so a "+1 at bit 2j" is owed),
  placed at bits 2j..2j+9 with its sign bit inverted and no sign extension: a signed 10-bit f
  equals (f ^ 2^9) - 2^9, so each word is 10 bits wide and the tree's upper columns hold only the
  partial sum and the correction. What the words owe is paid without extra words where it fits:
    - the +1 of digits 0, 1, 2 of product k goes into bit 2j of the same product's word j + 1,
      which is free (that word starts at bit 2j + 2) - wires only;
    - the +1s of the K top digits (weight 2^6) cannot go there: they are counted once per row
      (c3 <= K; the count depends on A only, so the row's N units share it) and, with the K x 4
      inverted sign bits' constant, form the one correction word:

          corr = 64 c3 - K (2^9 + 2^11 + 2^13 + 2^15)      (mod 2^32)

      The constant's low set bit is bit 9 + tz(K), above 64 c3's bits for every K of CSA_KS,
      so the add has no carries: wires in hardware (tree_gemm.v registers c3 in exactly
      bitlen(K) bits so that synthesis sees it).
  A tree per input count is generated, so ``k`` must be one of :data:`CSA_KS` (tree_gemm.v picks
  csa_tree<4K+2> in a generate chain); add another with ``python -m rtl_models.csa_gen <4K+2>``,
  a branch of that chain and an entry of CSA_KS.

Schedule (the technique changes the arithmetic; only csa adds a pipeline stage): a GEMM
C = A (M x K) @ B (K x N) runs fold by fold, N-tiles outer and K-tiles inner
(:func:`tree_folds`). A fold loads the K x N tile row by row (K clocks, zero rows for a partial
tile), streams the M rows of A (one per clock; the row and its partial sums are registered, and
the result register takes y on the next clock; for csa the (sum, carry) register takes the tree's
output on the next clock and the result register y = sum + carry on the one after), so

    fold cycles = K + ceil(M / ROWS) + 1        (mult, sbw)
    fold cycles = K + ceil(M / ROWS) + 2        (csa: the (sum, carry) register, then the add)

with M replaced by ceil(M / ROWS) row groups (a partial group is padded with zero rows),
counting the clock edges from the first tile-row write to the edge that registers the last
result, both included. The next fold starts on the following clock. This is the protocol of
rtl_models/verilog/tree_gemm.v, and the cocotb bench measures exactly these edges.

Events per fold (padding rows and columns run and are counted in the slots):
  tree_slots        K*N tree inputs per streamed row (multiplications, or digit selections x 4)
  macs              useful MACs (real k, real n)
  b_reg_writes      tile registers written (K*N per fold)
  a_reads_bytes     real A bytes read (M x real K)
  psum_reads_bytes  partial sums read from the output buffer (4 bytes each; none on a first K-tile)
  out_writes_bytes  results written (4 bytes per real output)
  encodes           (sbw, csa) elements digit-encoded: K per streamed row (padding rows included),
                    shared by the N columns
  nonzero_digits    (sbw only) non-zero digits of the streamed rows, times the N columns selecting
  booth_pps         (csa only) Booth partial-product words formed: 4 per tree slot
  csa_compressions  (csa only) word-wide 3:2 compressors applied: a tree of 4K + 2 words has 4K,
                    one tree per unit and streamed row
  cpa_adds          (csa only) carry-propagate adds sum + carry: one per unit and streamed row
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Literal

import numpy as np

from sim.carry_save import booth_partial_products, reduce_words, schedule
from sim.digits import NUM_DIGITS, booth_radix4_digits, check_gemm_dims, check_int8_gemm
from sim.lazy import LazySeq, repeated

PES = ("mult", "sbw", "csa")
MAX_TILE = 256
# K values whose carry-save tree (4K + 2 inputs) is generated and chained into tree_gemm.v
CSA_KS = (4, 8, 16)
ACC_BITS = 32
SEL_BITS = 10  # one Booth selection: 0, +-b, +-2b of an int8 b, as a 10-bit two's-complement field


@dataclass(frozen=True)
class TreeConfig:
    """A K x N multiplier-adder tree engine (``pe``: "mult" baseline, "sbw" OPT2 or "csa" OPT1),
    INT8 x INT8 -> INT32."""

    k: int = 16
    n: int = 4
    pe: Literal["mult", "sbw", "csa"] = "mult"
    acc_bits: int = 32
    rows: int = 1  # rows of A per clock: 1 = multiplier-adder tree, rows = k = n = 3D-cube

    def __post_init__(self) -> None:
        for name in ("k", "n", "rows"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or not 1 <= v <= MAX_TILE:
                raise ValueError(f"{name} must be an integer tile size in 1..{MAX_TILE}, got {v!r}")
        if self.k < 2:
            raise ValueError(f"k must be >= 2 (an adder tree of k inputs), got {self.k}")
        if self.pe not in PES:
            raise ValueError(f"pe must be one of {PES}, got {self.pe!r}")
        if self.acc_bits != ACC_BITS:
            raise ValueError(f"acc_bits must be 32 (the engine's INT32 output), got {self.acc_bits!r}")
        if self.pe == "csa" and self.k not in CSA_KS:
            raise ValueError(
                f"k must be one of {CSA_KS} for pe='csa' (a generated carry-save tree of 4k + 2 inputs), "
                f"got {self.k}; for another k run `python -m rtl_models.csa_gen {4 * self.k + 2}`, add "
                f"csa_tree{4 * self.k + 2} to the generate chain in rtl_models/verilog/tree_gemm.v and k to "
                "sim.adder_tree.CSA_KS")

    @property
    def max_k(self) -> int:
        """Largest GEMM K whose int32 result cannot overflow: (-128)^2 K < 2^31."""
        return (2**31 - 1) // 2**14


@dataclass(frozen=True)
class TreeFold:
    n0: int
    n1: int
    k0: int
    k1: int


@dataclass
class TreeResult:
    c: np.ndarray | None  # int32 (M, N); None from estimate_gemm
    cycles: int
    fold_cycles: list[int]
    folds: list[TreeFold]
    events: dict[str, int]
    config: TreeConfig
    shape: tuple[int, int, int]


def tree_folds(m: int, n: int, k: int, cfg: TreeConfig) -> list[TreeFold]:
    """N-tiles outer, K-tiles inner (so a row's partial sums are in the buffer when the next
    K-tile of the same N-tile runs)."""
    return list(lazy_tree_folds(m, n, k, cfg))


def lazy_tree_folds(m: int, n: int, k: int, cfg: TreeConfig) -> LazySeq:
    """:func:`tree_folds` as a sequence whose folds are computed when read."""
    k_tiles = -(-k // cfg.k)

    def fold(i: int) -> TreeFold:
        ni, ki = divmod(i, k_tiles)
        n0, k0 = ni * cfg.n, ki * cfg.k
        return TreeFold(n0, min(n0 + cfg.n, n), k0, min(k0 + cfg.k, k))

    return LazySeq(-(-n // cfg.n) * k_tiles, fold)


def row_groups(m: int, cfg: TreeConfig) -> int:
    return -(-m // cfg.rows)


def fold_cycles(m: int, cfg: TreeConfig) -> int:
    """K tile-row writes, one clock per row group, then the result register (csa: the (sum, carry)
    register, then the result register)."""
    return cfg.k + row_groups(m, cfg) + (2 if cfg.pe == "csa" else 1)


def csa_tree_inputs(cfg: TreeConfig) -> int:
    """Words into each unit's carry-save tree: 4 Booth words per product, the correction, the psum."""
    return NUM_DIGITS * cfg.k + 2


def csa_compressions_per_tree(cfg: TreeConfig) -> int:
    """Word-wide 3:2 compressors in the tree (level by level as sim.carry_save.schedule steps it)."""
    return sum(c // 3 for c in schedule(csa_tree_inputs(cfg))[:-1])


def _check_dims(m, n, k, cfg: TreeConfig) -> None:
    check_gemm_dims(m, n, k, cfg.max_k, "the int32 result")


def _events(m: int, n: int, k: int, cfg: TreeConfig, nonzero_digits: int | None) -> dict[str, int]:
    """Event counts of the whole GEMM (its folds: tree_folds), in closed form: per fold the trees
    run every row group over the full K x N tile; a fold's own K and N extents set the MACs,
    the A bytes read and the partial sums written (and read back by every K-tile after the first)."""
    n_tiles, k_tiles = -(-n // cfg.n), -(-k // cfg.k)
    folds = n_tiles * k_tiles
    ev = {"tree_slots": folds * row_groups(m, cfg) * cfg.rows * cfg.k * cfg.n,
          "macs": m * k * n,
          "b_reg_writes": folds * cfg.k * cfg.n,
          "a_reads_bytes": m * k * n_tiles,
          "psum_reads_bytes": 4 * m * n * (k_tiles - 1),
          "out_writes_bytes": 4 * m * n * k_tiles}
    if cfg.pe in ("sbw", "csa"):
        ev["encodes"] = row_groups(m, cfg) * cfg.rows * cfg.k * folds
    if cfg.pe == "sbw":
        ev["nonzero_digits"] = int(nonzero_digits) if nonzero_digits is not None else -1
    if cfg.pe == "csa":
        trees = row_groups(m, cfg) * cfg.rows * cfg.n * folds
        ev["booth_pps"] = NUM_DIGITS * ev["tree_slots"]
        ev["csa_compressions"] = trees * csa_compressions_per_tree(cfg)
        ev["cpa_adds"] = trees
    return ev


def estimate_gemm(m: int, n: int, k: int, cfg: TreeConfig) -> TreeResult:
    """Cycles and events without the data (for sbw, nonzero_digits assumes every digit non-zero:
    an upper bound; simulate_gemm counts it exactly)."""
    _check_dims(m, n, k, cfg)
    folds = lazy_tree_folds(m, n, k, cfg)
    per_fold = fold_cycles(m, cfg)
    upper = m * k * NUM_DIGITS * cfg.n * -(-n // cfg.n) if cfg.pe == "sbw" else None
    return TreeResult(None, per_fold * len(folds), repeated(per_fold, len(folds)), folds,
                      _events(m, n, k, cfg, upper), cfg, (m, n, k))


def sbw_column_sums(a_row: np.ndarray, b_tile: np.ndarray) -> np.ndarray:
    """OPT2's per-bit-weight sums S[j, n] = sum_k d_{k,j} b_{k,n} (Booth radix-4 digits of the row):
    the quantities the narrow trees of rtl_models/verilog/tree_gemm.v produce."""
    d = booth_radix4_digits(np.asarray(a_row, np.int64))  # (K, 4)
    return d.T.astype(np.int64) @ np.asarray(b_tile, np.int64)  # (4, N)


def csa_correction(a_rows: np.ndarray, k: int) -> np.ndarray:
    """The correction word of each row (uint64, modulo 2^32): 64 times the count of negative top
    digits (c3) minus the K x 4 sign-bit constants 2^(9 + 2j) of the sign-inverted 10-bit words (see
    the module docstring). ``a_rows`` is (..., K) int; padding columns (a = 0) count in the K."""
    d = booth_radix4_digits(np.asarray(a_rows, np.int64))  # (..., K, 4)
    c3 = (d[..., NUM_DIGITS - 1] < 0).sum(axis=-1)
    const = k * sum(1 << (SEL_BITS - 1 + 2 * j) for j in range(NUM_DIGITS))
    return ((c3 * 4 ** (NUM_DIGITS - 1) - const) % (1 << ACC_BITS)).astype(np.uint64)


def csa_tree_words(a_rows: np.ndarray, b_tile: np.ndarray, psum: np.ndarray) -> list[np.ndarray]:
    """The 4K + 2 words (uint64 arrays of shape (R, N), modulo 2^32) that OPT1 feeds to each unit's
    carry-save tree, in tree_gemm.v's input order: word 4k + j is partial product j of a_{r,k} b_{k,n}
    (its 10-bit selection at bits 2j..2j+9, sign bit inverted, and for j > 0 the previous digit's
    negation +1 at bit 2j - 2), then the row's correction word, then the partial sum. ``a_rows`` is
    (R, K), ``b_tile`` (K, N), ``psum`` (R, N)."""
    a_rows, b_tile = np.asarray(a_rows, np.int64), np.asarray(b_tile, np.int64)
    (r, k), n = a_rows.shape, b_tile.shape[1]
    field = np.uint64((1 << SEL_BITS) - 1)
    flip = np.uint64(1 << (SEL_BITS - 1))
    words = []
    for kk in range(k):
        a_b = np.broadcast_to(a_rows[:, kk, None], (r, n))
        b_b = np.broadcast_to(b_tile[None, kk, :], (r, n))
        *pps, negs = booth_partial_products(a_b, b_b, ACC_BITS)  # sign-extended words; neg_j at bit 2j
        for j, w in enumerate(pps):
            sh = np.uint64(2 * j)
            word = (((w >> sh) & field) ^ flip) << sh
            if j > 0:  # the previous digit's +1, at bit 2j - 2 (free: this word starts at bit 2j)
                word |= negs & np.uint64(1 << (2 * j - 2))
            words.append(word)
    corr = np.broadcast_to(csa_correction(a_rows, k)[:, None], (r, n))
    words.append(np.array(corr))
    words.append(np.asarray(psum, np.int64).astype(np.uint64) & np.uint64((1 << ACC_BITS) - 1))
    return words


def csa_unit_outputs(a_rows: np.ndarray, b_tile: np.ndarray, psum: np.ndarray) -> np.ndarray:
    """y = sum + carry (mod 2^32, as int32) of every unit's carry-save tree (OPT1's datapath)."""
    s, c = reduce_words(csa_tree_words(a_rows, b_tile, psum), ACC_BITS)
    return ((s + c) & np.uint64((1 << ACC_BITS) - 1)).astype(np.uint32).view(np.int32)


def simulate_gemm(a, b, cfg: TreeConfig | None = None) -> TreeResult:
    """C = A @ B on the engine: the exact int32 result fold by fold, cycles and events.

    For ``pe="sbw"`` the result is built from the per-bit-weight sums (y = psum + sum_j 4^j S_j),
    the arithmetic the OPT2 datapath does, and for ``pe="csa"`` from the Booth partial products,
    correction and partial sum through the carry-save tree (then one add), not from a plain matrix
    product.
    """
    cfg = TreeConfig() if cfg is None else cfg
    av, bv = check_int8_gemm(a, b)
    (m, k), n = av.shape, bv.shape[1]
    _check_dims(m, n, k, cfg)
    folds = tree_folds(m, n, k, cfg)
    c = np.zeros((m, n), np.int64)
    nonzero = 0
    for f in folds:
        a_t, b_t = av[:, f.k0:f.k1].astype(np.int64), bv[f.k0:f.k1, f.n0:f.n1].astype(np.int64)
        if cfg.pe == "mult":
            part = a_t @ b_t
        elif cfg.pe == "csa":
            a_pad = np.zeros((m, cfg.k), np.int64)  # the tile's zero rows still enter the tree
            a_pad[:, : f.k1 - f.k0] = a_t
            b_pad = np.zeros((cfg.k, f.n1 - f.n0), np.int64)
            b_pad[: f.k1 - f.k0] = b_t
            c[:, f.n0:f.n1] = csa_unit_outputs(a_pad, b_pad, c[:, f.n0:f.n1])  # psum goes through the tree
            continue
        else:
            weights = 4 ** np.arange(NUM_DIGITS)
            part = np.stack([weights @ sbw_column_sums(row, b_t) for row in a_t])
            nonzero += int((booth_radix4_digits(a_t.ravel()) != 0).sum()) * cfg.n
        c[:, f.n0:f.n1] += part
    fc = [fold_cycles(m, cfg)] * len(folds)
    return TreeResult(c.astype(np.int32), sum(fc), fc, folds, _events(m, n, k, cfg, nonzero), cfg, (m, n, k))


def edge_workloads(seed: int = 0) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Golden (name, a, b) int8 workloads every implementation of this engine is held to."""
    rng = np.random.default_rng(seed)
    r = lambda *s: rng.integers(-128, 128, s).astype(np.int8)  # noqa: E731
    return [
        ("random_5x7x19", r(5, 19), r(19, 7)),
        ("extremes_3x4x16", np.full((3, 16), -128, np.int8), np.full((16, 4), -128, np.int8)),
        ("mixed_extremes_4x5x9", rng.choice(np.array([-128, 127, 0, -1, 1], np.int8), (4, 9)),
         rng.choice(np.array([-128, 127, 0, -1, 1], np.int8), (9, 5))),
        ("zeros_2x3x8", np.zeros((2, 8), np.int8), r(8, 3)),
        ("gemv_1x6x33", r(1, 33), r(33, 6)),
    ]
