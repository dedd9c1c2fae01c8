"""Exact integer fast Walsh-Hadamard transform (FWHT) and a cycle-level model of a pipelined
butterfly network that computes it.

The transform
-------------
``fwht_exact(x)`` is the unnormalised Hadamard transform in Sylvester (natural) order along the
last axis, ``y = H_n x`` with ``H_1 = [1]`` and ``H_2n = [[H_n, H_n], [H_n, -H_n]]``, for
``n = 2**L``. It is computed the fast way: L stages of n/2 butterflies; stage s (s = 0..L-1)
pairs element i (bit s of i clear) with element ``i + 2**s`` and replaces them with their sum and
difference, in place. Stage s's distance is ``2**s`` (1, 2, 4, ...), and after the last stage
the result is in natural order: no bit-reversal, unlike an FFT. Every output is a signed sum of
n inputs, so ``W``-bit signed inputs need ``W + L`` bits out (|y| <= n * 2**(W-1)), exactly.

The engine
----------
``FwhtConfig(n, in_bits)`` describes a **fully parallel, fully pipelined** butterfly network
(P = n lanes): one n-element vector enters per clock, stage s is a row of n/2 butterfly
units (one adder, one subtractor) followed by a register of n elements of ``in_bits + s + 1``
bits, and a vector leaves L clocks after it entered. A valid bit travels with each stage's
register, and the data registers are clock-gated by it (written only when they take a vector).
There is no back-pressure: the network always accepts a vector. The Verilog
(rtl_models/verilog/fwht_butterfly.v) is this network; its bench streams batches through it.

This is the design QuaRot/HALO-style online rotations want for the small head dimensions (64,
128) where the whole vector fits the datapath; a long transform (n = 4096+) on P < n lanes
would use delay-feedback (SDF) stages instead, which is not modelled here.

Cycles of a batch of B vectors streamed back to back, counted from the clock edge that samples
the first input to the edge after which the last output is valid, both counted:

    cycles = L + B - 1

* L: the pipeline's depth, one registered stage per butterfly level (log2 n); it is also the
  latency of one vector (the first output is valid after the L-th edge);
* B - 1: each further vector leaves one clock after the one before it (throughput one vector
  per clock once the pipeline is full).

Two ways to run the model, as in sim/systolic.py: ``mode="fast"`` (closed-form cycles and
events, one vectorised exact transform) and ``mode="stepwise"`` (every stage register and valid
bit stepped one clock at a time, counting the events it sees); tests hold the two equal.

numpy only: this module is imported by the cocotb bench as its golden model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

#: widths the model (and the RTL it describes) accepts: outputs of in_bits + log2(n) bits must
#: fit int64, and 2**20 elements is far beyond any parallel network anyone would build.
MIN_IN_BITS, MAX_IN_BITS = 2, 32
MAX_N = 2**20


def is_power_of_two(n) -> bool:
    return (not isinstance(n, bool)) and isinstance(n, (int, np.integer)) and n >= 1 and (n & (n - 1)) == 0


def check_length(n, name: str = "n") -> int:
    """Validate a transform length: a power of two, at least 2. Returns log2(n)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"{name} must be an integer power of two >= 2, got {n!r}")
    if n < 2 or not is_power_of_two(n):
        raise ValueError(f"{name} must be a power of two >= 2 (the FWHT pairs elements 2**s apart), got {n}")
    if n > MAX_N:
        raise ValueError(f"{name} must be at most {MAX_N} (2**20), got {n}")
    return int(n).bit_length() - 1


@dataclass(frozen=True)
class FwhtConfig:
    """A fully parallel (n lanes) pipelined FWHT network of log2(n) registered butterfly stages
    for signed ``in_bits``-bit inputs."""

    n: int
    in_bits: int = 8

    def __post_init__(self) -> None:
        check_length(self.n, "n")
        b = self.in_bits
        if isinstance(b, bool) or not isinstance(b, (int, np.integer)) or not MIN_IN_BITS <= b <= MAX_IN_BITS:
            raise ValueError(
                f"in_bits must be an integer input width in {MIN_IN_BITS}..{MAX_IN_BITS} bits, got {b!r}"
            )

    @property
    def stages(self) -> int:
        """L = log2(n): butterfly levels, each one registered pipeline stage."""
        return int(self.n).bit_length() - 1

    @property
    def out_bits(self) -> int:
        """Exact output width: in_bits + log2(n) (each stage adds one bit)."""
        return self.in_bits + self.stages

    def stage_bits(self, s: int) -> int:
        """Width of stage s's register (s = 0..L-1): one bit more than its input."""
        return self.in_bits + s + 1


def fwht_exact(x) -> np.ndarray:
    """Unnormalised FWHT (Sylvester order) of an integer array along its last axis, as int64.

    The last axis must have power-of-two length >= 2. int64 is exact while every input fits
    63 - log2(n) bits; larger inputs are rejected rather than wrapped.
    """
    x = np.asarray(x)
    if x.dtype.kind not in "iu":
        raise TypeError(f"x must be an integer array, got dtype {x.dtype}")
    if x.ndim < 1:
        raise ValueError("x must have at least one axis (the transform runs along the last)")
    n = x.shape[-1]
    stages = check_length(n, "x.shape[-1]")
    if x.size:
        lo, hi = int(x.min()), int(x.max())
        limit = 2 ** (63 - stages)
        if lo < -limit or hi >= limit:
            raise ValueError(
                f"x holds values outside [-2**{63 - stages}, 2**{63 - stages}) (min {lo}, max {hi}); "
                f"the int64 result of a length-{n} transform would overflow"
            )
    y = x.astype(np.int64).reshape(-1, n)
    for s in range(stages):
        h = 1 << s
        # (..., blocks, 2, h): [..., 0, :] are the elements with bit s clear, [..., 1, :] their partners
        v = y.reshape(y.shape[0], n // (2 * h), 2, h)
        a, b = v[:, :, 0, :], v[:, :, 1, :]
        y = np.stack([a + b, a - b], axis=2).reshape(y.shape[0], n)
    return y.reshape(x.shape)


def hadamard_matrix(n: int) -> np.ndarray:
    """The dense Sylvester Hadamard matrix H_n (int64): H[i, j] = (-1)**popcount(i & j)."""
    check_length(n, "n")
    i = np.arange(n)
    bits = np.bitwise_and.outer(i, i)
    parity = np.zeros_like(bits)
    while bits.any():
        parity ^= bits & 1
        bits >>= 1
    return (1 - 2 * parity).astype(np.int64)


def edge_workloads(n: int, in_bits: int = 8, seed: int = 0) -> list[tuple[str, np.ndarray]]:
    """Golden (name, x) batches for cross-checks: x is (B, n) int64 within the signed in_bits range.

    Random batches (one vector, a stream of nine), and the extremes that need every output bit
    or both signs in one sum: all minimum, all maximum, alternating min/max, scaled one-hots.
    """
    FwhtConfig(n, in_bits)  # validates both
    rng = np.random.default_rng(seed + n)
    lo, hi = -(2 ** (in_bits - 1)), 2 ** (in_bits - 1) - 1
    return [
        ("random_1", rng.integers(lo, hi + 1, (1, n), dtype=np.int64)),
        ("random_9", rng.integers(lo, hi + 1, (9, n), dtype=np.int64)),
        ("all_min", np.full((2, n), lo, np.int64)),
        ("all_max", np.full((1, n), hi, np.int64)),
        ("alternating", np.array([[lo, hi] * (n // 2), [hi, lo] * (n // 2)], np.int64)),
        ("one_hot_min", np.eye(n, dtype=np.int64)[: min(n, 4)] * lo),
    ]


def batch_cycles(cfg: FwhtConfig, vectors: int) -> int:
    """Cycles of ``vectors`` vectors streamed back to back: L + B - 1 (see the module docstring)."""
    if isinstance(vectors, bool) or not isinstance(vectors, (int, np.integer)) or vectors < 1:
        raise ValueError(f"vectors must be a positive integer, got {vectors!r}")
    return cfg.stages + int(vectors) - 1


def batch_events(cfg: FwhtConfig, vectors: int) -> dict[str, int]:
    """Event counts of ``vectors`` vectors through the network (clock-gated data registers).

    Per vector and stage: n/2 additions and n/2 subtractions (one butterfly unit each) and n
    stage-register writes of ``stage_bits(s)`` bits. The L valid bits are written every clock
    of the run. Input and output words: n each per vector.
    """
    n, stages = cfg.n, cfg.stages
    cycles = batch_cycles(cfg, vectors)
    bits_per_vector = n * sum(cfg.stage_bits(s) for s in range(stages))
    return {
        "vectors": int(vectors),
        "butterfly_adds": vectors * stages * n // 2,
        "butterfly_subs": vectors * stages * n // 2,
        "stage_reg_writes": vectors * stages * n,
        "stage_reg_bits_written": vectors * bits_per_vector,
        "valid_reg_writes": stages * cycles,
        "input_words": vectors * n,
        "output_words": vectors * n,
    }


EVENT_NAMES = tuple(batch_events(FwhtConfig(2), 1))


@dataclass
class FwhtResult:
    """What the model returns for one batch of vectors."""

    y: np.ndarray  # int64, (B, n): the exact transforms, in input order
    cycles: int  # first input sampled -> last output valid, both edges counted: L + B - 1
    latency_cycles: int  # one vector: L
    events: dict[str, int]
    config: FwhtConfig
    output_edges: list[int] = field(default_factory=list)  # edge (1-based) each output became valid


def check_vectors(x, cfg: FwhtConfig) -> np.ndarray:
    """Validate a batch: an integer array (B, n) or (n,) within the signed in_bits range."""
    x = np.asarray(x)
    if x.dtype.kind not in "iu":
        raise TypeError(f"x must be an integer array (e.g. int8), got dtype {x.dtype}")
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise ValueError(f"x must be a vector (n,) or a batch (B, n), got shape {x.shape}")
    if x.shape[1] != cfg.n:
        raise ValueError(f"x has {x.shape[1]} elements per vector, the network takes n = {cfg.n}")
    if x.shape[0] < 1:
        raise ValueError("x must hold at least one vector")
    lo, hi = -(2 ** (cfg.in_bits - 1)), 2 ** (cfg.in_bits - 1) - 1
    if x.min() < lo or x.max() > hi:
        raise ValueError(
            f"x holds values outside the signed {cfg.in_bits}-bit range [{lo}, {hi}] "
            f"(min {x.min()}, max {x.max()})"
        )
    return x.astype(np.int64)


def simulate_fwht(x, cfg: FwhtConfig, mode: Literal["fast", "stepwise"] = "fast") -> FwhtResult:
    """Stream the vectors of ``x`` (B x n, or one n-vector) back to back through the network."""
    x = check_vectors(x, cfg)
    vectors = x.shape[0]
    if mode == "fast":
        cycles = batch_cycles(cfg, vectors)
        edges = [cfg.stages + b for b in range(vectors)]
        return FwhtResult(fwht_exact(x), cycles, cfg.stages, batch_events(cfg, vectors), cfg, edges)
    if mode == "stepwise":
        res = _simulate_stepwise(x, cfg)
        closed = batch_cycles(cfg, vectors)
        if res.cycles != closed:  # the closed form is wrong: say so, never hide it
            raise AssertionError(f"stepwise {res.cycles} cycles != closed form {closed}")
        return res
    raise ValueError(f"mode must be 'fast' or 'stepwise', got {mode!r}")


def _simulate_stepwise(x: np.ndarray, cfg: FwhtConfig) -> FwhtResult:
    """Step the stage registers and valid bits one rising edge at a time."""
    n, stages = cfg.n, cfg.stages
    vectors = x.shape[0]
    regs = [np.zeros(n, np.int64) for _ in range(stages)]
    valid = [False] * stages
    events = dict.fromkeys(EVENT_NAMES, 0)
    events["vectors"] = vectors
    out = []
    edges = []
    edge = 0
    while len(out) < vectors:
        if edge > vectors + stages + 1:
            raise AssertionError("the pipeline never delivered every vector")
        in_valid = edge < vectors
        stage_in = [x[edge] if in_valid else None] + [regs[s] if valid[s] else None for s in range(stages - 1)]
        new_regs, new_valid = [], []
        for s in range(stages):
            v = stage_in[s]
            if v is None:  # clock-gated: the register keeps its value
                new_regs.append(regs[s])
                new_valid.append(False)
                continue
            h = 1 << s
            blocks = v.reshape(n // (2 * h), 2, h)
            a, b = blocks[:, 0, :], blocks[:, 1, :]
            r = np.stack([a + b, a - b], axis=1).reshape(n)
            bound = 2 ** (cfg.stage_bits(s) - 1)
            if r.min() < -bound or r.max() >= bound:  # the register would have wrapped
                raise AssertionError(f"stage {s} holds a value wider than its {cfg.stage_bits(s)} bits")
            new_regs.append(r)
            new_valid.append(True)
            events["butterfly_adds"] += n // 2
            events["butterfly_subs"] += n // 2
            events["stage_reg_writes"] += n
            events["stage_reg_bits_written"] += n * cfg.stage_bits(s)
            if s == 0:
                events["input_words"] += n
        regs, valid = new_regs, new_valid
        edge += 1
        events["valid_reg_writes"] += stages
        if valid[-1]:
            out.append(regs[-1].copy())
            edges.append(edge)
            events["output_words"] += n
    y = np.stack(out)
    return FwhtResult(y, edge, edges[0], events, cfg, edges)
