"""
Decode attention over a quantised KV cache, in Triton (flash-decoding, WKVQuant's past-only)
=============================================================================================

One query token per sequence and head attends to its context: the past tokens in the KV cache
and (WKVQuant's past-only quantisation, kernels/kv_quant.py) its own key and value in full
precision. At decode time this step is bound by reading the cache: at 32k tokens one head of one
sequence reads 8 MiB of bf16 K and V and does 2 multiply-adds per element read. So the kernel
reads the cache as stored, packed 2-, 4- or 8-bit codes with per-token group parameters, and
dequantises in registers; the bytes it moves are the packed bytes.

    out = decode_attention(q, k_cache, v_cache, k_new, v_new)

* ``q`` (B, H, D) fp16 / bf16 / fp32, the query of the current token;
* ``k_cache``, ``v_cache``: two :class:`kernels.kv_quant.QuantizedKV` of shape (B, H, T, D) (the
  quantised mode; K and V may differ in bits, group size and smoothing), or two (B, H, T, D)
  tensors of q's dtype (the dense mode: the same kernel structure reading bf16, the peer the
  quantised mode is measured against);
* ``k_new``, ``v_new`` (B, H, D), q's dtype: the current token's key and value, exact (past-only);
  optional (without them the cache holds the whole context). The context is T (+ 1) >= 1 tokens.

The output is (B, H, D) in q's dtype: softmax(q K^T sm_scale) V over the context, in fp32.

Why it is written this way
--------------------------
* **Split over the context, combined deterministically** (flash-decoding). At decode time there
  are only B x H (query, head) pairs, often fewer than an H100's 132 SMs want for memory
  parallelism, so the context is cut into ``num_splits`` chunks of whole BLOCK_T tiles: one
  program per (sequence, head, chunk) streams its chunk with an online softmax (running max m,
  running sum l, running fp32 output), and writes (m, l, acc) to a small fp32 workspace. A second
  kernel, one program per (sequence, head), combines the chunks in split order with the
  current token: no atomics, the same result every run. ``num_splits`` is chosen from B x H, T
  and the SM count (about 4 programs per SM), never from the data, or given.
  Every chunk holds at least one token, so every running max is finite (no inf - inf).
* **Codes unpacked without a gather.** A tile of BLOCK_T tokens is loaded as packed int32 words,
  (BLOCK_T, W) with W = D b / 32, each word once, and cut into a (BLOCK_T, W, 32 / b) tile of
  codes by one shift and mask per code. The query is laid out the same way, (W, 32 / b).
* **Per-channel parameters folded into the query, per-token ones applied per word.** With
  k = (code sc_t + mn_t) s_c + d_c (sc, mn: the token's group scale and minimum; s, d: the
  channel smoothing), q . k = sum_w sc_t,g(w) (q'_w . code_w) + sum_w mn_t,g(w) sum(q'_w)
  + q . d with q' = q s (a group holds whole words, so g depends on the word only). So per code:
  unpack and one fused multiply-add; per word: the group's scale and minimum. For V the
  softmax weight p_t times the group scale multiplies the codes, the minimums are summed
  separately per word, and the channel scale and shift are applied once per chunk at the end:
  out~ = sum_t p_t v~_t, out = out~ s + d l.
* **fp32 softmax in base 2.** Scores are kept as log2 values (q pre-scaled by sm_scale log2 e),
  so each exponential is one exp2.

Accuracy (:func:`decode_attention_tolerance`): the kernel and :func:`decode_attention_reference`
(float64 on the dequantised cache: the same stored values) differ only by fp32 rounding of the
dot products, the exponentials and the sums, bounded there from first principles.
"""

from __future__ import annotations

import contextlib
import math

import torch

from kernels._triton_env import CPU_LAUNCH_OK, TRITON_INTERPRET, tl, triton
from kernels.kv_quant import QuantizedKV, dequantize_kv, unpack_kv_codes

__all__ = [
    "HEAD_DIMS",
    "decode_attention",
    "decode_attention_reference",
    "decode_attention_tolerance",
    "plan_splits",
]

#: head dimensions the kernel is built for (powers of two: tiles are powers of two)
HEAD_DIMS = (32, 64, 128)
#: query / current-token / dense-cache dtypes
DTYPES = (torch.float16, torch.bfloat16, torch.float32)
#: programs per SM the context split aims for (memory parallelism of a bandwidth-bound kernel)
PROGRAMS_PER_SM = 4
#: SMs assumed when the operands are not on a CUDA device (interpreter, compile-only): H100 / H200
DEFAULT_SM_COUNT = 132
LOG2E = 1.4426950408889634
NUM_WARPS = 4


def block_t(head_dim: int) -> int:
    """Tokens per tile: the (BLOCK_T x D) tiles of K and V live in registers at once; 64 tokens up
    to D = 64 and 32 at D = 128 keep each at most 4096 elements (32 fp32 per thread at 4 warps),
    which compiles without spills on sm_90 (bench/sm90.py)."""
    return max(16, min(64, 4096 // head_dim))


def plan_splits(batch_heads: int, T: int, head_dim: int, sm_count: int | None = None,
                num_splits: int | None = None) -> tuple[int, int]:
    """(number of chunks, tokens per chunk) of a T-token cache for ``batch_heads`` (sequence, head)
    pairs: whole tiles per chunk, about PROGRAMS_PER_SM programs per SM, no empty chunk; T = 0
    gives (0, 0) (only the current token)."""
    bt = block_t(head_dim)
    if T == 0:
        return 0, 0
    n_tiles = triton.cdiv(T, bt)
    if num_splits is None:
        sms = DEFAULT_SM_COUNT if sm_count is None else sm_count
        num_splits = triton.cdiv(PROGRAMS_PER_SM * sms, max(batch_heads, 1))
    splits = max(1, min(num_splits, n_tiles))
    chunk = triton.cdiv(n_tiles, splits) * bt
    return triton.cdiv(T, chunk), chunk


# %%
# The kernels
# -----------


@triton.jit
def _unpack_codes(words, BITS: tl.constexpr, CPW: tl.constexpr):
    """(BLOCK_T, W) int32 words -> (BLOCK_T, W, CPW) float32 codes (code j at bits [j BITS, ...))."""
    shifts = tl.arange(0, CPW) * BITS
    return ((words[:, :, None] >> shifts[None, None, :]) & ((1 << BITS) - 1)).to(tl.float32)


@triton.jit
def decode_partial_quant_kernel(
    q_ptr, kc_ptr, ks_ptr, km_ptr, vc_ptr, vs_ptr, vm_ptr,
    k_chs_ptr, k_chd_ptr, v_chs_ptr, v_chd_ptr,
    acc_ptr, ml_ptr,
    H, T, chunk, n_splits, qk_scale,
    sq_b, sq_h, sq_d,
    skc_b, skc_h, skc_t, skc_w, sks_b, sks_h, sks_t, sks_g, skm_b, skm_h, skm_t, skm_g,
    svc_b, svc_h, svc_t, svc_w, svs_b, svs_h, svs_t, svs_g, svm_b, svm_h, svm_t, svm_g,
    D: tl.constexpr, K_BITS: tl.constexpr, V_BITS: tl.constexpr, K_GROUP: tl.constexpr, V_GROUP: tl.constexpr,
    K_SMOOTH: tl.constexpr, V_SMOOTH: tl.constexpr, BLOCK_T: tl.constexpr,
):
    """One (sequence, head, chunk): online softmax over the chunk's quantised past tokens; writes
    the chunk's fp32 output sum (D), running max and running sum to the workspace."""
    pid = tl.program_id(0)
    split = tl.program_id(1)
    b = (pid // H).to(tl.int64)
    h = pid % H
    # K in the packed layout: word w holds channels w * K_CPW + j, j < K_CPW
    K_CPW: tl.constexpr = 32 // K_BITS
    K_W: tl.constexpr = D // K_CPW
    kw = tl.arange(0, K_W)
    kch = kw[:, None] * K_CPW + tl.arange(0, K_CPW)[None, :]  # (K_W, K_CPW) channel of each code
    q = tl.load(q_ptr + b * sq_b + h * sq_h + kch * sq_d).to(tl.float32) * qk_scale
    q_bias = 0.0
    if K_SMOOTH:  # k = k~ s + d: q . k = (q s) . k~ + q . d
        q_bias = tl.sum(tl.sum(q * tl.load(k_chd_ptr + h * D + kch), 1), 0)
        q = q * tl.load(k_chs_ptr + h * D + kch)
    q_word_sum = tl.sum(q, 1)  # (K_W,): what each word's group minimum multiplies
    k_group = kw // (K_GROUP // K_CPW)  # a group holds whole words
    V_CPW: tl.constexpr = 32 // V_BITS
    V_W: tl.constexpr = D // V_CPW
    vw = tl.arange(0, V_W)
    v_group = vw // (V_GROUP // V_CPW)

    kc_base = kc_ptr + b * skc_b + h * skc_h
    ks_base = ks_ptr + b * sks_b + h * sks_h
    km_base = km_ptr + b * skm_b + h * skm_h
    vc_base = vc_ptr + b * svc_b + h * svc_h
    vs_base = vs_ptr + b * svs_b + h * svs_h
    vm_base = vm_ptr + b * svm_b + h * svm_h

    start = split * chunk
    end = tl.minimum(start + chunk, T)
    m_i = tl.full((), float("-inf"), tl.float32)
    l_i = tl.full((), 0.0, tl.float32)
    acc = tl.zeros((V_W, V_CPW), tl.float32)  # sum_t p_t sc_t code_t (per code)
    acc_min = tl.zeros((V_W,), tl.float32)  # sum_t p_t mn_t (per word's group)
    for t0 in range(start, end, BLOCK_T):
        t = t0 + tl.arange(0, BLOCK_T)
        live = t < end  # every tile starts inside the chunk: at least one live token
        kwords = tl.load(kc_base + t[:, None] * skc_t + kw[None, :] * skc_w, mask=live[:, None], other=0)
        ksc = tl.load(ks_base + t[:, None] * sks_t + k_group[None, :] * sks_g, mask=live[:, None], other=0.0)
        kmn = tl.load(km_base + t[:, None] * skm_t + k_group[None, :] * skm_g, mask=live[:, None], other=0.0)
        dots = tl.sum(_unpack_codes(kwords, K_BITS, K_CPW) * q[None, :, :], 2)  # (BLOCK_T, K_W)
        s = tl.sum(ksc.to(tl.float32) * dots + kmn.to(tl.float32) * q_word_sum[None, :], 1) + q_bias
        s = tl.where(live, s, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, 0))
        alpha = tl.exp2(m_i - m_new)
        p = tl.exp2(s - m_new)  # 0 for the dead tokens
        l_i = l_i * alpha + tl.sum(p, 0)

        vwords = tl.load(vc_base + t[:, None] * svc_t + vw[None, :] * svc_w, mask=live[:, None], other=0)
        vsc = tl.load(vs_base + t[:, None] * svs_t + v_group[None, :] * svs_g, mask=live[:, None], other=0.0)
        vmn = tl.load(vm_base + t[:, None] * svm_t + v_group[None, :] * svm_g, mask=live[:, None], other=0.0)
        pw = p[:, None] * vsc.to(tl.float32)  # (BLOCK_T, V_W)
        acc = acc * alpha + tl.sum(pw[:, :, None] * _unpack_codes(vwords, V_BITS, V_CPW), 0)
        acc_min = acc_min * alpha + tl.sum(p[:, None] * vmn.to(tl.float32), 0)
        m_i = m_new

    out = acc + acc_min[:, None]  # sum_t p_t v~_t
    vch = vw[:, None] * V_CPW + tl.arange(0, V_CPW)[None, :]
    if V_SMOOTH:  # v = v~ s + d: sum_t p_t v_t = s sum_t p_t v~_t + d l
        out = out * tl.load(v_chs_ptr + h * D + vch) + tl.load(v_chd_ptr + h * D + vch) * l_i
    row = pid * n_splits + split
    tl.store(acc_ptr + row * D + vch, out)
    tl.store(ml_ptr + row * 2, m_i)
    tl.store(ml_ptr + row * 2 + 1, l_i)


@triton.jit
def decode_partial_dense_kernel(
    q_ptr, k_ptr, v_ptr, acc_ptr, ml_ptr,
    H, T, chunk, n_splits, qk_scale,
    sq_b, sq_h, sq_d, sk_b, sk_h, sk_t, sk_d, sv_b, sv_h, sv_t, sv_d,
    D: tl.constexpr, BLOCK_T: tl.constexpr,
):
    """The dense (fp16 / bf16 / fp32 cache) chunk: the same online softmax, K and V read as stored."""
    pid = tl.program_id(0)
    split = tl.program_id(1)
    b = (pid // H).to(tl.int64)
    h = pid % H
    d = tl.arange(0, D)
    q = tl.load(q_ptr + b * sq_b + h * sq_h + d * sq_d).to(tl.float32) * qk_scale
    k_base = k_ptr + b * sk_b + h * sk_h
    v_base = v_ptr + b * sv_b + h * sv_h
    start = split * chunk
    end = tl.minimum(start + chunk, T)
    m_i = tl.full((), float("-inf"), tl.float32)
    l_i = tl.full((), 0.0, tl.float32)
    acc = tl.zeros((D,), tl.float32)
    for t0 in range(start, end, BLOCK_T):
        t = t0 + tl.arange(0, BLOCK_T)
        live = t < end
        k = tl.load(k_base + t[:, None] * sk_t + d[None, :] * sk_d, mask=live[:, None], other=0.0).to(tl.float32)
        s = tl.where(live, tl.sum(k * q[None, :], 1), float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, 0))
        alpha = tl.exp2(m_i - m_new)
        p = tl.exp2(s - m_new)
        l_i = l_i * alpha + tl.sum(p, 0)
        v = tl.load(v_base + t[:, None] * sv_t + d[None, :] * sv_d, mask=live[:, None], other=0.0).to(tl.float32)
        acc = acc * alpha + tl.sum(p[:, None] * v, 0)
        m_i = m_new
    row = pid * n_splits + split
    tl.store(acc_ptr + row * D + d, acc)
    tl.store(ml_ptr + row * 2, m_i)
    tl.store(ml_ptr + row * 2 + 1, l_i)


@triton.jit
def decode_combine_kernel(
    acc_ptr, ml_ptr, q_ptr, kn_ptr, vn_ptr, out_ptr,
    H, n_splits, qk_scale,
    sq_b, sq_h, sq_d, skn_b, skn_h, skn_d, svn_b, svn_h, svn_d, so_b, so_h, so_d,
    D: tl.constexpr, BLOCK_S: tl.constexpr, HAS_NEW: tl.constexpr,
):
    """One (sequence, head): the chunks in split order, plus the current token's exact key and
    value (past-only), rescaled to one running max; out = sum / normaliser in q's dtype."""
    pid = tl.program_id(0)
    b = (pid // H).to(tl.int64)
    h = pid % H
    sp = tl.arange(0, BLOCK_S)
    have = sp < n_splits
    row = pid * n_splits + sp
    m_s = tl.load(ml_ptr + row * 2, mask=have, other=float("-inf"))
    l_s = tl.load(ml_ptr + row * 2 + 1, mask=have, other=0.0)
    d = tl.arange(0, D)
    m = tl.max(m_s, 0)
    if HAS_NEW:
        q = tl.load(q_ptr + b * sq_b + h * sq_h + d * sq_d).to(tl.float32) * qk_scale
        s_new = tl.sum(q * tl.load(kn_ptr + b * skn_b + h * skn_h + d * skn_d).to(tl.float32), 0)
        m = tl.maximum(m, s_new)
    w = tl.where(have, tl.exp2(m_s - m), 0.0)
    parts = tl.load(acc_ptr + row[:, None] * D + d[None, :], mask=have[:, None], other=0.0)
    o = tl.sum(w[:, None] * parts, 0)
    norm = tl.sum(w * l_s, 0)
    if HAS_NEW:
        p_new = tl.exp2(s_new - m)
        o += p_new * tl.load(vn_ptr + b * svn_b + h * svn_h + d * svn_d).to(tl.float32)
        norm += p_new
    tl.store(out_ptr + b * so_b + h * so_h + d * so_d, (o / norm).to(out_ptr.dtype.element_ty))


# %%
# The launcher
# ------------


def _check_tensor(name: str, t, dims: int, dtypes=DTYPES) -> None:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.dtype not in dtypes:
        raise TypeError(f"{name} must have dtype float16, bfloat16 or float32, got {t.dtype}")
    if t.dim() != dims:
        raise ValueError(f"{name} must be {dims}-D, got shape {tuple(t.shape)}")


def _check_operands(q, k_cache, v_cache, k_new, v_new, sm_scale, num_splits, launch: bool = True
                    ) -> tuple[bool, int, float]:
    """Raise before anything is launched; return (quantised, T, sm_scale). ``launch``: also check
    that the Triton kernel can run on the operands' device (the reference runs anywhere)."""
    _check_tensor("q", q, 3)
    B, H, D = q.shape
    if D not in HEAD_DIMS:
        raise ValueError(f"head dimension D = {D} (q.shape[-1]) is not supported; decode_attention supports {HEAD_DIMS}")
    quantized = isinstance(k_cache, QuantizedKV)
    if quantized != isinstance(v_cache, QuantizedKV):
        raise TypeError("k_cache and v_cache must both be QuantizedKV (quantised cache) or both tensors (dense "
                        f"cache), got {type(k_cache).__name__} and {type(v_cache).__name__}")
    devices = {("q", q.device)}
    if quantized:
        for name, c in (("k_cache", k_cache), ("v_cache", v_cache)):
            if c.shape[0] != B or c.shape[1] != H or c.shape[3] != D:
                raise ValueError(f"{name} has shape {c.shape} (B, H, T, D); q needs (B, H, D) = {(B, H, D)}")
            devices.add((name, c.device))
            if c.smoothing is not None:
                devices.add((f"{name}.smoothing", c.smoothing.shift.device))
    else:
        for name, c in (("k_cache", k_cache), ("v_cache", v_cache)):
            _check_tensor(name, c, 4)
            if c.dtype != q.dtype:
                raise TypeError(f"{name} has dtype {c.dtype}; the dense cache must have q's dtype {q.dtype}")
            if c.shape[0] != B or c.shape[1] != H or c.shape[3] != D:
                raise ValueError(f"{name} has shape {tuple(c.shape)} (B, H, T, D); q needs (B, H, D) = {(B, H, D)}")
            devices.add((name, c.device))
    T = k_cache.shape[2]
    if v_cache.shape[2] != T:
        raise ValueError(f"k_cache holds {T} tokens but v_cache {v_cache.shape[2]}: they must match")
    if (k_new is None) != (v_new is None):
        raise ValueError("k_new and v_new (the current token's key and value) go together: give both or neither")
    if k_new is not None:
        for name, t in (("k_new", k_new), ("v_new", v_new)):
            _check_tensor(name, t, 3)
            if t.dtype != q.dtype:
                raise TypeError(f"{name} has dtype {t.dtype}; it must have q's dtype {q.dtype}")
            if tuple(t.shape) != (B, H, D):
                raise ValueError(f"{name} must have q's shape (B, H, D) = {(B, H, D)}, got {tuple(t.shape)}")
            devices.add((name, t.device))
    if T + (k_new is not None) == 0:
        raise ValueError("the KV length is 0: k_cache holds no tokens and there is no current token (k_new, v_new) "
                         "to attend to")
    if len({dev for _, dev in devices}) != 1:
        raise ValueError("all operands must be on one device, got " + ", ".join(f"{n} on {d}" for n, d in sorted(devices)))
    kind = q.device.type
    if launch and kind == "cpu" and not CPU_LAUNCH_OK:
        raise RuntimeError("the operands are on cpu but TRITON_INTERPRET=1 is not set: the compiled Triton kernel "
                           "needs CUDA tensors; move them to CUDA, or set TRITON_INTERPRET=1 before triton is imported")
    if launch and kind not in ("cuda", "cpu"):
        raise ValueError(f"the operands are on {q.device}; decode_attention runs on cuda (or on cpu under "
                         "TRITON_INTERPRET=1)")
    scale = 1.0 / math.sqrt(D) if sm_scale is None else sm_scale
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale) or scale <= 0:
        raise ValueError(f"sm_scale must be a positive finite number or None (1/sqrt(D)), got {sm_scale!r}")
    if num_splits is not None and (isinstance(num_splits, bool) or not isinstance(num_splits, int) or num_splits < 1):
        raise ValueError(f"num_splits must be a positive integer or None (automatic), got {num_splits!r}")
    return quantized, T, float(scale)


def _slice_span(t: torch.Tensor) -> int:
    """Largest element offset inside one (batch, head) slice of a (B, H, T, X) tensor."""
    return sum((n - 1) * s for n, s in zip(t.shape[2:], t.stride()[2:]) if n > 0)


def decode_attention(q: torch.Tensor, k_cache, v_cache, k_new: torch.Tensor | None = None,
                     v_new: torch.Tensor | None = None, *, sm_scale: float | None = None,
                     num_splits: int | None = None) -> torch.Tensor:
    """Attention of one query token per (sequence, head) over its cache (module docstring):
    (B, H, D) in q's dtype. ``num_splits``: chunks of the context (default: about 4 programs per SM)."""
    quantized, T, scale = _check_operands(q, k_cache, v_cache, k_new, v_new, sm_scale, num_splits)
    B, H, D = q.shape
    dev = q.device
    out = torch.empty((B, H, D), dtype=q.dtype, device=dev)
    if B * H == 0:
        return out
    sm_count = torch.cuda.get_device_properties(dev).multi_processor_count if q.is_cuda else None
    n_splits, chunk = plan_splits(B * H, T, D, sm_count, num_splits)
    acc = torch.empty((B * H, max(n_splits, 1), D), dtype=torch.float32, device=dev)
    ml = torch.empty((B * H, max(n_splits, 1), 2), dtype=torch.float32, device=dev)
    qk_scale = scale * LOG2E
    tensors = [q] + ([k_cache.codes, k_cache.scales, k_cache.mins, v_cache.codes, v_cache.scales, v_cache.mins]
                     if quantized else [k_cache, v_cache])
    for t in tensors[1:]:
        if _slice_span(t) > 2**31 - 1:
            raise ValueError(f"one (sequence, head) of the cache spans more than 2**31-1 elements "
                             f"({tuple(t.shape)}, strides {t.stride()}); the kernel indexes within it with int32")
    bt = block_t(D)
    with torch.cuda.device(dev) if q.is_cuda else contextlib.nullcontext():  # CPU: interpreter or compile-only
        if n_splits:
            grid = (B * H, n_splits)
            if quantized:
                kc, vc = k_cache, v_cache
                dummy = torch.ones(1, dtype=torch.float32, device=dev)
                ksm = (kc.smoothing.scale, kc.smoothing.shift) if kc.smoothing is not None else (dummy, dummy)
                vsm = (vc.smoothing.scale, vc.smoothing.shift) if vc.smoothing is not None else (dummy, dummy)
                for c in (kc, vc):
                    if c.smoothing is not None and not (c.smoothing.scale.is_contiguous()
                                                        and c.smoothing.shift.is_contiguous()):
                        raise ValueError("the cache's smoothing shift and scale must be contiguous (H, D) tensors")
                decode_partial_quant_kernel[grid](
                    q, kc.codes, kc.scales, kc.mins, vc.codes, vc.scales, vc.mins, *ksm, *vsm, acc, ml,
                    H, T, chunk, n_splits, qk_scale, *q.stride(),
                    *kc.codes.stride(), *kc.scales.stride(), *kc.mins.stride(),
                    *vc.codes.stride(), *vc.scales.stride(), *vc.mins.stride(),
                    D=D, K_BITS=kc.bits, V_BITS=vc.bits, K_GROUP=kc.group_size, V_GROUP=vc.group_size,
                    K_SMOOTH=kc.smoothing is not None, V_SMOOTH=vc.smoothing is not None, BLOCK_T=bt,
                    num_warps=NUM_WARPS)
            else:
                decode_partial_dense_kernel[grid](
                    q, k_cache, v_cache, acc, ml, H, T, chunk, n_splits, qk_scale, *q.stride(),
                    *k_cache.stride(), *v_cache.stride(), D=D, BLOCK_T=bt, num_warps=NUM_WARPS)
        has_new = k_new is not None
        kn, vn = (k_new, v_new) if has_new else (q, q)  # valid pointers for the unused loads
        decode_combine_kernel[(B * H,)](
            acc, ml, q, kn, vn, out, H, n_splits, qk_scale, *q.stride(), *kn.stride(), *vn.stride(), *out.stride(),
            D=D, BLOCK_S=triton.next_power_of_2(max(n_splits, 1)), HAS_NEW=has_new, num_warps=NUM_WARPS)
    return out


# %%
# The reference and its tolerance
# -------------------------------


def _context(k_cache, v_cache, k_new, v_new) -> tuple[torch.Tensor, torch.Tensor]:
    """The whole context's K and V, (B, H, T (+1), D) float64: the dequantised cache (+ the current token)."""
    k = dequantize_kv(k_cache, torch.float64) if isinstance(k_cache, QuantizedKV) else k_cache.to(torch.float64)
    v = dequantize_kv(v_cache, torch.float64) if isinstance(v_cache, QuantizedKV) else v_cache.to(torch.float64)
    if k_new is not None:
        k = torch.cat([k, k_new.to(torch.float64)[:, :, None]], dim=2)
        v = torch.cat([v, v_new.to(torch.float64)[:, :, None]], dim=2)
    return k, v


def decode_attention_reference(q: torch.Tensor, k_cache, v_cache, k_new: torch.Tensor | None = None,
                               v_new: torch.Tensor | None = None, *, sm_scale: float | None = None) -> torch.Tensor:
    """The torch reference, (B, H, D) float64: softmax attention in float64 over the dequantised
    cache (kernels.kv_quant.dequantize_kv) and the current token. Same checks as the kernel's,
    on any device."""
    _, _, scale = _check_operands(q, k_cache, v_cache, k_new, v_new, sm_scale, None, launch=False)
    k, v = _context(k_cache, v_cache, k_new, v_new)
    scores = torch.einsum("bhd,bhtd->bht", q.to(torch.float64), k) * scale
    return torch.einsum("bht,bhtd->bhd", torch.softmax(scores, dim=-1), v)


def _magnitudes(cache, new: torch.Tensor | None) -> torch.Tensor:
    """Per element, the largest magnitude among the terms the kernel adds to make it (float64,
    (B, H, T (+1), D)): |code sc| + |mn| times the channel scale, plus |channel shift|; or |x|."""
    if isinstance(cache, QuantizedKV):
        B, H, T, D = cache.shape
        g = cache.group_size
        codes = unpack_kv_codes(cache.codes, cache.bits).to(torch.float64).reshape(B, H, T, D // g, g)
        mag = (codes * cache.scales.to(torch.float64).abs()[..., None]
               + cache.mins.to(torch.float64).abs()[..., None]).reshape(B, H, T, D)
        if cache.smoothing is not None:
            mag = mag * cache.smoothing.scale.to(torch.float64)[:, None] + cache.smoothing.shift.to(torch.float64).abs()[:, None]
    else:
        mag = cache.to(torch.float64).abs()
    if new is not None:
        mag = torch.cat([mag, new.to(torch.float64).abs()[:, :, None]], dim=2)
    return mag


def decode_attention_tolerance(q: torch.Tensor, k_cache, v_cache, k_new: torch.Tensor | None = None,
                               v_new: torch.Tensor | None = None, *, sm_scale: float | None = None) -> torch.Tensor:
    """Per output element, how far the kernel may lie from :func:`decode_attention_reference`
    ((B, H, D) float64): twice the first-order bound of its fp32 rounding, u = 2^-24,
    gamma(n) = n u / (1 - n u):

    * each score (in log2 units) is a sum of at most D + 8 rounded fp32 terms: error at most
      gamma(D + 8) sum_c |q'_c| mag(k_tc) (mag: the magnitudes of the terms the kernel adds,
      :func:`_magnitudes`); so each softmax weight is off by a relative 2 ln 2 max_t of that
      (its own score and the running max), plus 4 u for exp2 (ex2.approx on the GPU: 2 ulp);
    * out = sum p v / sum p: a relative error e in every weight moves it by 2 e sum p|v| / sum p;
      the sums themselves add at most BLOCK_T terms per tile, 2 per tile across tiles and one per
      chunk: gamma(2 T/16 + 192 + D) sum p mag(v) / sum p (tiles of at least 16 tokens);
    * the output rounded to q's dtype: half its ulp of |out| (fp16 2^-11, bf16 2^-8).
    """
    _, _, scale = _check_operands(q, k_cache, v_cache, k_new, v_new, sm_scale, None, launch=False)
    u = 2.0 ** -24
    D = q.shape[-1]

    def gamma(n):
        return n * u / (1 - n * u)

    k, v = _context(k_cache, v_cache, k_new, v_new)
    T = k.shape[2]
    qd = q.to(torch.float64) * scale * LOG2E
    scores = torch.einsum("bhd,bhtd->bht", qd, k) * math.log(2)  # natural-log units
    p = torch.softmax(scores, dim=-1)
    # q' = q s (smoothing) times |code sc| + |mn|, plus q d: |q| times the K magnitudes
    ds = gamma(D + 8) * torch.einsum("bhd,bhtd->bht", qd.abs(), _magnitudes(k_cache, k_new)).amax(-1)  # log2 units
    e_w = 2 * math.log(2) * ds + 4 * u
    pv = torch.einsum("bht,bhtd->bhd", p, v.abs())
    pv_mag = torch.einsum("bht,bhtd->bhd", p, _magnitudes(v_cache, v_new))
    out_ulp = {torch.float32: 0.0, torch.float16: 2.0 ** -11, torch.bfloat16: 2.0 ** -8}[q.dtype]
    ref = torch.einsum("bht,bhtd->bhd", p, v)
    bound = 2 * e_w[..., None] * pv + gamma(2 * math.ceil(T / 16) + 192 + D) * pv_mag
    return 2 * bound + out_ulp * ref.abs() + 1e-300


if __name__ == "__main__":
    from kernels.kv_quant import calibrate_smoothing, quantize_kv

    device = "cpu" if TRITON_INTERPRET else "cuda"
    gen = torch.Generator().manual_seed(0)
    B, H, T, D = 2, 4, 100, 64
    kv = [torch.randn(B, H, T, D, generator=gen) for _ in range(2)]
    qq, kn, vn = (torch.randn(B, H, D, generator=gen) for _ in range(3))
    for bits in (4, 2):
        kc, vc = (quantize_kv(x, bits, smoothing=calibrate_smoothing(x)).to(device) for x in kv)
        args = (qq.to(device), kc, vc, kn.to(device), vn.to(device))
        got = decode_attention(*args).double().cpu()
        want = decode_attention_reference(*(a.to("cpu") for a in args))
        print(f"decode attention {bits}-bit, B={B} H={H} T={T}+1 D={D} on {device}: max |diff| "
              f"{float((got - want).abs().max()):.3g}")
