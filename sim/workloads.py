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


def edge_workloads(seed: int = 0) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Small workloads for cross-checks on small (e.g. 4 x 4) arrays."""
    rng = np.random.default_rng(seed)
    out = []
    for m, n, k in [(4, 4, 4), (1, 1, 1), (1, 9, 6), (7, 1, 3), (5, 6, 1), (7, 5, 11), (9, 10, 13)]:
        out.append((f"random_{m}x{n}x{k}", random_int8(rng, (m, k)), random_int8(rng, (k, n))))
    m, n, k = 6, 5, 37
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
