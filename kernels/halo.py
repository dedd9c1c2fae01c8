"""FP8 training linear layer with HALO's Hadamard rotation levels: a drop-in for ``nn.Linear``.

One autograd Function runs the three matmuls of a linear layer in training,

    forward   y  = x @ W^T           (T, N) = (T, K) (N, K)^T
    dgrad     dx = g @ W             (T, K) = (T, N) (N, K)
    wgrad     dW = g^T @ x           (N, K) = (T, N)^T (T, K)

with x, W quantised to FP8 e4m3 and the output gradient g to e5m2 (or e4m3, ``grad_fmt``), each
with a float32 scale (``kernels.fp8``: ``scale = amax / fp8_max``, saturating round-to-nearest-even
casts). Recipes (``HaloConfig.recipe``):

* ``"bf16"``: the three matmuls in bfloat16 (the baseline every FP8 recipe is measured against);
* ``"fp8_tensorwise"``: one scale per tensor (torchao's fastest recipe, HALO's choice). x, W and g
  are cast once each; both backward matmuls reuse the casts;
* ``"fp8_rowwise"``: one scale per row of each GEMM operand along its *non-contracted* dimension
  (per token and per output feature in the forward; per token and per in-feature for dgrad; per
  output feature and per in-feature for wgrad). A scale must be constant along the contracted
  dimension to be pulled out of the sum, so each backward matmul re-casts its operands along the
  other axis (as torchao's rowwise recipe does);
* ``"fp32"``: no quantisation, float32 matmuls: the exact-arithmetic reference the tests use to
  show that the rotations change nothing but the rounding.

HALO levels (``HaloConfig.halo_level``; R = block-diagonal normalised Sylvester Hadamard, symmetric
and orthogonal, so R R = I):

* 0: no rotation;
* 1: rotate inputs and weights along the in-features before the forward cast,
  ``x W^T = (x R)(W R)^T``; the backward matmuls run on the rotated casts and their results are
  rotated back, ``dx = (g @ (W R)) R``, ``dW = (g^T @ (x R)) R``;
* 2: also rotate the output gradient along the tokens, g_t = R_T g, before it is cast (one cast
  serves both backward matmuls): ``dx = R_T ((R_T g) @ (W R)) R`` and, rotating x along tokens
  too so the token contraction is unchanged, ``dW = ((R_T g)^T @ (R_T x R)) R``. The token
  rotation spreads the few tokens with large gradients over their block, which is what a
  per-tensor scale needs.

In exact arithmetic every level computes the same y, dx, dW (tests/test_kernels_halo.py checks it in
float32); in FP8 the rotations only change what is rounded. Rotations are dense block matmuls
(block ``HaloConfig.block_size``, or the full dimension with ``None``): on a GPU a 128-block
rotation is a memory-bound bf16 matmul (ANCHORS.md: ~3.5 TB/s on an H200).

Casts (``HaloConfig.cast``): ``"triton"`` (the CUDA default) is kernels/fp8_cast.py's two fused
passes per tensor, one for the amax (tensor, rows and / or columns at once) and one for scale,
saturating cast and the transposed copy a backward GEMM needs; ``"torch"`` (the CPU default) is
the eager kernels.fp8 casts on the CPU and one ``torch.compile`` graph on CUDA. Both compute the same
codes and scales bit for bit (tests/test_kernels_halo.py and tests/test_kernels_fp8_cast.py run the
Triton casts in the interpreter against the torch ones). Which casts a step makes:

* tensorwise: x, W in the forward, each with its transposed copy (x^T for dW's column-major
  operand, W^T for dx's), and g in the backward with g^T (dW's row-major operand): one amax pass
  and one cast pass each. HALO-2 adds x rotated along tokens in the backward (its transposed copy only).
* rowwise: the same tensors, each quantised per row into q and per column into the transposed
  copy (the amax pass computes both maxima; the cast pass writes both outputs).

The forward keeps the transposed copies the backward needs (fp8, a byte per element) instead of
re-casting there.

The FP8 GEMM goes through one function, :func:`fp8_matmul`, with a ``backend``:

* ``"decoded"`` (CPU default): the FP8 operands decoded (exactly) to float64, one float64 matmul,
  then one rounding to float32 and the scales, ``(acc * scale_a) * scale_b``. FP8 x FP8 products
  are exact in float64 and so is their sum while it fits 53 bits (always for e4m3 x e4m3 with
  K < 2**17: every product is a multiple of 2**-18 below 2**18), so this is the exactly rounded
  scaled product: stricter than any GPU accumulation order;
* ``"emulated"``: ``kernels.fp8.scaled_fp8_gemm_emulated``, sequential FP32 accumulation, the
  order the sim/ and RTL FP8 MAC use (slow: K torch ops; small shapes only);
* ``"scaled_mm"`` (CUDA default): ``torch._scaled_mm`` (cuBLASLt FP8 GEMM, FP32 accumulation). It
  also runs on the CPU with torch >= 2.13, which the tests use to exercise this path's operand
  layouts (row-major a, column-major b) and scale shapes without a GPU.

Nothing falls back silently: a backend that cannot run on the operands raises.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
from torch import nn

from kernels._triton_env import COMPILE_ONLY
from kernels.fp8 import FP8_DTYPES, FP8_MAX, quantize_fp8
from kernels.fp8_cast import Fp8Cast, fp8_quantize

__all__ = [
    "CASTS",
    "GEMM_BACKENDS",
    "RECIPES",
    "FP8Linear",
    "HaloConfig",
    "HaloLinear",
    "HaloLinearFunction",
    "fp8_matmul",
    "linear_flops",
    "quantize",
    "rotate",
    "swap_linears_",
    "with_config",
]

RECIPES = ("bf16", "fp8_tensorwise", "fp8_rowwise", "fp32")
GEMM_BACKENDS = ("auto", "decoded", "emulated", "scaled_mm")
CASTS = ("auto", "torch", "triton")
FLOAT_DTYPES = (torch.float32, torch.bfloat16, torch.float16)


# ---------------------------------------------------------------------------------- config
@dataclass(frozen=True)
class HaloConfig:
    """How a :class:`HaloLinear` computes.

    recipe: "bf16" | "fp8_tensorwise" | "fp8_rowwise" | "fp32" (module docstring).
    halo_level: 0 (no rotation), 1 (in-features), 2 (also the output gradient along tokens).
    block_size: Hadamard block, a power of two, or None for the full dimension (then the
        dimension itself must be a power of two). The rotated dimension must be a multiple of it.
    grad_fmt: FP8 format of the output gradient, "e5m2" (default: range for gradients) or "e4m3"
        (HALO's all-e4m3 choice).
    gemm: FP8 GEMM backend, "auto" (scaled_mm on CUDA, decoded on CPU), "decoded", "emulated",
        "scaled_mm".
    check_scales: raise on an all-zero or non-finite tensor (row) before casting. Needs the amax
        on the host, i.e. a device sync per cast on a GPU; with False a zero amax gets a tiny
        scale instead (the cast then gives zeros) and no sync happens (for timing).
    cast: how the FP8 casts run, "auto" (triton on CUDA, torch on the CPU), "torch" (kernels.fp8
        on the CPU, a torch.compile graph on CUDA) or "triton" (kernels/fp8_cast.py; on the CPU only
        under TRITON_INTERPRET=1). Same codes and scales either way.
    """

    recipe: str = "fp8_tensorwise"
    halo_level: int = 0
    block_size: int | None = None
    grad_fmt: str = "e5m2"
    gemm: str = "auto"
    check_scales: bool = True
    cast: str = "auto"

    def __post_init__(self) -> None:
        if self.recipe not in RECIPES:
            raise ValueError(f"recipe must be one of {RECIPES}, got {self.recipe!r}")
        if isinstance(self.halo_level, bool) or self.halo_level not in (0, 1, 2):
            raise ValueError(f"halo_level must be 0, 1 or 2, got {self.halo_level!r}")
        b = self.block_size
        if b is not None and (isinstance(b, bool) or not isinstance(b, int) or b < 2 or b & (b - 1)):
            raise ValueError(f"block_size must be a power of two >= 2 or None (full dimension), got {b!r}")
        if self.grad_fmt not in ("e4m3", "e5m2"):
            raise ValueError(f"grad_fmt must be 'e4m3' or 'e5m2', got {self.grad_fmt!r}")
        if self.gemm not in GEMM_BACKENDS:
            raise ValueError(f"gemm must be one of {GEMM_BACKENDS}, got {self.gemm!r}")
        if not isinstance(self.check_scales, bool):
            raise TypeError(f"check_scales must be a bool, got {self.check_scales!r}")
        if self.cast not in CASTS:
            raise ValueError(f"cast must be one of {CASTS}, got {self.cast!r}")

    @property
    def is_fp8(self) -> bool:
        return self.recipe.startswith("fp8")

    @property
    def granularity(self) -> str:
        return "rowwise" if self.recipe == "fp8_rowwise" else "tensorwise"

    @property
    def name(self) -> str:
        """A short label: the recipe, plus the HALO level when there is one."""
        return self.recipe if self.halo_level == 0 else f"{self.recipe}+halo{self.halo_level}"


def _block_for(n: int, block: int | None, what: str) -> int:
    """The rotation block for a dimension of length n, with a clear error when it does not fit."""
    if block is None:
        if n < 2 or n & (n - 1):
            raise ValueError(f"{what} = {n} must be a power of two >= 2 for a full Hadamard rotation "
                             "(or set block_size to a power of two dividing it)")
        return n
    if n % block:
        raise ValueError(f"{what} = {n} must be a multiple of block_size = {block} for a block Hadamard rotation")
    return block


# ---------------------------------------------------------------------------------- rotation
_H_CACHE: dict = {}


def _hadamard_normalised(n: int, dtype: torch.dtype, device) -> torch.Tensor:
    key = (n, dtype, str(device))
    if key not in _H_CACHE:
        from kernels.hadamard import hadamard_matrix

        _H_CACHE[key] = (hadamard_matrix(n, torch.float64) / math.sqrt(n)).to(dtype=dtype, device=device)
    return _H_CACHE[key]


def _compute_dtype(x: torch.Tensor) -> torch.dtype:
    # half-precision matmuls on the CPU are slow and not what a GPU does (fp32 accumulation of a
    # bf16 product); on a GPU the rotation stays in the tensor's dtype (a bf16 tensor-core matmul),
    # and so it does for bench/sm90.py's CPU stand-ins (COMPILE_ONLY), so that the casts after a
    # rotation compile for the dtype they get on the GPU
    if x.device.type == "cpu" and x.dtype in (torch.bfloat16, torch.float16) and not COMPILE_ONLY:
        return torch.float32
    return x.dtype


def rotate(x: torch.Tensor, block: int | None, dim: int) -> torch.Tensor:
    """x @ R along ``dim`` (0 or -1) of a 2-D matrix, R = blockdiag(H_b / sqrt(b)).

    R is symmetric and orthogonal, so ``rotate(rotate(x, b, d), b, d) == x`` up to rounding. Dense
    block matmul; computed in float32 for half-precision inputs on the CPU, otherwise in x's dtype.
    """
    if not isinstance(x, torch.Tensor) or x.dim() != 2:
        raise ValueError(f"x must be a 2-D tensor, got {getattr(x, 'shape', type(x).__name__)}")
    if dim not in (0, -1, 1):
        raise ValueError(f"dim must be 0 or -1, got {dim!r}")
    rows, cols = x.shape
    n = rows if dim == 0 else cols
    b = _block_for(n, block, "the token count (rows)" if dim == 0 else "in_features (columns)")
    dt = _compute_dtype(x)
    h = _hadamard_normalised(b, dt, x.device)
    xc = x.to(dt)
    if dim == 0:
        return torch.matmul(h, xc.reshape(rows // b, b, cols)).reshape(rows, cols)
    return torch.matmul(xc.reshape(rows * (cols // b), b), h).reshape(rows, cols)  # one 2-D matmul


# ---------------------------------------------------------------------------------- casts
def _quantize_torch(x: torch.Tensor, fmt: str, dim: int | None, check: bool):
    """Same arithmetic as kernels.fp8.quantize_fp8 (x / scale in float32, clamp, RNE cast), any axis."""
    xf = x.to(torch.float32)
    amax = xf.abs().amax() if dim is None else xf.abs().amax(dim=dim, keepdim=True)
    if check:
        _check_amax(amax, dim)
    else:
        amax = amax.clamp(min=torch.finfo(torch.float32).tiny)
    scale = amax / FP8_MAX[fmt]
    m = FP8_MAX[fmt]
    return (xf / scale).clamp(-m, m).to(FP8_DTYPES[fmt]), scale


def _check_amax(amax: torch.Tensor, dim) -> None:
    bad = ~torch.isfinite(amax) | (amax == 0)
    if bool(bad.any()):
        where = "" if dim is None else f" (first at index {int(bad.reshape(-1).nonzero()[0])} along the kept axis)"
        raise ValueError(f"cannot cast to FP8: amax is 0 or non-finite{where}; an all-zero or non-finite "
                         "tensor (row) has no scale")


_COMPILED_QUANTIZE = None


def _resolve_cast(cast: str, device) -> str:
    if cast not in CASTS:
        raise ValueError(f"cast must be one of {CASTS}, got {cast!r}")
    if cast == "auto":
        return "triton" if torch.device(device).type == "cuda" else "torch"
    return cast


def quantize(x: torch.Tensor, fmt: str, granularity: str, dim: int = 1, *, check: bool = True, cast: str = "auto"):
    """(x_fp8, scale) of a 2-D tensor, ``x ~ x_fp8 * scale``.

    tensorwise: scale is 0-d. rowwise: one scale per slice along ``dim`` (the contracted axis):
    dim=1 gives an (M, 1) scale (one per row), dim=0 a (1, K) scale (one per column).
    ``cast`` "torch": on the CPU ``kernels.fp8.quantize_fp8`` (the house casts, with their errors), on
    CUDA the same arithmetic in one fused ``torch.compile`` graph; "triton": kernels/fp8_cast.py (an
    amax pass and a cast pass; dim=0 returns the transpose of the kernel's row-major transposed
    copy); "auto": triton on CUDA, torch on the CPU. The same codes and scales in every case.
    """
    if granularity not in ("tensorwise", "rowwise"):
        raise ValueError(f"granularity must be 'tensorwise' or 'rowwise', got {granularity!r}")
    if dim not in (0, 1):
        raise ValueError(f"dim must be 0 or 1, got {dim!r}")
    if _resolve_cast(cast, x.device) == "triton":
        if granularity == "tensorwise" or dim == 1:
            c = fp8_quantize(x, fmt, granularity, check=check)
            return c.q, c.scale
        c = fp8_quantize(x, fmt, granularity, out=False, out_t=True, check=check)
        return c.qt.t(), c.scale_t.t()
    if x.device.type == "cpu":
        if granularity == "tensorwise":
            return quantize_fp8(x, fmt, "tensorwise")
        if dim == 1:
            return quantize_fp8(x, fmt, "rowwise")
        q, s = quantize_fp8(x.t(), fmt, "rowwise")
        return q.t(), s.t()
    global _COMPILED_QUANTIZE
    if _COMPILED_QUANTIZE is None:
        _COMPILED_QUANTIZE = torch.compile(_quantize_torch, dynamic=True)
    d = None if granularity == "tensorwise" else dim
    if check:  # the amax check reads back to the host: outside the compiled graph
        _check_amax(x.abs().amax() if d is None else x.abs().amax(dim=d, keepdim=True), d)
    return _COMPILED_QUANTIZE(x, fmt, d, False)


def _cast(x: torch.Tensor, fmt: str, granularity: str, *, out: bool, out_t: bool, check: bool,
          cast: str) -> Fp8Cast:
    """x (R, C) quantised into q (R, C) (``out``) and / or the transposed copy qt (C, R) (``out_t``), both
    row-major: tensorwise one 0-d scale; rowwise q per row of x (scale (R, 1)) and qt per column of x
    (scale_t (C, 1)). triton: two fused passes (kernels/fp8_cast.py); torch: :func:`quantize` and a copy."""
    if _resolve_cast(cast, x.device) == "triton":
        return fp8_quantize(x, fmt, granularity, out=out, out_t=out_t, check=check)
    if granularity == "tensorwise":
        q, s = quantize(x, fmt, "tensorwise", check=check, cast="torch")
        return Fp8Cast(q if out else None, s, q.t().contiguous() if out_t else None, s)
    q = s = qt = st = None
    if out:
        q, s = quantize(x, fmt, "rowwise", 1, check=check, cast="torch")
    if out_t:
        q0, s0 = quantize(x, fmt, "rowwise", 0, check=check, cast="torch")
        qt, st = q0.t().contiguous(), s0.t()
    return Fp8Cast(q, s, qt, st)


# ---------------------------------------------------------------------------------- the FP8 GEMM
def _scale_ok(s, shapes) -> bool:
    return isinstance(s, torch.Tensor) and s.dtype == torch.float32 and tuple(s.shape) in shapes


def fp8_matmul(a: torch.Tensor, b: torch.Tensor, scale_a: torch.Tensor, scale_b: torch.Tensor, *,
               backend: str = "auto", out_dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(a @ b) * scale_a * scale_b for FP8 a (M, K), b (K, N); the one place the FP8 GEMM happens.

    scale_a: 0-d or (M, 1) float32; scale_b: 0-d or (1, N) float32. ``backend``: "auto" (scaled_mm
    on CUDA, decoded on the CPU), "decoded", "emulated", "scaled_mm" (module docstring).
    """
    for name, t in (("a", a), ("b", b)):
        if not isinstance(t, torch.Tensor) or t.dtype not in FP8_DTYPES.values():
            got = t.dtype if isinstance(t, torch.Tensor) else type(t).__name__
            raise TypeError(f"{name} must be a torch.float8_e4m3fn or float8_e5m2 tensor, got {got}")
        if t.dim() != 2:
            raise ValueError(f"{name} must be a 2-D matrix, got shape {tuple(t.shape)}")
    (M, K), (K2, N) = a.shape, b.shape
    if K != K2:
        raise ValueError(f"inner dimensions must match: a is (M, K) = {(M, K)} but b is (K, N) = {(K2, N)}")
    if a.device != b.device:
        raise ValueError(f"a and b must be on the same device, got {a.device} and {b.device}")
    if not _scale_ok(scale_a, ((), (M, 1))):
        raise ValueError(f"scale_a must be a float32 tensor of shape () or ({M}, 1), got "
                         f"{getattr(scale_a, 'dtype', type(scale_a).__name__)} {tuple(getattr(scale_a, 'shape', ()))}")
    if not _scale_ok(scale_b, ((), (1, N))):
        raise ValueError(f"scale_b must be a float32 tensor of shape () or (1, {N}), got "
                         f"{getattr(scale_b, 'dtype', type(scale_b).__name__)} {tuple(getattr(scale_b, 'shape', ()))}")
    if backend not in GEMM_BACKENDS:
        raise ValueError(f"backend must be one of {GEMM_BACKENDS}, got {backend!r}")
    if backend == "auto":
        backend = "scaled_mm" if a.device.type == "cuda" else "decoded"
    if backend == "scaled_mm":
        if a.device.type == "cuda":  # cuBLASLt's limits (the CPU kernel of torch >= 2.13 has none of them)
            if a.dtype == b.dtype == torch.float8_e5m2:
                raise ValueError("a and b are both float8_e5m2: cuBLASLt has no e5m2 x e5m2 GEMM (make one e4m3)")
            if M % 16 or K % 16 or N % 16:
                raise ValueError(f"torch._scaled_mm needs M, K, N divisible by 16 on CUDA, got M={M}, K={K}, N={N}")
        a_rm = a if a.is_contiguous() else a.contiguous()  # row-major a
        b_cm = b if b.t().is_contiguous() else b.t().contiguous().t()  # column-major b
        rowwise = scale_a.dim() == 2 or scale_b.dim() == 2
        if rowwise:  # cuBLAS / CUTLASS rowwise wants both scales as vectors
            scale_a = scale_a.expand(M, 1).contiguous() if scale_a.dim() == 0 else scale_a.contiguous()
            scale_b = scale_b.expand(1, N).contiguous() if scale_b.dim() == 0 else scale_b.contiguous()
        return torch._scaled_mm(a_rm, b_cm, scale_a=scale_a, scale_b=scale_b, out_dtype=out_dtype)
    if backend == "emulated":
        from kernels.fp8 import scaled_fp8_gemm_emulated

        return scaled_fp8_gemm_emulated(a, b, scale_a, scale_b).to(out_dtype)
    # decoded: exact products, float64 sum, one rounding to float32, then the scales
    acc = torch.matmul(a.to(torch.float64), b.to(torch.float64)).to(torch.float32)
    return torch.mul(torch.mul(acc, scale_a), scale_b).to(out_dtype)


# ---------------------------------------------------------------------------------- the Function
def _mm_hp(a: torch.Tensor, b: torch.Tensor, recipe: str) -> torch.Tensor:
    """High-precision matmul of the bf16 / fp32 recipes (float32 result)."""
    if recipe == "bf16":
        if a.device.type == "cpu":  # bf16 operands, fp32 accumulation (what a tensor core does)
            return torch.matmul(a.to(torch.bfloat16).float(), b.to(torch.bfloat16).float())
        return torch.matmul(a.to(torch.bfloat16), b.to(torch.bfloat16))
    return torch.matmul(a.float(), b.float())


class HaloLinearFunction(torch.autograd.Function):
    """y = x @ W^T (+ bias) with x (T, K), W (N, K); config: a :class:`HaloConfig`."""

    @staticmethod
    def forward(ctx, x, weight, bias, config: HaloConfig):
        if not isinstance(config, HaloConfig):
            raise TypeError(f"config must be a HaloConfig, got {type(config).__name__}")
        if not isinstance(x, torch.Tensor) or x.dim() != 2:
            got = getattr(x, "shape", type(x).__name__)
            raise ValueError(f"x must be a 2-D (tokens, in_features) tensor, got {got}")
        _check_forward(x, weight, bias, config)
        lvl, blk, out_dtype = config.halo_level, config.block_size, x.dtype
        xr = rotate(x, blk, -1) if lvl >= 1 else x
        wr = rotate(weight, blk, -1) if lvl >= 1 else weight
        need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        if config.is_fp8:
            gran, chk, how = config.granularity, config.check_scales, config.cast
            rowwise = gran == "rowwise"
            # each operand cast once, with the transposed copy the backward needs (rowwise: that copy
            # per column, i.e. per in-feature, the non-contracted axis of the backward GEMMs):
            # x^T is dW's column-major operand (HALO-2 rotates x along tokens for dW: cast there),
            # W^T is dx's column-major operand
            keep_xt = need_w and lvl < 2
            xc = _cast(xr, "e4m3", gran, out=True, out_t=keep_xt, check=chk, cast=how)  # per token
            wc = _cast(wr, "e4m3", gran, out=True, out_t=need_x, check=chk, cast=how)  # per output feature
            mm_dtype = torch.bfloat16 if x.device.type == "cuda" and out_dtype == torch.bfloat16 else torch.float32
            y = fp8_matmul(xc.q, wc.q.t(), xc.scale, wc.scale.t() if rowwise else wc.scale, backend=config.gemm,
                           out_dtype=mm_dtype)
            saved = {"x": x} if need_w and lvl == 2 else {}
            if keep_xt:
                saved.update(xqt=xc.qt, sxt=xc.scale_t)
            if need_x:
                saved.update(wqt=wc.qt, swt=wc.scale_t)
        else:
            y = _mm_hp(xr, wr.t(), config.recipe)
            saved = {"x": x, "weight": weight}
        if bias is not None:
            y = y + bias
        keys = list(saved)
        ctx.save_for_backward(*[saved[k] for k in keys])
        ctx.keys, ctx.config, ctx.has_bias = keys, config, bias is not None
        ctx.x_dtype, ctx.w_dtype = x.dtype, weight.dtype
        return y.to(out_dtype)

    @staticmethod
    def backward(ctx, grad_out):
        saved = dict(zip(ctx.keys, ctx.saved_tensors))
        x, weight = saved.get("x"), saved.get("weight")
        cfg = ctx.config
        lvl, blk = cfg.halo_level, cfg.block_size
        g = grad_out.contiguous()
        need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        grad_b = g.float().sum(0).to(grad_out.dtype) if ctx.has_bias else None
        gt = rotate(g, blk, 0) if lvl == 2 else g  # HALO-2: output gradient along tokens

        def xr_tokens():  # x as the wgrad operand: rotated along in-features (lvl>=1) and tokens (lvl 2)
            xr = rotate(x, blk, -1) if lvl >= 1 else x
            return rotate(xr, blk, 0) if lvl == 2 else xr

        dxr = dwr = None
        if cfg.is_fp8 and (need_x or need_w):
            gran, chk, fmt, how = cfg.granularity, cfg.check_scales, cfg.grad_fmt, cfg.cast
            rowwise = gran == "rowwise"
            mm_dtype = torch.bfloat16 if g.device.type == "cuda" and g.dtype == torch.bfloat16 else torch.float32
            # g once: per token (rowwise) for dx, and transposed, per output feature (rowwise), for dW
            gc = _cast(gt, fmt, gran, out=need_x, out_t=need_w, check=chk, cast=how)
            if need_x:  # dx = g @ W: W column-major is the forward's row-major W^T
                sw = saved["swt"].t() if rowwise else saved["swt"]  # (1, K) rowwise: per in-feature
                dxr = fp8_matmul(gc.q, saved["wqt"].t(), gc.scale, sw, backend=cfg.gemm, out_dtype=mm_dtype)
            if need_w:  # dW = g^T @ x: g^T row-major, x column-major (x^T row-major)
                if lvl == 2:
                    xc = _cast(xr_tokens(), "e4m3", gran, out=False, out_t=True, check=chk, cast=how)
                    xqt, sxt = xc.qt, xc.scale_t
                else:
                    xqt, sxt = saved["xqt"], saved["sxt"]
                dwr = fp8_matmul(gc.qt, xqt.t(), gc.scale_t, sxt.t() if rowwise else sxt, backend=cfg.gemm,
                                 out_dtype=mm_dtype)
        elif not cfg.is_fp8:
            if need_x:
                wr = rotate(weight, blk, -1) if lvl >= 1 else weight
                dxr = _mm_hp(gt, wr, cfg.recipe)
            if need_w:
                dwr = _mm_hp(gt.t(), xr_tokens(), cfg.recipe)
        grad_x = grad_w = None
        if dxr is not None:
            if lvl == 2:
                dxr = rotate(dxr, blk, 0)  # undo the token rotation (R_T R_T = I)
            grad_x = (rotate(dxr, blk, -1) if lvl >= 1 else dxr).to(ctx.x_dtype)
        if dwr is not None:
            grad_w = (rotate(dwr, blk, -1) if lvl >= 1 else dwr).to(ctx.w_dtype)
        return grad_x, grad_w, grad_b, None


# ---------------------------------------------------------------------------------- the module
def _check_forward(x, weight, bias, config: HaloConfig) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"input must be a torch.Tensor, got {type(x).__name__}")
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(f"input must be float32, bfloat16 or float16, got {x.dtype}")
    if x.dim() < 1 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"input's last dimension must be in_features = {weight.shape[1]}, got shape {tuple(x.shape)}")
    if x.device != weight.device:
        raise ValueError(f"input is on {x.device} but the weight is on {weight.device}")
    if weight.dtype not in FLOAT_DTYPES:
        raise TypeError(f"weight must be float32, bfloat16 or float16, got {weight.dtype}")
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ValueError(f"bias must have shape ({weight.shape[0]},), got {tuple(bias.shape)}")
    K = weight.shape[1]
    T = x.numel() // K if K else 0
    if T == 0:
        raise ValueError(f"input has no tokens (shape {tuple(x.shape)})")
    if config.halo_level >= 1:
        _block_for(K, config.block_size, "in_features")
    grads = torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad)
    if config.halo_level == 2 and grads:  # the token rotation happens in the backward only
        _block_for(T, config.block_size, "the token count (input.numel() // in_features)")


class HaloLinear(nn.Linear):
    """``nn.Linear`` whose matmuls follow a :class:`HaloConfig` (FP8 casts, HALO rotations).

    Same parameters and state dict as nn.Linear; inputs of any leading shape (..., in_features).
    Validation happens in :meth:`forward` (in_features against the rotation block, token count for
    level 2) and in :meth:`from_linear` (the config).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, config: HaloConfig | None = None,
                 device=None, dtype=None):
        super().__init__(in_features, out_features, bias=bias, device=device, dtype=dtype)
        self.config = HaloConfig() if config is None else config
        if not isinstance(self.config, HaloConfig):
            raise TypeError(f"config must be a HaloConfig, got {type(self.config).__name__}")
        if self.config.halo_level >= 1:
            _block_for(in_features, self.config.block_size, "in_features")

    @classmethod
    def from_linear(cls, linear: nn.Linear, config: HaloConfig | None = None) -> HaloLinear:
        """A HaloLinear sharing ``linear``'s weight and bias Parameters (optimisers stay valid)."""
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"linear must be a torch.nn.Linear, got {type(linear).__name__}")
        new = cls(linear.in_features, linear.out_features, bias=linear.bias is not None, config=config,
                  device="meta")
        new.weight = linear.weight
        new.bias = linear.bias
        new.train(linear.training)
        return new

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        _check_forward(input, self.weight, self.bias, self.config)
        lead = input.shape[:-1]
        x2 = input.reshape(-1, self.in_features)
        y = HaloLinearFunction.apply(x2, self.weight, self.bias, self.config)
        return y.reshape(*lead, self.out_features)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", config={self.config.name}, block_size={self.config.block_size}"


#: The FP8 training linear without rotations is the same module at halo_level 0.
FP8Linear = HaloLinear


def swap_linears_(model: nn.Module, config: HaloConfig, skip=()) -> list[str]:
    """Replace, in place, every ``nn.Linear`` of ``model`` (not already a HaloLinear) by a
    :class:`HaloLinear` sharing its parameters; ``skip`` names modules (dotted names) to leave alone.
    Returns the names swapped."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(config, HaloConfig):
        raise TypeError(f"config must be a HaloConfig, got {type(config).__name__}")
    skip = set(skip)
    swapped = []
    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            full = f"{name}.{child_name}" if name else child_name
            if type(child) is nn.Linear and full not in skip:
                setattr(module, child_name, HaloLinear.from_linear(child, config))
                swapped.append(full)
    return swapped


def linear_flops(tokens: int, out_features: int, in_features: int) -> int:
    """Floating-point operations of forward + backward of a linear layer: 3 matmuls of 2 T N K."""
    return 3 * 2 * tokens * out_features * in_features


def with_config(module: nn.Module, **changes) -> None:
    """Change the config of every HaloLinear in ``module`` (e.g. recipe) in place."""
    for m in module.modules():
        if isinstance(m, HaloLinear):
            m.config = replace(m.config, **changes)
