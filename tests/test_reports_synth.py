"""Synthesis with yosys (rtl_models/synth.py) priced and cached (reports/synth.py): a tiny MAC in a temporary
folder, its costs, the cache, and bad input."""

import re
from pathlib import Path

import pytest

from reports import synth, tech
from rtl_models import synth as runner

MAC_V = """\
`timescale 1ns/1ps
// y <= y + a * b, with synchronous reset and enable: the PE of a systolic array in miniature
module tiny_mac #(parameter A_W = 8, parameter B_W = 8, parameter ACC_W = 20) (
    input clk, input rst, input en,
    input signed [A_W-1:0] a, input signed [B_W-1:0] b,
    output reg signed [ACC_W-1:0] y);
    always @(posedge clk) begin
        if (rst) y <= 0;
        else if (en) y <= y + a * b;
    end
endmodule
"""


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("synth_cache")


@pytest.fixture(autouse=True)
def isolated_cache(cache_dir, monkeypatch):
    monkeypatch.setenv("BITWEIGHT_CACHE_DIR", str(cache_dir))


@pytest.fixture(scope="module")
def mac_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("rtl") / "tiny_mac.v"
    path.write_text(MAC_V)
    return path


def run(mac_file, **params):
    return synth.synthesize([mac_file], "tiny_mac", params, progress=None)


def test_tiny_mac_has_cells_area_and_depth(mac_file):
    r = run(mac_file, A_W=4, B_W=4, ACC_W=12)
    assert r.num_cells > 0 and r.area_um2 > 0 and r.logic_depth > 0
    assert r.flop_bits == 12  # the accumulator
    assert r.area_um2 == pytest.approx(sum(n * tech.cell_area_um2(t) for t, n in r.cells.items()))
    assert r.area_um2 == pytest.approx(r.comb_area_um2 + r.seq_area_um2)
    assert sum(r.path_cells.values()) == r.critical_path_gates <= r.logic_depth
    assert r.critical_path_ps == pytest.approx(sum(n * tech.cell_delay_ps(t) for t, n in r.path_cells.items()))
    ft = tech.flop_timing()
    end_gatings = {0.0} | {tech.cell_delay_ps(t) for t in r.cells if tech.cell_entry(t).kind == "seq"}
    assert any(r.flop_overhead_ps == pytest.approx(ft.clk_to_q_ps + ft.setup_ps + g) for g in end_gatings)
    assert r.est_clock_mhz == pytest.approx(
        1e6 / (r.critical_path_gates * r.mean_gate_delay_ps + r.flop_overhead_ps))
    assert 50 < r.est_clock_mhz < 3000
    assert r.yosys_version == runner.yosys_version()


def test_cost_rises_with_width(mac_file):
    small = run(mac_file, A_W=4, B_W=4, ACC_W=12)
    big = run(mac_file, A_W=8, B_W=8, ACC_W=24)
    assert big.num_cells > small.num_cells
    assert big.area_um2 > small.area_um2
    assert big.logic_depth > small.logic_depth
    assert big.est_clock_mhz < small.est_clock_mhz


def test_second_run_comes_from_the_cache(mac_file, tmp_path):
    first = run(mac_file, A_W=5, B_W=5, ACC_W=14)
    again = run(mac_file, A_W=5, B_W=5, ACC_W=14)
    assert again.cached and again == first
    edited = tmp_path / "tiny_mac.v"  # same name, different text: a different key
    edited.write_text(MAC_V.replace("y + a * b", "y - a * b"))
    other = synth.synthesize([edited], "tiny_mac", {"A_W": 5, "B_W": 5, "ACC_W": 14}, progress=None)
    assert not other.cached


def test_progress_reports_one_line_per_synthesis(mac_file):
    lines = []
    synth.synthesize([mac_file], "tiny_mac", {"A_W": 3, "B_W": 3, "ACC_W": 9}, progress=lines.append)
    synth.synthesize([mac_file], "tiny_mac", {"A_W": 3, "B_W": 3, "ACC_W": 9}, progress=lines.append)
    assert lines[0] == "synth tiny_mac A_W=3 B_W=3 ACC_W=9: running yosys ..."
    assert re.match(r"synth tiny_mac A_W=3 B_W=3 ACC_W=9: \d+ cells, \d+ um\^2, depth \d+, ~\d+ MHz", lines[1])
    assert lines[2].startswith("synth tiny_mac A_W=3 B_W=3 ACC_W=9: cached")


def test_unknown_parameter_is_named_with_the_known_ones(mac_file):
    with pytest.raises(ValueError) as exc:
        run(mac_file, WIDTH=8)
    assert str(exc.value) == "parameter 'WIDTH' is not a parameter of module 'tiny_mac'; its parameters: A_W, B_W, ACC_W"


@pytest.mark.parametrize("value", ["8", 8.0, True, None])
def test_non_integer_parameter_value(mac_file, value):
    with pytest.raises(ValueError) as exc:
        run(mac_file, A_W=value)
    assert str(exc.value) == f"parameter A_W: value {value!r} is not an integer"


def test_numpy_integer_parameters_are_integers(mac_file):
    np = pytest.importorskip("numpy")
    assert run(mac_file, A_W=np.int64(4), B_W=4, ACC_W=12) == run(mac_file, A_W=4, B_W=4, ACC_W=12)


def test_bad_parameter_name(mac_file):
    with pytest.raises(ValueError, match=re.escape("parameter name 'A W' is not a Verilog identifier")):
        synth.synthesize([mac_file], "tiny_mac", {"A W": 1}, progress=None)


def test_unknown_top(mac_file):
    with pytest.raises(ValueError, match=re.escape("top module 'huge_mac' is not defined in")):
        synth.synthesize([mac_file], "huge_mac", progress=None)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        synth.synthesize([tmp_path / "nope.v"], "nope", progress=None)


def test_syntax_error_carries_the_yosys_error_line(tmp_path):
    bad = tmp_path / "bad.v"
    bad.write_text("module bad(input a, output b);\n  assign b = a &;\nendmodule\n")
    with pytest.raises(synth.SynthError, match=re.escape("bad.v:2: ERROR: syntax error")):
        synth.synthesize([bad], "bad", progress=None)


def test_ltp_parsing():
    text = ("Longest topological path in m1 (length=3):\n    0: a\n"
            "Longest topological path in $paramod$abc\\m2 (length=12):\n    0: b\n")
    assert runner._parse_ltp(text) == 12
    assert runner._parse_ltp("") == 0
    with pytest.raises(runner.SynthError, match="could not read a path length"):
        runner._parse_ltp("something else entirely")


def test_unknown_cell_type_in_counts_names_it():
    counts = {"cells": {"$_DLATCH_P_": 4}, "logic_depth": 0, "critical_path_ps": 0.0, "critical_path_gates": 0,
              "path_cells": {}, "flop_overhead_ps": 133.1, "yosys_version": "x", "synth_runtime_s": 0.0}
    with pytest.raises(tech.MissingTechnologyEntry, match=re.escape("'$_DLATCH_P_'")):
        synth.cost_of_counts("m", {}, counts)


def cell(kind, **conns):
    """A yosys JSON cell: outputs are Q (flip-flops) and Y (gates), every other port an input."""
    dirs = {p: ("output" if p in ("Q", "Y") else "input") for p in conns}
    return {"type": kind, "port_directions": dirs, "connections": {p: list(b) for p, b in conns.items()}}


def test_critical_path_is_the_slowest_not_the_longest():
    # flop q (bit 2) -> NAND -> XOR -> flop with sync reset (D = bit 5), 23.1 + 57.9 = 81.0 ps, and a
    # three-NAND path q -> 6 -> 7 -> 8 -> plain flop, 69.3 ps: more gates, less delay.
    module = {"ports": {"clk": {"direction": "input", "bits": [1]}, "x": {"direction": "input", "bits": [3]}},
              "cells": {
                  "ff0": cell("$_DFF_P_", C=[1], D=[3], Q=[2]),
                  "g1": cell("$_NAND_", A=[2], B=[3], Y=[4]),
                  "g2": cell("$_XOR_", A=[4], B=[2], Y=[5]),
                  "ff1": cell("$_SDFF_PP0_", C=[1], D=[5], R=[3], Q=[9]),
                  "h1": cell("$_NAND_", A=[2], B=[2], Y=[6]),
                  "h2": cell("$_NAND_", A=[6], B=[3], Y=[7]),
                  "h3": cell("$_NAND_", A=[7], B=["0"], Y=[8]),
                  "ff2": cell("$_DFF_P_", C=[1], D=[8], Q=[10]),
              }}
    got = synth.critical_path(module)
    assert got["critical_path_ps"] == pytest.approx(23.1 + 57.9)
    assert got["critical_path_gates"] == 2
    assert got["path_cells"] == {"$_NAND_": 1, "$_XOR_": 1}
    assert got["flop_overhead_ps"] == pytest.approx(93.3 + 39.8 + 39.4)  # clock-to-Q, setup, reset AND2


def test_combinational_loop_is_an_error():
    module = {"ports": {}, "cells": {"a": cell("$_NOT_", A=[2], Y=[3]), "b": cell("$_NOT_", A=[3], Y=[2]),
                                     "ff": cell("$_DFF_P_", C=[1], D=[3], Q=[4])}}
    with pytest.raises(synth.SynthError, match="combinational loop"):
        synth.critical_path(module)


def test_real_pe_synthesises_with_known_cells():
    files = runner.verilog_sources()
    if not any(Path(f).name == "mac_pe.v" for f in files):
        pytest.skip("rtl_models/verilog/mac_pe.v not there yet")
    r = synth.synthesize(files, "mac_pe", {"A_W": 8, "B_W": 8, "ACC_W": 32}, progress=None)
    assert r.flop_bits >= 32 and r.area_um2 > 500 and r.logic_depth > 20
