"""Cost model arithmetic on hand-computed cases, and coverage of the cycle model's events."""

import re

import pytest

from reports import cost, tech

REG = 0.00482  # register_write_per_bit, pJ
SRAM_BYTE = 20 / 8  # sram_32kb_read_64bit per byte, pJ


def test_int8_event_energy_rows():
    rows = {r.event: r for r in cost.int_gemm_event_energy(8, 8, 32)}
    assert rows["mac_slots"].energy_pj == pytest.approx(0.2 + 0.1)
    assert rows["mac_slots"].component == "mac_arithmetic"
    assert rows["pe_operand_reg_writes"].energy_pj == pytest.approx(8 * REG)
    assert rows["pe_acc_reg_writes"].energy_pj == pytest.approx(32 * REG)
    assert rows["pe_drain_reg_writes"].energy_pj == pytest.approx(32 * REG)
    assert rows["pe_weight_reg_writes"].energy_pj == pytest.approx(8 * REG)
    for ev in ("a_buffer_reads_bytes", "b_buffer_reads_bytes", "out_buffer_writes_bytes", "out_buffer_reads_bytes"):
        assert rows[ev].energy_pj == pytest.approx(SRAM_BYTE) and rows[ev].component == "buffers"
    for ev in ("macs", "psum_writes"):
        assert rows[ev].component == cost.NOT_CHARGED
    for r in rows.values():
        assert r.derivation and r.source


def test_energy_by_component_hand_computed():
    events = {"macs": 8, "mac_slots": 10, "pe_operand_reg_writes": 20, "pe_acc_reg_writes": 10,
              "a_buffer_reads_bytes": 16, "b_buffer_reads_bytes": 4, "out_buffer_writes_bytes": 32,
              "psum_writes": 8}
    got = cost.energy_by_component_pj(events, cost.int_gemm_event_energy())
    assert got["mac_arithmetic"] == pytest.approx(10 * 0.3)
    assert got["pe_registers"] == pytest.approx(20 * 8 * REG + 10 * 32 * REG)
    assert got["buffers"] == pytest.approx((16 + 4 + 32) * 2.5)


def test_unknown_event_is_an_error_naming_it():
    with pytest.raises(tech.MissingTechnologyEntry, match=re.escape("events ['warp_drive_jumps'] have no row")):
        cost.energy_by_component_pj({"macs": 1, "warp_drive_jumps": 3}, cost.int_gemm_event_energy())


def test_negative_count_is_an_error():
    with pytest.raises(ValueError, match="event 'mac_slots' has a negative count -1"):
        cost.energy_by_component_pj({"mac_slots": -1}, cost.int_gemm_event_energy())


def test_missing_technology_entry_for_other_widths():
    with pytest.raises(tech.MissingTechnologyEntry, match="int16_add"):
        cost.int_gemm_event_energy(4, 4, 16)


SIMPLE = (
    cost.EventEnergy("macs", cost.NOT_CHARGED, 0.0, "counted on mac_slots", "-"),
    cost.EventEnergy("mac_slots", "mac_arithmetic", 1.0, "1 pJ", "test"),
    cost.EventEnergy("a_buffer_reads_bytes", "buffers", 0.5, "0.5 pJ", "test"),
)


def test_gemm_cost_hand_computed():
    # 2x3x4 GEMM: 24 MACs in 100 cycles on 4 PEs at 200 MHz, 2 um^2 ... 1e6 um^2 = 1 mm^2
    c = cost.gemm_cost(engine="e", workload="w", M=2, N=3, K=4, cycles=100,
                       events={"macs": 24, "mac_slots": 32, "a_buffer_reads_bytes": 8},
                       num_pes=4, clock_mhz=200.0, area_um2=1e6, event_energy=SIMPLE)
    assert c.macs == 24
    assert c.energy_by_component_pj == {"mac_arithmetic": 32.0, "pe_registers": 0.0, "buffers": 4.0}
    assert c.energy_pj == 36.0
    assert c.energy_per_mac_pj == pytest.approx(36 / 24)
    assert c.utilisation == pytest.approx(24 / (4 * 100))
    assert c.latency_us == pytest.approx(0.5)  # 100 cycles at 200 MHz
    assert c.throughput_gops == pytest.approx(48 / 0.5e-6 / 1e9)  # 2 ops per MAC: 0.096 GOPS
    assert c.peak_gops == pytest.approx(2 * 4 * 200e6 / 1e9)
    assert c.gops_per_mm2 == pytest.approx(0.096)  # area 1 mm^2
    assert c.gops_per_w == pytest.approx(48 / 36e-12 / 1e9)
    row = c.row()
    assert row["energy_buffers_pj"] == 4.0 and row["latency_us"] == pytest.approx(0.5)


def test_gemm_cost_checks_its_inputs():
    ok = dict(engine="e", workload="w", M=2, N=3, K=4, cycles=100, events={"macs": 24, "mac_slots": 32},
              num_pes=4, clock_mhz=200.0, area_um2=1e6, event_energy=SIMPLE)
    with pytest.raises(ValueError, match=re.escape("events['macs'] = 23 but M*N*K = 24")):
        cost.gemm_cost(**{**ok, "events": {"macs": 23}})
    with pytest.raises(ValueError, match="need positive cycles"):
        cost.gemm_cost(**{**ok, "cycles": 0})


@pytest.mark.parametrize("dataflow", ["os", "ws"])
def test_table_prices_every_event_the_systolic_model_counts(dataflow):
    systolic = pytest.importorskip("sim.systolic")
    cfg = systolic.SystolicConfig(4, 4, dataflow)
    est = systolic.estimate_gemm(7, 5, 11, cfg)
    table = cost.int_gemm_event_energy(cfg.a_bits, cfg.b_bits, cfg.acc_bits)
    assert set(est.events) <= {r.event for r in table}
    c = cost.gemm_cost(engine=dataflow, workload="w", M=7, N=5, K=11, cycles=est.cycles, events=est.events,
                       num_pes=cfg.pes, clock_mhz=100.0, area_um2=1e4, event_energy=table)
    # every MAC slot costs at least its arithmetic, and padding only adds
    assert c.energy_per_mac_pj > 0.3
    assert c.energy_by_component_pj["mac_arithmetic"] == pytest.approx(est.events["mac_slots"] * 0.3)


def test_tree_cube_and_grid_events_are_all_priced():
    from reports.build import other_gemm_engines

    for e in other_gemm_engines(tree=(4, 2), cube=2, grid=4):
        est = e.estimate(8, 6, 40, e.config)
        by = cost.energy_by_component_pj({k: int(v) for k, v in est.events.items()}, e.event_energy)
        slots = est.events.get("tree_slots", est.events.get("mac_slots"))
        # the arithmetic is exactly (8x8 multiply + 32-bit add) per multiply slot
        assert by["mac_arithmetic"] == pytest.approx(slots * (0.2 + 0.1))
        assert by["buffers"] > 0
