"""rtl_models.saif: the SAIF parser on a hand-written file, a real Verilator SAIF run of a small design
whose toggles are counted in Python from its stimulus (whole runs and counted windows, exclusions,
registers that sample inputs), wide ports, the error messages, and two designs' SAIF energy against
the gate-level toggle energy (reports/toggles.py): the MAC PE, and the OPT3 dot-product top with its
load phases and one window per dot product. The other engine drivers run in the report section."""

import dataclasses

import numpy as np
import pytest

from rtl_models import cosim, saif

SNIPPET = r"""// hand-written: two levels, escaped bus bits, a scalar, a PORT section, a typed instance
(SAIFILE
(SAIFVERSION "2.0")
(DIRECTION "backward")
(DESIGN "top")
(PROGRAM_NAME "by hand")
(DIVIDER / )
(TIMESCALE 1 ns)
(DURATION 100)
 (INSTANCE top
  (NET
   (clk (T0 50) (T1 50) (TX 0) (TC 20) (IG 0))
   (acc\[0\] (T0 60) (T1 40) (TC 7))
   (acc\[1\] (T0 70) (T1 30) (TX 0) (TZ 0) (TB 0) (TC 3) (IG 2))
  )
  (PORT
   (a\[0\] (T0 10) (T1 90) (TC 1))
  )
  (INSTANCE "child_mod" u/deep
   (NET
    (s (T0 100) (T1 0) (TC 0))
    (w\[12\] (T0 45) (T1 55) (TC 11))
   )
  )
  (INSTANCE u
   (NET
    (x (T0 1) (T1 99) (TX 5) (TC 4))
   )
  )
 )
)
"""


def test_parser_reads_a_hand_written_file_exactly():
    s = saif.parse_saif(SNIPPET)
    assert (s.version, s.direction, s.design, s.program) == ("2.0", "backward", "top", "by hand")
    assert (s.divider, s.timescale, s.duration) == ("/", "1ns", 100)
    assert s.nets[(("top",), "clk", None)] == saif.Activity(t0=50, t1=50, tc=20)
    assert s.nets[(("top",), "acc", 0)].tc == 7
    assert s.nets[(("top",), "acc", 1)] == saif.Activity(t0=70, t1=30, tc=3, ig=2)
    # "u/deep" is a path of two instances; the quoted cell type is skipped
    assert s.nets[(("top", "u", "deep"), "w", 12)] == saif.Activity(t0=45, t1=55, tc=11)
    assert s.nets[(("top", "u"), "x", None)] == saif.Activity(t0=1, t1=99, tx=5, tc=4)
    assert s.ports == {(("top",), "a", 0): saif.Activity(t0=10, t1=90, tc=1)}
    assert len(s.nets) == 6
    assert s.toggles_by_instance() == {(): 45, ("top",): 45, ("top", "u"): 15, ("top", "u", "deep"): 11}
    assert s.toggles_by_instance(subtree=False) == {("top",): 30, ("top", "u"): 4, ("top", "u", "deep"): 11}
    assert s.under(("top", "u")) == {((), "x", None): s.nets[(("top", "u"), "x", None)],
                                     (("deep",), "s", None): saif.Activity(t0=100),
                                     (("deep",), "w", 12): saif.Activity(t0=45, t1=55, tc=11)}


def test_parser_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"1 '\(' never closed"):
        saif.parse_saif(SNIPPET[:-3])
    with pytest.raises(ValueError, match=r"unbalanced '\)'"):
        saif.parse_saif(SNIPPET + ")")
    with pytest.raises(ValueError, match=r"one \(SAIFILE \.\.\.\) form"):
        saif.parse_saif("(VCD 1)")
    with pytest.raises(ValueError, match=r"TC of acc\[0\] in top is not a number: 'seven'"):
        saif.parse_saif(SNIPPET.replace("(TC 7)", "(TC seven)"))
    with pytest.raises(ValueError, match=r"top/acc\[0\] is recorded twice"):
        saif.parse_saif(SNIPPET.replace("(acc\\[1\\]", "(acc\\[0\\]"))
    with pytest.raises(ValueError, match="unterminated string"):
        saif.parse_saif(SNIPPET.replace('"by hand"', '"by hand'))


def test_rtl_scan_finds_registers_and_instances(tmp_path):
    from rtl_models.sources import sources_for

    mods = saif.rtl_modules(sources_for("booth_csa_pe"))
    assert mods["booth_csa_pe"].registers == {"a_out", "b_out", "sum_out", "carry_out"}
    assert dict(mods["booth_csa_pe"].instances) == {"u_pp": "booth_pp", "u_tree": "csa_tree7"}
    assert mods["booth_pp"].registers == frozenset() and mods["csa_tree7"].registers == frozenset()
    src = tmp_path / "m.v"
    src.write_text("module m(input clk, input [3:0] d, output reg [3:0] q);\n  integer i;\n  reg [3:0] r;\n"
                   "  always @(posedge clk) begin\n    for (i = 0; i <= 3; i = i + 1) r[i] <= d[i];  // a loop\n"
                   "    if (d <= 4'd3) q <= r; else q <= ~r;\n  end\nendmodule\n")
    assert saif.rtl_modules([src])["m"].registers == {"r", "q"}


def test_errors_without_or_with_an_old_verilator(monkeypatch, tmp_path):
    monkeypatch.setattr(cosim, "verilator_root", lambda: tmp_path)  # "installed", whether it is here or not
    monkeypatch.setattr(saif, "verilator_version", lambda: (5, 36))
    reason = saif.saif_missing()
    assert "Verilator 5.036 is too old" in reason and "needs Verilator >= 5.042" in reason
    a = np.ones((2, 3), np.int64)
    with pytest.raises(saif.SaifError, match=r"too old for SAIF output: --trace-saif needs Verilator >= 5\.042"):
        saif.pe_activity("mac", a, a)
    monkeypatch.setattr(cosim, "verilator_root", lambda: None)
    assert "Verilator is not installed: SAIF output (--trace-saif) needs Verilator >= 5.042" in saif.saif_missing()
    assert saif._version_tuple("5.48.0") == (5, 48) and saif._version_tuple("Verilator 5.006 2022-12-22") == (5, 6)


def test_argument_errors():
    a = np.zeros((2, 3), np.int64)
    with pytest.raises(ValueError, match=r"unknown module 'laconic_pe' for a SAIF PE run: one of \['booth_csa_pe', 'mac_pe'\]"):
        saif.pe_activity("laconic_pe", a, a)
    with pytest.raises(ValueError, match="empty streams"):
        saif.pe_activity("mac", np.zeros((2, 0), np.int64), np.zeros((2, 0), np.int64))
    with pytest.raises(ValueError, match=r"a must hold int8 values"):
        saif.pe_activity("mac", a + 300, a)
    design = saif.pe_design("mac_pe")
    with pytest.raises(ValueError, match=r"empty streams: 1 word\(s\) x 2 lane\(s\)"):
        saif.simulate(design, {"a_in": np.zeros((1, 2), np.int64), "b_in": np.zeros((1, 2), np.int64)})
    with pytest.raises(ValueError, match=r"streams must be given for exactly \['a_in', 'b_in'\]; unknown \['c'\]; missing \['b_in'\]"):
        saif.simulate(design, {"a_in": a, "c": a})
    with pytest.raises(ValueError, match="unknown calibration design 'add16'"):
        saif.cal_design("add16")


# --------------------------------------------------------------------------------------------
# real Verilator runs
# --------------------------------------------------------------------------------------------


def needs_saif():
    reason = saif.saif_missing()
    if reason:
        pytest.skip(reason)


PROBE = """`timescale 1ns/1ps
module probe_child(input clk, input [7:0] d, output reg [7:0] q);
    always @(posedge clk) q <= d;
endmodule
module saif_probe(input clk, input [7:0] d, output [7:0] x, output [7:0] q2);
    reg  [7:0] q;
    reg  [3:0] count;
    wire [7:0] qq;
    always @(posedge clk) begin
        q     <= d;
        count <= count + 4'd1;
    end
    assign x = d ^ q;
    probe_child u_c (.clk(clk), .d(q), .q(qq));
    assign q2 = qq;
endmodule
"""


def _bit_toggles(samples: np.ndarray, width: int) -> np.ndarray:
    """Per bit, per lane: how often bit i changes along ``samples`` (time x lanes)."""
    flips = samples[1:] ^ samples[:-1]
    return np.stack([((flips >> i) & 1).sum(axis=0) for i in range(width)])


def _probe_samples(d: np.ndarray) -> dict[str, np.ndarray]:
    """The probe's nets after every sampled time step for the stimulus ``d`` ((steps + 1, lanes)):
    row 0 is time 0, rows 2i - 1 and 2i step i's inputs and its clock edge."""
    steps = d.shape[0] - 1
    q = np.zeros_like(d)
    q[1:] = d[1:]  # q_i = d_i after edge i (q_0 = 0)
    qq = np.zeros_like(q)
    qq[1:] = q[:-1]
    count = np.arange(steps + 1)[:, None] % 16 * np.ones(d.shape[1], np.int64)
    out = {"x": [d[0] ^ q[0]], "q": [q[0]], "qq": [qq[0]], "count": [count[0]], "d": [d[0]]}
    for i in range(1, steps + 1):
        for state in ("inputs", "edge"):
            j = i - 1 if state == "inputs" else i
            out["x"].append(d[i] ^ q[j])
            out["q"].append(q[j])
            out["qq"].append(qq[j])
            out["count"].append(count[j])
            out["d"].append(d[i])
    return {k: np.array(v) for k, v in out.items()}


def _probe_design(tmp_path, **kw) -> "saif.Design":
    src = tmp_path / "saif_probe.v"
    src.write_text(PROBE)
    return saif.Design("saif_probe", (saif.Port("d", 8),), (saif.Port("x", 8), saif.Port("q2", 8)),
                       sources=(src,), **kw)


@pytest.mark.rtl
def test_verilator_saif_counts_what_the_stimulus_makes(tmp_path):
    """A register, a 4-bit counter, an xor of input and register and a child register: the toggle
    count of every bit, in every lane, equals the count from the stimulus (sampled as the bench
    steps: inputs change, then the clock rises); the bookkeeping rules (inputs and aliases out,
    registers once each) give the totals computed here."""
    needs_saif()
    design = _probe_design(tmp_path)
    rng = np.random.default_rng(7)
    lanes, steps = 4, 20
    d = rng.integers(0, 256, (steps + 1, lanes))
    run = saif.simulate(design, {"d": d})

    # the state after every sampled time step: time 0, then per step (inputs, clock edge)
    q = np.zeros((steps + 1, lanes), np.int64)
    q[1:] = d[1:]
    qq = np.zeros_like(q)
    qq[1:] = q[:-1]
    samples = _probe_samples(d)
    want = {net: _bit_toggles(samples[net], 4 if net == "count" else 8) for net in ("x", "q", "count", "d")}
    want["qq"] = want["q2"] = _bit_toggles(samples["qq"], 8)
    acts = saif.lane_activity(run)
    for net, bits in want.items():
        for i, per_lane in enumerate(bits):
            np.testing.assert_array_equal(acts[((), net, i)][0], per_lane, err_msg=f"{net}[{i}]")
    for i in range(8):  # the child's ports are the parent's nets
        np.testing.assert_array_equal(acts[(("u_c",), "q", i)][0], want["qq"][i])
        np.testing.assert_array_equal(acts[(("u_c",), "d", i)][0], want["q"][i])
    assert acts[((), "clk", None)][0].tolist() == [2 * steps] * lanes
    np.testing.assert_array_equal(run.outputs["x"], d[1:] ^ q[1:])
    np.testing.assert_array_equal(run.outputs["q2"], qq[1:])

    c = saif.count_toggles(run)
    tot = {k: int(v.sum()) for k, v in want.items()}
    assert c.input_toggles == tot["d"]
    assert c.register_bits == 8 + 4 + 8 and c.register_toggles == tot["q"] + tot["count"] + tot["qq"]
    assert c.toggles == tot["x"] + tot["q"] + tot["count"] + tot["qq"]
    assert c.raw_toggles == tot["d"] + tot["x"] + 2 * tot["q"] + 3 * tot["qq"] + tot["count"]
    assert c.by_instance == {"": tot["x"] + tot["q"] + tot["count"], "u_c": tot["qq"]}
    assert run.saif.duration == (steps * saif.STEP_NS + 1) * 1000


@pytest.mark.rtl
def test_mac_pe_saif_energy_against_the_gate_level_estimate():
    """mac_pe on 8 lanes x 16 uniform INT8 MACs. The two estimates share the calibration anchor,
    the clock term and the flip-flops' data toggles, so those are compared tightly: the RTL's
    register bits are yosys's flip-flops (48) and the SAIF counts exactly the netlist flip-flops'
    toggles. The logic differs by construction: SAIF sees the product and the sign-extended
    product but nothing inside the multiplier or the accumulator's adder, which the netlist
    counts gate by gate. So SAIF must land below the netlist but above the clock and register
    terms the two share: within [1/3, 1] of the gate-level energy (measured here: 0.53)."""
    needs_saif()
    from reports import synth, tech, toggles
    from rtl_models.synth import verilog_sources

    rng = np.random.default_rng(11)
    a = rng.integers(-128, 128, (8, 16))
    b = rng.integers(-128, 128, (8, 16))
    act = saif.pe_activity("mac", a, b, "uniform")  # raises unless the dot products are exact
    cal = saif.calibration(tech.energy_pj("int32_add"), tech.energy_pj("register_write_per_bit"))
    assert cal.add32_toggles * cal.energy_per_bit_toggle_pj == pytest.approx(0.1, rel=1e-12)
    assert 15 < cal.add32_toggles < 17  # 32 output bits, each flips with probability 1/2
    e = saif.saif_energy(act, cal)
    g = toggles.pe_toggle_energy("mac", a, b, "uniform")

    module = synth.gate_netlist(verilog_sources("mac_pe"), "mac_pe", {}, progress=None)
    sim = toggles._gate_sim(module, 8)
    sim.reset(["acc_in", "drain", "a_in", "b_in"])
    sim.reset_counts()
    for t in range(16):
        sim.set_port("a_in", a[:, t])
        sim.set_port("b_in", b[:, t])
        sim.settle()
        sim.clock()
    assert act.count.register_bits == sim.flop_bits == 48
    assert act.count.register_toggles == sum(sim.toggles[f.name] for f in sim.flops)
    assert e.clock_pj_per_mac == pytest.approx(g.flop_clock_pj_per_mac, rel=1e-12)
    assert e.toggles_per_mac < g.toggles_per_mac / 4  # a few dozen nets against hundreds of gates
    assert 1 / 3 <= e.pj_per_mac / g.pj_per_mac <= 1


# --------------------------------------------------------------------------------------------
# counted windows, exclusions, wide ports: the machinery of the engine drivers
# --------------------------------------------------------------------------------------------


def test_wide_ports_travel_as_32_bit_images():
    """A port wider than 62 bits (a memory-image lane) is cut into 32-bit images: the bench reads
    them into one concatenation (low image lowest) and cuts a wide output back into images; the
    driver-side stimulus holds wide words as Python ints."""
    design = saif.Design("wide_top", (saif.Port("v", 100), saif.Port("e", 3)), (saif.Port("y", 70),),
                         tied=(saif.Port("z", 200),))
    assert saif._images(saif.Port("e", 3)) == [("e", 0, 3)]
    assert saif._images(saif.Port("y", 70)) == [("y__0", 0, 32), ("y__1", 32, 32), ("y__2", 64, 6)]
    text = saif.bench_verilog(design, 2, 128)
    assert ".v({in_v__3[l*4 +: 4], in_v__2[l*32 +: 32], in_v__1[l*32 +: 32], in_v__0[l*32 +: 32]})" in text
    assert "reg  [LANES*4-1:0] mem_v__3 [0:DEPTH-1];" in text and "mem_v [" not in text
    assert "assign res_y__2[l*6 +: 6] = res_y[l*70 + 64 +: 6];" in text
    assert '$writememh(file, out_y__1, 0, steps - 1);' in text and ".z({200{1'b0}})" in text
    big = (1 << 99) | (5 << 32) | 7
    vals = np.array([[big, -1]], object)
    assert saif._image_values(vals, 100, 0, 32).tolist() == [[7, (1 << 32) - 1]]
    assert saif._image_values(vals, 100, 32, 32).tolist() == [[5, (1 << 32) - 1]]
    assert saif._image_values(vals, 100, 96, 4).tolist() == [[8, 15]]
    st = saif._Stimulus(design, 2)
    st.step(v=big, e=[1, 9])  # 9 & 7: a port keeps its width
    st.step(e=2)  # v holds its value
    streams = st.streams()
    assert streams["v"].dtype == object and streams["v"][:, 0].tolist() == [0, big, big]
    assert streams["e"].tolist() == [[0, 0], [1, 1], [2, 2]]
    rnd = saif._random_streams(saif.Design("t", (saif.Port("rst", 1), saif.Port("v", 100)), ()),
                               {"rst": np.array([[0], [1], [0]]), "v": streams["v"][:, :1]}, 5, ("rst",))
    assert rnd["rst"].tolist() == [[0], [1], [0]] and rnd["v"][0, 0] == 0 and rnd["v"][1, 0] != big
    with pytest.raises(ValueError, match="Python ints in an object array only for ports wider than 62 bits"):
        saif.simulate(design, {"v": streams["v"], "e": streams["e"].astype(object)})


def test_engine_driver_argument_errors():
    a = np.zeros((4, 8), np.int64)
    with pytest.raises(ValueError, match=r"a must be \(M, 8\) with M a positive multiple of 1 and b \(8, 4\)"):
        saif.tree_activity("mult", a, np.zeros((4, 4)), 8, 4)
    with pytest.raises(ValueError, match=r"a must be \(t <= 4, R\)"):
        saif.ws_array_activity("mac", np.zeros((5, 2), np.int64), np.zeros((2, 2), np.int64), depth=4)
    with pytest.raises(ValueError, match="pe must be one of"):
        saif.ws_array_activity("sbw", np.zeros((2, 2), np.int64), np.zeros((2, 2), np.int64))
    with pytest.raises(ValueError, match="K = 20 exceeds the top's operand buffer depth 16"):
        saif.dot_top_activity("digit_skip_dot", {"DEPTH": 16}, np.zeros((1, 20), np.int64), np.zeros((1, 20), np.int64))
    with pytest.raises(ValueError, match="N a power of two"):
        saif.fwht_activity(np.zeros((2, 6), np.int64))
    with pytest.raises(ValueError, match="FP8 codes 0..255"):
        saif.fp8_pe_activity(np.full((2, 3), 300), np.zeros((2, 3), np.int64))
    with pytest.raises(ValueError, match="int8 values"):
        saif.bcast_activity("mac", a + 200, np.zeros((8, 4), np.int64))
    design = saif.pe_design("mac")
    s = {"a_in": np.zeros((6, 1), np.int64), "b_in": np.zeros((6, 1), np.int64)}
    with pytest.raises(ValueError, match="in order and not overlapping"):
        saif.simulate(design, s, windows=[(0, 3), (2, 5)])
    with pytest.raises(ValueError, match=r"start < stop <= 5"):
        saif.simulate(design, s, windows=[(1, 6)])
    with pytest.raises(ValueError, match="do not fit a bench of depth 4"):
        saif.simulate(design, s, depth=4)


@pytest.mark.rtl
def test_windows_exclusions_and_sampled_inputs_on_the_probe(tmp_path):
    """The probe again (the same build as above). Counted windows: the SAIF toggles of every bit
    equal the stimulus's toggles inside (0, 5] and (9, 16] exactly (runs stopped at 0, 5, 9 and 16
    steps, subtracted). Exclusion: leaving out `count` removes its 4 register bits and their
    toggles. A register that samples an input: with d zero over the last two steps, q and the
    child's register have d's TC and T1 in every lane, and are still counted, as registers."""
    needs_saif()
    rng = np.random.default_rng(8)
    lanes, steps = 4, 20
    d = rng.integers(0, 256, (steps + 1, lanes))
    d[0] = 0
    d[-2:] = 0
    samples = _probe_samples(d)
    windows = [(0, 5), (9, 16)]
    run = saif.simulate(_probe_design(tmp_path), {"d": d}, windows=windows, keep=tmp_path / "kept")
    assert run.windows == tuple(windows) and run.counted_steps == 12 and sorted(run.saifs) == [0, 5, 9, 16]
    text = (tmp_path / "kept" / "steps9.saif").read_text()  # the fast reader gives the general parser's Saif
    assert saif._parse_verilator(text) == saif.parse_saif(text) == run.saifs[9]
    assert saif._parse_verilator(SNIPPET) is None  # not Verilator's layout: the general parser reads it

    def inside(net, width):
        return sum(_bit_toggles(samples[net][2 * s:2 * e + 1], width) for s, e in windows)

    want = {"x": inside("x", 8), "q": inside("q", 8), "qq": inside("qq", 8), "count": inside("count", 4)}
    acts = saif.lane_activity(run)
    for net, bits in want.items():
        path = ("u_c",) if net == "qq" else ()
        for i, per_lane in enumerate(bits):
            np.testing.assert_array_equal(acts[(path, "q" if net == "qq" else net, i)][0], per_lane,
                                          err_msg=f"{net}[{i}]")
    tot = {k: int(v.sum()) for k, v in want.items()}
    c = saif.count_toggles(run)
    assert c.steps == 12 and c.register_toggles == tot["q"] + tot["count"] + tot["qq"]

    ex = saif.count_toggles(dataclasses.replace(run, design=_probe_design(tmp_path, exclude=("count",))))
    assert (ex.register_bits, ex.excluded_bits, ex.excluded_register_bits) == (16, 4, 4)
    assert ex.toggles == c.toggles - tot["count"] and ex.by_instance[""] == c.by_instance[""] - tot["count"]

    full = saif.simulate(_probe_design(tmp_path), {"d": d})
    acts = saif.lane_activity(full)
    for i in range(8):  # q and the child's register look like the input they sample
        assert np.array_equal(acts[((), "q", i)][0], acts[((), "d", i)][0])
        assert np.array_equal(acts[((), "q", i)][1], acts[((), "d", i)][1])
    tot = {k: int(_bit_toggles(samples[k], 4 if k == "count" else 8).sum()) for k in ("x", "q", "qq", "count")}
    c = saif.count_toggles(full)
    assert c.register_toggles == tot["q"] + tot["count"] + tot["qq"]
    assert c.toggles == tot["x"] + tot["q"] + tot["count"] + tot["qq"]


@pytest.mark.rtl
def test_digit_skip_dot_saif_against_the_gate_level_estimate():
    """The OPT3 dot-product top, 2 dot products of K = 8 one after another, as
    reports/toggles.py's dot_top_toggle_energy drives its netlist: per dot product the buffer load
    is stepped but not counted and the steps from start to done are (the SAIF of a run stopped at
    each start subtracted from one stopped at each done). The counted cycles equal the netlist's
    per dot product; the operand buffers (16 words of a and b) are excluded from both; the
    flip-flops' toggles equal the netlist flip-flops' exactly (the same registers, the same
    states). The logic is priced differently (nets vs gates), so the energies agree only roughly:
    measured 1.0-1.1 at K = 16."""
    needs_saif()
    from reports import tech
    from reports.engine import gaussian_int8
    from reports.sections.saif import _gate_engine
    from reports import toggles

    a, b = gaussian_int8((2, 8), (2, 8), seed=3)
    act = saif.dot_top_activity("digit_skip_dot", {"DEPTH": 16}, a, b, "ld_b")  # raises on a wrong result
    gate = _gate_engine(lambda: toggles.dot_top_toggle_energy("digit_skip_dot", {"DEPTH": 16}, a, b), a.size)
    assert [stop - start for start, stop in act.run.windows] == gate["cycles_per_call"]
    assert act.cycles == sum(gate["cycles_per_call"]) and act.macs == 16
    c = act.count
    assert (c.excluded_bits, c.excluded_register_bits) == (256, 256)
    assert c.register_toggles == gate["flop_toggles"] > 0
    assert 0 <= c.register_bits - gate["flop_bits"] <= 4  # yosys drops a few constant flip-flops
    cal = saif.calibration(tech.energy_pj("int32_add"), tech.energy_pj("register_write_per_bit"))
    e = saif.saif_energy(act, cal)
    assert e.clock_pj_per_mac == pytest.approx(gate["clock"] * c.register_bits / gate["flop_bits"], rel=1e-9)
    assert 0.7 <= e.pj_per_mac / gate["pj"] <= 1.4
