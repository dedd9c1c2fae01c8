"""Golden tensors from a real model: all-MiniLM-L6-v2's weights, and its activations on real text.

DESIGN.md's "one golden source" asks for slices of a real model beside random and edge data. This
module turns kernels/models/minilm.py and kernels/models/real_text.py into numpy arrays every
family can use:

* :func:`minilm_weights`: each projection's weight, ``{"blocks.0.q": float32 (N out, K in), ...}``;
* :func:`minilm_activations`: each projection's input on real sentences, float32 (tokens, K), real
  tokens only (padding rows dropped: they are not part of any sentence);
* :func:`quantize_int8_symmetric`: symmetric INT8 (codes -127..127, scale = max|x| / 127) per tensor
  or per row;
* :func:`real_int8_gemms`: ``(name, a int8 M x K, b int8 K x N)`` workloads, activation rows times
  weight^T, quantised whole and then sliced small enough for RTL co-simulation, the same format
  as sim/workloads.py's.

sim/ cannot import torch, so tests and benchmarks call these and hand the numpy arrays on.
Returned arrays are cached and read-only; copy one before changing it.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import torch

from kernels.models import minilm
from kernels.models.real_text import real_text

__all__ = [
    "INT8_QMAX",
    "minilm_activations",
    "minilm_weights",
    "quantize_int8_symmetric",
    "real_int8_gemms",
]

INT8_QMAX = 127  # symmetric: -128 is never produced, so negation and |x| stay in range


def _read_only(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


@functools.cache
def minilm_weights() -> dict[str, np.ndarray]:
    """Every projection's weight as float32 (N out, K in), keyed blocks.{i}.{q,k,v,o,ffn_up,ffn_down}."""
    from safetensors.numpy import load_file

    tensors = load_file(str(minilm.model_folder() / "model.safetensors"))
    return {name: _read_only(np.ascontiguousarray(tensors[minilm.hf_key(f"{name}.weight")], np.float32))
            for name in minilm.linear_names()}


@functools.cache
def minilm_activations(n_sentences: int = 16, seed: int = 0) -> dict[str, np.ndarray]:
    """Every projection's input on ``real_text(n_sentences, seed)``: float32 (real tokens, K).

    Rows are the sentences' tokens ([CLS] and [SEP] included) in order, sentence after sentence.
    """
    sentences = real_text(n_sentences, seed)
    model = minilm.load_minilm()
    batch = minilm.tokenize(sentences)
    real = batch["attention_mask"].bool()
    with torch.no_grad(), minilm.capture_linear_inputs(model) as captured:
        model(**batch)
    return {name: _read_only(xs[0][real].to(torch.float32).numpy()) for name, xs in captured.items()}


def quantize_int8_symmetric(x, per: str = "tensor") -> tuple[np.ndarray, np.ndarray]:
    """Symmetric INT8 of a 2-D float array: ``q = clip(round(x / scale), -127, 127)``.

    ``per="tensor"``: one scale (shape ()); ``per="row"``: one per row (shape (rows, 1)), e.g. per
    output channel of a weight (N, K) or per token of an activation. scale = max|x| / 127 over the
    tensor or row (1.0 where that is 0), so nothing saturates and |x - q * scale| <= scale / 2.
    Returns ``(q int8, scale float32)``; ``q * scale`` dequantises.
    """
    if per not in ("tensor", "row"):
        raise ValueError(f"per must be 'tensor' or 'row', got {per!r}")
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"x must be a floating-point array, got dtype {x.dtype}")
    if x.ndim != 2 or x.size == 0:
        raise ValueError(f"x must be a non-empty 2-D array, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("x holds NaN or infinite values")
    x = x.astype(np.float32)
    amax = np.abs(x).max() if per == "tensor" else np.abs(x).max(axis=1, keepdims=True)
    scale = np.where(amax > 0, amax / INT8_QMAX, 1.0).astype(np.float32)
    q = np.clip(np.rint(x / scale), -INT8_QMAX, INT8_QMAX).astype(np.int8)
    return q, scale


def real_int8_gemms(max_m: int = 16, max_n: int = 16, max_k: int = 64,
                    layers: Sequence[str] | None = None, n_sentences: int = 8,
                    seed: int = 0) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """INT8 GEMM workloads from real layers: ``(name, a, b)``, a int8 (M, K), b int8 (K, N), C = a @ b.

    ``a`` is the layer's input on real text (per-tensor INT8), ``b`` its weight transposed
    (per-output-channel INT8, i.e. per column of b). Both are quantised whole, so the slice keeps
    the real tensor's scale and outliers, then cut to the first ``max_m`` tokens, ``max_k`` inputs
    and ``max_n`` outputs. ``layers`` defaults to every projection (blocks.0.q ... blocks.5.ffn_down).
    Names read ``minilm_blocks.0.q_MxNxK``.
    """
    for label, v in (("max_m", max_m), ("max_n", max_n), ("max_k", max_k)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{label} must be a positive integer, got {v!r}")
    weights = minilm_weights()
    names = minilm.linear_names() if layers is None else list(layers)
    unknown = [n for n in names if n not in weights]
    if unknown:
        raise ValueError(f"unknown layer {unknown[0]!r}; known: {', '.join(weights)}")
    acts = minilm_activations(n_sentences, seed)
    out = []
    for name in names:
        a, _ = quantize_int8_symmetric(acts[name], per="tensor")
        w, _ = quantize_int8_symmetric(weights[name], per="row")  # (N, K)
        a = np.ascontiguousarray(a[:max_m, :max_k])
        b = np.ascontiguousarray(w[:max_n, :max_k].T)  # (K, N)
        m, k = a.shape
        out.append((f"minilm_{name}_{m}x{b.shape[1]}x{k}", a, b))
    return out
