"""Carry-save arithmetic on words: the schedule of an n-input compressor tree and its reduction.

A word-wide 3:2 compressor turns three words x, y, z into s = x ^ y ^ z and
c = majority(x, y, z) << 1 with s + c = x + y + z (modulo 2^W): no carry propagates. A tree
applies them level by level (Wallace's schedule: as many triples as the level has, leftovers pass
through) until two words remain. rtl_models/csa_gen.py generates the Verilog of exactly this
schedule, and the OPT1 model below steps it, so model and RTL compress the same words.
"""

from __future__ import annotations

import numpy as np


def schedule(n: int) -> list[int]:
    """Word counts level by level, from n down to 2."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 3:
        raise ValueError(f"a carry-save tree needs an integer number of inputs >= 3, got {n!r}")
    counts = [int(n)]
    while counts[-1] > 2:
        m = counts[-1]
        counts.append(2 * (m // 3) + m % 3)
    return counts


def reduce_words(words, width: int):
    """(sum, carry) of the tree over ``words`` (ints or uint64 arrays, elementwise), modulo 2^width."""
    mask = (1 << width) - 1
    if any(isinstance(w, np.ndarray) for w in words):
        mask = np.uint64(mask)
        one = np.uint64(1)
    else:
        one = 1
    level = [w & mask for w in words]
    schedule(len(level))  # validates the count
    while len(level) > 2:
        nxt = []
        full = len(level) - len(level) % 3
        for i in range(0, full, 3):
            x, y, z = level[i : i + 3]
            nxt.append(x ^ y ^ z)
            nxt.append((((x & y) | (x & z) | (y & z)) << one) & mask)
        nxt.extend(level[full:])
        level = nxt
    return level[0], level[1]


def booth_partial_products(a: np.ndarray, b: np.ndarray, width: int) -> list[np.ndarray]:
    """The 4 radix-4 Booth partial-product words of int8 a times b and the correction word, as
    the OPT1 PE forms them: digit j of a selects 0, b or 2b, a negative digit takes the bitwise
    complement, every word shifted by 2j, and a 1 at bit 2j of the correction word per negative
    digit (-(x << 2j) = (~x << 2j) + 2^(2j)). uint64 words modulo 2^width."""
    mask = np.uint64((1 << width) - 1)
    a = np.asarray(a, np.int64)
    bw = np.asarray(b, np.int64).astype(np.uint64) & mask  # b sign-extended to width bits
    ua = a.astype(np.uint64) & np.uint64(0xFF)
    bit = lambda k: (ua >> np.uint64(k)) & np.uint64(1) if k >= 0 else np.zeros_like(ua)  # noqa: E731
    words, corr = [], np.zeros_like(ua)
    for j in range(4):
        hi, mid, lo = bit(2 * j + 1), bit(2 * j), bit(2 * j - 1)
        neg = hi & (np.uint64(1) ^ (mid & lo))
        one = mid ^ lo
        two = (hi & (np.uint64(1) ^ mid) & (np.uint64(1) ^ lo)) | ((np.uint64(1) ^ hi) & mid & lo)
        mag = np.where(one == 1, bw, np.where(two == 1, (bw << np.uint64(1)) & mask, np.uint64(0)))
        sel = np.where(neg == 1, (~mag) & mask, mag)
        words.append((sel << np.uint64(2 * j)) & mask)
        corr |= neg << np.uint64(2 * j)
    return words + [corr]
