"""reports/quant_cost.py: quantised formats priced per inference on the engines that serve them."""

import math

import pytest

from reports.quant_cost import QuantCost, engine_kind

SHAPES = [(64, 128), (128, 256)]


@pytest.fixture(scope="module")
def qc():
    return QuantCost(tokens=16, quick=True, progress=lambda s: None)


def test_each_format_goes_to_its_engine(qc):
    assert qc.engine_name("rtn", 4) == "os_w4a8_4x4"
    assert qc.engine_name("gptq", 3) == "os_w4a8_4x4"  # 3-bit weights on the 4-bit engine
    assert qc.engine_name("owq", 2) == "os_w2a8_4x4"
    assert qc.engine_name("int8", 8) == "os_4x4"
    assert qc.engine_name("bcq", 3) == "lut_q3_2lanes"
    assert qc.engine_name("nupes", 2) == "lut_q4_2lanes"
    assert qc.engine_name("fp16", 16) == "os_fp16_4x4"
    with pytest.raises(ValueError, match="no engine holds 9-bit weights"):
        qc.engine_name("rtn", 9)
    with pytest.raises(ValueError, match="no engine prices method 'awq'"):
        engine_kind("awq")


def test_narrower_weights_move_fewer_bytes_and_cost_less(qc):
    w2, w4, w8 = (qc.price("rtn", b, SHAPES) for b in (2, 4, 8))
    assert w2.dram_bytes < w4.dram_bytes < w8.dram_bytes
    assert w2.energy_uj < w4.energy_uj < w8.energy_uj
    assert all(p.latency_us > 0 and math.isfinite(p.latency_us) for p in (w2, w4, w8))
    fp = qc.price("fp32", 32, SHAPES)
    assert fp.energy_uj > w8.energy_uj and math.isnan(fp.latency_us)
    # the sum over layers: one layer priced alone adds up
    one, two = qc.price("rtn", 4, SHAPES[:1]), qc.price("rtn", 4, SHAPES[1:])
    assert w4.energy_uj == pytest.approx(one.energy_uj + two.energy_uj, rel=1e-12)
    assert w4.dram_bytes == one.dram_bytes + two.dram_bytes


def test_owq_columns_add_energy_not_latency(qc):
    base, owq = qc.price("gptq", 3, SHAPES), qc.price("owq", 3, SHAPES, extra_columns=8)
    assert owq.energy_uj > base.energy_uj and owq.dram_bytes > base.dram_bytes
    assert owq.latency_us == base.latency_us and "fp16 columns" in owq.note


def test_a_codebook_costs_two_four_plane_passes(qc):
    from reports import cost

    bcq4, cb = qc.price("bcq", 4, SHAPES), qc.price("dgms", 4, SHAPES, codebook_bits_per_weight=4)
    # twice the look-ups of binary coding at 4 planes: slower, and its datapath energy doubles
    assert cb.latency_us > 1.5 * bcq4.latency_us
    spec = qc.planes(4)
    est = spec.estimate(16, 64, 128, spec.config)
    one = sum(cost.energy_by_component_pj({e: int(v) for e, v in est.events.items()}, spec.event_energy).values())
    doubled = qc.gemm("codebook", 4, 64, 128)[0] - qc.gemm("planes", 4, 64, 128)[0]
    assert doubled > 0.5 * one  # the second pass's events (memory bytes differ slightly: codes vs planes)


def test_bad_arguments_are_named(qc):
    with pytest.raises(ValueError, match="tokens must be a positive integer"):
        QuantCost(tokens=0)
    with pytest.raises(ValueError, match="mapping must be one of latency, dram, edp"):
        QuantCost(mapping="scalesim")
    with pytest.raises(ValueError, match="shapes must be a non-empty list"):
        qc.price("rtn", 4, [])
    with pytest.raises(ValueError, match="bits must be a positive integer"):
        qc.price("rtn", 0, SHAPES)


def test_the_quantisation_table_prices_every_row(qc):
    from reports.sections import quant_table as qt

    t = qt.quant_table(bits=(2,), methods=("rtn", "nupes"), n_sentences=2, n_calib_sentences=4,
                       layers=["blocks.0.q"], costs=qc, progress=lambda s: None)["summary"].set_index("method")
    assert list(t.priced_on) == ["os_fp16_4x4", "os_fp16_4x4", "os_4x4", "os_w2a8_4x4", "lut_q4_2lanes"]
    assert (t.energy_uj > 0).all()
    assert t.latency_us[["int8", "rtn", "nupes"]].gt(0).all() and t.latency_us[["fp32", "fp16"]].isna().all()
    assert t.loc["rtn", "energy_uj"] == pytest.approx(qc.price("rtn", 2, [(384, 384)]).energy_uj)
    assert t.loc["rtn", "engine"] == "systolic" and t.loc["nupes", "engine"] == "lut"
