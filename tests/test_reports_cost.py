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
    assert c.energy_by_component_pj == {"mac_arithmetic": 32.0, "pe_registers": 0.0, "buffers": 4.0, "dram": 0.0}
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
    # the memory system's energy joins the components it names
    m = cost.gemm_cost(engine="e", workload="w", M=2, N=3, K=4, cycles=100,
                       events={"macs": 24, "mac_slots": 32, "a_buffer_reads_bytes": 8},
                       num_pes=4, clock_mhz=200.0, area_um2=1e6, event_energy=SIMPLE,
                       extra_energy={"buffers": 1.0, "dram": 100.0})
    assert m.energy_by_component_pj == {"mac_arithmetic": 32.0, "pe_registers": 0.0, "buffers": 5.0, "dram": 100.0}
    assert m.energy_pj == 137.0
    with pytest.raises(ValueError, match=r"^extra_energy component must be one of mac_arithmetic, pe_registers, "
                                         r"buffers, dram, got 'hbm'$"):
        cost.gemm_cost(engine="e", workload="w", M=2, N=3, K=4, cycles=100, events={"macs": 24},
                       num_pes=4, clock_mhz=200.0, area_um2=1e6, event_energy=SIMPLE, extra_energy={"hbm": 1.0})


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
    from reports.build import priced_engines
    from reports.engine import Sizes

    fa = 0.1 / 32
    specs = {e.name: e for e in priced_engines(Sizes.quick(4, 4)) if e.array.top in ("tree_gemm", "bcast_matrix")}
    # (a 2x2x2 cube has no carry-save tree: K = 2)
    assert set(specs) == {"mat_4x2", "cube_2", "mat_sbw_4x2", "cube_sbw_2", "mat_csa_4x2", "bcast_4x4", "bcast_csa_4x4"}
    arith = {}
    for name, e in specs.items():
        est = e.estimate(8, 6, 40, e.config)
        by = cost.energy_by_component_pj({k: int(v) for k, v in est.events.items()}, e.event_energy)
        assert by["buffers"] > 0
        arith[name] = by["mac_arithmetic"] / est.events["macs"]
        if name == "bcast_4x4":  # the grid's MAC PE: exactly an 8x8 multiply and a 32-bit add per slot
            assert by["mac_arithmetic"] == pytest.approx(est.events["mac_slots"] * (0.2 + 0.1))
        if name == "mat_4x2":  # a 4-leaf tree of 16-bit products: 2 x 17 + 18 bits, plus the 32-bit add, / 4
            assert by["mac_arithmetic"] == pytest.approx(est.events["tree_slots"] * (0.2 + (2 * 17 + 18 + 32) / 4 * fa))
    # the techniques are priced by their own tables, not the baseline's
    assert arith["mat_sbw_4x2"] != pytest.approx(arith["mat_4x2"])
    assert arith["bcast_csa_4x4"] > arith["bcast_4x4"]


def test_add_tree_bits_count_real_adders_only():
    from reports.cost import _add_tree_fa_bits

    # 16 leaves of 16 bits: 8 adders of 17 bits, 4 of 18, 2 of 19, 1 of 20
    assert _add_tree_fa_bits(16, 16) == 8 * 17 + 4 * 18 + 2 * 19 + 20
    # 17 leaves of 10 bits (OPT2's K + 1 leaves): the 17th leaf costs one adder, at the root (15 bits)
    assert _add_tree_fa_bits(17, 10) == 8 * 11 + 4 * 12 + 2 * 13 + 14 + 15
    assert _add_tree_fa_bits(3, 8) == 9 + 10 and _add_tree_fa_bits(1, 8) == 0


def test_technique_tables_price_every_event_of_their_engine():
    """Each engine config gets a table that covers every event its model counts, and the bit counts
    in the derivations give the stated energies."""
    from reports import cost
    from sim.adder_tree import TreeConfig
    from sim.adder_tree import estimate_gemm as tree_est
    from sim.broadcast import BroadcastConfig
    from sim.broadcast import estimate_gemm as bcast_est
    from sim.digit_skip import DigitSkipConfig
    from sim.digit_skip import estimate_gemm as ds_est
    from sim.systolic import SystolicConfig
    from sim.systolic import estimate_gemm as sys_est

    fa, _, _ = cost.full_adder_bit()
    pp, _ = cost.pp_bit()
    assert fa == pytest.approx(0.1 / 32) and pp == pytest.approx((0.2 - 56 * 0.1 / 32) / 64)
    from reports.registry import get_engine

    # each config priced through its engine record's table (the family is the record's, the
    # technique the config's)
    cases = [("os", SystolicConfig(4, 4, df, pe=pe), sys_est) for df in ("os", "ws") for pe in ("mac", "booth_csa")]
    cases += [("mat", TreeConfig(8, 4, pe, rows=r), tree_est) for pe in ("mult", "sbw") for r in (1, 8)]
    cases += [("bcast", BroadcastConfig(4, 4, pe), bcast_est) for pe in ("mac", "booth_csa")]
    cases += [("opt3", DigitSkipConfig(cols=4), ds_est)]
    for name, cfg, est in cases:
        table = get_engine(name).energy_table(cfg)
        by = cost.energy_by_component_pj(est(20, 12, 40, cfg).events, table)
        assert sum(by.values()) > 0, cfg
    slot = {r.event: r.energy_pj for r in get_engine("os_csa").energy_table(SystolicConfig(4, 4, pe="booth_csa"))}
    assert slot["mac_slots"] == pytest.approx(5 * 32 * fa + 4 * 9 * pp)
    assert slot["pe_acc_reg_writes"] == pytest.approx(64 * 0.00482)
    mult = {r.event: r.energy_pj for r in get_engine("mat").energy_table(TreeConfig(16, 4))}
    assert mult["tree_slots"] == pytest.approx(0.2 + (266 + 32) / 16 * fa)

    with pytest.raises(ValueError, match="engine fwht has no event -> energy table"):
        get_engine("fwht").energy_table(None)
    with pytest.raises(ValueError, match="dataflow must be 'os', 'ws' or 'bcast', got 'is'"):
        cost.csa_pe_event_energy("is")
