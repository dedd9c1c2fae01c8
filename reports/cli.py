"""The `bitweight` command: reports (the main job), RTL co-simulation, synthesis, inventory.

    bitweight report   [--out reports/out]
    bitweight cosim    --engine os --rows 4 --cols 4 --shape 7x5x11 [--sim icarus|verilator] [--waves]
    bitweight synth    --engine os --rows 16 --cols 16 | --top mac_pe
    bitweight layers   --topology net.csv --config scale.cfg [--costs]
    bitweight sweep    SPACE.toml [--db FILE] [--scheduler ADDRESS] [--workers N]
    bitweight results  [--db FILE] [--sweep NAME] [--pareto A,B] [--where "area_mm2 <= 4"] [--csv OUT]
    bitweight history  [--db FILE] [--run ID] [--threshold 0.10] [--record FILE.json]
    bitweight inventory
    bitweight engines

Heavy imports (cocotb, yosys, matplotlib) happen inside the subcommand that needs them.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from reports.registry import ENGINES, engines, get_engine
from sim.workloads import NAMED_GEMMS, named_gemm, parse_shape

SIZED = engines(sized=True)

DEFAULT_OUT = Path(__file__).resolve().parent / "out"


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def check_output_file(path: str, flag: str) -> None:
    """Refuse an output file whose folder is missing or not writable before any work starts."""
    import os

    folder = Path(path).resolve().parent
    if not folder.is_dir():
        raise ValueError(f"{flag} {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise ValueError(f"{flag} {path}: folder {folder} is not writable")
    if Path(path).is_dir():
        raise ValueError(f"{flag} {path} is a folder; give a file name such as layers.csv")


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


def cmd_report(args) -> int:
    from reports.build import build_report, default_workloads, pe_alone_targets, priced_engines
    from reports.engine import Sizes

    t0 = time.perf_counter()
    from reports.sections import gather

    sizes = (Sizes.quick if args.quick else Sizes.full)(args.rows, args.cols)
    engines = priced_engines(sizes)
    sections = gather(progress=print, quick=args.quick)
    out = build_report(Path(args.out), engines, default_workloads(), progress=print,
                       extra_synth=pe_alone_targets(), extra_sections=sections)
    print(f"report written to {out / 'index.html'} in {time.perf_counter() - t0:.1f} s")
    return 0


def _sized_config(engine, rows: int, cols: int):
    """The engine's config: sized from rows x cols when it runs sized GEMMs, else its cross-check config."""
    if engine.sizing is None:
        return engine.crosscheck_config()
    from sim.topology import ArchConfig

    return engine.sizing.config(ArchConfig(rows, cols, "os"))


def cmd_cosim(args) -> int:
    from reports.engine import Case

    engine = get_engine(args.engine)
    cfg = _sized_config(engine, args.rows, args.cols)
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
        if args.shape is not None:
            raise ValueError(f"--shape takes an M x N x K GEMM; engine {engine.name} does not run sized GEMMs "
                             "(it runs its golden cases)")
        cases = engine.golden(args.seed)
        where = "its cross-check configuration"
    print(f"engine {engine.name}: {engine.description}")
    print(f"config {cfg} ({where}); {len(cases)} case(s)")
    models = [engine.run_model(cfg, c.operands) for c in cases]
    print(f"simulating RTL top {engine.rtl_top} on {args.sim} ...", flush=True)
    t0 = time.perf_counter()
    kw = {"waves": True} if args.waves else {}
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

    layers = read_topology(args.topology)
    arch = read_arch_config(args.config)
    if args.out:
        check_output_file(args.out, "--out")
    engine = args.engine or arch.dataflow
    memory = None
    if args.bandwidth is not None or (arch.bandwidth is not None and arch.interface_bandwidth != "CALC"):
        if args.bandwidth is not None and args.bandwidth <= 0:
            raise ValueError(f"--bandwidth must be a positive number of bytes per cycle, got {args.bandwidth}")
        user = arch.bandwidth is not None and arch.interface_bandwidth != "CALC"
        base = arch.memory(shared=args.shared_port, latency=args.dram_latency) if user else None
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
        memory = base
    how = (f"memory: buffers {memory.ifmap.capacity_bytes // 1024}/{memory.filter.capacity_bytes // 1024}/"
           f"{memory.ofmap.capacity_bytes // 1024} kB, DRAM {memory.dram.bandwidth:g} B/cycle "
           f"({'one shared port' if memory.dram.shared else 'one port per operand'}), latency "
           f"{memory.dram.latency}, mapping {args.mapping}" if memory else
           "no DRAM bandwidth given (config Bandwidth with InterfaceBandwidth USER, or --bandwidth): "
           "operands arrive on time, no stalls")
    print(f"{len(layers)} layers from {args.topology}; engine {engine} sized {arch.array_height}x{arch.array_width} "
          f"from {args.config}; {how}")
    df = layer_table(layers, arch, costs=args.costs, progress=print, engine=args.engine, memory=memory,
                     mapping=args.mapping, dram_energy=args.dram_energy)
    cols = SCALE_SIM_COLUMNS + (MEMORY_COLUMNS[:2] + MEMORY_COLUMNS[3:] if memory else [])
    cols += ["energy_per_mac_pj", "latency_us"] if args.costs else []
    for c in ("M", "N", "K"):
        df[c] = df[c].astype("Int64")
    print(df[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if args.out:
        df.to_csv(args.out, index=False)
        print(f"written to {args.out}")
    return 0


def cmd_synth(args) -> int:
    from reports.synth import synthesize
    from rtl_models.synth import verilog_sources

    if args.top:
        top, params = args.top, dict(args.param or [])
    else:
        engine = get_engine(args.engine)
        top = engine.rtl_top
        params = engine.rtl_params(_sized_config(engine, args.rows, args.cols))
        params.update(dict(args.param or []))
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
    for name, (m, n, k) in NAMED_GEMMS.items():
        print(f"  {name:26}{m} x {n} x {k}")
    return 0


def cmd_sweep(args) -> int:
    from reports.dse import space as dspace
    from reports.dse import store, sweep

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
    if args.csv:
        check_output_file(args.csv, "--csv")
    if args.plot:
        check_output_file(args.plot, "--plot")
    if args.list:
        print(results.sweeps(db).to_string(index=False))
        return 0
    where = [results.parse_where(w) for w in args.where or []]
    pareto = [o.strip() for o in args.pareto.split(",")] if args.pareto else None
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
    p.add_argument("--rows", type=_positive_int, default=16, help="array rows of every engine (default 16)")
    p.add_argument("--cols", type=_positive_int, default=16, help="array columns of every engine (default 16)")
    p.add_argument("--quick", action="store_true",
                   help="a reduced run of every section (small arrays, few sentences, few steps): the same code "
                        "paths in a few minutes; its numbers are not the full report's")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("cosim", help="run one engine on one workload in RTL and compare with the cycle model",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--engine", choices=list(ENGINES), default="os",
                   help="a registered engine; those without a layers sizing run their golden cases")
    p.add_argument("--rows", type=_positive_int, default=4, help="array rows (H) the engine is sized from")
    p.add_argument("--cols", type=_positive_int, default=4, help="array columns (W) the engine is sized from")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--shape", type=_shape, help="random int8 operands of shape MxNxK")
    group.add_argument("--workload", choices=list(NAMED_GEMMS), default="tiny_7x5x11")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sim", choices=["icarus", "verilator"], default="icarus")
    p.add_argument("--waves", action="store_true", help="keep a VCD waveform and print its path")
    p.set_defaults(func=cmd_cosim)

    p = sub.add_parser("layers", help="run a SCALE-Sim topology CSV and .cfg through an array: SCALE-Sim's "
                       "compute-report columns, plus energy and latency with --costs")
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
    p.add_argument("--dram-latency", type=int, default=0, help="DRAM read latency in cycles (default 0)")
    p.add_argument("--shared-port", action="store_true",
                   help="one DRAM port for all operands (default: one per operand, as SCALE-Sim)")
    p.add_argument("--mapping", choices=["latency", "dram", "edp", "scalesim"], default="latency",
                   help="the best tiling and loop order for latency, DRAM bytes or their product, or SCALE-Sim's "
                   "fixed fold order (default latency)")
    p.add_argument("--dram-energy", choices=["horowitz_low", "horowitz_high", "shiftaddllm"], default="horowitz_low",
                   help="DRAM energy per bit: Horowitz 1.3 or 2.6 nJ per 64 bits, ShiftAddLLM 200 pJ per 16 bits "
                   "(default horowitz_low)")
    p.add_argument("--out", help="write the table as CSV")
    p.set_defaults(func=cmd_layers)

    p = sub.add_parser("sweep", help="price a declared design space (TOML) on Dask; every point stored in SQLite, "
                       "resumable", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("space", help="the space file (docs/sweeps/example.toml shows every key)")
    p.add_argument("--db", help="results database (default $BITWEIGHT_DB or ./bitweight-results.sqlite)")
    p.add_argument("--scheduler", help="address of a running Dask scheduler (default: a local cluster)")
    p.add_argument("--workers", type=_positive_int, help="local cluster worker processes (default: one per core)")
    p.add_argument("--chunk", type=_positive_int, help="points per Dask task (default: 20..250, by the space size)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("results", help="query a sweep's stored points: constraints, Pareto front, CSV, plot",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
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

    p = sub.add_parser("synth", help="synthesise an engine (or any RTL top) with yosys: cells, area, depth, clock")
    p.add_argument("--engine", choices=list(ENGINES), default="os",
                   help="a registered engine, sized from --rows x --cols when it runs sized GEMMs (default os)")
    p.add_argument("--rows", type=_positive_int, default=16, help="array rows (default 16)")
    p.add_argument("--cols", type=_positive_int, default=16, help="array columns (default 16)")
    p.add_argument("--top", help="synthesise this Verilog module instead of an engine's array (e.g. mac_pe)")
    p.add_argument("-P", "--param", type=_param, action="append", help="Verilog parameter NAME=VALUE (repeatable)")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("inventory", help="list the RTL modules, their parameters and ports (pyverilog)")
    p.set_defaults(func=cmd_inventory)

    p = sub.add_parser("engines", help="list registered engines and named workloads")
    p.set_defaults(func=cmd_engines)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, FileNotFoundError, RuntimeError) as exc:
        print(f"bitweight {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"bitweight {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
