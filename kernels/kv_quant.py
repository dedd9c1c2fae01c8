"""
KV-cache quantisation: WKVQuant's past-only and two-dimensional quantisation, and RTN per token
================================================================================================

At decode time an LLM reads its whole KV cache once per generated token, so at long context the
cache, not the weights, is what the step streams from memory (a 7B-class decoder, 32 layers x 32
heads x 128, holds 512 KiB of fp16 K and V per token: 2 GiB at 4k tokens). Quantising it to 4 or 2
bits cuts those bytes 4-8x. This module holds the formats and the torch side: the quantisers, the
packed layout, the reference dequantiser and the attention that uses them on whole sequences;
kernels/decode_attention.py is the Triton kernel that reads the packed cache directly.

WKVQuant (Yue et al., "WKVQuant: Quantizing Weight and Key/Value Cache for Large Language Models
Gains More", 2024) contributes two of the pieces implemented here:

* **Past-only quantisation.** The token being generated attends to its own key and value in full
  precision: they were just computed and are still in registers. Only *past* entries are read
  from the (quantised) cache. The current token is quantised when it is appended, for the tokens
  after it. Over a whole sequence (teacher forcing) this is attention whose diagonal (query t,
  key t) uses the exact k_t, v_t and whose strictly causal part uses the quantised ones:
  :func:`kv_quant_attention` with ``past_only=True`` computes exactly what token-by-token
  decoding with the cache computes.
* **Two-dimensional quantisation.** Keys in particular carry a few outlier *channels* (large,
  offset values in fixed dimensions for every token), which ruin per-token ranges. First a static
  per-channel shift and scale, computed from calibration data, maps every channel of every head
  to about [-1, 1]: x~ = (x - shift_c) / scale_c (:class:`ChannelSmoothing`,
  :func:`calibrate_smoothing`); then x~ is quantised dynamically per token, in groups of
  ``group_size`` channels, asymmetric. Dequantisation is x = x~ * scale_c + shift_c.
  The calibration initialisation used here is the channel's midrange as shift and half its
  range as scale, shift_c = (max_c + min_c) / 2, scale_c = (max_c - min_c) / 2 over the
  calibration tokens (the Outlier Suppression+ style initialisation WKVQuant starts from). The
  paper then refines shift and scale by gradient descent on its cross-block reconstruction
  regularisation (CRR); **that refinement is not done here**, so what is measured is 2D
  quantisation with calibrated, not learned, channel parameters.

The baseline, **RTN per token**, is the same per-token group quantiser on the raw x (no channel
smoothing, no past-only).

Per-token group quantisation (both methods)
-------------------------------------------
For each token, head and group of ``group_size`` consecutive channels (``group_size`` defaults to
the head dimension: one group per head and token), with b = ``bits`` in {2, 4, 8}:

    min = fp16 rounded *down* from the group's minimum,
    scale = fp16 rounded *up* from (max - min) / (2^b - 1),
    code = clamp(round((x - min) / scale), 0, 2^b - 1),   x ~ code * scale + min.

Rounding the stored parameters outward first means the grid [min, min + (2^b - 1) scale] covers
the group, so every element is within scale / 2 of its reconstruction (the tests hold the
quantiser to that), and the stored fp16 values are the ones the codes were fitted to.

Packed storage (:class:`QuantizedKV`), for a cache of shape (B, H, T, D):

* ``codes``  (B, H, T, D * b / 32) int32: each token-head's D codes as a little-endian bit stream,
  code j of word w at bits [j b, j b + b): 8 codes per word at 4 bits, 16 at 2, 4 at 8. Widths
  that divide 32, so no code straddles two words;
* ``scales`` (B, H, T, D / group_size) float16, ``mins`` the same;
* for the 2D method a :class:`ChannelSmoothing` per layer and tensor (K or V): shift and scale
  (H, D) float32, fixed-size, not per token.

Bytes per token of one tensor (K or V) of one layer, exactly (:func:`kv_bytes_per_token`):
H * (D * b / 8 + 4 * D / group_size); K and V together twice that. For H = 32, D = 128, groups of
128: 4 bits 2 * 32 * 68 = 4,352 B against fp16's 16,384 B (3.76x less), 2 bits 2,304 B (7.1x).
The channel parameters add 2 * 2 * H * D * 4 B per layer once (32 KiB at H x D = 32 x 128), not
per token.

Because the quantisation is per token with static channel parameters, quantising a cache token
by token (as decoding appends) and quantising it at once give the same codes: the cache is
append-only, and :meth:`QuantizedKV.tokens` slices out any prefix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = [
    "KV_BITS",
    "ChannelSmoothing",
    "KVQuantizer",
    "QuantizedKV",
    "calibrate_smoothing",
    "dequantize_kv",
    "fp16_kv_bytes_per_token",
    "kv_bytes_per_token",
    "kv_quant_attention",
    "pack_kv_codes",
    "quantize_kv",
    "unpack_kv_codes",
]

#: code widths: 4 and 2 are WKVQuant's, 8 the conservative reference; all divide 32
KV_BITS = (2, 4, 8)
#: largest |x| the fp16 group parameters can hold (fp16's largest finite value)
FP16_MAX = 65504.0


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_bits(bits) -> None:
    if not _is_int(bits) or bits not in KV_BITS:
        raise ValueError(f"bits must be one of {KV_BITS}, got {bits!r}")


def _check_group_size(group_size, head_dim: int, bits: int) -> int:
    """The group size as an int (None -> head_dim); it must divide head_dim and hold whole words."""
    g = head_dim if group_size is None else group_size
    if not _is_int(g) or g < 1:
        raise ValueError(f"group_size must be a positive integer or None (one group per head), got {group_size!r}")
    per_word = 32 // bits
    if head_dim % g or g % per_word:
        raise ValueError(f"group_size {g} must divide the head dimension {head_dim} and be a multiple of "
                         f"{per_word} (the {bits}-bit codes of one int32 word)")
    return g


def _check_cache_tensor(x, name: str = "x") -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dtype not in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
        raise TypeError(f"{name} must be a floating-point tensor (float16, bfloat16, float32, float64), got {x.dtype}")
    if x.dim() != 4:
        raise ValueError(f"{name} must be 4-D (batch, heads, tokens, head_dim), got shape {tuple(x.shape)}")


# %%
# Packing
# -------


def pack_kv_codes(codes: torch.Tensor, bits: int) -> torch.Tensor:
    """(..., D) integer codes in 0..2^bits-1 -> (..., D * bits / 32) int32 words (module docstring)."""
    _check_bits(bits)
    if not isinstance(codes, torch.Tensor) or codes.dtype not in (torch.uint8, torch.int32, torch.int64):
        raise TypeError(f"codes must be a uint8/int32/int64 tensor, got {getattr(codes, 'dtype', type(codes).__name__)}")
    per_word = 32 // bits
    D = codes.shape[-1]
    if D % per_word:
        raise ValueError(f"the last dimension ({D}) must be a multiple of {per_word} ({bits}-bit codes per int32 word)")
    c = codes.to(torch.int64)
    if c.numel() and (int(c.min()) < 0 or int(c.max()) >= 1 << bits):
        raise ValueError(f"codes must lie in 0..{(1 << bits) - 1} for {bits} bits, got {int(c.min())}..{int(c.max())}")
    c = c.reshape(*codes.shape[:-1], D // per_word, per_word)
    shifts = torch.arange(per_word, device=codes.device, dtype=torch.int64) * bits
    words = (c << shifts).sum(-1)  # disjoint bit fields: the sum is their OR
    words = torch.where(words >= 2**31, words - 2**32, words)  # the uint32 bit pattern as int32
    return words.to(torch.int32)


def unpack_kv_codes(words: torch.Tensor, bits: int) -> torch.Tensor:
    """The inverse of :func:`pack_kv_codes`: (..., W) int32 -> (..., W * 32 / bits) int64 codes."""
    _check_bits(bits)
    if not isinstance(words, torch.Tensor) or words.dtype != torch.int32:
        raise TypeError(f"words must be an int32 tensor, got {getattr(words, 'dtype', type(words).__name__)}")
    per_word = 32 // bits
    shifts = torch.arange(per_word, device=words.device, dtype=torch.int64) * bits
    c = (words.to(torch.int64)[..., None] >> shifts) & ((1 << bits) - 1)
    return c.reshape(*words.shape[:-1], words.shape[-1] * per_word)


# %%
# Channel smoothing (WKVQuant's first dimension)
# -----------------------------------------------


@dataclass(frozen=True, eq=False)
class ChannelSmoothing:
    """Static per-channel shift and scale of one cache tensor (K or V) of one layer: (H, D) float32
    each, scale > 0. x~ = (x - shift) / scale is what gets quantised per token."""

    shift: torch.Tensor
    scale: torch.Tensor

    def __post_init__(self):
        for name in ("shift", "scale"):
            t = getattr(self, name)
            if not isinstance(t, torch.Tensor) or t.dtype != torch.float32 or t.dim() != 2:
                raise TypeError(f"ChannelSmoothing.{name} must be a 2-D (heads, head_dim) float32 tensor, got "
                                f"{getattr(t, 'dtype', type(t).__name__)} {tuple(getattr(t, 'shape', ()))}")
        if self.shift.shape != self.scale.shape:
            raise ValueError(f"ChannelSmoothing.shift {tuple(self.shift.shape)} and scale {tuple(self.scale.shape)} "
                             "must have one shape (heads, head_dim)")
        if self.shift.device != self.scale.device:
            raise ValueError(f"ChannelSmoothing.shift is on {self.shift.device}, scale on {self.scale.device}")
        if not bool(torch.isfinite(self.shift).all()) or not bool((self.scale > 0).all()) \
                or not bool(torch.isfinite(self.scale).all()):
            raise ValueError("ChannelSmoothing needs finite shifts and finite, positive scales")

    @property
    def nbytes(self) -> int:
        return 4 * (self.shift.numel() + self.scale.numel())

    def to(self, device) -> ChannelSmoothing:
        return ChannelSmoothing(self.shift.to(device), self.scale.to(device))


def calibrate_smoothing(x: torch.Tensor) -> ChannelSmoothing:
    """WKVQuant's calibration initialisation from calibration K or V of shape (B, H, T, D):
    shift = (max + min) / 2 and scale = (max - min) / 2 per head and channel over every batch row
    and token. A channel constant over the calibration tokens gets scale 1 (nothing to equalise)."""
    _check_cache_tensor(x)
    if x.shape[0] * x.shape[2] == 0:
        raise ValueError(f"x must hold at least one calibration token, got shape {tuple(x.shape)}")
    xf = x.detach().to(torch.float32)
    if not bool(torch.isfinite(xf).all()):
        raise ValueError("x must be finite to calibrate the channel smoothing")
    hi = xf.amax(dim=(0, 2))
    lo = xf.amin(dim=(0, 2))
    scale = (hi - lo) / 2
    return ChannelSmoothing(((hi + lo) / 2).contiguous(), torch.where(scale > 0, scale, torch.ones_like(scale)).contiguous())


# %%
# Per-token group quantisation
# ----------------------------


def _fp16_step(y: torch.Tensor, up: bool) -> torch.Tensor:
    """The fp16 neighbour of ``y`` (float16, finite) towards +inf (``up``) or -inf."""
    bits = y.view(torch.int16).to(torch.int32)
    pos, neg = y > 0, y < 0
    away = 1 if up else -1  # towards +inf: positive magnitudes grow, negative ones shrink
    stepped = torch.where(pos, bits + away, torch.where(neg, bits - away, torch.full_like(bits, 1 if up else -32767)))
    return stepped.to(torch.int16).view(torch.float16)


def _fp16_round(x: torch.Tensor, up: bool) -> torch.Tensor:
    """x (float32) rounded to float16 towards +inf (``up``) or -inf: the result is >= x (<= x)."""
    y = x.to(torch.float16)
    wrong = (y.to(torch.float32) < x) if up else (y.to(torch.float32) > x)
    return torch.where(wrong, _fp16_step(y, up), y)


@dataclass(frozen=True, eq=False)
class QuantizedKV:
    """A quantised K or V cache of shape (B, H, T, D) in the packed layout (module docstring)."""

    codes: torch.Tensor  # (B, H, T, D * bits / 32) int32
    scales: torch.Tensor  # (B, H, T, D / group_size) float16
    mins: torch.Tensor  # (B, H, T, D / group_size) float16
    bits: int
    group_size: int
    head_dim: int
    smoothing: ChannelSmoothing | None = None

    def __post_init__(self):
        _check_bits(self.bits)
        D = self.head_dim
        if not _is_int(D) or D < 1:
            raise ValueError(f"head_dim must be a positive integer, got {D!r}")
        g = _check_group_size(self.group_size, D, self.bits)
        if not isinstance(self.codes, torch.Tensor) or self.codes.dtype != torch.int32 or self.codes.dim() != 4:
            raise TypeError(f"codes must be a 4-D int32 tensor, got {getattr(self.codes, 'dtype', None)} "
                            f"{tuple(getattr(self.codes, 'shape', ()))}")
        B, H, T, W = self.codes.shape
        if W != D * self.bits // 32:
            raise ValueError(f"codes has {W} words per token-head; head_dim {D} at {self.bits} bits needs "
                             f"{D * self.bits // 32}")
        for name in ("scales", "mins"):
            t = getattr(self, name)
            if not isinstance(t, torch.Tensor) or t.dtype != torch.float16 or tuple(t.shape) != (B, H, T, D // g):
                raise ValueError(f"{name} must be float16 of shape (B, H, T, D / group_size) = {(B, H, T, D // g)}, "
                                 f"got {getattr(t, 'dtype', None)} {tuple(getattr(t, 'shape', ()))}")
            if t.device != self.codes.device:
                raise ValueError(f"{name} is on {t.device}, codes on {self.codes.device}: one device")
        if self.smoothing is not None:
            if not isinstance(self.smoothing, ChannelSmoothing):
                raise TypeError(f"smoothing must be a ChannelSmoothing or None, got {type(self.smoothing).__name__}")
            if tuple(self.smoothing.shift.shape) != (H, D):
                raise ValueError(f"smoothing is for {tuple(self.smoothing.shift.shape)} (heads, head_dim); the cache "
                                 f"has {(H, D)}")
            if self.smoothing.shift.device != self.codes.device:
                raise ValueError(f"smoothing is on {self.smoothing.shift.device}, codes on {self.codes.device}")

    @property
    def shape(self) -> tuple[int, int, int, int]:
        B, H, T, _ = self.codes.shape
        return (B, H, T, self.head_dim)

    @property
    def device(self) -> torch.device:
        return self.codes.device

    @property
    def method(self) -> str:
        return "rtn" if self.smoothing is None else "wkvquant"

    @property
    def bytes_per_token(self) -> int:
        """Stored bytes per token of one batch row, all heads (codes + scales + mins), exactly."""
        _, H, _, W = self.codes.shape
        G = self.head_dim // self.group_size
        return H * (4 * W + 2 * G + 2 * G)

    @property
    def nbytes(self) -> int:
        """Bytes of the per-token tensors as stored (the channel parameters not included)."""
        return sum(t.numel() * t.element_size() for t in (self.codes, self.scales, self.mins))

    def tokens(self, start: int, stop: int) -> QuantizedKV:
        """Tokens [start, stop) of the cache (views): a prefix is the cache as it was earlier in decoding."""
        T = self.codes.shape[2]
        if not (_is_int(start) and _is_int(stop) and 0 <= start <= stop <= T):
            raise ValueError(f"need 0 <= start <= stop <= {T} (the cache's tokens), got start={start!r}, stop={stop!r}")
        return QuantizedKV(self.codes[:, :, start:stop], self.scales[:, :, start:stop], self.mins[:, :, start:stop],
                           self.bits, self.group_size, self.head_dim, self.smoothing)

    def to(self, device) -> QuantizedKV:
        return QuantizedKV(self.codes.to(device), self.scales.to(device), self.mins.to(device), self.bits,
                           self.group_size, self.head_dim, None if self.smoothing is None else self.smoothing.to(device))

    def dequantize(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return dequantize_kv(self, dtype)


def quantize_kv(x: torch.Tensor, bits: int, group_size: int | None = None,
                smoothing: ChannelSmoothing | None = None) -> QuantizedKV:
    """Quantise a K or V cache ``x`` (B, H, T, D) per token, in groups of ``group_size`` channels
    (default D), asymmetric, at ``bits`` in {2, 4, 8}; with ``smoothing`` (WKVQuant's 2D
    quantisation) the channels are shifted and scaled first. Computed in float32."""
    _check_cache_tensor(x)
    _check_bits(bits)
    B, H, T, D = x.shape
    g = _check_group_size(group_size, D, bits)
    xf = x.detach().to(torch.float32)
    if smoothing is not None:
        if not isinstance(smoothing, ChannelSmoothing):
            raise TypeError(f"smoothing must be a ChannelSmoothing or None, got {type(smoothing).__name__}")
        if tuple(smoothing.shift.shape) != (H, D):
            raise ValueError(f"smoothing is for {tuple(smoothing.shift.shape)} (heads, head_dim); x has {(H, D)}")
        if smoothing.shift.device != x.device:
            raise ValueError(f"smoothing is on {smoothing.shift.device}, x on {x.device}: one device")
        xf = (xf - smoothing.shift[:, None, :]) / smoothing.scale[:, None, :]
    if not bool(torch.isfinite(xf).all()):
        raise ValueError("x must be finite to be quantised")
    if xf.numel() and float(xf.abs().max()) > FP16_MAX / 2:
        raise ValueError(f"x has |values| up to {float(xf.abs().max()):.4g} (after smoothing); the fp16 group "
                         f"minimum and range hold at most {FP16_MAX / 2:g}")
    qmax = (1 << bits) - 1
    xg = xf.reshape(B, H, T, D // g, g)
    mins = _fp16_round(xg.amin(-1), up=False)
    scales = _fp16_round((xg.amax(-1) - mins.to(torch.float32)) / qmax, up=True)
    s, m = scales.to(torch.float32)[..., None], mins.to(torch.float32)[..., None]
    codes = torch.where(s > 0, torch.round((xg - m) / torch.where(s > 0, s, 1.0)), 0.0).clamp_(0, qmax)
    return QuantizedKV(pack_kv_codes(codes.reshape(B, H, T, D).to(torch.int64), bits), scales, mins, bits, g, D,
                       smoothing)


def dequantize_kv(q: QuantizedKV, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The torch reference dequantiser: (B, H, T, D) in ``dtype`` (float32 or float64), computed in
    that precision: (code * scale + min) * channel scale + channel shift."""
    if not isinstance(q, QuantizedKV):
        raise TypeError(f"q must be a QuantizedKV, got {type(q).__name__}")
    if dtype not in (torch.float32, torch.float64):
        raise TypeError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    B, H, T, D = q.shape
    G = D // q.group_size
    codes = unpack_kv_codes(q.codes, q.bits).to(dtype).reshape(B, H, T, G, q.group_size)
    x = (codes * q.scales.to(dtype)[..., None] + q.mins.to(dtype)[..., None]).reshape(B, H, T, D)
    if q.smoothing is not None:
        x = x * q.smoothing.scale.to(dtype)[:, None, :] + q.smoothing.shift.to(dtype)[:, None, :]
    return x


def kv_bytes_per_token(n_heads: int, head_dim: int, bits: int, group_size: int | None = None) -> int:
    """Bytes per token of one quantised tensor (K or V) of one layer: H (D b / 8 + 4 D / group)."""
    for name, v in (("n_heads", n_heads), ("head_dim", head_dim)):
        if not _is_int(v) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    _check_bits(bits)
    g = _check_group_size(group_size, head_dim, bits)
    return n_heads * (head_dim * bits // 8 + 4 * (head_dim // g))


def fp16_kv_bytes_per_token(n_heads: int, head_dim: int) -> int:
    """Bytes per token of one fp16 / bf16 tensor (K or V) of one layer: 2 H D."""
    return 2 * n_heads * head_dim


# %%
# The quantiser as a configuration, and attention over a whole sequence
# ---------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class KVQuantizer:
    """How one cache tensor (K or V) of one layer is quantised: ``bits``, ``group_size`` (None: the
    head dimension) and WKVQuant's ``smoothing`` (None: RTN per token)."""

    bits: int
    group_size: int | None = None
    smoothing: ChannelSmoothing | None = None

    def __post_init__(self):
        _check_bits(self.bits)
        if self.group_size is not None and (not _is_int(self.group_size) or self.group_size < 1):
            raise ValueError(f"group_size must be a positive integer or None, got {self.group_size!r}")
        if self.smoothing is not None and not isinstance(self.smoothing, ChannelSmoothing):
            raise TypeError(f"smoothing must be a ChannelSmoothing or None, got {type(self.smoothing).__name__}")

    @property
    def method(self) -> str:
        return "rtn" if self.smoothing is None else "wkvquant"

    def quantize(self, x: torch.Tensor) -> QuantizedKV:
        return quantize_kv(x, self.bits, self.group_size, self.smoothing)

    def fake_quantize(self, x: torch.Tensor) -> torch.Tensor:
        """x as the cache gives it back: quantised and dequantised (float32)."""
        return dequantize_kv(self.quantize(x), torch.float32)


def kv_quant_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, k_quantizer: KVQuantizer | None = None,
                       v_quantizer: KVQuantizer | None = None, *, past_only: bool = True,
                       sm_scale: float | None = None) -> torch.Tensor:
    """Causal self-attention over whole sequences (B, H, S, D), as decoding with a quantised KV
    cache computes it, in float32.

    Query t attends to keys and values 0..t. With a quantiser those are read quantised; with
    ``past_only`` (WKVQuant) the current token's own key and value (position t) stay exact, only
    positions < t are quantised: the attention token-by-token decoding computes when the token is
    appended to the cache after its own attention. ``past_only=False`` quantises the current
    token too (the cache written before it is read). No quantiser: plain causal attention.
    """
    for name, t in (("q", q), ("k", k), ("v", v)):
        _check_cache_tensor(t, name)
    if q.shape != k.shape or q.shape != v.shape:
        raise ValueError(f"q, k and v must have one shape (B, H, S, D), got {tuple(q.shape)}, {tuple(k.shape)}, "
                         f"{tuple(v.shape)}")
    if not isinstance(past_only, bool):
        raise TypeError(f"past_only must be True or False, got {past_only!r}")
    D, S = q.shape[-1], q.shape[-2]
    scale = 1.0 / math.sqrt(D) if sm_scale is None else float(sm_scale)
    qf, kf, vf = (t.to(torch.float32) for t in (q, k, v))
    kq = kf if k_quantizer is None else k_quantizer.fake_quantize(k)
    vq = vf if v_quantizer is None else v_quantizer.fake_quantize(v)
    scores = (qf @ kq.transpose(-1, -2)) * scale
    if past_only and k_quantizer is not None:  # the diagonal: the current token's exact key
        eye = torch.eye(S, dtype=torch.bool, device=q.device)
        scores = torch.where(eye, ((qf * kf).sum(-1) * scale)[..., None], scores)
    causal = torch.ones(S, S, dtype=torch.bool, device=q.device).tril()
    p = torch.softmax(scores.masked_fill(~causal, float("-inf")), dim=-1)
    if past_only and v_quantizer is not None:  # the current token's exact value
        p_diag = p.diagonal(dim1=-2, dim2=-1)
        return (p - torch.diag_embed(p_diag)) @ vq + p_diag[..., None] * vf
    return p @ vq


if __name__ == "__main__":
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 4, 64, 128, generator=gen)
    x[..., 5] = 20 * x[..., 5] + 30  # an outlier channel
    cal = calibrate_smoothing(torch.randn(2, 4, 256, 128, generator=gen) * torch.where(
        torch.arange(128) == 5, 20.0, 1.0) + torch.where(torch.arange(128) == 5, 30.0, 0.0))
    for bits in KV_BITS:
        for sm in (None, cal):
            err = (quantize_kv(x, bits, smoothing=sm).dequantize() - x).norm() / x.norm()
            print(f"{'rtn' if sm is None else 'wkvquant':>8} {bits}-bit: relative error {float(err):.4f}, "
                  f"{kv_bytes_per_token(4, 128, bits)} B/token (fp16 {fp16_kv_bytes_per_token(4, 128)})")
