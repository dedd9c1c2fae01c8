"""Golden INT8 GEMM workloads: the same tensors feed the kernel, the cycle model and the RTL.

Each workload is ``(name, a, b)`` with ``a`` an M x K and ``b`` a K x N int8 numpy array, chosen to
break implementations: random data, the extremes that stress the accumulator's width and sign,
and shapes that are 1, prime, or not multiples of the array or block sizes.
"""

from __future__ import annotations

import numpy as np

INT8_MIN, INT8_MAX = -128, 127


def random_int8(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    return rng.integers(INT8_MIN, INT8_MAX + 1, shape, dtype=np.int8)


EDGE_SHAPES = ((4, 4, 4), (1, 1, 1), (1, 9, 6), (7, 1, 3), (5, 6, 1), (7, 5, 11), (9, 10, 13))


def edge_workloads(seed: int = 0, shapes=EDGE_SHAPES, extreme_k: int = 37) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Small workloads for cross-checks on small (e.g. 4 x 4) arrays: random int8 GEMMs of each
    (M, N, K) of ``shapes``, then 6 x 5 x ``extreme_k`` GEMMs of the extremes -128 / 127."""
    rng = np.random.default_rng(seed)
    out = []
    for m, n, k in shapes:
        out.append((f"random_{m}x{n}x{k}", random_int8(rng, (m, k)), random_int8(rng, (k, n))))
    m, n, k = 6, 5, extreme_k
    out.append(("all_min", np.full((m, k), INT8_MIN, np.int8), np.full((k, n), INT8_MIN, np.int8)))
    out.append(("all_max", np.full((m, k), INT8_MAX, np.int8), np.full((k, n), INT8_MAX, np.int8)))
    # mixed extremes: +-128*127 products of both signs in the same dot products
    a = rng.choice(np.array([INT8_MIN, INT8_MAX], np.int8), (m, k))
    b = rng.choice(np.array([INT8_MIN, INT8_MAX], np.int8), (k, n))
    out.append(("mixed_extremes", a, b))
    out.append(("min_times_max", np.full((m, k), INT8_MIN, np.int8), np.full((k, n), INT8_MAX, np.int8)))
    return out


def accumulator_stress(k: int) -> tuple[str, np.ndarray, np.ndarray]:
    """All -128 x -128 over K: the largest positive dot product, 16384 * K."""
    a = np.full((2, k), INT8_MIN, np.int8)
    return (f"acc_stress_k{k}", a, a.T.copy())


# Named GEMM shapes (M, N, K) of real layers, for reports and co-simulation.
# all-MiniLM-L6-v2: hidden 384, FFN 1536, 12 heads of 32 (its config.json); 128 tokens is the
# model's training sequence length. BERT-base: hidden 768, FFN 3072.
NAMED_GEMMS: dict[str, tuple[int, int, int]] = {
    "minilm_qkv_128tok": (128, 3 * 384, 384),
    "minilm_ffn_up_128tok": (128, 1536, 384),
    "minilm_ffn_down_128tok": (128, 384, 1536),
    "bert_base_ffn_up_512tok": (512, 3072, 768),
    "square_1024": (1024, 1024, 1024),
    "gemv_4096": (1, 4096, 4096),
    "llama7b_up_decode": (1, 11008, 4096),
    # small enough for RTL co-simulation of a 4x4 array in seconds
    "tiny_7x5x11": (7, 5, 11),
    "tiny_16x16x16": (16, 16, 16),
}

GEMM_NOTES: dict[str, str] = {
    "minilm_qkv_128tok": "all-MiniLM-L6-v2 fused Q/K/V projection, 128 tokens",
    "minilm_ffn_up_128tok": "all-MiniLM-L6-v2 FFN up (384 -> 1536), 128 tokens",
    "minilm_ffn_down_128tok": "all-MiniLM-L6-v2 FFN down (1536 -> 384), 128 tokens",
    "bert_base_ffn_up_512tok": "BERT-base FFN up (768 -> 3072), 512 tokens",
    "square_1024": "square 1024^3",
    "gemv_4096": "matrix-vector, one token through a 4096 x 4096 layer",
    "llama7b_up_decode": "a 7B-class LLaMA's FFN up projection (4096 -> 11008) at decode: one token, a GEMV",
    "tiny_7x5x11": "prime-sized, for RTL co-simulation on small arrays",
    "tiny_16x16x16": "one 16x16 tile, for RTL co-simulation",
}


def named_gemm(name: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random int8 operands with the shape of a named GEMM."""
    if name not in NAMED_GEMMS:
        raise ValueError(f"unknown workload {name!r}; known: {', '.join(NAMED_GEMMS)}")
    m, n, k = NAMED_GEMMS[name]
    rng = np.random.default_rng(seed)
    return random_int8(rng, (m, k)), random_int8(rng, (k, n))


def parse_shape(text: str) -> tuple[int, int, int]:
    """'MxNxK' -> (M, N, K), each >= 1."""
    parts = text.lower().split("x")
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        dims = ()
    if len(dims) != 3 or min(dims) < 1:
        raise ValueError(f"shape must be MxNxK with positive integers (e.g. 7x5x11), got {text!r}")
    return dims
