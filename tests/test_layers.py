"""SCALE-Sim inputs: topology CSVs (convolution and M,N,K forms), .cfg files, the layer table."""

import pytest

from reports.cli import main
from reports.layers import layer_table
from reports.registry import engines
from sim.topology import ArchConfig, Layer, read_arch_config, read_topology

CONV = """Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,
Conv1, 224, 224, 11, 11, 3, 96, 4,
Conv2, 27, 27, 5, 5, 96, 256, 1,
DP_conv, 14, 14, 3, 3, 32, 1, 1,
"""
GEMM = """Layer, M, N, K,
ffn_up, 128, 1536, 384,
"""
CFG = """[general]
run_name = test

[architecture_presets]
ArrayHeight:    32
ArrayWidth:     32
IfmapSramSzkB:    64
FilterSramSzkB:   64
OfmapSramSzkB:    64
Dataflow : os
"""


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_conv_rows_become_im2col_gemms(tmp_path):
    layers = read_topology(write(tmp_path, "alexnet.csv", CONV))
    # ofmap ceil((224 - 11 + 4) / 4) = 55 per side (SCALE-Sim's formula), K = 11 * 11 * 3
    assert layers[0] == Layer("Conv1", 55 * 55, 96, 363)
    assert layers[1] == Layer("Conv2", 23 * 23, 256, 5 * 5 * 96)
    assert layers[2] == Layer("DP_conv", 12 * 12, 1, 9, repeat=32)  # depthwise: one GEMM per channel


def test_gemm_rows_and_config(tmp_path):
    assert read_topology(write(tmp_path, "g.csv", GEMM)) == [Layer("ffn_up", 128, 1536, 384)]
    arch = read_arch_config(write(tmp_path, "s.cfg", CFG))
    assert arch == ArchConfig(32, 32, "os", 64, 64, 64)


def test_layer_table_uses_scale_sim_fold_formula(tmp_path):
    arch = ArchConfig(32, 32, "os")
    df = layer_table([Layer("Conv1", 55 * 55, 96, 363)], arch)
    folds = -(-3025 // 32) * 3
    assert df.loc[0, "Total Cycles"] == folds * (2 * 32 + 32 + 363 - 2)
    assert df.loc[0, "Stall Cycles"] == 0
    assert df.loc[0, "Mapping Efficiency %"] == pytest.approx(100 * 3025 * 96 / (folds * 32 * 32))
    assert df.loc[0, "SRAM IFMAP Reads"] == folds * 363 * 32
    assert df.iloc[-1]["LayerID"] == "total"


def test_depthwise_repeat_scales_cycles_and_reads():
    arch = ArchConfig(8, 8, "ws")
    one = layer_table([Layer("dw", 144, 1, 9)], arch)
    rep = layer_table([Layer("dw", 144, 1, 9, repeat=32)], arch)
    assert rep.loc[0, "Total Cycles"] == 32 * one.loc[0, "Total Cycles"]
    assert rep.loc[0, "SRAM OFMAP Writes"] == 32 * one.loc[0, "SRAM OFMAP Writes"]


@pytest.mark.parametrize(
    "text,match",
    [
        ("Layer, M, N, K,\nx, 4, 0, 3,\n", r"t.csv line 2: N must be >= 1, got 0"),
        ("Layer, M, N, K,\nx, 4, four, 3,\n", r"t.csv line 2: N must be an integer, got 'four'"),
        ("Layer name, a, b, c, d, e, f, g,\nc1, 5, 5, 7, 3, 1, 1, 1,\n", r"filter 7x3 is larger than the input 5x5"),
        ("Layer name, a, b, c, d, e, f, g,\nc1, 5, 5, 3,\n", r"a convolution row needs Layer name, IFMAP Height"),
        ("Layer, M, N, K,\n", r"no layers after the header"),
    ],
)
def test_bad_topology_messages(tmp_path, text, match):
    with pytest.raises(ValueError, match=match):
        read_topology(write(tmp_path, "t.csv", text))


def test_bad_config_messages(tmp_path):
    with pytest.raises(ValueError, match=r"Dataflow must be 'os' or 'ws' \(input-stationary is not modelled\), got 'is'"):
        read_arch_config(write(tmp_path, "a.cfg", CFG.replace("Dataflow : os", "Dataflow : is")))
    with pytest.raises(ValueError, match=r"\[architecture_presets\] has no ArrayWidth"):
        read_arch_config(write(tmp_path, "b.cfg", CFG.replace("ArrayWidth:     32\n", "")))
    with pytest.raises(FileNotFoundError, match=r"config file .*nothing.cfg does not exist"):
        read_arch_config(tmp_path / "nothing.cfg")


def test_cli_layers_with_costs(tmp_path, capsys):
    topo = write(tmp_path, "g.csv", GEMM)
    cfg = write(tmp_path, "s.cfg", CFG.replace("32", "4"))
    out = tmp_path / "layers.csv"
    assert main(["layers", "--topology", str(topo), "--config", str(cfg), "--costs", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Mapping Efficiency %" in text and "energy_per_mac_pj" in text
    assert out.read_text().splitlines()[0].startswith("LayerID,Layer,M,N,K,repeat,Total Cycles")


@pytest.mark.parametrize("engine", list(engines(sized=True)))
def test_every_gemm_engine_runs_the_layers(engine):
    from reports.registry import get_engine

    layers = [Layer("a", 16, 24, 40), Layer("b", 7, 5, 33, repeat=3)]
    arch = ArchConfig(4, 4, "os")
    df = layer_table(layers, arch, engine=engine)
    e = get_engine(engine)
    cfg = e.sizing.config(arch)
    pes = e.mac_units(cfg)
    for i, layer in enumerate(layers):
        est = e.estimate_gemm(layer.m, layer.n, layer.k, cfg)
        assert df.loc[i, "Total Cycles"] == pytest.approx(est.cycles * layer.repeat)
        assert df.loc[i, "Overall Util %"] == pytest.approx(100 * layer.macs / (est.cycles * layer.repeat * pes))
        assert 0 < df.loc[i, "Mapping Efficiency %"] <= 100
    assert df.iloc[-1]["Total Cycles"] == pytest.approx(df["Total Cycles"][:-1].sum())


def test_engine_errors():
    arch = ArchConfig(4, 4, "os")
    with pytest.raises(ValueError, match="engine must be one of os, ws, os_csa"):
        layer_table([Layer("a", 2, 2, 2)], arch, engine="lut")
    with pytest.raises(ValueError, match="engine must be one of"):
        layer_table([Layer("a", 2, 2, 2)], arch, engine="cube4", costs=True)


@pytest.mark.parametrize("engine", ["os_csa", "mat_sbw", "cube", "cube_csa", "bcast_csa", "opt3", "opt4e"])
def test_costs_for_every_kind_of_engine(engine):
    """--costs synthesises the engine and prices its events with its own table: energy equals the
    table applied to the estimate's events, and the technique's table differs from the baseline's."""
    from reports import cost
    from reports.registry import get_engine

    arch = ArchConfig(4, 4, "os") if engine == "cube_csa" else ArchConfig(2, 2, "os")  # OPT1 trees: K in 4, 8, 16
    layers = [Layer("a", 6, 5, 12)]
    df = layer_table(layers, arch, engine=engine, costs=True)
    e = get_engine(engine)
    cfg = e.sizing.config(arch)
    est = e.estimate_gemm(6, 5, 12, cfg)
    expected = sum(cost.energy_by_component_pj(est.events, e.energy_table(cfg)).values())
    assert df.loc[0, "energy_pj"] == pytest.approx(expected)
    assert df.loc[0, "area_um2"] > 0 and df.loc[0, "clock_mhz"] > 0
    assert df.loc[0, "latency_us"] == pytest.approx(est.cycles / df.loc[0, "clock_mhz"])
    assert df.iloc[-1]["energy_per_mac_pj"] == pytest.approx(expected / (6 * 5 * 12))
