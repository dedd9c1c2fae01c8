"""The report's memory section: networks through the memory model on each engine, a roofline."""

import pytest

from reports.sections.memory import memory_engines, memory_table, network_totals, report_sections, roofline


@pytest.fixture(scope="module")
def quick():
    return memory_table(4, quick=True, progress=lambda s: None)


def test_every_engine_and_layer_has_a_row_and_the_levels_add_up(quick):
    assert len(quick) == len(memory_engines()) * (2 + 2)
    body = quick
    assert (body.total_cycles == body.compute_cycles + body.stall_cycles).all()
    parts = sum(body[f"{c}_pj_per_mac"] for c in ("mac_arithmetic", "pe_registers", "buffers", "dram"))
    assert (abs(parts - body.energy_per_mac_pj) < 1e-9 * body.energy_per_mac_pj).all()
    # attained throughput never above the roof: the engine's peak or bandwidth x intensity
    assert (body.macs_per_cycle <= body.peak_macs_per_cycle).all()
    assert (body.macs_per_cycle <= 16 * body.macs_per_dram_byte).all()


def test_packed_weights_cut_the_decode_steps_dram_bytes(quick):
    gemv = quick[(quick.network == "minilm_1tok") & (quick.layer == "minilm_ffn_up")].set_index("engine")
    assert gemv.loc["os_w4a8_4x4", "dram_bytes"] < 0.55 * gemv.loc["os_4x4", "dram_bytes"]
    assert gemv.loc["os_w2a8_4x4", "dram_bytes"] < 0.3 * gemv.loc["os_4x4", "dram_bytes"]
    assert gemv.loc["os_4x4", "dram_pj_per_mac"] > gemv.loc["os_4x4", "mac_arithmetic_pj_per_mac"]


def test_totals_and_roofline(quick):
    totals = network_totals(quick)
    assert len(totals) == len(memory_engines()) * 2
    assert (totals.layers == 2).all()
    shares = sum(totals[f"{c}_share"] for c in ("mac_arithmetic", "pe_registers", "buffers", "dram"))
    assert ((shares - 1).abs() < 1e-9).all()
    fig = roofline(quick, 16)
    assert len(fig.axes) == len(memory_engines())


def test_report_sections_quick():
    secs = report_sections(progress=lambda s: None, quick=True)
    assert [s.csv_name for s in secs] == ["memory_networks.csv", "memory_layers.csv"]
    assert secs[0].figure is not None


def test_the_engines_come_from_the_registry_and_one_without_an_estimate_is_refused(monkeypatch):
    import dataclasses

    from reports import registry

    names = memory_engines()
    assert names[:3] == ("os", "ws", "is") and {"os_w4a8", "os_w2a8"} <= set(names)
    broken = dataclasses.replace(registry.ENGINES["os_w2a8"], estimate=None)
    monkeypatch.setitem(registry.ENGINES, "os_w2a8", broken)
    with pytest.raises(RuntimeError, match="os_w2a8 join the 'memory' table but have no data-free estimate"):
        memory_engines()
