"""rtl_models.sources: a top's build reads its own Verilog and what it instantiates, nothing else."""

import pytest

from rtl_models.sources import sources_for


def names(top, folder=None):
    return [p.name for p in (sources_for(top, folder) if folder else sources_for(top))]


def test_real_tops_pull_in_their_submodules_only():
    # both PEs the OS array can instantiate (PE_KIND), the OPT1 PE's Booth words and carry-save tree,
    # and the fold controller the systolic arrays share
    assert names("os_systolic_array") == ["booth_csa_pe.v", "booth_pp.v", "csa_tree7.v", "mac_pe.v",
                                          "os_fold_ctrl.v", "os_systolic_array.v", "skew_delay.v"]
    assert names("ws_systolic_array") == ["booth_pp.v", "csa_tree7.v", "os_fold_ctrl.v", "skew_delay.v",
                                          "ws_csa_pe.v", "ws_mac_pe.v", "ws_systolic_array.v"]
    assert names("mac_pe") == ["mac_pe.v"]


def test_transitive_and_comment_blind(tmp_path):
    (tmp_path / "top.v").write_text("module top; mid u0(); // leaf_unused()\nendmodule\n")
    (tmp_path / "mid.v").write_text("module mid; leaf u1(); endmodule\n")
    (tmp_path / "leaf.v").write_text("module leaf; endmodule\n/* module top2; */\n")
    (tmp_path / "other.v").write_text("module leaf_unused; endmodule\n")
    assert names("top", tmp_path) == ["leaf.v", "mid.v", "top.v"]
    with pytest.raises(ValueError, match=r"no Verilog module named 'top2' in .*; modules: leaf, leaf_unused, mid, top"):
        sources_for("top2", tmp_path)
