"""Weight quantisers on a real model: RTN, GPTQ, OWQ, binary coding and codebooks on all-MiniLM-L6-v2.

    tables = quant_table(bits=(2, 3, 4))
    tables["summary"]  # one row per method x bits (and the fp32 / fp16 / INT8 references)
    tables["layers"]   # one row per method x bits x Linear layer

Every ``nn.Linear`` of all-MiniLM-L6-v2 (kernels/models/minilm.py, 36 projections) has its weight
quantised; activations stay fp32 (weight-only quantisation, as the W4/W3/W2 kernels run it).
Calibration statistics come from ``n_calib_sentences`` real sentences (kernels/models/real_text.py),
and everything is measured on ``n_sentences`` *other* sentences, so a quantiser that fits its
calibration data too closely is caught. Only real tokens count (padding is excluded).

Methods (kernels/lowbit.py, kernels/bcq.py), group-wise with one group of ``group_size`` input
columns per output row:

* ``rtn``: round to nearest, asymmetric, fp16 scale + uint8 zero per group;
* ``gptq``: GPTQ with the calibration Hessian X^T X of each layer's input (one pass: every
  layer's X comes from the fp32 model);
* ``owq``: GPTQ with ``owq_columns`` input columns per layer kept in fp16 (OWQ's weak columns,
  chosen by H_kk x RTN column error);
* ``bcq``: binary coding with q = bits planes {-1, +1} and one fp16 scale per plane and group
  (ShiftAddLLM's weight format), weight objective;
* ``bcq_aw``: the same with the activation-aware objective (kernels/bcq.py, ``calib`` = the
  layer's X^T X, ``lam`` = 0.5), ShiftAddLLM's multi-objective idea;
* ``nupes`` (kernels/codebook_quant.py): NUPES power quantisation, levels s sign(u)|u|^a on the
  symmetric uniform grid u, one exponent a per layer and an fp16 scale per group of
  ``group_size`` (as RTN's groups), trained on the calibration output error (the quantised
  weights, a and the scales, by gradient, ``NUPES_ITERS`` steps);
* ``dgms`` (kernels/codebook_quant.py): DGMS Gaussian-mixture weight sharing, one codebook of
  2^bits means per layer (one pinned at 0), fitted to the weights (data-free: the paper's
  sub-distribution in its post-training form), no scales.

The codebook methods (``CODEBOOK_METHODS``; ``METHODS`` keeps the five above, ``ALL_METHODS`` is
both) are stored as packed ``bits``-bit codes plus an fp16 codebook of 2^bits entries per layer
(and NUPES's fp16 group scales), which kernels/codebook_gemm.py multiplies by directly: one
2^bits-entry table lookup per weight. The engine family that prices them is the LUT engine
(reports/engines/lut.py, ``lut`` / ``lut_array``), whose step is "read a table entry indexed by a
packed weight field and accumulate it", a per-group scale applied after the group's lookups. The
mapping: a codebook GEMM is that step with the table T[j] = x_k * codebook[j] (2^bits entries
per activation, built once and shared by every output row of the layer) and one lookup per weight
and batch row, M N K in all, where binary coding with q planes does q M N K / 8 on a 256-entry
table per 8 activations: a b-bit codebook layer costs the lookups of q = 8 planes
(kernels.codebook_gemm.count_codebook_ops: ``engine_lookups``). The engine's records price the
binary-coded format only; none prices a codebook layer yet. Columns ``kernel`` and ``engine``
say which kernel serves and which engine family prices each row (blank where this table does not
state it); with ``costs`` (reports/quant_cost.py, as the report runs it) ``priced_on`` names the
engine and ``energy_uj`` / ``latency_us`` give the quantised layers' cost per inference there.

Columns: ``weight_rel_err`` = ||W - W_q||_F / ||W||_F; ``output_rel_err`` = ||X W^T - X W_q^T||_F
/ ||X W^T||_F on that layer's held-out inputs X (from the fp32 model, so each layer is judged
alone; bias cancels in the difference and is left out of the denominator); ``cos_mean`` /
``cos_min``: cosine similarity of the quantised model's sentence embeddings to the fp32 model's
over the held-out sentences (errors of all layers compounding). Bytes: ``stored_bytes`` is the
sum of ``nbytes`` of the tensors a kernel reads (packed codes or sign bits, scales, zeros, fp16
outlier columns and their int32 indices); ``bits_per_weight`` = 8 x that / weights;
``model_bytes`` adds every other parameter (embeddings, biases, LayerNorms, Linears not
quantised) at fp16 (at fp32 in the fp32 reference row), and ``vs_fp32`` / ``vs_fp16`` compare
it to the whole model in fp32 / fp16. ``quantise_s``: wall time of quantising the layers.

Cost: the default table without the codebook methods (5 methods x 3 bits + 3 references,
128 + 32 sentences) took 41 s on one thread of an idle 2-core machine (61 s while other jobs
loaded it); GPTQ's column loop and binary coding are the bulk. The codebook methods at 2, 3 and 4
bits add their quantisation, measured in one run of the whole default table that took 150 s on a
loaded 2-core machine (the five methods above: 84 s of it): NUPES 49 s (32 gradient steps per
layer, one (N x K) x (K x K) product each; ffn_down's K = 1536 is half of it), DGMS 15 s.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import pandas as pd
import torch

from kernels import bcq as bcq_mod
from kernels import codebook_quant, lowbit, lowbit_format
from kernels.models.minilm import (
    capture_linear_inputs,
    linear_names,
    load_minilm,
    load_tokenizer,
    tokenize,
)
from kernels.models.real_text import all_sentences, real_text

__all__ = ["ALL_METHODS", "BITS", "CODEBOOK_METHODS", "DEFAULT_METHODS", "METHODS", "SERVED_BY", "quant_table",
           "report_sections", "stored_bytes_formula"]

BITS = (2, 3, 4)
#: the scale-and-grid methods; ``bcq_aw`` is binary coding with the activation-aware objective
METHODS = ("rtn", "gptq", "owq", "bcq", "bcq_aw")
#: the codebook methods (kernels/codebook_quant.py), served by kernels/codebook_gemm.py
CODEBOOK_METHODS = ("nupes", "dgms")
#: every method the table knows
ALL_METHODS = METHODS + CODEBOOK_METHODS
DEFAULT_METHODS = ALL_METHODS
#: method -> (the kernel that multiplies by its stored tensors, the engine family that prices it),
#: "" where this table states none
SERVED_BY = {"rtn": ("kernels.wonly_gemm", "systolic"), "gptq": ("kernels.wonly_gemm", "systolic"),
             "owq": ("kernels.wonly_gemm", "systolic"), "int8": ("", "systolic"),
             "bcq": ("kernels.lut_gemm", "lut"), "bcq_aw": ("kernels.lut_gemm", "lut"),
             "nupes": ("kernels.codebook_gemm", "lut"), "dgms": ("kernels.codebook_gemm", "lut")}
#: OWQ's weak columns kept in fp16 per layer: 8 is 2.1% of K = 384 and 0.5% of K = 1536
#: (the OWQ paper keeps ~0.1-0.5% on LLMs; MiniLM's layers are narrow, so a fixed small count)
OWQ_COLUMNS = 8
#: the activation-aware blend of kernels/bcq.py (0 weight error only, 1 output-error diagonal only)
BCQ_AW_LAMBDA = 0.5
#: eval batches sorted by length, so padding stays small on the CPU
_BATCH = 16


def _check_args(bits, methods, n_sentences, n_calib, group_size, owq_columns, gptq_block,
                layers) -> tuple[tuple, tuple, list | None]:
    if isinstance(bits, int):
        bits = (bits,)
    if (not isinstance(bits, (tuple, list)) or not bits
            or any(isinstance(b, bool) or not isinstance(b, int) or b not in BITS for b in bits)):
        raise ValueError(f"bits must be a non-empty sequence drawn from {BITS}, got {bits!r}")
    if isinstance(methods, str):
        methods = (methods,)
    if not isinstance(methods, (tuple, list)) or not methods or any(m not in ALL_METHODS for m in methods):
        raise ValueError(f"methods must be a non-empty sequence drawn from {METHODS}, got {methods!r} "
                         f"(the codebook methods {CODEBOOK_METHODS} are accepted too)")
    pool = len(all_sentences())
    for name, n in (("n_sentences", n_sentences), ("n_calib_sentences", n_calib)):
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"{name} must be a positive integer, got {n!r}")
    if n_sentences + n_calib > pool:
        raise ValueError(f"n_sentences + n_calib_sentences must be at most {pool} (the held-out and calibration "
                         f"sentences are disjoint), got {n_sentences} + {n_calib}")
    if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 8 or group_size % 8 or 384 % group_size:
        raise ValueError(f"group_size must be a multiple of 8 dividing 384 (MiniLM's narrowest K; binary "
                         f"coding packs 8 sign bits per byte), got {group_size!r}")
    if isinstance(owq_columns, bool) or not isinstance(owq_columns, int) or not 0 < owq_columns <= 384:
        raise ValueError(f"owq_columns must be an integer in 1..384, got {owq_columns!r}")
    if isinstance(gptq_block, bool) or not isinstance(gptq_block, int) or gptq_block < 1:
        raise ValueError(f"gptq_block must be a positive integer, got {gptq_block!r}")
    if layers is not None:
        known = linear_names()
        if isinstance(layers, str) or not layers or any(n not in known for n in layers):
            raise ValueError(f"layers must be a non-empty list of MiniLM projection names such as "
                             f"'blocks.0.q' (kernels.models.minilm.linear_names()), got {layers!r}")
        layers = [n for n in known if n in layers]
    return tuple(dict.fromkeys(bits)), tuple(dict.fromkeys(methods)), layers


# %%
# Bytes
# -----


def stored_bytes_formula(method: str, N: int, K: int, bits: int, group_size: int, outlier_columns: int = 0) -> int:
    """Bytes of the tensors a kernel reads for one (N, K) weight, from the layouts' definitions.

    ``rtn``/``gptq``/``owq`` (kernels/lowbit.py): ceil(K bits / 32) int32 words per row, fp16 scale
    and uint8 zero per group, int32 index and N fp16 weights per outlier column. ``bcq``/``bcq_aw``
    (kernels/bcq.py): q = bits planes of K/8 sign bytes per row, an fp16 scale per plane and group.
    ``int8``: N K int8 codes, an fp16 scale per row. ``fp16``/``fp32``: 2 or 4 bytes per weight.
    ``nupes`` / ``dgms`` (kernels/codebook_quant.py): ceil(K bits / 32) int32 words per row, one
    fp16 codebook of 2^bits entries per layer, and (NUPES) an fp16 scale per group.
    """
    G = K // group_size
    if method in ("rtn", "gptq", "owq"):
        return 4 * lowbit_format.packed_words(K, bits) * N + 2 * G * N + G * N + 4 * outlier_columns + 2 * outlier_columns * N
    if method in ("bcq", "bcq_aw"):
        return bits * N * (K // 8) + 2 * bits * N * G
    if method == "nupes":
        return codebook_quant.codebook_stored_bytes(N, K, bits, 1, group_size)
    if method == "dgms":
        return codebook_quant.codebook_stored_bytes(N, K, bits, 1, None)
    if method == "int8":
        return N * K + 2 * N
    if method in ("fp16", "fp32"):
        return (2 if method == "fp16" else 4) * N * K
    raise ValueError(f"method must be one of {ALL_METHODS + ('int8', 'fp16', 'fp32')}, got {method!r}")


def _nbytes(tensors: dict[str, torch.Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in tensors.values())


# %%
# One layer, one method
# ---------------------


def _quantise(method: str, bits: int, w: torch.Tensor, H: torch.Tensor, group_size: int, owq_columns: int,
              gptq_block: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """(W_q as float32, the stored tensors) of one layer."""
    if method == "fp32":
        return w.clone(), {"weight": w}
    if method == "fp16":
        w16 = w.to(torch.float16)
        return w16.float(), {"weight": w16}
    if method == "int8":  # symmetric per output row, fp16 scale: the W8 reference
        scale = (w.abs().amax(1, keepdim=True) / 127).to(torch.float16).float().clamp_min(1e-8)
        codes = torch.clamp(torch.round(w / scale), -127, 127).to(torch.int8)
        return codes.float() * scale, {"codes": codes, "scales": scale.to(torch.float16)}
    if method == "nupes":  # data-driven: the calibration X^T X
        cw = codebook_quant.nupes_quantize(w, bits, group_size, hessian=H)
        return cw.dequantize(), cw.tensors()
    if method == "dgms":  # data-free: the weights' own mixture, one codebook per layer
        cw = codebook_quant.dgms_quantize(w, bits)
        return cw.dequantize(), cw.tensors()
    if method in ("bcq", "bcq_aw"):
        calib = H if method == "bcq_aw" else None
        b = bcq_mod.bcq_quantize(w, bits, group_size, calib=calib, lam=BCQ_AW_LAMBDA)
        scales16 = b.scales.to(torch.float16)  # stored (and evaluated) as fp16, as LUT-GEMM keeps them
        wq = bcq_mod.bcq_dequantize(b.packed, scales16.float(), group_size)
        return wq, {"packed": b.packed, "scales": scales16}
    idx = None
    if method == "owq":
        idx = lowbit.owq_select_columns(w, torch.diag(H), bits, group_size, owq_columns)
    if method == "rtn":
        qw = lowbit.rtn_quantize(w, bits, group_size)
    else:
        qw = lowbit.gptq_quantize(w, H, bits, group_size, block_size=gptq_block, outlier_idx=idx)
    return qw.dequantize(), qw.pack()


# %%
# The model runs
# --------------


def _batches(sentences: Sequence[str], tokenizer) -> list[dict[str, torch.Tensor]]:
    order = sorted(sentences, key=lambda s: len(tokenizer.encode(s).ids))
    return [tokenize(order[i:i + _BATCH], tokenizer) for i in range(0, len(order), _BATCH)]


@torch.no_grad()
def _embed(model, batches) -> torch.Tensor:
    return torch.cat([model.sentence_embeddings(**b) for b in batches])


@torch.no_grad()
def _layer_inputs(model, batches, names) -> dict[str, torch.Tensor]:
    """Each named projection's input over the batches, real tokens only: {name: (tokens, K) float32}."""
    with capture_linear_inputs(model, names) as cap:
        for b in batches:
            model(**b)
    masks = [b["attention_mask"].bool() for b in batches]
    return {n: torch.cat([x[m] for x, m in zip(cap[n], masks)]) for n in names}


@contextlib.contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    """GPTQ's column loop and the group loops are thousands of small ops: on one thread they run
    ~10x faster than on two threads of a busy 2-core machine (measured: 0.75 s vs 13 s for one
    1536-wide layer); the few large matmuls cost at most 2x on one thread of an idle machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def quant_table(bits: Sequence[int] = BITS, methods: Sequence[str] = DEFAULT_METHODS, n_sentences: int = 32,
                group_size: int = 128, *, n_calib_sentences: int = 128, owq_columns: int = OWQ_COLUMNS,
                gptq_block: int = 128, layers: Sequence[str] | None = None, references: bool = True, seed: int = 0,
                costs=None, progress: Callable[[str], None] = print) -> dict[str, pd.DataFrame]:
    """``{"summary": ..., "layers": ...}`` (module docstring).

    ``n_sentences`` held-out sentences are measured on; ``n_calib_sentences`` others calibrate
    (128 give ~2500 tokens, more than ffn_down's K = 1536, so its X^T X has full rank).
    ``layers``: quantise only these projections (default all 36; the rest stay fp32 and count as
    fp16 in ``model_bytes``). ``references``: add the fp32, fp16 and INT8 (per-row) rows.
    ``costs``: a reports.quant_cost.QuantCost; with it every summary row gains the engine that
    prices its format (``priced_on``) and the quantised layers' energy (``energy_uj``) and latency
    (``latency_us``) per inference of ``costs.tokens`` tokens from the memory-aware cost model.
    """
    bits, methods, layers = _check_args(bits, methods, n_sentences, n_calib_sentences, group_size, owq_columns,
                                        gptq_block, layers)
    with _torch_threads(1):
        return _quant_table(bits, methods, n_sentences, group_size, n_calib_sentences, owq_columns, gptq_block,
                            layers, references, seed, costs, progress)


def _quant_table(bits, methods, n_sentences, group_size, n_calib_sentences, owq_columns, gptq_block, layers,
                 references, seed, costs, progress) -> dict[str, pd.DataFrame]:
    t_start = time.perf_counter()
    model = load_minilm()
    tokenizer = load_tokenizer()
    names = linear_names(model.cfg) if layers is None else layers
    # drawn without replacement: the calibration and held-out sentences are disjoint
    sentences = real_text(n_calib_sentences + n_sentences, seed)
    calib_batches = _batches(sentences[:n_calib_sentences], tokenizer)
    eval_batches = _batches(sentences[n_calib_sentences:], tokenizer)
    mods = dict(model.named_modules())
    originals = {n: mods[n].weight.detach().clone() for n in names}

    x_cal = _layer_inputs(model, calib_batches, names)
    hessians = {n: x.double().T @ x.double() for n, x in x_cal.items()}  # X^T X per layer, real tokens
    n_cal_tokens = next(iter(x_cal.values())).shape[0]
    del x_cal
    x_eval = _layer_inputs(model, eval_batches, names)
    n_eval_tokens = next(iter(x_eval.values())).shape[0]
    y_ref = {n: x_eval[n] @ originals[n].T for n in names}
    emb_ref = _embed(model, eval_batches)
    progress(f"quant table: all-MiniLM-L6-v2, {len(names)} projections, {n_calib_sentences} calibration sentences "
             f"({n_cal_tokens} tokens), {n_sentences} held-out ({n_eval_tokens} tokens), group {group_size}")

    all_params = sum(p.numel() for p in model.parameters())
    quantised_weights = sum(originals[n].numel() for n in names)
    rest = all_params - quantised_weights  # everything not quantised: at fp16 (fp32 in the fp32 row)

    runs = ([("fp32", 32), ("fp16", 16), ("int8", 8)] if references else []) + [(m, b) for m in methods for b in bits]
    layer_rows, summary_rows = [], []
    try:
        for method, b in runs:
            t0 = time.perf_counter()
            stored = 0
            quantised = {n: _quantise(method, b, originals[n], hessians[n], group_size, owq_columns, gptq_block)
                         for n in names}
            t_quant = time.perf_counter() - t0
            for n in names:
                w = originals[n]
                wq, tensors = quantised[n]
                nbytes = _nbytes(tensors)
                stored += nbytes
                N, K = w.shape
                _, block, kind = n.split(".")
                layer_rows.append({
                    "method": method, "bits": b, "layer": n, "block": int(block), "kind": kind, "N": N, "K": K,
                    "weight_rel_err": float((w - wq).norm() / w.norm()),
                    "output_rel_err": float((y_ref[n] - x_eval[n] @ wq.T).norm() / y_ref[n].norm()),
                    "stored_bytes": nbytes, "bits_per_weight": 8 * nbytes / w.numel(),
                })
                mods[n].weight.data.copy_(wq)
            del quantised
            emb = _embed(model, eval_batches)
            cos = (emb * emb_ref).sum(1).clamp(max=1.0)  # both unit length
            mine = layer_rows[-len(names):]
            model_bytes = stored + (4 if method == "fp32" else 2) * rest
            summary_rows.append({
                "method": method, "bits": b, "bits_per_weight": 8 * stored / quantised_weights,
                "stored_bytes": stored, "model_bytes": model_bytes,
                "vs_fp32": model_bytes / (4 * all_params), "vs_fp16": model_bytes / (2 * all_params),
                "weight_rel_err_mean": float(np.mean([r["weight_rel_err"] for r in mine])),
                "output_rel_err_mean": float(np.mean([r["output_rel_err"] for r in mine])),
                "output_rel_err_max": float(np.max([r["output_rel_err"] for r in mine])),
                "cos_mean": float(cos.mean()), "cos_min": float(cos.min()), "quantise_s": t_quant,
                "kernel": SERVED_BY.get(method, ("", ""))[0], "engine": SERVED_BY.get(method, ("", ""))[1],
            })
            if costs is not None:
                price = costs.price(method, b, [tuple(originals[n].shape) for n in names],
                                    extra_columns=owq_columns if method == "owq" else 0,
                                    codebook_bits_per_weight=8 * stored / quantised_weights)
                summary_rows[-1].update(priced_on=price.engine, energy_uj=price.energy_uj,
                                        latency_us=price.latency_us)
            progress(f"quant table: {method:>6} {b:>2}-bit  {8 * stored / quantised_weights:5.2f} bits/weight  "
                     f"output err {summary_rows[-1]['output_rel_err_mean']:.4f}  cos {float(cos.mean()):.5f}  "
                     f"({t_quant:.1f} s)")
            for n in names:
                mods[n].weight.data.copy_(originals[n])
    finally:
        for n in names:
            mods[n].weight.data.copy_(originals[n])
    progress(f"quant table: done in {time.perf_counter() - t_start:.1f} s")
    return {"summary": pd.DataFrame(summary_rows), "layers": pd.DataFrame(layer_rows)}


# %%
# Report
# ------


def _figure(summary: pd.DataFrame):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.2))
    ax = fig.add_subplot(1, 1, 1)
    low = summary[~summary.method.isin(["fp32", "fp16"])]  # 1 - cos of 0 and ~1e-8: off this scale
    for method, rows in low.groupby("method", sort=False):
        rows = rows.sort_values("bits_per_weight")
        gap = (1.0 - rows["cos_mean"]).clip(lower=1e-9)
        style = "o-" if len(rows) > 1 else "s"
        ax.plot(rows["bits_per_weight"], gap, style, label=method)
    ax.set_yscale("log")
    ax.set_xlabel("bits per weight (codes + scales + zeros + fp16 columns)")
    ax.set_ylabel("1 - mean cosine to fp32 embeddings")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


ORDER = 20  # its place in the report: reports/sections/ runs its modules by ORDER


def report_sections(progress=print, n_sentences: int = 32, quick: bool = False) -> list:
    """The report's weight-quantisation sections (reports/sections/)."""
    from reports.build import ReportSection

    progress("report: RTN / GPTQ / OWQ / binary coding / NUPES / DGMS on all-MiniLM-L6-v2 (real text)")
    n_calib = 8 if quick else 128
    n_sentences = 4 if quick else n_sentences
    extra = {"bits": (4,), "layers": ["blocks.0.q", "blocks.0.ffn_up"]} if quick else {}
    from reports.quant_cost import QuantCost

    costs = QuantCost(quick=quick, progress=progress)
    t = quant_table(n_sentences=n_sentences, n_calib_sentences=n_calib, progress=progress, costs=costs, **extra)
    note = (f"Every Linear of all-MiniLM-L6-v2 quantised (weights only, group 128; OWQ keeps {OWQ_COLUMNS} fp16 "
            f"columns per layer; bcq = binary coding with q = bits planes, bcq_aw its activation-aware form; "
            f"nupes = NUPES power-exponent levels, trained on the calibration output error, fp16 scale per group; "
            f"dgms = DGMS Gaussian-mixture codebook per layer, data-free), "
            f"calibrated on {n_calib} real sentences and measured on {n_sentences} others: mean relative weight "
            "and output error over the 36 layers, sentence-embedding cosine to the fp32 model, and bytes "
            "(stored tensors; model_bytes counts embeddings and the rest at fp16). kernel / engine: what multiplies "
            "by the stored format and which engine family prices it (codebook methods: kernels.codebook_gemm, one "
            "2^bits-entry table lookup per weight, priced on the LUT engine). priced_on / energy_uj / latency_us: "
            f"the quantised layers' energy and latency per inference of {costs.tokens} tokens on that engine at "
            f"{costs.sizes.rows}x{costs.sizes.cols}, memory included (reports/quant_cost.py: weight-only formats on "
            "the A8 engines, 3-bit weights on the 4-bit engine, codebooks as two 4-plane passes of the LUT array, "
            "fp32/fp16 on the FP16 baseline, energy only). Per layer: quant_table_layers.csv.")
    return [
        ReportSection("Weight quantisers on a real model", "quant_table_summary.csv", t["summary"], note,
                      figure=_figure(t["summary"]),
                      figure_caption="Embedding fidelity against storage: 1 - mean cosine to the fp32 model "
                                     "(lower is better) per method at 2, 3 and 4 bits, and INT8 per row "
                                     "(fp16 weights: ~1e-8, off the scale)."),
        ReportSection("Weight quantisers: per layer", "quant_table_layers.csv", t["layers"],
                      "Relative weight and held-out output error of every Linear layer, per method and bits."),
    ]
