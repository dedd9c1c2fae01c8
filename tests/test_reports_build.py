"""build_report: the files it writes, and that a failed build never leaves half a report."""

import csv
from types import SimpleNamespace

import pytest

from reports import build, cost

MAC_V = """\
`timescale 1ns/1ps
module tiny_mac #(parameter W = 4) (input clk, input rst, input signed [W-1:0] a, input signed [W-1:0] b,
                                    output reg signed [2*W+3:0] y);
    always @(posedge clk) y <= rst ? 0 : y + a * b;
endmodule
"""


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("BITWEIGHT_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "build_synth_cache"))


def fake_estimate(m, n, k, config):
    """One PE per cycle per MAC, no padding: cycles = MACs / PEs, rounded up."""
    macs = m * n * k
    cycles = -(-macs // config["pes"])
    return SimpleNamespace(cycles=cycles, events={"macs": macs, "mac_slots": cycles * config["pes"],
                                                  "a_buffer_reads_bytes": m * k})


@pytest.fixture
def engines(tmp_path):
    rtl = tmp_path / "tiny_mac.v"
    rtl.write_text(MAC_V)
    table = (
        cost.EventEnergy("macs", cost.NOT_CHARGED, 0.0, "on mac_slots", "-"),
        cost.EventEnergy("mac_slots", "mac_arithmetic", 0.3, "int8 mult + int32 add", "Horowitz"),
        cost.EventEnergy("a_buffer_reads_bytes", "buffers", 2.5, "32 KB SRAM per byte", "Horowitz"),
    )
    return [build.EngineSpec(name=f"fake{w}", description="test engine", config={"pes": 4},
                             estimate=fake_estimate, num_pes=4,
                             array=build.SynthTarget("tiny_mac", {"W": w}, (str(rtl),)),
                             pe=build.SynthTarget("tiny_mac", {"W": 2}, (str(rtl),)),
                             event_energy=table)
            for w in (3, 4)]


WORKLOADS = [build.GemmWorkload("small", 4, 4, 4, "4^3"), build.GemmWorkload("wide", 2, 16, 8)]
FILES = {"index.html", "gemm_costs.csv", "synthesis.csv", "synthesis_cells.csv", "event_counts.csv", "efficiency.png",
         "energy_per_mac_map.png",
         "event_energy.csv", "technology.csv", "workloads.csv", "rtl_inventory.csv", "meta.json", "energy_per_mac.png",
         "latency.png", "area.png", build.MARKER}


def test_build_writes_tables_plots_and_index(tmp_path, engines):
    lines = []
    out = build.build_report(tmp_path / "out", engines, WORKLOADS, progress=lines.append)
    assert out == (tmp_path / "out").resolve()
    assert {p.name for p in out.iterdir()} == FILES
    costs = list(csv.DictReader(open(out / "gemm_costs.csv")))
    assert [(r["engine"], r["workload"]) for r in costs] == [
        ("fake3", "small"), ("fake3", "wide"), ("fake4", "small"), ("fake4", "wide")]
    for col in ("cycles", "utilisation", "area_um2", "clock_mhz", "energy_pj", "energy_per_mac_pj",
                "latency_us", "gops_per_mm2", "gops_per_w"):
        assert col in costs[0]
    small = costs[0]
    assert int(small["cycles"]) == 16 and float(small["utilisation"]) == 1.0
    # 64 MAC slots x 0.3 pJ + 16 A bytes x 2.5 pJ
    assert float(small["energy_pj"]) == pytest.approx(64 * 0.3 + 16 * 2.5)
    synth_rows = list(csv.DictReader(open(out / "synthesis.csv")))
    assert [(r["engine"], r["role"]) for r in synth_rows] == [
        ("fake3", "pe"), ("fake3", "array"), ("fake4", "pe"), ("fake4", "array")]
    assert float(synth_rows[3]["area_um2"]) > float(synth_rows[1]["area_um2"]) > float(synth_rows[0]["area_um2"])
    index = (out / "index.html").read_text()
    for name in ("energy_per_mac.png", "latency.png", "area.png", "gemm_costs.csv", "technology.csv",
                 "Where each number comes from", "Horowitz", "NanGate"):
        assert name in index
    assert (out / "energy_per_mac.png").read_bytes()[:4] == b"\x89PNG"
    assert any(line.startswith("synth tiny_mac W=3") for line in lines)
    assert lines[-1].endswith("index.html")


def test_failure_mid_build_leaves_no_report_and_no_scratch(tmp_path, engines, monkeypatch):
    def broken_plots(*args):
        raise RuntimeError("disk full while plotting")

    monkeypatch.setattr(build, "_plots", broken_plots)
    with pytest.raises(RuntimeError, match="disk full while plotting"):
        build.build_report(tmp_path / "out", engines, WORKLOADS, progress=None)
    assert list(tmp_path.iterdir()) == [tmp_path / "tiny_mac.v"]


def test_failure_keeps_the_previous_report_whole(tmp_path, engines, monkeypatch):
    out = build.build_report(tmp_path / "out", engines, WORKLOADS, progress=None)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(build, "_plots", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build.build_report(out, engines, WORKLOADS, progress=None)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "tiny_mac.v"]


def test_rebuild_replaces_the_report(tmp_path, engines):
    out = build.build_report(tmp_path / "out", engines, WORKLOADS, progress=None)
    (out / "stale.txt").write_text("from an older build")
    build.build_report(out, engines[:1], WORKLOADS[:1], progress=None)
    assert not (out / "stale.txt").exists()
    assert len(list(csv.DictReader(open(out / "gemm_costs.csv")))) == 1


def test_refuses_to_replace_a_folder_that_is_not_a_report(tmp_path, engines):
    precious = tmp_path / "thesis"
    precious.mkdir()
    (precious / "chapter1.tex").write_text("...")
    with pytest.raises(ValueError, match="is not a bitweight report folder; refusing to replace it"):
        build.build_report(precious, engines, WORKLOADS, progress=None)
    assert (precious / "chapter1.tex").exists()


def test_bad_arguments(tmp_path, engines):
    with pytest.raises(ValueError, match="at least one engine and one workload"):
        build.build_report(tmp_path / "out", [], WORKLOADS, progress=None)
    with pytest.raises(ValueError, match="engine names must be unique"):
        build.build_report(tmp_path / "out", [engines[0], engines[0]], WORKLOADS, progress=None)


def test_default_engines_and_workloads_are_data():
    pytest.importorskip("sim.systolic")
    workloads = {w.name: w for w in build.default_workloads()}
    assert (workloads["minilm_ffn_up_128tok"].M, workloads["minilm_ffn_up_128tok"].N,
            workloads["minilm_ffn_up_128tok"].K) == (128, 1536, 384)
    assert (workloads["square_1024"].M, workloads["square_1024"].N, workloads["square_1024"].K) == (1024,) * 3
    engines = [e for e in build.priced_engines() if e.array.top.endswith("systolic_array")]
    assert {e.name for e in engines} >= {"os_16x16", "ws_16x16", "os_csa_16x16", "ws_csa_16x16", "os_w4a8_16x16"}
    for e in engines:
        assert e.num_pes == 256 and e.array.params["R"] == 16 and e.array.params["C"] == 16
        est = e.estimate(128, 1536, 384, e.config)
        assert set(est.events) <= {r.event for r in e.event_energy}


def test_extra_sections_write_table_figure_and_html(tmp_path, engines):
    import pandas as pd
    from matplotlib.figure import Figure

    fig = Figure()
    fig.add_subplot().plot([0, 1], [1, 0])
    sec = build.ReportSection("Loss curves", "loss.csv", pd.DataFrame({"step": [0, 1], "loss": [2.0, 1.5]}),
                              "A note.", figure=fig, figure_caption="loss against step")
    out = build.build_report(tmp_path / "out", engines[:1], WORKLOADS[:1], progress=None,
                             extra_sections=[sec, ("Old style", "old.csv", pd.DataFrame({"a": [1]}), "tuple")])
    assert pd.read_csv(out / "loss.csv").loss.tolist() == [2.0, 1.5]
    assert (out / "loss.png").stat().st_size > 1000
    page = (out / "index.html").read_text()
    assert "<h2>Loss curves</h2>" in page and "src='loss.png'" in page and "<h2>Old style</h2>" in page


def test_extra_section_errors(tmp_path, engines):
    import pandas as pd

    with pytest.raises(ValueError, match="csv_name"):
        build.ReportSection("t", "loss.txt", pd.DataFrame(), "n")
    with pytest.raises(TypeError, match="DataFrame"):
        build.ReportSection("t", "a.csv", [1, 2], "n")
    clash = build.ReportSection("t", "gemm_costs.csv", pd.DataFrame({"a": [1]}), "n")
    with pytest.raises(ValueError, match="already used"):
        build.build_report(tmp_path / "out", engines[:1], WORKLOADS[:1], progress=None, extra_sections=[clash])


def test_section_providers_are_discovered_in_order_and_errors_name_the_provider():
    import importlib

    from reports import sections
    from reports.engine import load

    assert sections.PROVIDERS == sections.discover()
    modules = [importlib.import_module(spec.split(":")[0]) for spec in sections.PROVIDERS]
    for spec in sections.PROVIDERS:
        assert callable(load(spec)), spec
    keys = [(m.ORDER, m.__name__) for m in modules]
    assert keys == sorted(keys)
    # today's providers, in today's order (a new module may sit anywhere among them)
    names = [m.__name__.rsplit(".", 1)[1] for m in modules]
    known = ["real_model", "quant_table", "lowbit_compare", "rotation", "training", "engine_costs", "toggles",
             "bitserial_compare", "tpe_compare", "sweep"]
    assert [n for n in names if n in known] == known
    # json.loads(None) raises TypeError: the wrapper must say which provider failed
    with pytest.raises(RuntimeError, match="provider json:loads failed"):
        sections.gather(progress=None, providers=["json:loads"])
