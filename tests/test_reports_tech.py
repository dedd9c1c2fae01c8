"""Technology tables: every row has a source and units, derived rows add up, lookups fail loudly."""

import csv
import io
import re
from importlib import resources

import pytest

from reports import tech

TABLES = resources.files("reports").joinpath("tables")
CSV_FILES = sorted(p.name for p in TABLES.iterdir() if p.name.endswith(".csv"))
UNIT_SUFFIXES = ("_pj", "_um2", "_ps", "_ff", "_v")
# columns that hold text or a count, not a quantity with a unit
TEXT_COLUMNS = {"key", "operation", "bits", "technology", "source", "note", "cell", "timing_arc",
                "yosys_cell", "kind", "basis", "source_cells", "function"}


def rows_of(name):
    return list(csv.DictReader(io.StringIO(TABLES.joinpath(name).read_text())))


def test_expected_tables_exist():
    assert set(CSV_FILES) >= {"horowitz_45nm.csv", "shiftaddllm_45nm.csv", "register_write_45nm.csv",
                              "nangate45_cells.csv", "yosys_generic_cell_area.csv"}


@pytest.mark.parametrize("name", CSV_FILES)
def test_every_row_has_a_source_and_every_quantity_a_unit(name):
    rows = rows_of(name)
    assert rows, name
    columns = rows[0].keys()
    assert "source" in columns
    for col in columns:
        assert col in TEXT_COLUMNS or col.endswith(UNIT_SUFFIXES), f"{name}: column {col!r} has no unit suffix"
    for row in rows:
        assert row["source"].strip(), f"{name}: row {row} has no source"
        for col in columns:
            if col.endswith(UNIT_SUFFIXES) and row[col].strip():
                float(row[col])  # a number


def test_readme_explains_every_file_and_column():
    readme = TABLES.joinpath("README.md").read_text()
    for name in CSV_FILES:
        assert f"`{name}`" in readme, name
        for col in rows_of(name)[0]:
            assert f"`{col}`" in readme, f"{name}: column {col} not explained in README.md"


def test_horowitz_values():
    assert tech.energy_pj("int8_add") == 0.03
    assert tech.energy_pj("int32_add") == 0.1
    assert tech.energy_pj("int8_mult") == 0.2
    assert tech.energy_pj("int32_mult") == 3.1
    assert tech.energy_pj("fp16_add") == 0.4
    assert tech.energy_pj("fp16_mult") == 1.1
    assert tech.energy_pj("fp32_add") == 0.9
    assert tech.energy_pj("fp32_mult") == 3.7
    assert [tech.energy_pj(f"sram_{s}_read_64bit") for s in ("8kb", "32kb", "1mb")] == [10, 20, 100]
    assert (tech.energy_pj("dram_read_64bit_low"), tech.energy_pj("dram_read_64bit_high")) == (1300, 2600)
    assert (tech.energy_pj("shift"), tech.energy_pj("lut_read")) == (0.15, 0.37)


def test_register_write_energy_follows_its_stated_derivation():
    entry = tech.energy_entry("register_write_per_bit")
    ck_fj_at_1v1 = (6.894 + 7.554 + 7.510 + 6.852) / 4  # DFF_X1 CK internal energy, four D/Q states
    assert entry.energy_pj == pytest.approx(ck_fj_at_1v1 * (0.9 / 1.1) ** 2 / 1000, rel=2e-3)
    assert "ESTIMATE" in entry.note and "DFF_X1" in entry.source
    assert tech.energy_pj("register_write_per_bit_adder_equiv") == pytest.approx(0.1 / 32)


def test_nangate_values_read_from_the_liberty_file():
    cells = tech.nangate_cells()
    assert {c: cells[c].area_um2 for c in ("INV_X1", "NAND2_X1", "NOR2_X1", "AND2_X1", "XOR2_X1",
                                           "XNOR2_X1", "MUX2_X1", "DFF_X1")} == {
        "INV_X1": 0.532, "NAND2_X1": 0.798, "NOR2_X1": 0.798, "AND2_X1": 1.064, "XOR2_X1": 1.596,
        "XNOR2_X1": 1.596, "MUX2_X1": 1.862, "DFF_X1": 4.522}
    ft = tech.flop_timing()
    assert (ft.clk_to_q_ps, ft.setup_ps) == (93.3, 39.8)


@pytest.mark.parametrize("cell", sorted(tech.cell_table()))
def test_yosys_cell_costs_are_the_sum_of_their_source_cells(cell):
    entry = tech.cell_entry(cell)
    ng = tech.nangate_cells()
    assert entry.area_um2 == pytest.approx(sum(ng[c].area_um2 for c in entry.source_cells), abs=1e-9)
    gating = [c for c in entry.source_cells if c != "DFF_X1"]
    assert entry.delay_ps == pytest.approx(sum(ng[c].delay_ps for c in gating), abs=1e-9)
    assert ("DFF_X1" in entry.source_cells) == (entry.kind == "seq")
    assert entry.basis == ("datum" if len(entry.source_cells) == 1 else "equivalence")


def test_yosys_table_covers_the_cells_synth_emits_for_a_mac():
    for cell in ("$_AND_", "$_NAND_", "$_OR_", "$_NOR_", "$_XOR_", "$_XNOR_", "$_ANDNOT_", "$_ORNOT_",
                 "$_MUX_", "$_NOT_", "$_DFF_P_", "$_DFFE_PP_", "$_SDFF_PP0_", "$_SDFFE_PP0P_"):
        assert tech.cell_area_um2(cell) > 0


def test_missing_cell_names_the_cell_and_the_table():
    with pytest.raises(tech.MissingTechnologyEntry) as exc:
        tech.cell_area_um2("$_DLATCH_P_")
    msg = str(exc.value)
    assert "'$_DLATCH_P_'" in msg and "yosys_generic_cell_area.csv" in msg and "extend the table" in msg


def test_missing_energy_names_the_key():
    with pytest.raises(tech.MissingTechnologyEntry, match=re.escape("no energy entry 'int4_mult'")):
        tech.energy_pj("int4_mult")


def test_technology_rows_carry_unit_and_source():
    rows = tech.technology_rows()
    assert len(rows) > 40
    for r in rows:
        assert r["unit"] and r["source"], r
