"""Gate-level toggle energy (reports/toggles.py): the simulator (rtl_models/gatesim.py), its calibration,
the PE estimate."""

import copy

import numpy as np
import pytest

from reports import synth, tech, toggles
from rtl_models.gatesim import GateSim
from rtl_models.synth import verilog_sources


def test_calibration_predicts_the_multiplier_from_the_adder():
    cal = toggles.calibration()
    assert cal.add32_area_toggles * cal.energy_per_um2_toggle_pj == pytest.approx(0.1, rel=1e-12)
    # a free prediction: the adder-calibrated constant prices a synthesised 8x8 multiplier within
    # 25% of Horowitz's 0.2 pJ (it lands at about 0.203)
    assert cal.mul8_predicted_pj == pytest.approx(0.2, rel=0.25)


def test_gate_sim_catches_a_wrong_gate():
    module = copy.deepcopy(toggles._calibration_netlist("add32", None))
    xor = next(n for n, c in module["cells"].items() if c["type"] == "$_XOR_")
    module["cells"][xor]["type"] = "$_XNOR_"
    with pytest.raises(AssertionError, match="disagrees"):
        toggles._mean_area_toggles(module, 32, False, 8, 4, 0, lambda a, b: (a + b) & 0xFFFFFFFF)


@pytest.mark.parametrize("pe", ["mac", "booth_csa"])
def test_pe_netlists_compute_exact_dot_products_and_cost_energy(pe):
    rng = np.random.default_rng(3)
    a = rng.integers(-128, 128, (8, 12))
    b = rng.integers(-128, 128, (8, 12))
    a[0], b[1] = -128, -128  # extremes: (-128) * (-128) on lane 0 and 1 mixes
    r = toggles.pe_toggle_energy(pe, a, b, "random")  # raises if the netlist's sums are wrong
    assert r.macs == 96 and r.pj_per_mac > 0
    assert r.pj_per_mac == pytest.approx(r.comb_pj_per_mac + r.flop_data_pj_per_mac + r.flop_clock_pj_per_mac)


def test_zero_operands_switch_nothing_but_the_clock():
    z = np.zeros((4, 8), np.int64)
    r = toggles.pe_toggle_energy("mac", z, z)
    assert r.comb_pj_per_mac == 0 and r.flop_data_pj_per_mac == 0 and r.flop_clock_pj_per_mac > 0


def test_toggle_table_orders_the_pes():
    df, cal = toggles.toggle_energy_table(lanes=8, k=16, progress=None)
    assert set(df.pe) == {"mac_pe", "booth_csa_pe"} and len(df) == 6
    assert (df[df.pe == "mac_pe"].energy_vs_mac_pe == 1.0).all()
    assert cal.mul8_horowitz_pj.iloc[0] == 0.2


def test_errors():
    a = np.zeros((2, 3), np.int64)
    with pytest.raises(ValueError, match="pe must be one of"):
        toggles.pe_toggle_energy("laconic", a, a)
    with pytest.raises(ValueError, match=r"\(lanes, K\) arrays of one shape"):
        toggles.pe_toggle_energy("mac", a, np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"a must hold int8 values \(-128..127\) and b signed 8-bit values"):
        toggles.pe_toggle_energy("mac", a + 200, a)
    module = synth.gate_netlist(verilog_sources("mac_pe"), "mac_pe", {}, progress=None)
    sim = GateSim(module, 2)
    with pytest.raises(ValueError, match="'acc_out' is not an input port"):
        sim.set_port("acc_out", 0)
    # unweighted, area_toggles counts toggles; weighted, it sums the cell-table areas of the toggling cells
    priced = GateSim(module, 2, cell_area=tech.cell_area_um2)
    for s in (sim, priced):
        s.reset(["a_in", "b_in"])
        s.reset_counts()
        s.set_port("a_in", [3, -7])
        s.set_port("b_in", [5, 9])
        s.settle()
        s.clock()
    assert sim.toggles == priced.toggles and sim.area_toggles() == sum(sim.toggles.values()) > 0
    assert priced.area_toggles() == pytest.approx(sum(n * tech.cell_area_um2(module["cells"][c]["type"])
                                                      for c, n in priced.toggles.items()))
    assert priced.flop_bit_clocks() == priced.flop_bits * 1 * 2
    bad = copy.deepcopy(module)
    next(iter(bad["cells"].values()))["type"] = "$_DFF_N_"
    with pytest.raises(ValueError, match=r"gate type \$_DFF_N_ is not simulated"):
        GateSim(bad, 2)
    with pytest.raises(ValueError, match="lanes must be >= 1"):
        GateSim(module, 0)


def test_ws_array_toggle_errors():
    with pytest.raises(ValueError, match=r"a must be \(t <= 16, R\) and w \(R, C\)"):
        toggles.ws_array_toggle_energy("mac", np.zeros((20, 2)), np.zeros((2, 2)), depth=16)
    with pytest.raises(ValueError, match="pe must be one of"):
        toggles.ws_array_toggle_energy("sbw", np.zeros((2, 2)), np.zeros((2, 2)))


def test_dot_top_toggle_errors():
    with pytest.raises(ValueError, match="one shape"):
        toggles.dot_top_toggle_energy("laconic_dot", {"DEPTH": 16}, np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="exceeds the top's operand buffer depth 16"):
        toggles.dot_top_toggle_energy("laconic_dot", {"DEPTH": 16}, np.zeros((1, 20)), np.zeros((1, 20)))


def test_tree_engine_toggle_errors():
    with pytest.raises(ValueError, match=r"a must be \(M, 4\) with M a multiple of 1 and b \(4, 2\)"):
        toggles.tree_toggle_energy("mult", np.zeros((3, 5)), np.zeros((4, 2)), k=4, n=2)
    with pytest.raises(ValueError, match="pe must be one of"):
        toggles.tree_toggle_energy("booth", np.zeros((3, 4)), np.zeros((4, 2)), k=4, n=2)
