"""Mixed precision on a real model: CVXQ and AMQ on all-MiniLM-L6-v2, by bytes and by engine energy.

    tables = mixed_precision_table()
    tables["summary"]  # one row per method x target: bytes, embedding cosine, output error, engine cost
    tables["fronts"]   # every point of each method's front, measured on the held-out sentences

The set-up is reports/sections/quant_table.py's: every ``nn.Linear`` of all-MiniLM-L6-v2 quantised
(weights only, group 128, asymmetric, fp16 scale + uint8 zero per group), calibration statistics
from ``n_calib_sentences`` real sentences, everything measured on ``n_sentences`` others.

Methods (kernels/mixed_precision.py):

* ``rtn`` / ``gptq``: uniform 2, 3 and 4 bits (kernels/lowbit.py), the baselines;
* ``cvxq``: a depth from {2, 3, 4, 8} per column group of 128 inputs, allocated by the Lagrangian
  dual on the measured distortion, the paper's form: sum over the group of G^2 x (W - Q(W))^2, G^2
  the squared gradient of the sentence embedding with respect to each weight over the calibration
  tokens (random probes: v . embedding, v ~ N(0, I)); RTN on each group at its depth;
  ``cvxq_kfac``: the distortion as each output channel's squared embedding gradient times the
  group's output error E H E^T (H = X^T X, input correlations kept); ``cvxq_xtx``: every channel
  weighted 1 (each layer's own output error ||X E^T||^2);
* ``amq``: one width from {2, 3, 4} per layer, AMQ's search: every layer is GPTQ-quantised at each
  width once, configurations are measured by 1 - mean cosine of the embeddings to the fp32 model's
  on ``amq_sentences`` of the calibration sentences, an additive per-layer predictor is fitted and
  searched, its finds measured and the predictor refitted (the additive predictor; its log form,
  kernels/mixed_precision.py's ``log_additive``, ranked the searched points worse here: Kendall tau
  0.03 against 0.50, with the same answers);
* ``cvxq_hw`` / ``amq_hw``: the same searches with the budget being the energy per inference of
  the W-only engines instead of bytes.

Targets: ``bytes = uniform 3-bit`` and ``4-bit``: the stored bytes of uniform RTN at 3 and 4 bits
(GPTQ stores the same tensors), which every mixed result must not exceed (CVXQ's one-byte depth
per group included). Energy targets for the hardware-aware rows: the engine energy of uniform 3-bit
(which is uniform 4-bit's: see below) and the midpoint of uniform 2- and 4-bit's ("mid W2..W4",
what an engine with 3-bit weights would spend, roughly).

Engine cost: the registered engines of the "lowbit" comparison (reports/engines/systolic.py: the
INT8 output-stationary array and its W4A8 and W2A8 forms, 16 x 16 PEs; 4 x 4 in quick mode), each
Linear layer run as an M x N x K GEMM with M = ``tokens`` (one sequence) through the memory model
(reports/memory.py: ``REPORT_MEMORY``, the mapping minimising energy x delay): array events priced
by the engine's event -> energy table, buffer fills and DRAM traffic at the packed weight width.
Energy and latency are summed over the 36 layers (attention's QK^T and AV and everything else not
counted). The engines have 2-, 4- and 8-bit weights only: a layer's width is **rounded up** to one
of them (3 -> 4, a 3-bit layer runs on the W4 engine), so 3 bits saves bytes but no engine energy.
A layer whose groups have several depths runs as one GEMM per depth over that depth's K columns,
their outputs added (the addition not charged). Scales and zeros are not in the engines' traffic.

Columns: ``stored_bytes`` (the tensors' ``nbytes``), ``bits_per_weight`` = 8 x that / weights;
``cos_mean``/``cos_min`` of the held-out sentence embeddings to the fp32 model's;
``output_rel_err_total`` = sqrt(sum_l ||X_l E_l^T||^2 / sum_l ||X_l W_l^T||^2) on the held-out
layer inputs (the summed output error, relative), ``output_rel_err_mean`` the mean of the layers'
relative errors (quant_table's column); ``engine_energy_uj``, ``engine_latency_us`` per inference;
``depth_shares``: fraction of weights at each depth; ``kernel``: what multiplies by the stored
layers (kernels/mixed_precision.py ``mixed_gemm``: one kernels.wonly_gemm call per depth over
that depth's gathered columns, checked against the float64 product in tests/test_mixed_precision.py;
a configuration with 8-bit groups has no W-only kernel, and the column says so).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import torch

from kernels import lowbit
from kernels import mixed_precision as mp
from kernels.models.minilm import load_minilm, load_tokenizer
from kernels.models.real_text import real_text
from reports.sections.quant_table import _batches, _embed, _layer_inputs, _torch_threads

__all__ = ["EngineCost", "mixed_precision_table", "report_sections"]

GROUP_SIZE = 128
TOKENS = 128  # M of every GEMM: one sequence of 128 tokens per inference


# %%
# The engines' cost of a bit map
# ------------------------------


class EngineCost:
    """Energy (uJ) and latency (us) per inference of MiniLM's Linear layers on the W-only engines.

    ``layer(N, K, group_bits)``: one layer whose column groups have the given depths (each rounded
    up to an engine width); ``of(shapes, bits_per_layer)``: a whole layer-wise configuration."""

    def __init__(self, tokens: int = TOKENS, quick: bool = False, mapping: str = "edp", progress=print):
        from reports.quant_cost import QuantCost

        self._qc = QuantCost(tokens, quick, mapping, progress)  # the scale-and-grid engines' prices
        self.tokens, self.mapping = tokens, mapping
        self.specs = self._qc.grid
        self.clock_mhz = {b: self._qc.clock_mhz(spec) for b, spec in self.specs.items()}
        self.widths = tuple(self.specs)

    def width(self, bits: int) -> int:
        """The narrowest engine width holding ``bits``."""
        return self._qc.grid_width(bits)

    def names(self) -> dict[int, str]:
        return {b: s.name for b, s in self.specs.items()}

    def gemm(self, n: int, k: int, width: int) -> tuple[float, float]:
        """(energy uJ, latency us) of one M=tokens x n x k GEMM on the engine of ``width``."""
        energy_pj, cycles, _ = self._qc.gemm("grid", width, n, k)
        return energy_pj / 1e6, cycles / self.clock_mhz[width]

    def layer(self, N: int, K: int, group_bits: Sequence[int]) -> tuple[float, float]:
        g = K // len(group_bits)
        cols: dict[int, int] = {}
        for b in group_bits:
            w = self.width(int(b))
            cols[w] = cols.get(w, 0) + g
        parts = [self.gemm(N, kk, w) for w, kk in sorted(cols.items())]
        return sum(p[0] for p in parts), sum(p[1] for p in parts)

    def of(self, shapes: Sequence[tuple[int, int]], bits: Sequence[int]) -> tuple[float, float]:
        parts = [self.layer(N, K, [b]) for (N, K), b in zip(shapes, bits)]
        return sum(p[0] for p in parts), sum(p[1] for p in parts)


# %%
# The table
# ---------


def _check_args(n_sentences, n_calib, amq_sentences, amq_samples, amq_iterations, front_points, layers):
    from kernels.models.minilm import linear_names
    from kernels.models.real_text import all_sentences

    for name, v in (("n_sentences", n_sentences), ("n_calib_sentences", n_calib), ("amq_sentences", amq_sentences),
                    ("amq_samples", amq_samples), ("amq_iterations", amq_iterations)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    if isinstance(front_points, bool) or not isinstance(front_points, int) or front_points < 0:
        raise ValueError(f"front_points must be a non-negative integer, got {front_points!r}")
    if amq_sentences > n_calib:
        raise ValueError(f"amq_sentences must be at most n_calib_sentences (AMQ measures on calibration "
                         f"sentences), got {amq_sentences} > {n_calib}")
    pool = len(all_sentences())
    if n_sentences + n_calib > pool:
        raise ValueError(f"n_sentences + n_calib_sentences must be at most {pool} (held-out and calibration "
                         f"sentences are disjoint), got {n_sentences} + {n_calib}")
    known = linear_names()
    if layers is None:
        return known
    if isinstance(layers, str) or not layers or any(n not in known for n in layers):
        raise ValueError(f"layers must be a non-empty list of MiniLM projection names such as 'blocks.0.q', "
                         f"got {layers!r}")
    return [n for n in known if n in layers]


def mixed_precision_table(n_sentences: int = 32, *, n_calib_sentences: int = 128, amq_sentences: int = 32,
                          amq_samples: int = 64, amq_iterations: int = 3, front_points: int = 4,
                          sensitivity_probes: int = 2, layers: Sequence[str] | None = None, tokens: int = TOKENS,
                          quick_engines: bool = False, seed: int = 0,
                          progress: Callable[[str], None] = print) -> dict[str, pd.DataFrame]:
    """``{"summary": ..., "fronts": ...}`` (module docstring). ``layers``: quantise only these
    projections (the rest stay fp32); ``quick_engines``: the 4 x 4 arrays."""
    names = _check_args(n_sentences, n_calib_sentences, amq_sentences, amq_samples, amq_iterations, front_points,
                        layers)
    with _torch_threads(1):
        return _table(names, n_sentences, n_calib_sentences, amq_sentences, amq_samples, amq_iterations,
                      front_points, sensitivity_probes, tokens, quick_engines, seed, progress)


def _table(names, n_sentences, n_calib, amq_sentences, amq_samples, amq_iterations, front_points, probes, tokens,
           quick_engines, seed, progress):
    t_start = time.perf_counter()
    engines = EngineCost(tokens, quick=quick_engines, progress=progress)
    model, tokenizer = load_minilm(), load_tokenizer()
    sentences = real_text(n_calib + n_sentences, seed)  # without replacement: disjoint
    calib_batches = _batches(sentences[:n_calib], tokenizer)
    amq_batches = _batches(sentences[:amq_sentences], tokenizer)
    eval_batches = _batches(sentences[n_calib:], tokenizer)
    mods = dict(model.named_modules())
    originals = {n: mods[n].weight.detach().clone() for n in names}
    shapes = [tuple(originals[n].shape) for n in names]
    n_weights = sum(w.numel() for w in originals.values())

    x_cal = _layer_inputs(model, calib_batches, names)
    hessians = {n: x.double().T @ x.double() for n, x in x_cal.items()}
    del x_cal
    x_eval = _layer_inputs(model, eval_batches, names)
    y_ref = {n: x_eval[n] @ originals[n].T for n in names}
    emb_ref = _embed(model, eval_batches)
    emb_amq_ref = _embed(model, amq_batches)
    t0 = time.perf_counter()
    sens = {per: mp.output_sensitivity({n: mods[n] for n in names}, lambda b: model.sentence_embeddings(**b),
                                       calib_batches, n_probes=probes, seed=seed, per_weight=per)
            for per in (True, False)}
    progress(f"mixed precision: all-MiniLM-L6-v2, {len(names)} projections, {n_calib} calibration sentences, "
             f"{n_sentences} held-out; output sensitivities ({probes} probes) in {time.perf_counter() - t0:.1f} s; "
             f"engines {engines.names()}")

    def swap(weights: dict) -> None:
        for n in names:
            mods[n].weight.data.copy_(weights[n])

    def held_out(weights: dict) -> dict:
        swap(weights)
        try:
            emb = _embed(model, eval_batches)
        finally:
            swap(originals)
        cos = (emb * emb_ref).sum(1).clamp(max=1.0)
        err = {n: float((y_ref[n] - x_eval[n] @ weights[n].T).pow(2).sum()) for n in names}
        ref = {n: float(y_ref[n].pow(2).sum()) for n in names}
        return {"cos_mean": float(cos.mean()), "cos_min": float(cos.min()),
                "output_rel_err_total": math.sqrt(sum(err.values()) / sum(ref.values())),
                "output_rel_err_mean": float(np.mean([math.sqrt(err[n] / ref[n]) for n in names]))}

    def amq_loss(weights: dict) -> float:
        swap(weights)
        try:
            emb = _embed(model, amq_batches)
        finally:
            swap(originals)
        return float(1.0 - (emb * emb_amq_ref).sum(1).clamp(max=1.0).mean())

    def engine_of(group_bits: dict) -> tuple[float, float]:
        parts = [engines.layer(N, K, group_bits[n].tolist()) for n, (N, K) in zip(names, shapes)]
        return sum(p[0] for p in parts), sum(p[1] for p in parts)

    rows, fronts = [], []

    def add(method, target, budget, weights, stored, group_bits, seconds, extra=None):
        e, lat = engine_of(group_bits)
        shares = {}
        for n in names:
            per = originals[n].numel() // group_bits[n].numel()
            for b in group_bits[n].tolist():
                shares[b] = shares.get(b, 0) + per
        unit = "" if target.startswith("uniform") else "bytes" if target.startswith("bytes") else "uJ"
        row = {"method": method, "target": target, "budget": budget, "budget_unit": unit, "stored_bytes": stored,
               "bits_per_weight": 8 * stored / n_weights, **held_out(weights),
               "engine_energy_uj": e, "engine_latency_us": lat,
               "depth_shares": " ".join(f"{b}:{shares[b] / n_weights:.3f}" for b in sorted(shares)),
               "kernel": ("kernels.mixed_precision.mixed_gemm (kernels.wonly_gemm per depth)"
                          if set(shares) <= set(mp.LAYER_BITS) else
                          f"none: {sorted(set(shares) - set(mp.LAYER_BITS))}-bit groups (kernels.wonly_gemm: 2-4 bits)"),
               "seconds": seconds, **(extra or {})}
        rows.append(row)
        progress(f"mixed precision: {method:>8} {target:<22} {row['bits_per_weight']:5.3f} bits/weight  "
                 f"cos {row['cos_mean']:.5f}  out err {row['output_rel_err_total']:.4f}  {e:8.2f} uJ")
        return row

    # uniform baselines; GPTQ's layers at every width are AMQ's quantisation proxy too
    uniform = {"rtn": {}, "gptq": {}}
    for b in mp.LAYER_BITS:
        t0 = time.perf_counter()
        uniform["rtn"][b] = {n: lowbit.rtn_quantize(originals[n], b, GROUP_SIZE) for n in names}
        t_rtn = time.perf_counter() - t0
        t0 = time.perf_counter()
        uniform["gptq"][b] = {n: lowbit.gptq_quantize(originals[n], hessians[n], b, GROUP_SIZE) for n in names}
        t_gptq = time.perf_counter() - t0
        for method, secs in (("rtn", t_rtn), ("gptq", t_gptq)):
            qws = uniform[method][b]
            stored = sum(sum(t.numel() * t.element_size() for t in q.pack().values()) for q in qws.values())
            if stored != sum(mp.layer_bytes(N, K, b, GROUP_SIZE) for N, K in shapes):
                raise RuntimeError(f"uniform {b}-bit bytes {stored} differ from mixed_precision.layer_bytes")
            add(method, f"uniform {b}-bit", math.nan, {n: q.dequantize() for n, q in qws.items()}, stored,
                {n: torch.full((K // GROUP_SIZE,), b) for n, (N, K) in zip(names, shapes)}, secs)
    size = {b: sum(mp.layer_bytes(N, K, b, GROUP_SIZE) for N, K in shapes) for b in mp.LAYER_BITS}
    energy = {b: engines.of(shapes, [b] * len(names))[0] for b in mp.LAYER_BITS}
    size_targets = {f"bytes = uniform {b}-bit": size[b] for b in (3, 4)}
    # uniform 3-bit runs on the W4 engine, so its energy is uniform 4-bit's; the midpoint of the
    # W2 and W4 energies stands for what a 3-bit engine would spend
    energy_targets = {"energy = uniform 3-bit": energy[3], "energy = mid W2..W4": (energy[2] + energy[4]) / 2}

    # CVXQ, bytes: the distortion tables once, then one allocation per budget
    tables = {}
    for method, ow in (("cvxq", sens[True]), ("cvxq_kfac", sens[False]), ("cvxq_xtx", None)):
        t0 = time.perf_counter()
        tables[method] = mp.rd_table(originals, hessians, group_size=GROUP_SIZE, output_weights=ow)
        t_table = time.perf_counter() - t0
        for target, budget in size_targets.items():
            t0 = time.perf_counter()
            r = mp.cvxq_quantize(originals, hessians, budget, table=tables[method])
            add(method, target, budget, r.weights, r.stored_bytes, r.group_bits, t_table + time.perf_counter() - t0,
                {"calib_distortion": r.distortion})
        lo, hi = size[2] + tables[method].depth_map_bytes, size[4]
        for i in range(front_points + 2):
            budget = lo + (hi - lo) * i / (front_points + 1)
            r = mp.cvxq_quantize(originals, hessians, budget, table=tables[method])
            fronts.append({"method": method, "budget": budget, "stored_bytes": r.stored_bytes,
                           "bits_per_weight": r.bits_per_weight,
                           "engine_energy_uj": engine_of(r.group_bits)[0], **held_out(r.weights)})

    # CVXQ with the engine energy as the rate (one depth per layer), the paper's distortion
    cost = lambda bits: engines.of(shapes, bits)[0]  # noqa: E731
    for target, budget in energy_targets.items():
        t0 = time.perf_counter()
        r = mp.cvxq_hardware_aware(originals, hessians, cost, budget, table=tables["cvxq"])
        add("cvxq_hw", target, budget, r.weights, r.stored_bytes, r.group_bits, time.perf_counter() - t0,
            {"calib_distortion": r.distortion})

    # AMQ: GPTQ layers at every width swapped in, measured on calibration sentences
    gptq_deq = {b: {n: q.dequantize() for n, q in uniform["gptq"][b].items()} for b in mp.LAYER_BITS}

    def config_weights(bits) -> dict:
        return {n: gptq_deq[b][n] for n, b in zip(names, bits)}

    def config_bytes(bits) -> float:
        return float(sum(mp.layer_bytes(N, K, b, GROUP_SIZE) for (N, K), b in zip(shapes, bits)))

    for method, cost_fn, targets, predictor in (("amq", config_bytes, size_targets, "additive"),
                                                ("amq_hw", cost, energy_targets, "additive")):
        t0 = time.perf_counter()
        res = mp.amq_search(names, lambda bits: amq_loss(config_weights(bits)), cost_fn, list(targets.values()),
                            predictor=predictor, n_samples=amq_samples, n_iterations=amq_iterations,
                            front_points=front_points,
                            seed=seed, progress=progress)
        secs = time.perf_counter() - t0
        progress(f"mixed precision: {method}: {res.n_measured} configurations measured in {secs:.1f} s, "
                 f"predictor Kendall tau {res.kendall_tau:.3f}")
        for target, budget in targets.items():
            p = res.best[budget]
            gb = {n: torch.full((K // GROUP_SIZE,), b) for n, (N, K), b in zip(names, shapes, p.bits)}
            add(method, target, budget, config_weights(p.bits), int(config_bytes(p.bits)), gb, secs,
                {"calib_loss": p.loss, "predicted_loss": p.predicted, "n_measured": res.n_measured,
                 "predictor_kendall_tau": res.kendall_tau})
        for p in res.front:
            fronts.append({"method": method, "budget": math.nan, "stored_bytes": int(config_bytes(p.bits)),
                           "bits_per_weight": 8 * config_bytes(p.bits) / n_weights,
                           "engine_energy_uj": cost(p.bits), "calib_loss": p.loss, "predicted_loss": p.predicted,
                           "layer_bits": "".join(str(b) for b in p.bits), **held_out(config_weights(p.bits))})
    for r in rows:
        if r["method"] in ("rtn", "gptq"):
            fronts.append({k: r[k] for k in ("method", "stored_bytes", "bits_per_weight", "engine_energy_uj",
                                             "cos_mean", "cos_min", "output_rel_err_total", "output_rel_err_mean")})
    progress(f"mixed precision: done in {time.perf_counter() - t_start:.1f} s")
    return {"summary": pd.DataFrame(rows), "fronts": pd.DataFrame(fronts)}


# %%
# Report
# ------


def _figure(fronts: pd.DataFrame):
    from reports.plots import quality_panels

    styles = {"rtn": "o-", "gptq": "s-", "cvxq": "^-", "cvxq_kfac": ">-", "cvxq_xtx": "v-", "amq": "D-", "amq_hw": "x-"}

    def draw(ax, x):
        for method, rows in fronts.groupby("method", sort=False):
            rows = rows.sort_values(x)
            ax.plot(rows[x], (1.0 - rows["cos_mean"]).clip(lower=1e-9), styles.get(method, "o-"), label=method,
                    markersize=4)

    return quality_panels([("bits_per_weight", "bits per weight (stored bytes x 8 / weights)"),
                           ("engine_energy_uj", "engine energy per inference, uJ (W2/W4/W8 arrays)")], draw)


ORDER = 22  # after the uniform quantisers (quant_table, 20)


def report_sections(progress=print, quick: bool = False) -> list:
    """The mixed-precision sections (reports/sections/)."""
    from reports.build import ReportSection

    progress("report: CVXQ and AMQ mixed precision on all-MiniLM-L6-v2, by bytes and by engine energy")
    if quick:
        kw = dict(n_sentences=4, n_calib_sentences=8, amq_sentences=4, amq_samples=8, amq_iterations=1,
                  front_points=1, sensitivity_probes=1, layers=["blocks.0.q", "blocks.0.v", "blocks.0.ffn_up",
                                                                "blocks.0.ffn_down"], quick_engines=True)
    else:
        kw = {}
    t = mixed_precision_table(progress=progress, **kw)
    s = t["summary"]
    note = ("CVXQ (a depth from 2/3/4/8 bits per group of 128 input columns, Lagrangian allocation on the measured "
            "distortion: cvxq the paper's squared embedding gradient per weight x squared error, cvxq_kfac each "
            "output channel's squared gradient x the group's X^T X output error, cvxq_xtx the output error alone; "
            "RTN per group) and AMQ (2/3/4 bits per layer on GPTQ-quantised layers, an additive "
            "predictor fitted to measured configurations and searched, its finds measured) on all-MiniLM-L6-v2, "
            "beside uniform RTN and GPTQ, at the stored size of uniform RTN 3- and 4-bit (every mixed result at or "
            "below it, CVXQ's depth map included), and the hardware-aware forms (cvxq_hw, amq_hw) at the engine "
            "energy of uniform 3-bit and midway between uniform 2- and 4-bit. Engines: the INT8 output-stationary "
            "array and its W4A8/W2A8 forms "
            "(reports/engines/systolic.py), each Linear an M=128-token GEMM through the memory model "
            "(edp mapping), energy and latency summed over the layers; widths round up to 2/4/8 (3 -> 4, so a "
            "3-bit layer costs what a 4-bit one does). Quality on held-out sentences only; calibration disjoint.")
    if quick:
        note += " QUICK RUN: 4 layers, few sentences and candidates; not the report's numbers."
    return [
        ReportSection("Mixed precision: CVXQ and AMQ by bytes and by engine energy", "mixed_precision_summary.csv", s,
                      note, figure=_figure(t["fronts"]),
                      figure_caption="1 - mean embedding cosine to fp32 on held-out sentences against stored bits "
                                     "per weight (left) and the W-only engines' energy per inference (right): "
                                     "uniform RTN and GPTQ at 2/3/4 bits, CVXQ's allocations across budgets, AMQ's "
                                     "measured Pareto fronts (bytes and energy)."),
        ReportSection("Mixed precision: the fronts", "mixed_precision_fronts.csv", t["fronts"],
                      "Every point of each method's front, measured on the held-out sentences (AMQ's front is the "
                      "Pareto set of its measured configurations on calibration data; layer_bits: one digit per "
                      "layer in execution order)."),
    ]
