"""The `bitweight` command as a user types it: listings, error messages, co-simulation."""

import pytest

from reports.cli import main


def test_inventory_lists_modules_and_ports(capsys):
    assert main(["inventory"]) == 0
    out = capsys.readouterr().out
    assert "os_systolic_array #(R=4" in out
    assert "R*A_W  ld_a" in out


def test_engines_lists_registry_and_workloads(capsys):
    assert main(["engines"]) == 0
    out = capsys.readouterr().out
    assert "os_systolic_array" in out and "ws_systolic_array" in out
    assert "minilm_ffn_up_128tok" in out and "128 x 1536 x 384" in out


@pytest.mark.parametrize(
    "argv,message",
    [
        (["cosim", "--shape", "3x0x1"], "shape must be MxNxK with positive integers (e.g. 7x5x11), got '3x0x1'"),
        (["cosim", "--shape", "7x5"], "shape must be MxNxK"),
        (["cosim", "--rows", "0"], "argument --rows: expected a positive integer, got 0"),
        (["cosim", "--sim", "xcelium"], "argument --sim: invalid choice: 'xcelium'"),
        (["cosim", "--engine", "tpu"], "argument --engine: invalid choice: 'tpu'"),
        (["synth", "-P", "R16"], "a Verilog parameter must be NAME=INTEGER (e.g. R=16), got 'R16'"),
        (["synth", "--cols", "x"], "argument --cols: expected a positive integer, got 'x'"),
        (["cosim", "--driver", "fast"], "argument --driver: invalid choice: 'fast'"),
    ],
)
def test_bad_arguments_are_named(capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.rtl
@pytest.mark.parametrize("engine,driver", [("os", None), ("ws", None), ("os", "native"), ("ws", "ports")])
def test_cosim_prints_matching_results_and_cycles(capsys, engine, driver):
    argv = ["cosim", "--engine", engine, "--rows", "4", "--cols", "4", "--shape", "6x5x7", "--sim", "icarus"]
    assert main(argv + (["--driver", driver] if driver else [])) == 0
    out = capsys.readouterr().out
    assert "all equal: results and cycles of model and RTL" in out
    assert "bit-exact" in out and "fold 0" in out and "DIFFER" not in out


def test_report_end_to_end_on_small_arrays(tmp_path, capsys):
    """`bitweight report --quick` as typed, with 4x4 arrays so that synthesis stays quick on CI: every
    section provider runs its reduced version."""
    out = tmp_path / "report"
    assert main(["report", "--out", str(out), "--rows", "4", "--cols", "4", "--quick"]) == 0
    assert f"report written to {out / 'index.html'}" in capsys.readouterr().out
    html = (out / "index.html").read_text()
    for name in ("os_4x4", "ws_4x4", "minilm_ffn_up_128tok", "area_um2", "energy_per_mac_pj", "latency_us",
                 "RTL inventory", "input [R*A_W] ld_a", "digit_skip_pe", "fwht_bfly_pe", "lut_pe",
                 "Real model: INT8 statistics per projection", "ffn_down"):
        assert name in html
    import pandas as pd

    costs = pd.read_csv(out / "gemm_costs.csv")
    # every registered engine's priced rows, techniques included (the quick report's 2x2x2 cube has no
    # carry-save tree), on each of the 6 named layer workloads
    from reports.engine import Sizes
    from reports.registry import engines as registered

    priced = {p.label for e in registered().values() for p in e.priced(Sizes.quick(4, 4))}
    assert {"os_4x4", "ws_4x4", "os_csa_4x4", "ws_csa_4x4", "os_w4a8_4x4", "os_w2a8_4x4", "mat_4x2", "mat_sbw_4x2",
            "mat_csa_4x2", "cube_2", "cube_sbw_2", "bcast_4x4", "bcast_csa_4x4", "lut_q3_1pe", "lut_q3_2lanes"} <= priced
    assert set(costs.engine) == priced and "cube_csa_2" not in priced
    from reports.build import default_workloads

    assert len(costs) == len(default_workloads()) * len(set(costs.engine))
    # memory included: a 4x4 array computes the decode GEMV slower than 16 B/cycle feeds it
    # (compute-bound), yet DRAM is most of its energy: every weight byte is read once for one token
    gemv = costs[(costs.engine == "os_4x4") & (costs.workload == "llama7b_up_decode")].iloc[0]
    assert gemv.bound == "compute" and gemv.energy_dram_pj > gemv.energy_pj / 2
    assert gemv.dram_bytes >= 11008 * 4096
    # the real report in a real browser: no console errors, every image and link resolving, the
    # summary, the pivot, sorting and filtering working (tests/browser.py); screenshots in test-results/
    from browser import check_report

    seen = check_report(out, "quick-report")
    assert seen["pivot_rows"] == len(set(costs.engine))
    assert gemv.cycles == gemv.compute_cycles + gemv.stall_cycles
    from reports.sections import PROVIDERS

    assert len(PROVIDERS) >= 10
    for title in ("TPE paper: claimed vs measured ratios", "Design-space sweep and Pareto fronts",
                  "Low-bit engines vs INT8 and FP16", "Weight quantisers on a real model",
                  "Hadamard rotation: outliers and quantisation error per projection",
                  "FP8 training: tiny LM loss per recipe", "Bit-serial PEs vs OPT3",
                  "Hadamard and FP8 engines: area, latency, energy", "Energy per MAC from toggles (PE level)"):
        assert f"<h2>{title}</h2>" in html, title
    assert any(f.suffix == ".png" for f in out.iterdir())


@pytest.mark.parametrize("argv,message", [
    (["cosim", "--engine", "fwht", "--driver", "native"],
     "--driver native: engine fwht has no such co-simulation driver; it has one driver (leave --driver out)"),
    (["cosim", "--driver", "native", "--waves"],
     "--waves: the native driver (an HDL-only bench) keeps no waveform; use --driver host or ports"),
])
def test_cosim_driver_is_checked_before_any_work(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "simulating" not in err


@pytest.mark.parametrize("argv,message", [
    # Icarus (the default) and the Python port driver: the 1,000,000-cycle limit, and a pointer to the fast way
    (["cosim", "--rows", "16", "--cols", "16", "--shape", "128x3072x768"],
     "takes about 1,250,304 cycles by the cycle model, over the co-simulation limit of 1,000,000 (an HDL simulator "
     "runs a few thousand cycles a second); --sim verilator with the host or native driver allows 100,000,000"),
    (["cosim", "--rows", "16", "--cols", "16", "--shape", "128x3072x768", "--sim", "verilator", "--driver", "ports"],
     "over the co-simulation limit of 1,000,000"),
    # Verilator through the host: a hundred times more, and still a limit
    (["cosim", "--rows", "16", "--cols", "16", "--shape", "4096x4096x4096", "--sim", "verilator"],
     "over the co-simulation limit of 100,000,000 (Verilator with a bench-side host runs a few hundred thousand "
     "cycles a second); give a smaller --shape"),
])
def test_cosim_cycle_limit_follows_the_simulator_and_driver(capsys, argv, message):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_every_systolic_engine_offers_the_drivers_its_cosim_takes():
    from reports.registry import ENGINES
    from rtl_models.systolic_cosim import DRIVERS, NATIVE

    systolic = [e for e in ENGINES.values() if e.family == "systolic" and e.cosim_drivers]
    assert systolic and all(set(e.cosim_drivers) == {*DRIVERS, NATIVE} for e in systolic)
    assert all(e.cosim_drivers[0] == "host" for e in systolic)


def test_cosim_shape_needs_a_gemm_engine(capsys):
    assert main(["cosim", "--engine", "fwht", "--shape", "2x2x2"]) == 2
    assert ("--shape takes an M x N x K GEMM; engine fwht does not run sized GEMMs (it runs its golden cases)"
            in capsys.readouterr().err)


@pytest.mark.rtl
def test_cosim_runs_an_engine_that_is_not_a_sized_gemm(capsys):
    """Engines without a layers sizing (here the FWHT butterfly) run their golden cases."""
    assert main(["cosim", "--engine", "fwht"]) == 0
    out = capsys.readouterr().out
    assert "all equal: results and cycles of model and RTL" in out and "one_hot_min" in out


def test_engines_lists_every_engine_in_aligned_columns(capsys):
    from reports.registry import ENGINES

    assert main(["engines"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = lines[1:1 + len(ENGINES)]
    assert [r.split()[0] for r in rows] == list(ENGINES)
    # every column starts at the same offset on every row
    header = lines[0]
    for col in ("family", "RTL top", "layers sizing", "description"):
        start = header.index(col)
        assert all(r[start - 2:start] == "  " and r[start] != " " for r in rows), col
