"""The `bitweight` command: reports (the main job), RTL co-simulation, synthesis, inventory.

    bitweight report   [--out reports/out]
    bitweight cosim    --engine os --rows 4 --cols 4 --shape 7x5x11 [--sim icarus|verilator] [--driver host|ports|native] [--waves] [--force]
    bitweight synth    --engine os --rows 16 --cols 16 | --top mac_pe [-P NAME=VALUE] [--force]
    bitweight layers   --topology net.csv --config scale.cfg [--costs]
    bitweight sweep    SPACE.toml [--db FILE] [--scheduler ADDRESS] [--workers N]
    bitweight results  [--db FILE] [--sweep NAME] [--pareto A,B] [--where "area_mm2 <= 4"] [--csv OUT]
    bitweight history  [--db FILE] [--run ID] [--threshold 0.10] [--record FILE.json]
    bitweight inventory
    bitweight engines

Heavy imports (cocotb, yosys, matplotlib) happen inside the subcommand that needs them. Every
subcommand checks its whole input (arguments, files, output folders, sizes) before it starts any
work, and refuses with one line on stderr and exit code 2: `synth` and `cosim` refuse designs and
workloads over their limits (SYNTH_* and COSIM_* below) unless --force.
"""

from __future__ import annotations

import argparse
import os
import math
import re
import sys
import time
from pathlib import Path

import numpy as np

from reports.registry import ENGINES, engines, get_engine
from sim.workloads import NAMED_GEMMS, named_gemm, parse_shape

SIZED = engines(sized=True)

DEFAULT_OUT = Path(__file__).resolve().parent / "out"

# What `synth` and `cosim` take without --force (checked before any work starts). yosys takes about a
# minute on a 16 x 16 array and its time grows faster than the PE count; an HDL simulator steps
# every PE on every cycle, at a few thousand cycles a second for a 4 x 4 array on Icarus.
SYNTH_MAX_DIM = 64  # rows, columns, lanes of a synthesised design
SYNTH_MAX_UNITS = SYNTH_MAX_DIM**2  # multiply units of a sized engine (a 64 x 64 array)
SYNTH_MAX_DEPTH = 1024  # operand buffer depth (buffers become flip-flops)
SYNTH_MAX_ADDR_BITS = 12  # buffer address bits (2**12 entries)
COSIM_MAX_DIM = 64
COSIM_MAX_UNITS = COSIM_MAX_DIM**2
COSIM_MAX_CYCLES = 1_000_000  # about 3 minutes of a 4 x 4 array on Icarus
# Verilator through a bench-side host (the systolic arrays' host and native drivers) runs 250k-340k
# array cycles a second on a 16 x 16 array (bench/test_bench_rtl.py): about 5 minutes at this limit
FAST_DRIVERS = ("host", "native")
COSIM_MAX_CYCLES_FAST = 100_000_000
MAX_SEED = 2**32 - 1
MIN_BANDWIDTH, MAX_BANDWIDTH = 1e-3, 1e9  # DRAM bytes per cycle
MAX_DRAM_LATENCY = 1_000_000  # cycles
REPORT_MAX_SIDE = 32  # bitweight report --rows/--cols: every engine is synthesised at this size


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _int_in(low: int, high: int, what: str):
    """An argparse type: an integer in low..high."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what} in {low}..{high}, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected {what} in {low}..{high}, got {value}")
        return value

    return parse


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's help ends with its default, unless it has none (None, a flag's False) or the
    help text already says it."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text or action.default is None or action.default is False \
                or action.default == argparse.SUPPRESS:
            return text
        return super()._get_help_string(action)


def check_output_file(path: str, flag: str, example: str = "out.csv") -> None:
    """Refuse an output file whose folder is missing or not writable before any work starts."""
    import os

    if not str(path).strip():
        raise ValueError(f"{flag} is empty; give a file name such as {example}")
    folder = Path(path).resolve().parent
    if not folder.is_dir():
        above = next((p for p in folder.parents if p.exists()), None)
        if folder.exists() or (above is not None and not above.is_dir()):
            blocker = folder if folder.exists() else above
            raise ValueError(f"{flag} {path}: {blocker} is a file, not a folder")
        raise ValueError(f"{flag} {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise ValueError(f"{flag} {path}: folder {folder} is not writable")
    if Path(path).is_dir():
        raise ValueError(f"{flag} {path} is a folder; give a file name such as {example}")
    if Path(path).exists() and not os.access(path, os.W_OK):
        raise ValueError(f"{flag} {path} is read-only")


def _shape(text: str) -> tuple[int, int, int]:
    try:
        return parse_shape(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _param(text: str) -> tuple[str, int]:
    name, eq, value = text.partition("=")
    try:
        if not eq or not name:
            raise ValueError
        return name, int(value, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a Verilog parameter must be NAME=INTEGER (e.g. R=16), got {text!r}") from None


# -- validation of synth and cosim requests: everything checked before any work starts ----------------

_OPERAND_WIDTHS = ("A_W", "B_W", "W_W")
_ONE_BIT_OPERANDS = ("stripes", "laconic", "bitserial")  # bit-serial tops: 1-bit operands are fine
_FLAGS = ("ENC", "FMT_A", "FMT_B", "DBUF", "MASK", "ALIGNED", "DRAIN", "A_SIGNED", "W_SIGNED")
_SIZES = {"R": "array rows", "C": "array columns", "ROWS": "rows of A per clock", "K": "tile rows",
          "N": "columns, lanes or transform length", "P": "look-up lanes", "LANES": "lanes"}
_ADDRESS_BITS = ("AW", "XAW", "WAW", "EAW", "YAW")


def param_range(top: str, name: str, params: dict) -> tuple[int, int, int | None, str]:
    """(lowest, highest, synthesis limit without --force or None, what it is) of Verilog parameter
    ``name`` of ``top``; ``params``: the design's other parameters (ACC_W's floor is A_W + B_W)."""
    if name in _OPERAND_WIDTHS:
        return 1 if top.startswith(_ONE_BIT_OPERANDS) else 2, 16, None, "an operand width in bits"
    if name == "ACC_W":
        a, b = params.get("A_W"), params.get("B_W", params.get("W_W"))
        if isinstance(a, int) and isinstance(b, int) and a + b > 1:
            return a + b, 64, None, "the accumulator width in bits (at least A_W + B_W, the product's width)"
        return 1, 64, None, "the accumulator width in bits"
    if name == "PE_KIND":
        return 0, 2 if top == "tree_gemm" else 1, None, "the PE kind"
    if name in _FLAGS:
        return 0, 1, None, "a 0/1 setting"
    if name in _SIZES:
        return 1, 1 << 16, SYNTH_MAX_DIM, _SIZES[name]
    if name == "DEPTH":
        return 1, 1 << 16, SYNTH_MAX_DEPTH, "the operand buffer depth"
    if name in _ADDRESS_BITS:
        return 1, 24, SYNTH_MAX_ADDR_BITS, "buffer address bits"
    if name == "W" or name.endswith("_W") or name in ("TW", "CW", "LW", "PW"):
        return 1, 64, None, "a width in bits"
    return 0, 1 << 16, None, "a non-negative integer"


def check_synth_params(top: str, params: dict[str, int], given: dict[str, int], force: bool = False) -> None:
    """Refuse parameters ``top`` lacks (``given``: the -P ones), values its Verilog cannot mean
    (a 0-bit operand) and, without ``force``, designs over the synthesis limits."""
    from rtl_models.sources import module_parameters
    from rtl_models.synth import check_top

    declared = module_parameters(check_top(top))
    for name, value in given.items():
        if name not in declared:
            raise ValueError(f"-P {name}={value}: {name} is not a parameter of module {top}; its parameters: "
                             f"{', '.join(declared) or '(none)'}")
    merged = {**{k: v for k, v in declared.items() if v is not None}, **params}
    for name in params:
        value = merged[name]
        low, high, limit, what = param_range(top, name, merged)
        flag = f"-P {name}={value}" if name in given else f"{name}={value}"
        if not low <= value <= high:
            raise ValueError(f"{flag}: {name} of {top} is {what} and must be in {low}..{high}")
        if limit is not None and value > limit and not force:
            raise ValueError(f"{flag}: {name} of {top} ({what}) is over the synthesis limit of {limit} (yosys "
                             "would run for hours); --force synthesises it anyway")


def _check_size(engine, rows: int, cols: int, force: bool, what: str, max_dim: int, max_units: int, why: str,
                force_does: str = "--force runs it anyway"):
    """The engine's config at rows x cols, refused over ``max_dim`` or ``max_units`` without --force."""
    for flag, value in (("--rows", rows), ("--cols", cols)):
        if value > max_dim and not force:
            raise ValueError(f"{flag} {value}: over the {what} limit of {max_dim} ({why}); {force_does}")
    try:
        cfg = _sized_config(engine, rows, cols)
    except ValueError as exc:
        raise ValueError(f"engine {engine.name} sized {rows} x {cols} (--rows x --cols): {exc}") from None
    if engine.sizing is not None:
        units = engine.mac_units(cfg)
        if units > max_units and not force:
            raise ValueError(f"engine {engine.name} sized {rows} x {cols} ({engine.sizing.note}) has {units} "
                             f"multiply units, over the {what} limit of {max_units} ({max_dim} x {max_dim}; "
                             f"{why}); {force_does}")
    return cfg


def _estimated_cycles(engine, cfg, m: int, n: int, k: int) -> int:
    """The cycle model's cycles of an M x N x K GEMM without data (or MACs over multiply units)."""
    try:
        return int(math.ceil(engine.estimate_gemm(m, n, k, cfg).cycles))
    except (ValueError, TypeError):
        return -(-m * n * k // max(1, engine.mac_units(cfg)))


def cmd_report(args) -> int:
    from reports import synth
    from reports.build import (build_report, check_output, default_workloads, pe_alone_targets, priced_engines,
                               synthesize_all)
    from reports.dse import store
    from reports.engine import Sizes

    t0 = time.perf_counter()
    from reports.sections import gather

    # every place the report writes, checked before the first section runs
    check_output(args.out)
    synth.check_cache_writable()
    store.connect(store.default_path()).close()  # the sweep section's results database
    side = 4 if args.quick else 16  # --quick: small arrays, so a cold cache synthesises in minutes
    rows, cols = args.rows or side, args.cols or side
    if max(rows, cols) > REPORT_MAX_SIDE:
        raise ValueError(f"--rows/--cols {rows}x{cols}: the report synthesises every engine at this size; at most "
                         f"{REPORT_MAX_SIDE}x{REPORT_MAX_SIDE} (a 16x16 array takes 2-5 minutes in yosys, 32x32 tens)")
    sizes = (Sizes.quick if args.quick else Sizes.full)(rows, cols)
    engines = priced_engines(sizes)
    # one process per core: the cost table's syntheses first, then every section provider, side by
    # side (reports/synth.py locks each design, so none is synthesised twice)
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1, mp_context=get_context("spawn")) as pool:
        pending = gather(progress=print, quick=args.quick, pool=pool, wait=False)
        synthesised = synthesize_all([t for e in engines for t in (e.array, e.pe)]
                                     + [t for _, t in pe_alone_targets()], pool=pool)
        sections = pending()
        synthesised()
    out = build_report(Path(args.out), engines, default_workloads(), progress=print,
                       extra_synth=pe_alone_targets(), extra_sections=sections, quick=args.quick)
    print(f"report written to {out / 'index.html'} in {time.perf_counter() - t0:.1f} s")
    return 0


def _sized_config(engine, rows: int, cols: int):
    """The engine's config: sized from rows x cols when it runs sized GEMMs, else its cross-check config."""
    if engine.sizing is None:
        return engine.crosscheck_config()
    return engine.sized_config(rows, cols)


def cmd_cosim(args) -> int:
    from reports.engine import Case
    from rtl_models.cosim import simulator_missing

    engine = get_engine(args.engine)
    cfg = _check_size(engine, args.rows, args.cols, args.force, "co-simulation", COSIM_MAX_DIM, COSIM_MAX_UNITS,
                      "an HDL simulator steps every PE on every cycle: a larger array runs for hours")
    if engine.sizing is None and args.shape is not None:
        raise ValueError(f"--shape takes an M x N x K GEMM; engine {engine.name} does not run sized GEMMs "
                         "(it runs its golden cases)")
    if args.driver is not None and args.driver not in engine.cosim_drivers:
        has = (f"its drivers are {', '.join(engine.cosim_drivers)}" if engine.cosim_drivers else
               "it has one driver (leave --driver out)")
        raise ValueError(f"--driver {args.driver}: engine {engine.name} has no such co-simulation driver; {has}")
    driver = args.driver or (engine.cosim_drivers[0] if engine.cosim_drivers else None)
    fast = args.sim == "verilator" and driver in FAST_DRIVERS
    limit = COSIM_MAX_CYCLES_FAST if fast else COSIM_MAX_CYCLES
    cycles = None
    if engine.sizing is not None:
        m, n, k = args.shape if args.shape is not None else NAMED_GEMMS[args.workload]
        cycles = _estimated_cycles(engine, cfg, m, n, k)
        if cycles > limit and not args.force:
            what = f"--shape {m}x{n}x{k}" if args.shape is not None else f"--workload {args.workload} ({m}x{n}x{k})"
            pace = ("Verilator with a bench-side host runs a few hundred thousand cycles a second" if fast else
                    "an HDL simulator runs a few thousand cycles a second")
            hint = (f"; --sim verilator with the {' or '.join(FAST_DRIVERS)} driver allows {COSIM_MAX_CYCLES_FAST:,}"
                    if not fast and cycles <= COSIM_MAX_CYCLES_FAST and set(FAST_DRIVERS) & set(engine.cosim_drivers)
                    else "")
            raise ValueError(f"{what} on {engine.name} {args.rows}x{args.cols} takes about {cycles:,} cycles by the "
                             f"cycle model, over the co-simulation limit of {limit:,} ({pace}){hint}; give a smaller "
                             "--shape or a larger array, or --force to run it anyway")
    if args.waves and args.driver == "native":
        raise ValueError("--waves: the native driver (an HDL-only bench) keeps no waveform; use --driver host or ports")
    reason = simulator_missing(args.sim)
    if reason:
        raise RuntimeError(f"--sim {args.sim}: {reason}")
    if engine.sizing is not None:  # an M x N x K GEMM engine: a random or named int8 GEMM
        if args.shape is not None:
            m, n, k = args.shape
            rng = np.random.default_rng(args.seed)
            a = rng.integers(-128, 128, (m, k), dtype=np.int8)
            b = rng.integers(-128, 128, (k, n), dtype=np.int8)
            cases = [Case(f"random {m}x{n}x{k} (seed {args.seed})", (a, b))]
        else:
            a, b = named_gemm(args.workload, args.seed)
            cases = [Case(f"{args.workload} (seed {args.seed})", (a, b))]
        where = f"array {args.rows}x{args.cols}"
    else:  # its golden cases, at its cross-check configuration
        cases = engine.golden(args.seed)
        where = "its cross-check configuration"
    print(f"engine {engine.name}: {engine.description}")
    print(f"config {cfg} ({where}); {len(cases)} case(s)")
    models = [engine.run_model(cfg, c.operands) for c in cases]
    about = f" (about {cycles:,} cycles)" if cycles else ""
    print(f"simulating RTL top {engine.rtl_top} on {args.sim}{about} ...", flush=True)
    t0 = time.perf_counter()
    kw = {"waves": True} if args.waves else {}
    if args.driver is not None:
        kw["driver"] = args.driver
    rtl = engine.run_cosim(cfg, [c.operands for c in cases], sim=args.sim, seed=args.seed, **kw)
    wall = time.perf_counter() - t0
    ok = True
    print()
    print(f"{'case':40}{'cycle model':>14}{'RTL (' + args.sim + ')':>18}  values")
    for case, model, r in zip(cases, models, rtl):
        values_equal = np.array_equal(np.asarray(r.values), model.values)
        cycles_equal = int(r.cycles) == model.cycles and tuple(r.fold_cycles or ()) == model.fold_cycles
        ok &= values_equal and cycles_equal
        differ = int(np.count_nonzero(np.asarray(r.values) != model.values))
        print(f"{case.name[:39]:40}{model.cycles:>14}{int(r.cycles):>18}  "
              f"{'bit-exact' if values_equal else f'{differ} of {model.values.size} differ'}"
              f"{'' if cycles_equal else '; cycles DIFFER'}")
        shown = min(len(model.fold_cycles), 8)
        for i in range(shown):
            print(f"{'  fold ' + str(i):40}{model.fold_cycles[i]:>14}{int(r.fold_cycles[i]):>18}")
        if shown < len(model.fold_cycles):
            print(f"  ... {len(model.fold_cycles) - shown} more folds")
        if getattr(r, "wave_file", None):
            print(f"  waveform: {r.wave_file}")
    print()
    print(f"{'all equal' if ok else 'MISMATCH'}: results and cycles of model and RTL; wall time {wall:.1f} s")
    return 0 if ok else 1


def cmd_layers(args) -> int:
    from reports.layers import MEMORY_COLUMNS, SCALE_SIM_COLUMNS, layer_table
    from sim.memory import Dram, MemoryConfig
    from sim.topology import read_arch_config, read_topology

    bw = args.bandwidth
    if bw is not None and not (math.isfinite(bw) and MIN_BANDWIDTH <= bw <= MAX_BANDWIDTH):
        raise ValueError(f"--bandwidth must be a positive number of bytes per cycle, got {bw} (it takes "
                         f"{MIN_BANDWIDTH:g}..{MAX_BANDWIDTH:g})")
    layers = read_topology(args.topology)
    arch = read_arch_config(args.config)
    if args.out is not None:
        check_output_file(args.out, "--out", "layers.csv")
    engine = args.engine or arch.dataflow
    if args.costs:  # --costs synthesises the sized array: the synthesis limits apply
        try:
            _check_size(get_engine(engine), arch.array_height, arch.array_width, args.force, "synthesis",
                        SYNTH_MAX_DIM, SYNTH_MAX_UNITS, "--costs synthesises the array: yosys would run for hours",
                        "--force synthesises it anyway")
        except ValueError as exc:  # the config's ArrayHeight / ArrayWidth, not the flags
            raise ValueError(f"{args.config}: " + str(exc).replace("--rows", "ArrayHeight").replace(
                "--cols", "ArrayWidth")) from None
    memory = None
    if args.bandwidth is not None or (arch.bandwidth is not None and arch.interface_bandwidth != "CALC"):
        user = arch.bandwidth is not None and arch.interface_bandwidth != "CALC"
        try:
            base = arch.memory(shared=args.shared_port, latency=args.dram_latency) if user else None
        except ValueError as exc:  # the config's memory settings: say which file
            raise ValueError(f"{args.config}: {exc}") from None
        if base is None:  # no USER bandwidth in the config: SRAM sizes from it, bandwidth from the flag
            kb = [arch.ifmap_sram_kb, arch.filter_sram_kb, arch.ofmap_sram_kb]
            if None in kb:
                raise ValueError(f"{args.config}: the memory model needs IfmapSramSzkB, FilterSramSzkB and "
                                 "OfmapSramSzkB in [architecture_presets]")
            from sim.memory import Buffer

            base = MemoryConfig(*(Buffer(v * 1024) for v in kb), Dram(args.bandwidth, args.dram_latency,
                                                                         args.shared_port))
        if args.bandwidth is not None:
            base = MemoryConfig(base.ifmap, base.filter, base.ofmap,
                                Dram(args.bandwidth, args.dram_latency, args.shared_port))
        if args.buffer_ports is not None:
            from dataclasses import replace

            port = dict(ports=args.buffer_ports, banks=args.buffer_banks, width_bytes=args.buffer_width)
            base = MemoryConfig(*(replace(b, **port) for b in (base.ifmap, base.filter, base.ofmap)), base.dram)
        memory = base
    elif args.buffer_ports is not None:
        raise ValueError("--buffer-ports needs the memory model: give --bandwidth, or a config with "
                         "InterfaceBandwidth USER and a Bandwidth")
    how = (f"memory: buffers {memory.ifmap.capacity_bytes // 1024}/{memory.filter.capacity_bytes // 1024}/"
           f"{memory.ofmap.capacity_bytes // 1024} kB, DRAM {memory.dram.bandwidth:g} B/cycle "
           f"({'one shared port' if memory.dram.shared else 'one port per operand'}), latency "
           f"{memory.dram.latency}, mapping {args.mapping}"
           + (f", buffers {memory.ifmap.banks} bank(s) x {memory.ifmap.ports} port(s) x {memory.ifmap.width_bytes} B "
              "on the array side" if memory.port_limited else "") if memory else
           "no DRAM bandwidth given (config Bandwidth with InterfaceBandwidth USER, or --bandwidth): "
           "operands arrive on time, no stalls")
    print(f"{len(layers)} layers from {args.topology}; engine {engine} sized {arch.array_height}x{arch.array_width} "
          f"from {args.config}; {how}")
    df = layer_table(layers, arch, costs=args.costs, progress=print, engine=args.engine, memory=memory,
                     mapping=args.mapping, dram_energy=args.dram_energy)
    cols = SCALE_SIM_COLUMNS + (MEMORY_COLUMNS[:2] + MEMORY_COLUMNS[3:] if memory else [])
    cols += ["energy_per_mac_pj", "latency_us"] if args.costs else []
    print(df[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if args.out:
        df.to_csv(args.out, index=False)
        print(f"written to {args.out}")
    return 0


def cmd_synth(args) -> int:
    from reports.synth import synthesize
    from rtl_models.synth import verilog_sources

    given = dict(args.param or [])
    if args.top:
        top, params = args.top, dict(given)
    else:
        engine = get_engine(args.engine)
        top = engine.rtl_top
        cfg = _check_size(engine, args.rows, args.cols, args.force, "synthesis", SYNTH_MAX_DIM, SYNTH_MAX_UNITS,
                          "a 16 x 16 array takes about a minute in yosys and a larger one hours",
                          "--force synthesises it anyway")
        params = engine.rtl_params(cfg)
        params.update(given)
    check_synth_params(top, params, given, args.force)
    print(f"synthesising {top} {params} with yosys ...", flush=True)
    res = synthesize(verilog_sources(top), top, params)
    print(f"cells        {sum(res.cells.values())}")
    for cell, count in sorted(res.cells.items()):
        print(f"  {cell:22}{count}")
    print(f"area         {res.area_um2:.1f} um^2")
    print(f"logic depth  {res.logic_depth} gates")
    print(f"est. clock   {res.est_clock_mhz:.0f} MHz")
    return 0


def cmd_inventory(args) -> int:
    from rtl_models.inventory import inventory

    for mod in inventory().values():
        params = ", ".join(f"{name}={default}" for name, default in mod.parameters.items())
        print(f"{mod.name} #({params})  [{mod.file.name}]")
        for port in mod.ports:
            print(f"    {port.direction:7}{port.width_expr:>24}  {port.name}")
    return 0


def cmd_engines(args) -> int:
    rows = [("engine", "family", "RTL top", "layers sizing", "description")]
    for name, e in ENGINES.items():
        rows.append((name, e.family, e.rtl_top, e.sizing.note if e.sizing else "-", e.description))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(f"{r[i]:{widths[i]}}" for i in range(4)) + "  " + r[4])
    print("\nnamed workloads (M x N x K):")
    width = max(len(name) for name in NAMED_GEMMS) + 2
    for name, (m, n, k) in NAMED_GEMMS.items():
        print(f"  {name:{width}}{m} x {n} x {k}")
    return 0


_SCHEDULER = re.compile(r"(?:(?P<scheme>[a-z][a-z0-9+.-]*)://)?(?P<host>\[[0-9A-Fa-f:.]+\]|[^\s/:\[\]]+)"
                        r":(?P<port>\d+)/?")


def _check_scheduler(address: str) -> None:
    """Refuse a --scheduler that is not a Dask address, before anything is opened or started."""
    m = _SCHEDULER.fullmatch(address.strip())
    if m is None or not 1 <= int(m["port"]) <= 65535:
        raise ValueError(f"--scheduler {address!r}: not a Dask scheduler address (it reads tcp://HOST:PORT, "
                         "PORT in 1..65535)")


def cmd_sweep(args) -> int:
    from reports.dse import space as dspace
    from reports.dse import store, sweep

    if args.scheduler is not None:
        _check_scheduler(args.scheduler)
    sp = dspace.load(args.space)
    db = args.db or store.default_path()
    summary = sweep.run(sp, db=db, scheduler=args.scheduler, workers=args.workers, chunk=args.chunk,
                        progress=not args.no_progress)
    print(sweep.describe(summary))
    print(f"results in {db}: `bitweight results --db {db} --sweep {sp.name}` lists them, --pareto the front")
    return 0


def cmd_results(args) -> int:
    from reports.dse import results, store

    db = args.db or store.default_path()
    if args.csv is not None:
        check_output_file(args.csv, "--csv", "results.csv")
    if args.plot is not None:
        check_output_file(args.plot, "--plot", "front.png")
    where = [results.parse_where(w) for w in args.where or []]
    pareto = [o.strip() for o in args.pareto.split(",")] if args.pareto is not None else None
    for o in pareto or []:
        if o not in results.OBJECTIVES:
            raise ValueError(f"--pareto {args.pareto!r}: unknown objective {o!r} (known: "
                             f"{', '.join(results.OBJECTIVES)})")
    if args.list:
        print(results.sweeps(db).to_string(index=False))
        return 0
    df = results.load(db, sweep=args.sweep, pareto=pareto, where=where, all_models=args.all_models)
    shown = df[df.pareto] if args.front else df
    if args.csv:
        shown.to_csv(args.csv, index=False)
    if args.plot:
        results.figure(df).savefig(args.plot, dpi=120)
    objectives = df.attrs["objectives"]
    print(f"sweep {df['sweep'].iloc[0] if len(df) else args.sweep}: {len(df)} points, {int(df.feasible.sum())} "
          f"feasible ({'; '.join(df.attrs['constraints']) or 'no constraints'}), {int(df.pareto.sum())} on the "
          f"Pareto front of {', '.join(objectives)}")
    cols = ["engine", "rows", "cols", "a_bits", "w_bits", "ifmap_kb", "filter_kb", "ofmap_kb", "bandwidth",
            "network", *objectives, "area_mm2", "area_source", "pareto"]
    cols = list(dict.fromkeys(cols))
    view = shown.sort_values(objectives[0])[cols].head(args.limit)
    print(view.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if len(shown) > args.limit:
        print(f"... {len(shown) - args.limit} more rows (--limit, or --csv for all)")
    if args.csv:
        print(f"wrote {len(shown)} rows to {args.csv}")
    if args.plot:
        print(f"wrote {args.plot}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bitweight", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("report", help="area/energy/latency report: CSV, PNG and index.html")
    p.add_argument("--out", default=str(DEFAULT_OUT), help="output folder (replaced whole; default %(default)s)")
    p.add_argument("--rows", type=_positive_int, default=None,
                   help="array rows of every engine (default 16; 4 with --quick)")
    p.add_argument("--cols", type=_positive_int, default=None,
                   help="array columns of every engine (default 16; 4 with --quick)")
    p.add_argument("--quick", action="store_true",
                   help="a reduced run of every section (small arrays, few sentences, few steps): the same code "
                        "paths in a few minutes; its numbers are not the full report's")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("cosim", help="run one engine on one workload in RTL and compare with the cycle model",
                       formatter_class=_HelpFormatter)
    p.add_argument("--engine", choices=list(ENGINES), default="os",
                   help="a registered engine; those without a layers sizing run their golden cases")
    p.add_argument("--rows", type=_positive_int, default=4,
                   help=f"array rows (H) the engine is sized from; at most {COSIM_MAX_DIM} without --force")
    p.add_argument("--cols", type=_positive_int, default=4,
                   help=f"array columns (W) the engine is sized from; at most {COSIM_MAX_DIM} without --force")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--shape", type=_shape, help="random int8 operands of shape MxNxK (default: --workload)")
    group.add_argument("--workload", choices=list(NAMED_GEMMS), default="tiny_7x5x11",
                       help="a named GEMM (`bitweight engines` lists them with their shapes)")
    p.add_argument("--seed", type=_int_in(0, MAX_SEED, "an integer seed"), default=0,
                   help="seed of the random operands")
    p.add_argument("--sim", choices=["icarus", "verilator"], default="icarus", help="HDL simulator")
    p.add_argument("--waves", action="store_true", help="keep a VCD waveform and print its path")
    p.add_argument("--driver", choices=["host", "ports", "native"], default=None,
                   help="how the systolic arrays are driven: host (a bench-side host streams the operands inside "
                   "the simulator), ports (Python drives every edge) or native (the host under an HDL-only bench, "
                   "no cocotb: the simulator's own speed, no waves); default: the engine's own (host for the "
                   "systolic arrays); other engines have one driver")
    p.add_argument("--force", action="store_true",
                   help=f"run even over the limits (arrays over {COSIM_MAX_DIM} x {COSIM_MAX_DIM}, GEMMs over "
                   f"{COSIM_MAX_CYCLES:,} estimated cycles, {COSIM_MAX_CYCLES_FAST:,} on Verilator through a "
                   "bench-side host): hours in an HDL simulator")
    p.set_defaults(func=cmd_cosim)

    p = sub.add_parser("layers", help="run a SCALE-Sim topology CSV and .cfg through an array: SCALE-Sim's "
                       "compute-report columns, plus energy and latency with --costs", formatter_class=_HelpFormatter)
    p.add_argument("--topology", required=True, help="SCALE-Sim topology CSV (convolution or M,N,K form)")
    p.add_argument("--config", required=True, help="SCALE-Sim .cfg ([architecture_presets] ArrayHeight, "
                   "ArrayWidth, Dataflow os|ws)")
    p.add_argument("--costs", action="store_true", help="also energy, latency and area (synthesises the array)")
    p.add_argument("--engine", default=None, choices=list(SIZED), metavar="ENGINE",
                   help="run the layers through this engine instead of the config's os/ws array, sized from "
                   "ArrayHeight (H) x ArrayWidth (W): " + "; ".join(f"{n} ({e.sizing.note})" for n, e in SIZED.items()))
    p.add_argument("--bandwidth", type=float, default=None,
                   help="DRAM bytes per cycle (default: the config's Bandwidth when InterfaceBandwidth is USER; "
                   "without either, no memory model and no stalls)")
    p.add_argument("--dram-latency", type=_int_in(0, MAX_DRAM_LATENCY, "a whole number of cycles"), default=0,
                   help="DRAM read latency in cycles (default 0)")
    p.add_argument("--shared-port", action="store_true",
                   help="one DRAM port for all operands (default: one per operand, as SCALE-Sim)")
    p.add_argument("--buffer-ports", type=_int_in(1, 64, "array-side ports per bank"), default=None,
                   help="array-side ports of each buffer bank: the engine moves at most banks x ports x width "
                   "bytes per cycle through each buffer, and a tile that needs more waits (default: no limit)")
    p.add_argument("--buffer-banks", type=_int_in(1, 1024, "banks per buffer"), default=1,
                   help="banks of each buffer (with --buffer-ports; default 1)")
    p.add_argument("--buffer-width", type=_int_in(1, 1024, "bytes per bank word"), default=8,
                   help="bytes of one bank word (with --buffer-ports; default 8)")
    p.add_argument("--mapping", choices=["latency", "dram", "edp", "scalesim"], default="latency",
                   help="the best tiling and loop order for latency, DRAM bytes or their product, or SCALE-Sim's "
                   "fixed fold order (default latency)")
    p.add_argument("--dram-energy", choices=["horowitz_low", "horowitz_high", "shiftaddllm"], default="horowitz_low",
                   help="DRAM energy per bit: Horowitz 1.3 or 2.6 nJ per 64 bits, ShiftAddLLM 200 pJ per 16 bits "
                   "(default horowitz_low)")
    p.add_argument("--out", help="write the table as CSV")
    p.add_argument("--force", action="store_true",
                   help=f"with --costs, synthesise arrays over {SYNTH_MAX_DIM} x {SYNTH_MAX_DIM} too (hours in yosys)")
    p.set_defaults(func=cmd_layers)

    p = sub.add_parser("sweep", help="price a declared design space (TOML) on Dask; every point stored in SQLite, "
                       "resumable", formatter_class=_HelpFormatter)
    p.add_argument("space", help="the space file (docs/sweeps/example.toml shows every key)")
    p.add_argument("--db", help="results database (default $BITWEIGHT_DB or ./bitweight-results.sqlite)")
    p.add_argument("--scheduler", help="address of a running Dask scheduler (default: a local cluster)")
    p.add_argument("--workers", type=_positive_int, help="local cluster worker processes (default: one per core)")
    p.add_argument("--chunk", type=_positive_int, help="points per Dask task (default: 20..250, by the space size)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("results", help="query a sweep's stored points: constraints, Pareto front, CSV, plot",
                       formatter_class=_HelpFormatter)
    p.add_argument("--db", help="results database (default $BITWEIGHT_DB or ./bitweight-results.sqlite)")
    p.add_argument("--sweep", help="the sweep's name (default: the latest priced by this cost model)")
    p.add_argument("--list", action="store_true", help="list the stored sweeps and stop")
    p.add_argument("--pareto", help="objectives of the front, comma-separated (default: the space file's)")
    p.add_argument("--where", action="append", help='a constraint such as "area_mm2 <= 4" (repeatable)')
    p.add_argument("--front", action="store_true", help="only the Pareto front's points")
    p.add_argument("--all-models", action="store_true", help="also rows priced by other versions of the cost model")
    p.add_argument("--limit", type=_positive_int, default=20, help="rows printed")
    p.add_argument("--csv", help="write the rows (all, or the front with --front) as CSV")
    p.add_argument("--plot", help="write the Pareto plot (PNG)")
    p.set_defaults(func=cmd_results)

    from reports.dse import history

    history.add_parser(sub)

    p = sub.add_parser("synth", help="synthesise an engine (or any RTL top) with yosys: cells, area, depth, clock",
                       formatter_class=_HelpFormatter)
    p.add_argument("--engine", choices=list(ENGINES), default="os",
                   help="a registered engine, sized from --rows x --cols when it runs sized GEMMs")
    p.add_argument("--rows", type=_positive_int, default=16,
                   help=f"array rows; at most {SYNTH_MAX_DIM} without --force")
    p.add_argument("--cols", type=_positive_int, default=16,
                   help=f"array columns; at most {SYNTH_MAX_DIM} without --force")
    p.add_argument("--top", help="synthesise this Verilog module instead of an engine's array (e.g. mac_pe)")
    p.add_argument("-P", "--param", type=_param, action="append",
                   help="Verilog parameter NAME=VALUE (repeatable); checked against the module's parameters "
                   "and their ranges (operand widths 2..16, ACC_W at least A_W + B_W and at most 64, ...)")
    p.add_argument("--force", action="store_true",
                   help=f"synthesise even over the limits (arrays over {SYNTH_MAX_DIM} x {SYNTH_MAX_DIM}, "
                   f"buffers deeper than {SYNTH_MAX_DEPTH}): hours in yosys")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("inventory", help="list the RTL modules, their parameters and ports (pyverilog)",
                       formatter_class=_HelpFormatter)
    p.set_defaults(func=cmd_inventory)

    p = sub.add_parser("engines", help="list registered engines and named workloads",
                       formatter_class=_HelpFormatter)
    p.set_defaults(func=cmd_engines)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # said by the subcommand, with its usage, not by `bitweight` with the list of commands
        parser._subparsers._group_actions[0].choices[args.command].error(
            f"unrecognized arguments: {' '.join(extra)}")
    try:
        return args.func(args)
    except (ValueError, TypeError, OSError, RuntimeError) as exc:  # OSError: FileNotFoundError and the like
        print(f"bitweight {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except MemoryError as exc:  # numpy names the allocation it could not make
        print(f"bitweight {args.command}: error: out of memory{f' ({exc})' if str(exc) else ''}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"bitweight {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
