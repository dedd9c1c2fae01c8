"""SCALE-Sim inputs: topology CSVs (convolution and M,N,K forms), .cfg files, the layer table."""

import pandas as pd
import pytest

from reports import memory as memcost
from reports.cli import main
from reports.layers import layer_table
from reports.registry import engines
from sim.memory import MemoryConfig, OperandBits
from sim.networks import bert_base, llama7b_decoder, network, resnet18, write_topology
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
    with pytest.raises(ValueError, match=r"Dataflow must be 'os', 'ws' or 'is', got 'rs'"):
        read_arch_config(write(tmp_path, "a.cfg", CFG.replace("Dataflow : os", "Dataflow : rs")))
    with pytest.raises(ValueError, match=r"\[architecture_presets\] has no ArrayWidth"):
        read_arch_config(write(tmp_path, "b.cfg", CFG.replace("ArrayWidth:     32\n", "")))
    with pytest.raises(FileNotFoundError, match=r"config file .*nothing.cfg does not exist"):
        read_arch_config(tmp_path / "nothing.cfg")


def test_cli_layers_writes_integer_columns_as_integers(tmp_path, capsys):
    """M, N, K, repeat and the counts stay integers in the CSV and on screen (not 128.0), the total
    row's empty cells included."""
    import csv

    topo = write(tmp_path, "m.csv", CONV + "fc, 1, 1, 1, 1, 1, 1, 1,\n")
    out = tmp_path / "layers.csv"
    assert main(["layers", "--topology", str(topo), "--config", str(write(tmp_path, "s.cfg", CFG)),
                 "--out", str(out)]) == 0
    assert ".0 " not in capsys.readouterr().out.split("\n", 1)[1]
    rows = list(csv.DictReader(out.open()))
    assert rows[0]["M"] == str(55 * 55) and rows[2]["repeat"] == "32" and rows[-1]["LayerID"] == "total"
    for row in rows:
        for col in ("M", "N", "K", "repeat", "Total Cycles", "Stall Cycles", "SRAM IFMAP Reads", "macs"):
            assert "." not in row[col], (col, row[col])
    assert rows[-1]["M"] == "" and int(rows[-1]["macs"]) == sum(int(r["macs"]) for r in rows[:-1])


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


MEM_CFG = CFG.replace("Dataflow : os", "Bandwidth : 10\nDataflow : os") + "\n[run_presets]\nInterfaceBandwidth: USER\n"


def test_layers_through_the_memory_model(tmp_path):
    """With buffers and a bandwidth every layer gets compute and stall cycles and DRAM bytes from
    sim/memory.py; less bandwidth stalls more; packed weights move fewer bytes."""
    layers = [Layer("qkv", 128, 768, 768), Layer("gemv", 1, 11008, 4096)]
    arch = ArchConfig(16, 16, "os")
    slow = layer_table(layers, arch, memory=MemoryConfig.uniform(64, 4))
    fast = layer_table(layers, arch, memory=MemoryConfig.uniform(64, 64))
    for df in (slow, fast):
        body = df.iloc[:-1]
        assert (body["Total Cycles"] == body["Compute Cycles"] + body["Stall Cycles"]).all()
        assert (body["Stall Cycles"] > 0).all()
    assert (slow["Stall Cycles"][:-1] > fast["Stall Cycles"][:-1]).all()
    assert slow.loc[1, "Bound"] == "memory"
    # the GEMV's weights are read once whatever the mapping: 11008 x 4096 bytes at INT8
    assert slow.loc[1, "DRAM Filter Read Bytes"] == 11008 * 4096
    w2 = layer_table(layers, arch, engine="os_w2a8", memory=MemoryConfig.uniform(64, 4))
    assert w2.loc[1, "DRAM Filter Read Bytes"] == 11008 * 4096 // 4
    # SCALE-Sim's unit beside ours: elements at the operand's width, outputs as elements
    assert w2.loc[1, "DRAM Filter Read Elements"] == 11008 * 4096
    assert w2.loc[1, "DRAM OFMAP Write Elements"] * 4 == w2.loc[1, "DRAM OFMAP Write Bytes"]  # int32 outputs
    assert slow.loc[1, "Avg DRAM Read Bytes/Cycle"] <= 4 and (slow["SRAM Unit"][:-1] == "bytes").all()
    assert w2.loc[1, "Total Cycles"] < slow.loc[1, "Total Cycles"]


def test_memory_energy_by_level_in_the_costs():
    arch = ArchConfig(2, 2, "os")
    mem = MemoryConfig.uniform(8, 4)
    df = layer_table([Layer("a", 6, 5, 12)], arch, costs=True, memory=mem, dram_energy="shiftaddllm")
    row = df.loc[0]
    dram_bytes = sum(row[c] for c in ("DRAM IFMAP Read Bytes", "DRAM Filter Read Bytes", "DRAM OFMAP Read Bytes",
                                      "DRAM OFMAP Write Bytes"))
    assert row["energy_dram_pj"] == pytest.approx(dram_bytes * 100.0)  # ShiftAddLLM: 200 pJ per 16 bits
    parts = sum(row[f"energy_{c}_pj"] for c in ("mac_arithmetic", "pe_registers", "buffers", "dram"))
    assert row["energy_pj"] == pytest.approx(parts)
    assert row["latency_us"] == pytest.approx(row["Total Cycles"] / row["clock_mhz"])


def test_cli_layers_reads_the_bandwidth_and_refuses_bad_input(tmp_path, capsys):
    topo = write(tmp_path, "g.csv", GEMM)
    cfg = write(tmp_path, "m.cfg", MEM_CFG)
    assert main(["layers", "--topology", str(topo), "--config", str(cfg), "--mapping", "scalesim"]) == 0
    text = capsys.readouterr().out
    assert "DRAM 10 B/cycle (one port per operand)" in text and "Stall Cycles" in text and "DRAM Filter Read Bytes" in text
    assert main(["layers", "--topology", str(topo), "--config", str(cfg), "--bandwidth", "0"]) == 2
    assert "--bandwidth must be a positive number of bytes per cycle, got 0.0" in capsys.readouterr().err
    assert main(["layers", "--topology", str(topo), "--config", str(cfg), "--out", str(tmp_path / "no" / "x.csv")]) == 2
    assert "folder" in capsys.readouterr().err
    # a CALC config takes its bandwidth from the flag
    calc = write(tmp_path, "c.cfg", MEM_CFG.replace("InterfaceBandwidth: USER", "InterfaceBandwidth: CALC"))
    assert main(["layers", "--topology", str(topo), "--config", str(calc), "--bandwidth", "8"]) == 0
    assert "DRAM 8 B/cycle" in capsys.readouterr().out
    # a buffer too small for the smallest tile names the operand and the size it needs
    tiny = write(tmp_path, "t.cfg", MEM_CFG.replace("FilterSramSzkB:   64", "FilterSramSzkB:   1"))
    assert main(["layers", "--topology", str(topo), "--config", str(tiny)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bitweight layers: error: filter buffer of 1024 bytes is smaller than one tile") and "at least" in err


def test_cli_layers_buffer_ports_slow_a_starved_array(tmp_path, capsys):
    topo = write(tmp_path, "g.csv", GEMM)
    cfg = write(tmp_path, "m.cfg", MEM_CFG)
    base = ["layers", "--topology", str(topo), "--config", str(cfg), "--mapping", "dram"]

    def compute_cycles(extra):
        out = tmp_path / "out.csv"
        assert main(base + extra + ["--out", str(out)]) == 0
        text = capsys.readouterr().out
        return int(pd.read_csv(out)["Compute Cycles"].iloc[:-1].sum()), text

    free, _ = compute_cycles([])
    starved, text = compute_cycles(["--buffer-ports", "1", "--buffer-width", "1"])
    assert "buffers 1 bank(s) x 1 port(s) x 1 B on the array side" in text
    assert starved > free  # one byte per cycle cannot feed the array's edge
    wide, _ = compute_cycles(["--buffer-ports", "4", "--buffer-banks", "8", "--buffer-width", "8"])
    assert wide == free  # 256 B per cycle: the engine's own cycles again
    with pytest.raises(SystemExit) as exc:  # argparse's own usage error
        main(base + ["--buffer-ports", "0"])
    assert exc.value.code == 2
    assert "--buffer-ports: expected array-side ports per bank in 1..64, got 0" in capsys.readouterr().err
    no_mem = write(tmp_path, "n.cfg", MEM_CFG.replace("InterfaceBandwidth: USER", "InterfaceBandwidth: CALC"))
    assert main(["layers", "--topology", str(topo), "--config", str(no_mem), "--buffer-ports", "1"]) == 2
    assert "--buffer-ports needs the memory model" in capsys.readouterr().err


def test_an_engine_without_buffer_events_refuses_ports():
    from reports.registry import get_engine

    with pytest.raises(ValueError, match=r"^engine 'lut' does not state its buffer traffic"):
        memcost.buffer_traffic(get_engine("lut"), None)


def test_buffer_and_dram_prices_follow_their_sources():
    assert memcost.buffer_pj_per_byte(8 * 1024) == pytest.approx(10 / 8)
    assert memcost.buffer_pj_per_byte(32 * 1024) == pytest.approx(20 / 8)
    assert memcost.buffer_pj_per_byte(1 << 20) == pytest.approx(100 / 8)
    assert 10 / 8 < memcost.buffer_pj_per_byte(16 * 1024) < 20 / 8
    assert memcost.dram_pj_per_byte() == pytest.approx(1300 / 8)
    assert memcost.buffer_area_um2(1024) == pytest.approx(8192 * 0.346 / 0.7, rel=1e-4)
    with pytest.raises(ValueError, match=r"^DRAM energy source must be one of horowitz_low, horowitz_high, shiftaddllm"):
        memcost.dram_pj_per_byte("hbm")


def test_named_networks(tmp_path):
    dec = llama7b_decoder(1)
    assert [(x.m, x.n, x.k) for x in dec][-3:] == [(1, 11008, 4096), (1, 11008, 4096), (1, 4096, 11008)]
    assert sum(x.macs for x in llama7b_decoder(16)) == 16 * sum(x.macs for x in dec)
    assert sum(x.macs for x in resnet18()) == pytest.approx(1.81e9, rel=0.02)  # ResNet-18: 1.8 GMACs at 224 x 224
    assert bert_base(128)[3].repeat == 12
    path = write_topology(bert_base(8), tmp_path / "bert.csv")
    assert len(read_topology(path)) == 6 + 2 * 12
    with pytest.raises(ValueError, match=r"^network must be one of llama7b_decode"):
        network("gpt5")
    with pytest.raises(ValueError, match=r"^tokens must be a positive integer, got 0$"):
        llama7b_decoder(0)
