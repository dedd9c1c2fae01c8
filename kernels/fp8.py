"""FP8 on the host side, in plain torch: saturating casts, per-tensor and per-row scales, and an
exact emulation of a scaled FP8 GEMM with FP32 accumulation in a defined order.

Casts. torch's float -> float8 conversion disagrees across versions and devices on overflow
(torch 2.13 on the CPU saturates e4m3 to +-448, 2.11 on CUDA gives NaN; e5m2 rounds finite
overflow to Inf everywhere), and the Triton interpreter mis-rounds in-kernel fp8 casts
(DESIGN.md). So quantisation happens here, on the host, with one explicit policy, the one
sim/fp8.py's ``encode`` documents and tests/test_kernels_fp8.py holds these casts to:

* finite values round to nearest even; finite overflow **saturates** to +-max (448 / 57344);
* Inf: e4m3 has none, +-Inf -> +-448; e5m2 keeps +-Inf;
* NaN stays NaN (sign kept).

The input is first converted to float32 (exact from bf16 / fp16), then clamped, then cast: a
value already inside [-max, max] is cast by torch's round-to-nearest-even, which every version
agrees on.

Scales (the HALO / torchao tensorwise and rowwise recipes): ``scale = amax / fp8_max`` in
float32, ``x_fp8 = saturating_cast(x / scale)`` and ``x ~ x_fp8 * scale``. An all-zero tensor
(row) or a NaN / Inf amax has no meaningful scale: the functions raise, naming the row. This
reads amax back to the host (a device sync on a GPU) to be able to say so.

``scaled_fp8_gemm_emulated`` is the exact CPU emulation of ``(a_fp8 @ b_fp8) * scale_a *
scale_b``: each FP8 x FP8 product is exact in FP32 (at most 8 significant bits, inside the
normal range), the K products of every output are added in order k = 0, 1, ... from +0 with
one FP32 round-to-nearest-even per add (sim/fp8.py's ``dot_fp8_bits`` and the fp8_mac RTL),
and the scales are applied after, ``(acc * scale_a[m]) * scale_b[n]``, two FP32 roundings.
A GPU kernel's accumulation order differs (tensor cores add blocks of products at once), so
it matches this only to within FP32 accumulation error; this emulation is the bit-exact anchor.
"""

from __future__ import annotations

import torch

FP8_E4M3_MAX = 448.0  # 1.75 * 2**8 (OCP E4M3FN: S.1111.111 is NaN, no Inf)
FP8_E5M2_MAX = 57344.0  # 1.75 * 2**15
FP8_DTYPES = {"e4m3": torch.float8_e4m3fn, "e5m2": torch.float8_e5m2}
FP8_MAX = {"e4m3": FP8_E4M3_MAX, "e5m2": FP8_E5M2_MAX}


def _fmt_name(fmt) -> str:
    for name, dtype in FP8_DTYPES.items():
        if fmt == name or fmt is dtype:
            return name
    raise ValueError(f"fmt must be 'e4m3', 'e5m2', torch.float8_e4m3fn or torch.float8_e5m2, got {fmt!r}")


def _check_float(x, name: str = "x") -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dtype not in (torch.float32, torch.float16, torch.bfloat16, torch.float64):
        raise TypeError(f"{name} must be a float32, float16, bfloat16 or float64 tensor, got {x.dtype}")


def _saturating(x: torch.Tensor, fmt: str) -> torch.Tensor:
    _check_float(x)
    x = x.to(torch.float32)  # exact from bf16 / fp16; float64 is rounded to float32 first
    m = FP8_MAX[fmt]
    clamped = x.clamp(-m, m)  # NaN passes through clamp
    if fmt == "e5m2":
        clamped = torch.where(torch.isinf(x), x, clamped)  # e5m2 keeps Inf
    return clamped.to(FP8_DTYPES[fmt])


def fp8_e4m3_saturating(x: torch.Tensor) -> torch.Tensor:
    """x -> torch.float8_e4m3fn: round to nearest even, overflow and +-Inf -> +-448, NaN -> NaN."""
    return _saturating(x, "e4m3")


def fp8_e5m2_saturating(x: torch.Tensor) -> torch.Tensor:
    """x -> torch.float8_e5m2: round to nearest even, finite overflow -> +-57344, Inf and NaN kept."""
    return _saturating(x, "e5m2")


def fp8_saturating(x: torch.Tensor, fmt) -> torch.Tensor:
    """The saturating cast to ``fmt`` ('e4m3' / 'e5m2' or the torch dtype)."""
    return _saturating(x, _fmt_name(fmt))


def _scale_from_amax(amax: torch.Tensor, fmt: str, what: str) -> torch.Tensor:
    bad_nan = ~torch.isfinite(amax)
    if bool(bad_nan.any()):
        where = "" if amax.dim() == 0 else f" (first at row {int(bad_nan.reshape(-1).nonzero()[0])})"
        raise ValueError(f"{what} amax is NaN or Inf{where}: the input holds non-finite values, no scale exists")
    zero = amax == 0
    if bool(zero.any()):
        where = "" if amax.dim() == 0 else f" (first at row {int(zero.reshape(-1).nonzero()[0])})"
        raise ValueError(f"{what} amax is 0{where}: an all-zero input has no scale")
    return (amax.to(torch.float32) / FP8_MAX[fmt]).to(torch.float32)


def tensorwise_scale(x: torch.Tensor, fmt="e4m3") -> torch.Tensor:
    """One float32 scale for the whole tensor: amax(|x|) / fp8_max (0-d tensor)."""
    _check_float(x)
    name = _fmt_name(fmt)
    if x.numel() == 0:
        raise ValueError("x is empty: no amax, no scale")
    return _scale_from_amax(x.detach().abs().amax().to(torch.float32), name, "tensorwise")


def rowwise_scale(x: torch.Tensor, fmt="e4m3") -> torch.Tensor:
    """One float32 scale per row of a 2-D tensor: amax over the last dim / fp8_max, shape (M, 1)."""
    _check_float(x)
    name = _fmt_name(fmt)
    if x.dim() != 2 or 0 in x.shape:
        raise ValueError(f"x must be a non-empty 2-D matrix for rowwise scales, got shape {tuple(x.shape)}")
    return _scale_from_amax(x.detach().abs().amax(dim=1, keepdim=True).to(torch.float32), name, "rowwise")


def quantize_fp8(x: torch.Tensor, fmt="e4m3", granularity: str = "tensorwise") -> tuple[torch.Tensor, torch.Tensor]:
    """(x_fp8, scale) with x_fp8 = saturating_cast(x / scale) and x ~ x_fp8 * scale."""
    name = _fmt_name(fmt)
    if granularity == "tensorwise":
        scale = tensorwise_scale(x, name)
    elif granularity == "rowwise":
        scale = rowwise_scale(x, name)
    else:
        raise ValueError(f"granularity must be 'tensorwise' or 'rowwise', got {granularity!r}")
    return _saturating(x.to(torch.float32) / scale, name), scale


def _check_fp8_matrix(x, name: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dtype not in FP8_DTYPES.values():
        raise TypeError(f"{name} must be torch.float8_e4m3fn or torch.float8_e5m2, got {x.dtype}")
    if x.dim() != 2:
        raise ValueError(f"{name} must be a 2-D matrix, got shape {tuple(x.shape)}")


def _check_scale(s, name: str, shape_ok: tuple, device) -> torch.Tensor:
    if not isinstance(s, torch.Tensor) or s.dtype != torch.float32:
        got = s.dtype if isinstance(s, torch.Tensor) else type(s).__name__
        raise TypeError(f"{name} must be a float32 tensor, got {got}")
    if tuple(s.shape) not in shape_ok:
        raise ValueError(f"{name} must have shape {' or '.join(map(str, shape_ok))}, got {tuple(s.shape)}")
    if s.device != device:
        raise ValueError(f"{name} must be on the operands' device {device}, got {s.device}")
    return s


def scaled_fp8_gemm_emulated(a: torch.Tensor, b: torch.Tensor, scale_a: torch.Tensor,
                             scale_b: torch.Tensor) -> torch.Tensor:
    """Exact emulation of (a @ b) * scale_a * scale_b, a (M, K) and b (K, N) FP8, float32 out.

    scale_a: () or (M, 1) float32 (tensorwise / rowwise); scale_b: () or (1, N). Accumulation:
    sequential over k from +0, one FP32 rounding per add (module docstring). O(K) torch ops
    over (M, N) slices: meant for small shapes and as the bit-exact reference.
    """
    _check_fp8_matrix(a, "a")
    _check_fp8_matrix(b, "b")
    (M, K), (K_b, N) = a.shape, b.shape
    if K != K_b:
        raise ValueError(f"inner dimensions must match: a is (M, K) = {(M, K)} but b is (K, N) = {(K_b, N)}")
    if a.device != b.device:
        raise ValueError(f"a and b must be on the same device, got a on {a.device} and b on {b.device}")
    sa = _check_scale(scale_a, "scale_a", ((), (M, 1)), a.device)
    sb = _check_scale(scale_b, "scale_b", ((), (1, N)), a.device)
    af, bf = a.to(torch.float32), b.to(torch.float32)  # exact
    acc = torch.zeros((M, N), dtype=torch.float32, device=a.device)
    for k in range(K):
        p = torch.mul(af[:, k : k + 1], bf[k : k + 1, :])  # exact FP32 products, then one add
        acc = torch.add(acc, p)
    return torch.mul(torch.mul(acc, sa), sb)
