"""rtl_models.coverage: Verilator's coverage counts merged into per-module tables, uncovered lines
and an lcov tracefile; and one real co-simulation with $BITWEIGHT_COVERAGE set."""

import csv

import numpy as np
import pytest

from rtl_models import coverage
from rtl_models.sources import VERILOG_DIR
from rtl_models.testing import needs

MAC = str(VERILOG_DIR / "mac_pe.v")


def _point(file, line, kind, module, what, count, col=3):
    page = f"v_{kind}/{module}"
    key = f"\x01f\x02{file}\x01l\x02{line}\x01n\x02{col}\x01t\x02{kind}\x01page\x02{page}\x01o\x02{what}\x01h\x02top.u"
    return f"C '{key}' {count}\n"


def _dat(path, *points):
    path.write_text("# SystemC::Coverage-3\n" + "".join(points))
    return path


def test_merge_sums_runs_and_parameterised_copies(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    _dat(data / "a.dat", _point(MAC, 30, "line", "mac_pe__pi1", "if", 0), _point(MAC, 31, "line", "mac_pe", "else", 4),
         _point(MAC, 17, "toggle", "mac_pe", "clk:0->1", 9))
    _dat(data / "b.dat", _point(MAC, 30, "line", "mac_pe__pi7", "if", 2), _point(MAC, 17, "toggle", "mac_pe", "clk:1->0", 0),
         _point("/tmp/elsewhere/mac_pe.v", 30, "line", "mac_pe", "if", 5))  # a patched copy: left out
    points = coverage.merge(data)
    assert sum(points.values()) == 15 and len(points) == 4
    (row,) = coverage.module_table(points)
    assert row == {"module": "mac_pe", "file": "mac_pe.v", "bench": False, "lines_hit": 2, "lines": 2, "line_pct": 100.0,
                   "toggles_hit": 1, "toggles": 2, "toggle_pct": 50.0}
    assert coverage.uncovered(points) == []
    info = coverage.lcov_info(points)
    assert f"SF:{MAC}" in info and "DA:30,2" in info and "DA:31,4" in info and "LH:2" in info


def test_uncovered_lines_and_the_line_minimum_in_lcov(tmp_path):
    _dat(tmp_path / "a.dat", _point(MAC, 40, "line", "mac_pe", "if", 3), _point(MAC, 40, "line", "mac_pe", "else", 0, col=9))
    points = coverage.merge(tmp_path)
    assert coverage.uncovered(points) == [{"module": "mac_pe", "file": "mac_pe.v", "line": 40, "what": "else"}]
    assert "DA:40,0" in coverage.lcov_info(points)  # one arm never taken: the line shows 0


def test_write_report_and_its_errors(tmp_path, capsys):
    (tmp_path / "d").mkdir()
    _dat(tmp_path / "d" / "a.dat", _point(MAC, 30, "line", "mac_pe", "if", 1))
    written = coverage.write_report(tmp_path / "d", tmp_path / "out", html=False)
    rows = list(csv.DictReader(open(written["modules"])))
    assert rows[0]["module"] == "mac_pe" and rows[0]["line_pct"] == "100.0"
    assert coverage.main([str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 1
    assert "no coverage data (*.dat) under" in capsys.readouterr().err
    (tmp_path / "a_file").write_text("")
    assert coverage.main([str(tmp_path / "d"), "--out", str(tmp_path / "a_file"), "--no-html"]) == 1
    said = capsys.readouterr().err
    assert said.startswith("error:") and str(tmp_path / "a_file") in said
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.dat").write_text("hello\n")
    with pytest.raises(ValueError, match=r"x.dat is not a Verilator coverage file"):
        coverage.merge(tmp_path / "bad")
    _dat(tmp_path / "bad" / "x.dat", "C 'oops\n")
    with pytest.raises(ValueError, match=r"x.dat:2: not a coverage point line"):
        coverage.merge(tmp_path / "bad")


@pytest.mark.rtl
def test_a_verilator_cosimulation_writes_coverage(tmp_path, monkeypatch):
    """With $BITWEIGHT_COVERAGE set, a Verilator co-simulation is built with coverage (a folder of
    its own) and leaves counts that name the array's modules."""
    needs("verilator")
    from rtl_models.systolic_cosim import run_cosim

    monkeypatch.setenv(coverage.ENV_COVERAGE, str(tmp_path / "data"))
    a = np.arange(-6, 6, dtype=np.int8).reshape(3, 4)
    res = run_cosim(a, a.T.copy(), 2, 2, "os", sim="verilator", build_root=tmp_path / "build")
    assert "coverage" in (res.build_dir / "bitweight_build.json").read_text()
    table = {r["module"]: r for r in coverage.module_table(coverage.merge(tmp_path / "data"))}
    assert {"mac_pe", "os_systolic_array", "os_fold_ctrl", "systolic_host"} <= set(table)
    assert table["mac_pe"]["lines_hit"] == table["mac_pe"]["lines"] > 0 and table["systolic_host"]["bench"]


def test_report_section_shows_the_last_run_or_says_there_is_none(tmp_path):
    from reports.sections.coverage import coverage_table

    table, note = coverage_table(tmp_path)
    assert table.empty and "`make coverage`" in note
    (tmp_path / "d").mkdir()
    _dat(tmp_path / "d" / "a.dat", _point(MAC, 30, "line", "mac_pe", "if", 1))
    coverage.write_report(tmp_path / "d", tmp_path, html=False)
    table, note = coverage_table(tmp_path)
    assert table.module.tolist() == ["mac_pe"] and str(tmp_path / "uncovered.csv") in note
    (tmp_path / "modules.csv").write_text("module\nmac_pe\n")
    with pytest.raises(ValueError, match=r"modules.csv lacks the columns \['file'"):
        coverage_table(tmp_path)


@pytest.mark.rtl
def test_benches_sample_functional_coverage(tmp_path, monkeypatch):
    """With $BITWEIGHT_COVERAGE set the host bench samples fold edges and accumulator extremes, and
    the merge counts bins across runs (a partial tile and a full one: both bins of .rows hit)."""
    needs("icarus")
    from rtl_models.systolic_cosim import run_cosim_batch

    monkeypatch.setenv(coverage.ENV_COVERAGE, str(tmp_path / "data"))
    a = np.full((3, 2), 127, np.int8)
    run_cosim_batch([(a, a.T.copy())], 2, 2, "os", build_root=tmp_path / "build")
    run_cosim_batch([(a[:2], a[:2].T.copy())], 2, 2, "ws", build_root=tmp_path / "build")
    rows = {r["cover_point"]: r for r in coverage.functional_table(tmp_path / "data")}
    assert rows["gemm.os.rows"]["bins_hit"] == 2 and rows["gemm.os.folds"]["missing"] == "one"
    assert rows["gemm.os.extreme"]["bins"] == 8 and rows["gemm.os.extreme"]["bins_hit"] == 1
    assert rows["gemm.ws.accumulate"]["missing"] == "accumulates"


def test_functional_samplers(monkeypatch):
    from cocotb_coverage.coverage import coverage_db

    from rtl_models.benches import functional

    monkeypatch.setenv(coverage.ENV_COVERAGE, "/nonexistent")
    functional.digit_patterns("ent", np.array([0, 1, 2, 3, -128, 127]))
    hit = {b for b, n in coverage_db["digits.ent.d0"].detailed_coverage.items() if n}
    assert hit == {0, 1, 2, -1}  # 3 = 4 - 1: digit -1 carry 1
    assert coverage_db["digits.ent.mask"].detailed_coverage[0] == 1  # a = 0: no non-zero digit
    functional.fp8_classes("e5m2", "e4m3", np.array([0x00, 0x01, 0x7C, 0x7D]), np.array([0x7F, 0x38, 0x00, 0x01]))
    classes = {b for b, n in coverage_db["fp8.e5m2xe4m3.classes"].detailed_coverage.items() if n}
    assert classes == {"zero*nan", "subnormal*normal", "inf*zero", "nan*subnormal"}
