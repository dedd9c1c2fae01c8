"""rtl_models.inventory: the modules, parameters and ports pyverilog finds in rtl_models/verilog,
checked against what the cocotb bench drives, and its errors on bad input."""

from __future__ import annotations

import shutil

import pytest

pytest.importorskip("pyverilog")
if shutil.which("iverilog") is None:  # pyverilog preprocesses with `iverilog -E`
    pytest.skip("iverilog is not on PATH", allow_module_level=True)

from rtl_models.inventory import Port, VerilogInventoryError, inventory  # noqa: E402

ARRAY_PARAMS = {"R": "4", "C": "4", "A_W": "8", "B_W": "8", "ACC_W": "32", "DEPTH": "16"}
# the ports rtl_models/benches/systolic_bench.py drives and samples, with directions
COMMON = {"clk": "input", "rst": "input", "start": "input", "t_len": "input", "busy": "output",
          "done": "output", "rd_addr": "input", "rd_data": "output"}
OS_PORTS = COMMON | {"ld_en": "input", "ld_addr": "input", "ld_a": "input", "ld_b": "input"}
WS_PORTS = COMMON | {"w_en": "input", "w_addr": "input", "w_data": "input", "a_en": "input",
                     "a_addr": "input", "a_data": "input", "accumulate": "input"}


@pytest.fixture(scope="module")
def mods():
    return inventory()


@pytest.mark.parametrize(
    "top,ports,params",
    [("os_systolic_array", OS_PORTS, ARRAY_PARAMS | {"PE_KIND": "0"}), ("ws_systolic_array", WS_PORTS, ARRAY_PARAMS | {"PE_KIND": "0"})],
)
def test_arrays_have_the_ports_the_bench_drives(mods, top, ports, params):
    mod = mods[top]
    assert mod.parameters == params
    assert {p.name: p.direction for p in mod.ports} == ports
    assert mod.port("rd_data").width_expr == "C*ACC_W"


def test_pes_are_separate_modules(mods):
    assert {"mac_pe", "ws_mac_pe", "skew_delay", "os_systolic_array", "ws_systolic_array"} <= set(mods)
    pe = mods["mac_pe"]
    assert pe.parameters == {"A_W": "8", "B_W": "8", "ACC_W": "32"}
    assert pe.port("a_in") == Port("a_in", "input", "A_W-1", "0")
    assert pe.port("acc_out") == Port("acc_out", "output", "ACC_W-1", "0")
    assert pe.port("drain").width_expr == "1"
    assert mods["ws_mac_pe"].parameters["REG_PSUM"] == "1"


def test_port_widths_follow_the_parameters(mods):
    os_w = mods["os_systolic_array"].port_widths({"R": 3, "C": 5, "DEPTH": 64})
    assert (os_w["ld_a"], os_w["ld_b"], os_w["rd_data"]) == (3 * 8, 5 * 8, 5 * 32)
    assert (os_w["ld_addr"], os_w["t_len"], os_w["rd_addr"]) == (6, 7, 2)  # t_len holds 0..DEPTH
    ws_w = mods["ws_systolic_array"].port_widths({"R": 1, "C": 2, "ACC_W": 20, "DEPTH": 8})
    assert (ws_w["w_addr"], ws_w["a_data"], ws_w["rd_addr"], ws_w["rd_data"]) == (1, 8, 3, 40)
    assert mods["ws_systolic_array"].port("t_len").width_expr == "$clog2(DEPTH)+1"


def test_inventory_leaves_no_files_in_the_working_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    inventory()
    assert list(tmp_path.iterdir()) == []


def test_malformed_file_names_file_and_line(tmp_path):
    bad = tmp_path / "broken.v"
    bad.write_text("`timescale 1ns/1ps\nmodule broken #(parameter N = 2) (input clk, output [N-1:0] q\n"
                   "    wire x;\nendmodule\n")
    with pytest.raises(VerilogInventoryError, match=r"broken\.v does not parse: line:3: before: \"wire\""):
        inventory([bad])


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"Verilog file not found: .*nothing\.v"):
        inventory([tmp_path / "nothing.v"])


def test_bad_parameters_are_named(mods, tmp_path):
    arr = mods["os_systolic_array"]
    with pytest.raises(ValueError, match=r"os_systolic_array has no parameter 'ROWS'; its parameters: R, C, A_W"):
        arr.port_widths({"ROWS": 8})
    with pytest.raises(ValueError, match=r"parameter R of os_systolic_array must be an int, got '4'"):
        arr.port_widths({"R": "4"})
    with pytest.raises(VerilogInventoryError, match=r"width of port ld_a of module os_systolic_array is \[-1:0\]"):
        arr.port_widths({"R": 0})
    with pytest.raises(ValueError, match=r"has no port 'ld_w'"):
        arr.port("ld_w")
    # a default that uses a name no parameter defines
    odd = tmp_path / "odd.v"
    odd.write_text("`timescale 1ns/1ps\nmodule odd #(parameter W = WIDTH + 1) (input [W-1:0] d);\nendmodule\n")
    mod = inventory([odd])["odd"]
    assert mod.parameters == {"W": "WIDTH+1"}
    with pytest.raises(VerilogInventoryError, match=r"default of parameter W of module odd: 'WIDTH' is not a parameter"):
        mod.port_widths()
    assert mod.port_widths({"W": 3}) == {"d": 3}
