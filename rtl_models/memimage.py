"""Verilog memory images ($readmemh / $writememh files) written and read with numpy, vectorised.

The bench-side hosts (rtl_models/verilog/*_host.v) take a whole workload as memory images instead
of one port write per clock edge: a word is a row of lanes, lane 0 in the low bits, each lane a
two's-complement ``width``-bit value, written as one hexadecimal word per line. Reading accepts
what Icarus and Verilator write: ``//`` comments, ``@address`` lines (rejected: the hosts write
whole ranges) and x/z digits (read as 0 and reported in :func:`read_hex`'s ``unknown`` mask).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

_HEX = np.frombuffer(b"0123456789abcdef", np.uint8)
_NIBBLE = np.full(256, 255, np.uint8)
for _i, _ch in enumerate(b"0123456789abcdef"):
    _NIBBLE[_ch] = _i
    _NIBBLE[ord(chr(_ch).upper())] = _i
_UNKNOWN = 16
for _ch in b"xXzZ":
    _NIBBLE[_ch] = _UNKNOWN


def hex_digits(bits: int) -> int:
    """Hex digits of one word of ``bits`` bits."""
    return max(1, -(-int(bits) // 4))


def to_hex(lanes, width: int) -> bytes:
    """The image of ``lanes`` (n words x L lanes of integers) as ``width``-bit two's-complement
    lanes: n lines of hex, most significant digit first."""
    lanes = np.asarray(lanes)
    if lanes.ndim != 2:
        raise ValueError(f"lanes must be 2-D (words x lanes), got shape {lanes.shape}")
    if not 1 <= width <= 62:
        raise ValueError(f"width must be 1..62 bits, got {width}")
    n, count = lanes.shape
    vals = lanes.astype(np.int64).view(np.uint64) & np.uint64((1 << width) - 1)
    bits = ((vals[:, :, None] >> np.arange(width, dtype=np.uint64)) & np.uint64(1)).astype(np.uint8)
    bits = bits.reshape(n, count * width)
    digits = hex_digits(count * width)
    pad = digits * 4 - count * width
    if pad:
        bits = np.concatenate([bits, np.zeros((n, pad), np.uint8)], axis=1)
    nibbles = bits.reshape(n, digits, 4) @ np.array([1, 2, 4, 8], np.uint8)
    chars = _HEX[nibbles[:, ::-1]]
    lines = np.concatenate([chars, np.full((n, 1), ord("\n"), np.uint8)], axis=1)
    return lines.tobytes()


def write_hex(path: str | Path, lanes, width: int) -> int:
    """Write :func:`to_hex`'s image to ``path``; the number of words."""
    data = to_hex(lanes, width)
    Path(path).write_bytes(data)
    return int(np.asarray(lanes).shape[0])


def read_hex(path: str | Path, lanes: int, width: int, signed: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The words of a $writememh file as (values (n, lanes) int64, unknown (n,) bool): lane i of a
    word is bits [i*width +: width], sign-extended when ``signed``; ``unknown`` marks words with an
    x or z digit (those digits read as 0)."""
    text = Path(path).read_bytes()
    words = []
    for line in text.split(b"\n"):
        line = line.split(b"//", 1)[0].strip()
        if not line:
            continue
        if line.startswith(b"@"):
            raise ValueError(f"{path}: address line {line.decode(errors='replace')!r}; expected consecutive words")
        words.extend(line.split())
    digits = hex_digits(lanes * width)
    if not words:
        return np.zeros((0, lanes), np.int64), np.zeros(0, bool)
    bad = [w for w in words if len(w) > digits]
    if bad:
        raise ValueError(f"{path}: word {bad[0].decode(errors='replace')!r} is wider than {lanes} x {width} bits")
    arr = np.frombuffer(b"".join(w.rjust(digits, b"0") for w in words), np.uint8).reshape(len(words), digits)
    nib = _NIBBLE[arr]
    if (nib == 255).any():
        raise ValueError(f"{path}: a word holds a character that is not a hex digit")
    unknown = (nib == _UNKNOWN).any(axis=1)
    nib = np.where(nib == _UNKNOWN, 0, nib)[:, ::-1]  # least significant digit first
    bits = ((nib[:, :, None] >> np.arange(4, dtype=np.uint8)) & 1).reshape(len(words), digits * 4)
    bits = bits[:, : lanes * width].reshape(len(words), lanes, width).astype(np.int64)
    if not 1 <= width <= 62:
        raise ValueError(f"width must be 1..62 bits, got {width}")
    values = bits @ (np.int64(1) << np.arange(width, dtype=np.int64))
    if signed:
        values = np.where(values >> (width - 1) & 1, values - (np.int64(1) << width), values)
    return values, unknown
