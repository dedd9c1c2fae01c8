"""
The packed low-bit weight format shared by the quantisers and the weight-only GEMM
==================================================================================

One module for the layout alone, so that the quantisers (kernels/lowbit.py), which write it, and
the kernel (kernels/wonly_gemm.py), which reads it, both import it and neither imports the other.

A weight matrix W (N x K: output rows x input columns, ``nn.Linear.weight``) is stored as unsigned
``bits``-bit codes with one scale and one zero point per output row and per group of
``group_size`` consecutive input columns (asymmetric, "uniform" quantisation):

    W[n, k] ~ (code[n, k] - zero[n, g]) * scale[n, g],   g = k // group_size,
    code in 0 .. 2^bits - 1,   zero in 0 .. 2^bits - 1 (an integer),   scale fp16.

Packing (:func:`pack_codes`): each output row's K codes form one little-endian bit stream, code k
at stream bits [k*bits, (k+1)*bits); word w of the row is stream bits [32 w, 32 w + 32), padded
with zeros to whole int32 words. Stored transposed, ``qweight[w, n]`` (ceil(K*bits/32) x N, int32),
so a kernel reading a row of words reads N consecutive int32 (coalesced). For 4 and 2 bits this
is the usual 8 / 16 codes per int32 (code t of word w at bits bits*t); for 3 bits it is the
"32 codes in 3 words" layout: 3 bits per weight exactly (10-per-word would cost 3.2), at the price
of codes 10 and 21 of every 32 straddling two words: the tiled kernel reads such a code as two
words; the GEMV kernel loads the 3 words of each 32 codes once and cuts them into four 24-bit
windows of 8 whole codes.
Scales are stored (G, N) fp16, zero points (G, N) uint8, both transposed the same way; OWQ's fp16
columns as ``outlier_idx`` (n_out,) int32 and ``outlier_weight`` (n_out, N) fp16.
"""

from __future__ import annotations

import torch

__all__ = [
    "BITS",
    "check_bits",
    "check_group_size",
    "is_int",
    "pack_codes",
    "packed_words",
    "unpack_codes",
]

#: Supported code widths.
BITS = (2, 3, 4)


# %%
# Checks
# ------


def is_int(v) -> bool:
    """An int and not a bool."""
    return isinstance(v, int) and not isinstance(v, bool)


def check_bits(bits) -> None:
    """Raises unless ``bits`` is one of :data:`BITS`."""
    if not is_int(bits) or bits not in BITS:
        raise ValueError(f"bits must be one of {BITS}, got {bits!r}")


def check_group_size(group_size, K: int, where: str = "") -> int:
    """The group size as an int (None -> K); raises unless it is positive and divides K."""
    g = K if group_size is None else group_size
    if not is_int(g) or g < 1:
        raise ValueError(f"group_size must be a positive integer, got {group_size!r}")
    if K % g:
        raise ValueError(f"group_size {g} does not divide K = {K}{where}")
    return g


# %%
# Packing
# -------


def packed_words(K: int, bits: int) -> int:
    """int32 words per output row: ceil(K * bits / 32)."""
    return (K * bits + 31) // 32


def pack_codes(codes: torch.Tensor, bits: int) -> torch.Tensor:
    """(N, K) codes -> (ceil(K*bits/32), N) int32: row n's little-endian bit stream, transposed."""
    check_bits(bits)
    if not isinstance(codes, torch.Tensor) or codes.dtype not in (torch.uint8, torch.int32, torch.int64):
        raise TypeError(f"codes must be a uint8/int32/int64 tensor, got {getattr(codes, 'dtype', type(codes).__name__)}")
    if codes.dim() != 2:
        raise ValueError(f"codes must be 2-D (N, K), got shape {tuple(codes.shape)}")
    N, K = codes.shape
    c = codes.to(torch.int64)
    if c.numel() and (int(c.min()) < 0 or int(c.max()) >= 1 << bits):
        raise ValueError(f"codes must lie in 0..{(1 << bits) - 1} for {bits} bits, got {int(c.min())}..{int(c.max())}")
    W = packed_words(K, bits)
    pos = torch.arange(K, device=codes.device) * bits
    word, shift = pos // 32, pos % 32
    out = torch.zeros((N, W + 1), dtype=torch.int64, device=codes.device)  # +1: spill of a straddling code
    out.index_add_(1, word, (c << shift) & 0xFFFFFFFF)
    spill = (c >> (32 - shift)) * (shift > 32 - bits)  # high bits of a code that crosses a word edge
    out.index_add_(1, word + 1, spill)
    words = out[:, :W]  # codes never overlap, so the sums above are bitwise ORs
    words = torch.where(words >= 2**31, words - 2**32, words)  # uint32 bit pattern as int32
    return words.to(torch.int32).T.contiguous()


def unpack_codes(qweight: torch.Tensor, bits: int, K: int) -> torch.Tensor:
    """The inverse of :func:`pack_codes`: (W, N) int32 -> (N, K) uint8 codes."""
    check_bits(bits)
    if not isinstance(qweight, torch.Tensor) or qweight.dtype != torch.int32 or qweight.dim() != 2:
        raise TypeError("qweight must be a 2-D int32 tensor (words x N)")
    if qweight.shape[0] != packed_words(K, bits):
        raise ValueError(f"qweight has {qweight.shape[0]} words per row, K = {K} at {bits} bits needs {packed_words(K, bits)}")
    words = qweight.T.to(torch.int64) & 0xFFFFFFFF  # (N, W)
    words = torch.cat([words, torch.zeros_like(words[:, :1])], dim=1)
    pos = torch.arange(K, device=qweight.device) * bits
    word, shift = pos // 32, pos % 32
    stream = words[:, word] | (words[:, word + 1] << 32)  # 64 bits starting at the code's word
    return ((stream >> shift) & ((1 << bits) - 1)).to(torch.uint8)
