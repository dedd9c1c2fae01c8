"""The `bitweight` command: reports (the main job), RTL co-simulation, synthesis, inventory.

    bitweight report   [--out reports/out]
    bitweight cosim    --engine os --rows 4 --cols 4 --shape 7x5x11 [--sim icarus|verilator] [--waves]
    bitweight synth    --engine os --rows 16 --cols 16 | --top mac_pe
    bitweight layers   --topology net.csv --config scale.cfg [--costs]
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

from reports.registry import ENGINES, engines, get_engine, load

GEMM_ENGINES = engines("int_gemm_array")
from sim.workloads import NAMED_GEMMS, named_gemm, parse_shape

DEFAULT_OUT = Path(__file__).resolve().parent / "out"


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


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
    from reports.build import (build_report, default_engines, default_extra_synth, default_workloads,
                               lowbit_engines, lut_engines, other_gemm_engines)

    t0 = time.perf_counter()
    from reports.sections import gather

    engines = (default_engines(args.rows, args.cols) + lowbit_engines(args.rows, args.cols)
               + lut_engines(lanes=2 if args.quick else 4)
               + other_gemm_engines(*(((4, 2), 2, 4) if args.quick else ((16, 4), 4, args.rows))))
    sections = gather(progress=print, quick=args.quick)
    out = build_report(Path(args.out), engines, default_workloads(), progress=print,
                       extra_synth=default_extra_synth(exclude=["lut", "lut_array", "mat_sbw", "cube", "cube_sbw", "bcast", "bcast_csa"]), extra_sections=sections)
    print(f"report written to {out / 'index.html'} in {time.perf_counter() - t0:.1f} s")
    return 0


def cmd_cosim(args) -> int:
    from rtl_models.runner import run_cosim

    engine = get_engine(args.engine, "int_gemm_array")
    if args.shape is not None:
        m, n, k = args.shape
        rng = np.random.default_rng(args.seed)
        a = rng.integers(-128, 128, (m, k), dtype=np.int8)
        b = rng.integers(-128, 128, (k, n), dtype=np.int8)
        label = f"random {m}x{n}x{k} (seed {args.seed})"
    else:
        a, b = named_gemm(args.workload, args.seed)
        label = f"{args.workload} (seed {args.seed})"
    cfg = engine.config(args.rows, args.cols)
    model = load(engine.model)(a, b, cfg)
    print(f"engine {engine.name}: {engine.description}; array {args.rows}x{args.cols}; workload {label}")
    print(f"simulating {len(model.folds)} fold(s) of RTL top {engine.rtl_top} on {args.sim} ...", flush=True)
    t0 = time.perf_counter()
    rtl = run_cosim(a, b, args.rows, args.cols, cfg.dataflow, sim=args.sim, waves=args.waves, seed=args.seed,
                    pe=cfg.pe)
    wall = time.perf_counter() - t0
    c_equal = np.array_equal(np.asarray(rtl.c), model.c)
    mismatches = int(np.count_nonzero(np.asarray(rtl.c) != model.c))
    cycles_equal = list(rtl.fold_cycles) == list(model.fold_cycles)
    print()
    print(f"{'':24}{'cycle model':>16}{'RTL (' + args.sim + ')':>20}")
    print(f"{'total cycles':24}{model.cycles:>16}{rtl.cycles:>20}")
    shown = min(len(model.folds), 8)
    for i in range(shown):
        f = model.folds[i]
        tag = f"fold {i} m{f.m0}:{f.m1} n{f.n0}:{f.n1} k{f.k0}:{f.k1}"
        print(f"{tag:24}{model.fold_cycles[i]:>16}{rtl.fold_cycles[i]:>20}")
    if shown < len(model.folds):
        print(f"{'... ' + str(len(model.folds) - shown) + ' more folds':24}")
    print(f"{'C checksum':24}{int(model.c.astype(np.int64).sum()):>16}{int(np.asarray(rtl.c, np.int64).sum()):>20}")
    print()
    print(f"results: {'bit-exact' if c_equal else f'{mismatches} of {model.c.size} elements differ'}; "
          f"cycles: {'equal' if cycles_equal else 'DIFFER'}; "
          f"utilisation {model.utilisation:.1%}; wall time {wall:.1f} s")
    if rtl.wave_file:
        print(f"waveform: {rtl.wave_file}")
    return 0 if (c_equal and cycles_equal) else 1


def cmd_layers(args) -> int:
    from reports.layers import SCALE_SIM_COLUMNS, layer_table
    from sim.topology import read_arch_config, read_topology

    layers = read_topology(args.topology)
    arch = read_arch_config(args.config)
    engine = args.engine or arch.dataflow
    print(f"{len(layers)} layers from {args.topology}; engine {engine} sized {arch.array_height}x{arch.array_width} "
          f"from {args.config} (SRAM sizes read, not simulated: no stall model)")
    df = layer_table(layers, arch, costs=args.costs, progress=print, engine=args.engine)
    cols = SCALE_SIM_COLUMNS + (["energy_per_mac_pj", "latency_us"] if args.costs else [])
    print(df[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if args.out:
        df.to_csv(args.out, index=False)
        print(f"written to {args.out}")
    return 0


def cmd_synth(args) -> int:
    from reports.synth import synthesize, verilog_sources

    if args.top:
        top, params = args.top, dict(args.param or [])
    else:
        engine = get_engine(args.engine, "int_gemm_array")
        top = engine.rtl_top
        params = engine.rtl_params(engine.config(args.rows, args.cols))
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
    for name, engine in ENGINES.items():
        print(f"{name:6}[{engine.family}] {engine.description}\n      model {engine.model}, RTL {engine.rtl_top}, "
              f"kernel {engine.kernel}")
    print("\nnamed workloads (M x N x K):")
    for name, (m, n, k) in NAMED_GEMMS.items():
        print(f"  {name:26}{m} x {n} x {k}")
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

    p = sub.add_parser("cosim", help="run one engine on one workload in RTL and compare with the cycle model")
    p.add_argument("--engine", choices=sorted(GEMM_ENGINES), default="os")
    p.add_argument("--rows", type=_positive_int, default=4)
    p.add_argument("--cols", type=_positive_int, default=4)
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
    p.add_argument("--engine", default=None, help="run the layers through this engine instead of the config's "
                   "os/ws array: os, ws, os_csa, ws_csa, mat, mat_sbw, mat_csa, cube, cube_sbw, cube_csa, bcast, bcast_csa, opt3, opt4e "
                   "(sized from ArrayHeight x ArrayWidth; see reports/layers.py)")
    p.add_argument("--out", help="write the table as CSV")
    p.set_defaults(func=cmd_layers)

    p = sub.add_parser("synth", help="synthesise an engine (or any RTL top) with yosys: cells, area, depth, clock")
    p.add_argument("--engine", choices=sorted(GEMM_ENGINES), default="os")
    p.add_argument("--rows", type=_positive_int, default=16)
    p.add_argument("--cols", type=_positive_int, default=16)
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
