"""bitweight's memory model held against the real SCALE-Sim 3.0.0, layer by layer.

``compare(topology, config)`` runs SCALE-Sim (``scalesim==3.0.0`` in ``.venv-scalesim``, built by
``make scalesim-env``) in a subprocess in a temporary folder, reads its COMPUTE_REPORT.csv and
DETAILED_ACCESS_REPORT.csv, runs the same layers through sim.memory.simulate with SCALE-Sim's
fold order (``scalesim_mapping``), one DRAM port per operand (``Dram(shared=False)``, SCALE-Sim's
one interface per buffer) and the engine's data-free cycle estimate per tile, and returns one
row per layer with both tools' numbers side by side and their ratios (ours / SCALE-Sim's).

Units. SCALE-Sim counts *elements* (its word is one byte: single_layer_sim.py fixes
``word_size = 1``), including the ofmap, which it stores at one word per element. We price the
operands with ``OperandBits(8, 8, 8, 8)`` so that our bytes equal its elements; columns ending
in ``_bytes`` are ours (bytes), columns starting ``ss_`` are SCALE-Sim's (elements = bytes).
SCALE-Sim's DRAM read counts are the words its prefetches *request*, whole lines of
``Bandwidth`` words including padding (read_buffer.py ``num_access``), so they are rounded up
per prefetch and count the re-fetches of its sliding window. docs/scalesim.md explains every
systematic difference and gives measured numbers.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd

from sim.memory import OperandBits, scalesim_mapping, simulate
from sim.topology import ArchConfig, Layer, read_arch_config, read_topology

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv-scalesim"
SCALESIM_BITS = OperandBits(8, 8, 8, 8)  # SCALE-Sim: every operand, partial sums and outputs one 1-byte word

_RUNNER = """
import sys
from scalesim.scale_sim import scalesim
cfg, topo, layout, gemm, out, verbose = sys.argv[1:7]
s = scalesim(save_disk_space=True, verbose=verbose == "verbose", config=cfg, topology=topo, layout=layout,
             input_type_gemm=gemm == "gemm")
s.run_scale(top_path=out)
"""


# Optional, for large layers: SCALE-Sim 3.0.0's read_buffer.new_prefetch grows each buffer's DRAM trace
# with ``self.trace_matrix = np.concatenate((self.trace_matrix, this_prefetch_trace), axis=0)``, a copy
# of the whole trace on every prefetch: quadratic in the DRAM reads, 97% of the CPU on BERT's
# qkv_proj and ffn_up (py-spy, docs/scalesim.md; upstream issues #12 and #62), and 88 bytes of memory
# per 10 words read (ffn_down WS: over 14 GB). Our runner never saves traces, and then the one thing
# SCALE-Sim reads from this one is its first column, for the buffer's DRAM start and stop cycles
# (``get_external_access_start_stop_cycles``: ``np.amin(self.trace_matrix[:,0])`` and amax). So the
# chunked trace keeps that column of each chunk, in SCALE-Sim's order, and joins it when it is read;
# any other use of the trace (a saved trace, a column other than the first) raises instead of
# answering. Nothing else in SCALE-Sim changes, so every figure is the same:
# tests/test_scalesim_compare.py compares all report columns with and without it.
_CHUNKED_TRACE = """
import numpy
from scalesim.memory import read_buffer as _rb


class _Trace:
    def __init__(self, first):
        first = numpy.asarray(first)
        self.width, self.cycles = first.shape[1], [first[:, 0].copy()]

    def append(self, chunk):
        chunk = numpy.asarray(chunk)
        if chunk.ndim != 2 or chunk.shape[1] != self.width:
            raise ValueError(f"SCALE-Sim trace chunk of shape {chunk.shape}, the trace has {self.width} columns")
        self.cycles.append(chunk[:, 0].copy())  # a copy: a view would keep the whole chunk alive
        return self

    def __getitem__(self, key):
        if key == (slice(None), 0):
            if len(self.cycles) > 1:
                self.cycles = [numpy.concatenate(self.cycles)]
            return self.cycles[0]
        raise RuntimeError("bitweight's --chunked-trace keeps only the cycle column of SCALE-Sim's DRAM "
                           "traces; run without it to read or save the whole trace")

    def __array__(self, *args, **kwargs):
        return self[None]  # raises: only the cycle column is kept


class _Numpy:
    def __getattr__(self, name):
        return getattr(numpy, name)

    @staticmethod
    def concatenate(arrays, axis=0, **kw):
        if isinstance(arrays[0], _Trace) and len(arrays) == 2 and axis == 0 and not kw:
            return arrays[0].append(arrays[1])
        return numpy.concatenate(arrays, axis=axis, **kw)


def _set(self, value):
    self.__dict__["_bitweight_trace"] = value if isinstance(value, _Trace) else _Trace(value)


_rb.read_buffer.trace_matrix = property(lambda self: self.__dict__["_bitweight_trace"], _set)
_rb.np = _Numpy()
"""


def scalesim_python(venv: Path | str | None = None) -> Path:
    """The Python of the SCALE-Sim environment; a clear error naming the make target when absent."""
    python = Path(venv or os.environ.get("BITWEIGHT_SCALESIM_VENV", VENV)) / "bin" / "python"
    if not python.exists():
        raise FileNotFoundError(f"SCALE-Sim is not installed ({python} is missing): run `make scalesim-env` "
                                f"(pip install scalesim==3.0.0 into .venv-scalesim)")
    return python


def write_config(path: Path | str, arch: ArchConfig, run_name: str = "bitweight_compare") -> Path:
    """A complete SCALE-Sim 3 config (every key its scale_config.py requires) for ``arch``: USER
    bandwidth, one SRAM bank whose bandwidth is the DRAM bandwidth, no custom layout, no sparsity,
    no Ramulator."""
    if arch.bandwidth is None:
        raise ValueError("the comparison needs a USER bandwidth (ArchConfig.bandwidth)")
    for key in ("ifmap_sram_kb", "filter_sram_kb", "ofmap_sram_kb"):
        if getattr(arch, key) is None:
            raise ValueError(f"the comparison needs ArchConfig.{key}")
    bw = arch.bandwidth
    text = f"""[general]
run_name = {run_name}

[architecture_presets]
ArrayHeight: {arch.array_height}
ArrayWidth: {arch.array_width}
IfmapSramSzkB: {arch.ifmap_sram_kb}
FilterSramSzkB: {arch.filter_sram_kb}
OfmapSramSzkB: {arch.ofmap_sram_kb}
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Bandwidth: {bw}
Dataflow: {arch.dataflow}
MemoryBanks: 1
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: {bw}
IfmapSRAMBankNum: 1
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: {bw}
FilterSRAMBankNum: 1
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport: false
SparseRep: ellpack_block
OptimizedMapping: false
BlockSize: 8
RandomNumberGeneratorSeed: 40

[run_presets]
InterfaceBandwidth: USER
UseRamulatorTrace: False
"""
    path = Path(path)
    path.write_text(text)
    return path


def write_gemm_topology(path: Path | str, layers: list[Layer]) -> Path:
    """A SCALE-Sim GEMM-form topology (``Layer, M, N, K,``) of ``layers`` (repeat must be 1)."""
    lines = ["Layer, M, N, K,"]
    for layer in layers:
        if layer.repeat != 1:
            raise ValueError(f"layer {layer.name}: a GEMM topology has no repeat; write {layer.repeat} rows")
        lines.append(f"{layer.name}, {layer.m}, {layer.n}, {layer.k},")
    path = Path(path)
    path.write_text("\n".join(lines) + "\n")
    return path


def _read_report(path: Path) -> pd.DataFrame:
    df = pd.read_csv(path, skipinitialspace=True)
    df.columns = [c.strip() for c in df.columns]
    return df.loc[:, [c for c in df.columns if c and not c.startswith("Unnamed")]]


def _pump(stream, sink, tail: bytearray) -> None:
    """Copy ``stream`` to ``sink`` as it arrives, keeping its last 4 kB in ``tail``."""
    while chunk := stream.read1(4096):
        sink.write(chunk.decode(errors="replace"))
        sink.flush()
        tail.extend(chunk)
        del tail[:-4096]


def run_scalesim(topology: Path | str, arch: ArchConfig, gemm: bool = True, venv: Path | str | None = None,
                 timeout: float | None = None, live: bool = False,
                 chunked_trace: bool = False) -> tuple[pd.DataFrame, float]:
    """Run SCALE-Sim on ``topology`` with ``arch`` (written as a full config) in a temporary folder.
    Returns (one row per SCALE-Sim layer: its COMPUTE_REPORT and DETAILED_ACCESS_REPORT columns,
    wall seconds of the subprocess). ``live``: SCALE-Sim runs verbose and its own progress bar (tqdm,
    one step per compute cycle of its demand matrices, with its estimate of the time left) is copied
    to our stderr as it runs; when stderr is not a terminal the bar is redrawn every 30 s
    (``TQDM_MININTERVAL``), so a log file of an hours-long layer stays small. ``chunked_trace``: SCALE-Sim
    keeps the cycle column of its DRAM traces as chunks joined once (``_CHUNKED_TRACE``), not the whole
    trace copied on every prefetch; the same figures, hours and gigabytes less on large layers. Off by
    default: SCALE-Sim as shipped."""
    python = scalesim_python(venv)
    with tempfile.TemporaryDirectory(prefix="bitweight-scalesim-") as tmp:
        tmp = Path(tmp)
        cfg = write_config(tmp / "arch.cfg", arch, "run")
        layout = tmp / "layout.csv"
        layout.write_text("Layer name,\n")  # SCALE-Sim 3 opens a layout file even without custom layouts
        env = dict(os.environ)
        if live and not sys.stderr.isatty():
            env.setdefault("TQDM_MININTERVAL", "30")
        start = time.perf_counter()
        with open(tmp / "stdout.txt", "wb") as out:
            script = (_CHUNKED_TRACE if chunked_trace else "") + _RUNNER
            proc = subprocess.Popen([str(python), "-c", script, str(cfg), str(Path(topology).resolve()), str(layout),
                                     "gemm" if gemm else "conv", str(tmp / "out"), "verbose" if live else "quiet"],
                                    stdout=out, stderr=subprocess.PIPE, cwd=tmp, env=env)
            tail = bytearray()
            sink = sys.stderr if live else open(os.devnull, "w")
            pump = threading.Thread(target=_pump, args=(proc.stderr, sink, tail), daemon=True)
            pump.start()
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise
            finally:
                pump.join()
                if sink is not sys.stderr:
                    sink.close()
        wall = time.perf_counter() - start
        run_dir = tmp / "out" / "run"
        if proc.returncode != 0 or not (run_dir / "COMPUTE_REPORT.csv").exists():
            said = tail.decode(errors="replace") or (tmp / "stdout.txt").read_text(errors="replace")
            last = [ln for ln in said.replace("\r", "\n").splitlines() if ln.strip()][-1:] or ["no output"]
            how = (f"killed by {signal.Signals(-proc.returncode).name}" if proc.returncode < 0
                   else f"exit {proc.returncode}")
            raise RuntimeError(f"SCALE-Sim failed ({how}) on {topology}: {last[0].strip()}")
        compute = _read_report(run_dir / "COMPUTE_REPORT.csv")
        detail = _read_report(run_dir / "DETAILED_ACCESS_REPORT.csv")
    return compute.merge(detail, on="LayerID"), wall


def ours(layers: list[Layer], arch: ArchConfig, engine: str | None = None, latency: int = 0,
         bits: OperandBits = SCALESIM_BITS) -> tuple[pd.DataFrame, float]:
    """bitweight's memory model on ``layers``: SCALE-Sim's fold order, one DRAM port per operand,
    the engine's data-free cycles per tile. Returns (one row per layer, wall seconds)."""
    from reports.registry import get_engine

    start = time.perf_counter()
    e = get_engine(engine or arch.dataflow, sized=True)
    cfg = e.sizing.config(arch)
    mem = arch.memory(shared=False, latency=latency)
    cache: dict = {}

    def tile_cycles(a: int, b: int, c: int) -> int:
        if (a, b, c) not in cache:
            cache[(a, b, c)] = e.estimate_gemm(a, b, c, cfg).cycles
        return cache[(a, b, c)]

    rows = []
    for layer in layers:
        mp = scalesim_mapping(arch.dataflow, arch.array_height, arch.array_width, layer.m, layer.n, layer.k, bits, mem)
        res = simulate(layer.m, layer.n, layer.k, tile_cycles, bits, mem, mp)
        r = res.row()
        for key in ("compute_cycles", "stall_cycles", "total_cycles", "dram_ifmap_read_bytes",
                    "dram_filter_read_bytes", "dram_ofmap_read_bytes", "dram_ofmap_write_bytes"):
            r[key] = r[key] * layer.repeat
        rows.append({"layer": layer.name, "M": layer.m, "N": layer.n, "K": layer.k, "repeat": layer.repeat, **r})
    return pd.DataFrame(rows), time.perf_counter() - start


def compare(topology: Path | str, config: Path | str | ArchConfig, engine: str | None = None, latency: int = 0,
            venv: Path | str | None = None, timeout: float | None = None, live: bool = False,
            chunked_trace: bool = False) -> pd.DataFrame:
    """Both tools on every layer of ``topology`` under ``config`` (a .cfg path or an ArchConfig
    with a USER bandwidth and SRAM sizes): ours beside SCALE-Sim's, with ratios ours / SCALE-Sim.
    ``df.attrs`` holds the wall seconds of each (``wall_s_scalesim``, ``wall_s_ours``). ``live``:
    SCALE-Sim's own progress bar on stderr; ``chunked_trace``: only the cycle column of its DRAM traces,
    kept in chunks: the same figures sooner on large layers (both :func:`run_scalesim`).
    ``df.attrs["chunked_trace"]`` says which."""
    arch = config if isinstance(config, ArchConfig) else read_arch_config(config)
    arch = replace(arch, interface_bandwidth="USER")
    layers = read_topology(topology)
    gemm = [h.strip().lower() for h in Path(topology).read_text().splitlines()[0].split(",")][1:4] == ["m", "n", "k"]
    ss, wall_ss = run_scalesim(topology, arch, gemm=gemm, venv=venv, timeout=timeout, live=live,
                               chunked_trace=chunked_trace)
    mine, wall_ours = ours(layers, arch, engine, latency)
    # SCALE-Sim runs a depthwise layer as one row per channel: sum them back to our one layer
    counts = [layer.repeat if "DP" in layer.name and not gemm else 1 for layer in layers]
    if sum(counts) != len(ss):
        raise RuntimeError(f"SCALE-Sim reported {len(ss)} layers, the topology has {sum(counts)}")
    group = [i for i, c in enumerate(counts) for _ in range(c)]
    ss = ss.assign(_layer=group).groupby("_layer").sum(numeric_only=True)
    out = pd.DataFrame({
        "layer": mine["layer"], "M": mine["M"], "N": mine["N"], "K": mine["K"],
        "mapping": mine["mapping"],
        "stall_ours": mine["stall_cycles"], "stall_ss": ss["Stall Cycles"].to_numpy(),
        "total_ours": mine["total_cycles"], "total_ss": ss["Total Cycles"].to_numpy(),
        "total_incl_prefetch_ss": ss["Total Cycles (incl. prefetch)"].to_numpy(),
        "compute_ours": mine["compute_cycles"],
        "compute_ss": (ss["Total Cycles"] - ss["Stall Cycles"]).to_numpy(),
        "ifmap_read_bytes": mine["dram_ifmap_read_bytes"], "ss_ifmap_reads": ss["DRAM IFMAP Reads"].to_numpy(),
        "filter_read_bytes": mine["dram_filter_read_bytes"], "ss_filter_reads": ss["DRAM Filter Reads"].to_numpy(),
        "psum_read_bytes": mine["dram_ofmap_read_bytes"],
        "ofmap_write_bytes": mine["dram_ofmap_write_bytes"], "ss_ofmap_writes": ss["DRAM OFMAP Writes"].to_numpy(),
    })
    for name, a, b in (("stall", "stall_ours", "stall_ss"), ("total", "total_ours", "total_ss"),
                       ("ifmap", "ifmap_read_bytes", "ss_ifmap_reads"),
                       ("filter", "filter_read_bytes", "ss_filter_reads"),
                       ("ofmap", "ofmap_write_bytes", "ss_ofmap_writes")):
        out[f"{name}_ratio"] = out[a] / out[b].where(out[b] != 0)
    out.attrs.update(wall_s_scalesim=wall_ss, wall_s_ours=wall_ours, chunked_trace=chunked_trace)
    return out


def compare_by_layer(topology: Path | str, config: Path | str | ArchConfig, folder: Path | str,
                     engine: str | None = None, latency: int = 0, venv: Path | str | None = None,
                     timeout: float | None = None, progress=print, live: bool = False,
                     chunked_trace: bool = False) -> pd.DataFrame:
    """:func:`compare` one layer at a time, resumable: each layer's row is written to
    ``folder/<index>_<layer>.csv`` when its SCALE-Sim run ends, and a rerun skips the layers
    already there. A layer whose fields (everything but its name) repeat an earlier layer's
    reuses that result (SCALE-Sim and the model are deterministic). SCALE-Sim as shipped needs from
    seconds to hours per layer on large layers (docs/scalesim.md), so a whole network is a job to
    leave running. ``progress`` is told each layer's start and end; ``live`` shows SCALE-Sim's
    own progress bar within a layer; ``chunked_trace`` as in :func:`run_scalesim` (each row's
    ``chunked_trace`` column says how it was made). Returns every layer's row, in the topology's order."""
    topology = Path(topology)
    folder = Path(folder)
    lines = [ln for ln in topology.read_text().splitlines() if ln.strip()]
    if len(lines) < 2:
        raise ValueError(f"{topology}: no layers (a header line and one line per layer expected)")
    header, rows = lines[0], lines[1:]
    read_topology(topology)  # every line checked before the first SCALE-Sim run
    folder.mkdir(parents=True, exist_ok=True)
    if not os.access(folder, os.W_OK):
        raise PermissionError(f"{folder}: the per-layer results folder is not writable")
    done_by_shape: dict[str, pd.DataFrame] = {}
    out = []
    for i, line in enumerate(rows):
        name = line.split(",")[0].strip()
        shape = ",".join(f.strip() for f in line.split(",")[1:])
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
        dst = folder / f"{i:03d}_{safe}.csv"
        if dst.exists():
            df = pd.read_csv(dst)
            progress(f"scalesim compare: layer {i + 1}/{len(rows)} {name}: done before ({dst.name})")
        elif shape in done_by_shape:
            df = done_by_shape[shape].assign(layer=name, wall_s_scalesim=0.0, wall_s_ours=0.0)
            df.to_csv(dst, index=False)
            progress(f"scalesim compare: layer {i + 1}/{len(rows)} {name}: same fields as an earlier layer, reused")
        else:
            progress(f"scalesim compare: layer {i + 1}/{len(rows)} {name}: running SCALE-Sim ...")
            with tempfile.TemporaryDirectory(prefix="bitweight-layer-") as tmp:
                one = Path(tmp) / topology.name
                one.write_text(header + "\n" + line + "\n")
                df = compare(one, config, engine, latency, venv, timeout, live, chunked_trace)
            df = df.assign(wall_s_scalesim=df.attrs["wall_s_scalesim"], wall_s_ours=df.attrs["wall_s_ours"],
                           chunked_trace=chunked_trace)
            partial = dst.with_suffix(".partial")
            df.to_csv(partial, index=False)
            partial.replace(dst)
            progress(f"scalesim compare: layer {i + 1}/{len(rows)} {name}: SCALE-Sim {df.attrs['wall_s_scalesim']:.0f} s")
        done_by_shape.setdefault(shape, df)
        out.append(df)
    return pd.concat(out, ignore_index=True)


def markdown_rows(df: pd.DataFrame, network: str, dataflow: str) -> list[str]:
    """docs/scalesim.md's table rows for :func:`compare` / :func:`compare_by_layer` results, one per
    layer shape (a layer that reused an earlier one's result, SCALE-Sim wall 0, is left out):
    stall and total cycles ours / SCALE-Sim (its total including the first prefetch in brackets), the
    total's ratio (and against that total), DRAM reads (ifmap + filter, bytes = SCALE-Sim's
    elements at 1 byte per word) and SCALE-Sim's wall time."""
    rows = []
    for r in df.itertuples(index=False):
        wall = getattr(r, "wall_s_scalesim", None)
        if wall is not None and wall == 0:
            continue
        reads_ours = r.ifmap_read_bytes + r.filter_read_bytes
        reads_ss = r.ss_ifmap_reads + r.ss_filter_reads
        rows.append(
            f"| {network} {r.layer} | {dataflow} | {r.stall_ours:,} / {r.stall_ss:,} | {r.total_ours:,} / "
            f"{r.total_ss:,} ({r.total_incl_prefetch_ss:,}) | {r.total_ours / r.total_ss:.2f} "
            f"({r.total_ours / r.total_incl_prefetch_ss:.2f}) | {reads_ours:,} / {reads_ss:,} | "
            + (f"{wall:,.0f} s |" if wall is not None else "- |"))
    return rows


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(description="bitweight's memory model beside the real SCALE-Sim 3, per layer")
    p.add_argument("--topology", required=True)
    p.add_argument("--config", required=True, help="SCALE-Sim .cfg with a USER Bandwidth and SRAM sizes")
    p.add_argument("--engine", default=None, help="engine for the tile cycles (default: the config's dataflow)")
    p.add_argument("--out", default=None, help="write the table as CSV")
    p.add_argument("--by-layer", metavar="FOLDER", default=None,
                   help="one SCALE-Sim run per layer, each row saved in FOLDER as it ends; a rerun skips the "
                   "layers already there and repeated layers reuse the first one's result (for whole networks)")
    p.add_argument("--markdown", metavar="NETWORK", default=None,
                   help="also print docs/scalesim.md's table rows, one per layer shape, labelled NETWORK")
    p.add_argument("--quiet", action="store_true",
                   help="hide SCALE-Sim's own progress bar (shown on stderr by default: one step per compute "
                   "cycle, with its estimate of the time left)")
    p.add_argument("--chunked-trace", action="store_true",
                   help="keep only the cycle column of SCALE-Sim's DRAM traces, in chunks joined once, instead of "
                   "copying the whole trace on every prefetch (quadratic): the same figures, minutes instead of "
                   "hours and gigabytes on large layers (docs/scalesim.md)")
    args = p.parse_args(argv)
    try:
        return _run(args)
    except (OSError, ValueError, RuntimeError, subprocess.TimeoutExpired) as e:
        print(f"scalesim_compare: error: {e}", file=sys.stderr)
        return 1


def _run(args) -> int:
    if args.out:  # checked before SCALE-Sim's hours, not after
        out_dir = Path(args.out).resolve().parent
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ValueError(f"--out {args.out}: cannot make its folder {out_dir} ({e.strerror})") from None
        if not os.access(out_dir, os.W_OK):
            raise ValueError(f"--out {args.out}: its folder {out_dir} is not writable")
    if args.by_layer:
        df = compare_by_layer(args.topology, args.config, args.by_layer, args.engine, live=not args.quiet,
                              chunked_trace=args.chunked_trace,
                              progress=lambda msg: print(msg, file=sys.stderr, flush=True))
        df.attrs.update(wall_s_scalesim=float(df.wall_s_scalesim.sum()), wall_s_ours=float(df.wall_s_ours.sum()))
    else:
        df = compare(args.topology, args.config, args.engine, live=not args.quiet, chunked_trace=args.chunked_trace)
    pd.set_option("display.width", 250)
    print(df.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"wall seconds: SCALE-Sim {df.attrs['wall_s_scalesim']:.2f}, bitweight {df.attrs['wall_s_ours']:.3f}")
    if args.out:
        df.to_csv(args.out, index=False)
    if args.markdown:
        arch = read_arch_config(args.config)
        print("\n".join(markdown_rows(df, args.markdown, arch.dataflow)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
