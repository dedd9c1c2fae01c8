"""Compile every Triton kernel for sm_90 (H100 / H200) without a GPU, and check that it can launch.

    python -m bench.sm90 [--family NAME ...] [--jobs N] [--json FILE] [--warm]

A GPU block may hold at most 232,448 bytes of shared memory on sm_90 (227 KB, the opt-in limit of
``cudaDevAttrMaxSharedMemoryPerBlockOptin``); a configuration over it fails at launch, on the GPU,
after the check has spent its time. Register spills do not fail but cost local-memory traffic.
Both are known before any GPU is lent: Triton compiles for sm_90 on any machine and the ptxas it
ships reports registers and spills (``ptxas -v``).

How every configuration is reached, not listed by hand: each GPU benchmark module in bench/ that
defines ``sm90_launches()`` calls its kernels' real launchers (the same dispatchers, autotuners and
pruning the GPU run uses) at its benchmark shapes and at the GPU tests' shapes, with CPU tensors
standing in for CUDA ones. Inside :func:`compile_only` a stand-in driver reports an sm_90 target,
every ``JITFunction`` launch compiles and returns without running (the outputs stay unwritten), and
every autotuner compiles each configuration its pruning keeps instead of timing them. Each distinct
compilation (Triton's own cache key) is assembled once more by ``ptxas -v`` for its registers and
spills; the shared memory is Triton's (what the launch asks for).

For the kernels bench/gpu_plan.py bounds by instruction issue (``LOOP_COUNTED``), each compilation
reached from a benchmark is also disassembled (ptxas, then nvdisasm) and its main loop's SASS
instructions per pass recorded (``Launch.loop_instructions``).

``--warm`` is for the GPU machine: the same compilations fill Triton's on-disk cache, in parallel,
before anything is timed (a launch on the GPU then finds its kernel compiled: same source, target
and options give the same cache key). ``tests/test_sm90_compile.py`` runs the whole and fails when a
configuration does not fit or spills, or when a Triton kernel in kernels/ is reached by no launch.

Needs only torch and triton (the GPU image has no RTL tools); runs in a process of its own because
``TRITON_INTERPRET`` and ``BITWEIGHT_COMPILE_ONLY`` must be set before the kernels are imported.
"""

from __future__ import annotations

import argparse
import contextlib
import contextvars
import importlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

#: sm_90's opt-in shared memory per block (cudaDevAttrMaxSharedMemoryPerBlockOptin on H100 / H200)
SHARED_LIMIT = 232_448
#: a compiled kernel may use at most this many registers per thread
REGISTER_LIMIT = 255
TARGET = ("cuda", 90, 32)
#: kernels whose main loop bench/gpu_plan.py prices by instruction issue: their SASS is counted
LOOP_COUNTED = ("wonly_gemv_kernel", "lut_gemm_kernel", "codebook_gemm_kernel")

_site: contextvars.ContextVar[str] = contextvars.ContextVar("sm90_site", default="?")


@dataclass
class Launch:
    """One distinct compilation: which kernel, reached from where, with what, and what it uses."""

    family: str
    kernel: str
    sites: list[str]
    num_warps: int
    num_stages: int
    tiles: dict
    constexprs: dict
    signature: dict
    shared: int
    regs: int | None = None
    spill_stores: int | None = None
    spill_loads: int | None = None
    key: str = ""
    wgmma: bool = False  # Hopper's warp-group MMA instructions in the PTX
    tma: bool = False  # TMA bulk tensor copies in the PTX
    # SASS instructions in one pass of the main loop (the largest innermost loop of nvdisasm's listing),
    # counted for the LOOP_COUNTED kernels reached from a benchmark: what bench/gpu_plan.py's
    # instruction-issue bound is made of
    loop_instructions: int | None = None
    problems: list[str] = field(default_factory=list)

    def label(self) -> str:
        tiles = " ".join(f"{k}={v}" for k, v in self.tiles.items())
        dtypes = "/".join(dict.fromkeys(v[1:] for v in self.signature.values() if v.startswith("*")))
        return f"{self.kernel}[{tiles} w{self.num_warps} s{self.num_stages}] {dtypes}"


class _Sm90Driver:
    """What Triton's JIT asks of the active driver while it only compiles: an sm_90 target."""

    def __init__(self):
        from triton.backends.compiler import GPUTarget

        self.target = GPUTarget(*TARGET)

    def get_current_target(self):
        return self.target

    def get_current_device(self):
        return 0

    def get_current_stream(self, device=None):
        return 0

    def get_active_torch_device(self):
        import torch

        return torch.device("cpu")


def _jsonable(v):
    if isinstance(v, (bool, int, float, str)) or v is None:
        return v
    return str(v)


@contextlib.contextmanager
def compile_only(sink):
    """Within: Triton launches compile for sm_90 and return unrun; ``sink(jit_fn, compiled, site)``
    sees every compilation (a cached one included). Autotuners compile every kept configuration."""
    from triton.runtime import driver
    from triton.runtime.autotuner import Autotuner
    from triton.runtime.jit import JITFunction

    jit_run, tuner_run = JITFunction.run, Autotuner.run

    def run(self, *args, grid, warmup, **kwargs):
        compiled = jit_run(self, *args, grid=grid, warmup=True, **kwargs)
        if compiled is not None:
            sink(self, compiled, _site.get())
        return compiled

    def tune(self, *args, **kwargs):
        self.nargs = dict(zip(self.arg_names, args))
        configs = self.prune_configs(kwargs) if len(self.configs) > 1 else self.configs
        for config in configs:
            if config.pre_hook is not None:
                config.pre_hook({**self.nargs, **kwargs, **config.all_kwargs()})
            self.fn.run(*args, **kwargs, **config.all_kwargs())
        self.nargs = None

    previous = driver._active  # None until something asked (and there may be no real driver to ask)
    driver.set_active(_Sm90Driver())
    JITFunction.run, Autotuner.run = run, tune
    try:
        yield
    finally:
        JITFunction.run, Autotuner.run = jit_run, tuner_run
        driver._active = previous


@contextlib.contextmanager
def site(name: str):
    """Name the launches made within (a benchmark or test shape), for the records."""
    token = _site.set(name)
    try:
        yield
    finally:
        _site.reset(token)


def _ptxas() -> str:
    import triton

    path = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "ptxas")
    if not os.path.exists(path):
        raise FileNotFoundError(f"no ptxas in this Triton install ({path}); the sm_90 check needs Triton's NVIDIA backend")
    return path


def ptxas_usage(ptx: str, ptxas: str) -> tuple[int, int, int]:
    """(registers, spill-store bytes, spill-load bytes) of one kernel's PTX, from ``ptxas -v``."""
    with tempfile.NamedTemporaryFile("w", suffix=".ptx", delete=False) as f:
        f.write(ptx)
    try:
        r = subprocess.run([ptxas, "-arch=sm_90a", "-v", f.name, "-o", os.devnull], capture_output=True, text=True)
    finally:
        os.unlink(f.name)
    if r.returncode != 0:
        raise RuntimeError(f"ptxas failed ({r.returncode}): {r.stderr.strip()[-800:]}")
    regs = re.search(r"Used (\d+) registers", r.stderr)
    stores = re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads", r.stderr)
    if not regs or not stores:
        raise RuntimeError(f"ptxas -v printed no register / spill line:\n{r.stderr.strip()[-800:]}")
    return int(regs.group(1)), int(stores.group(1)), int(stores.group(2))


def sass(ptx: str, ptxas: str) -> str:
    """nvdisasm's listing of one kernel's sm_90a SASS (ptxas, then nvdisasm, both shipped with Triton)."""
    nvdisasm = os.path.join(os.path.dirname(ptxas), "nvdisasm")
    with tempfile.TemporaryDirectory(prefix="sm90-sass-") as tmp:
        src, cubin = os.path.join(tmp, "k.ptx"), os.path.join(tmp, "k.cubin")
        with open(src, "w") as f:
            f.write(ptx)
        r = subprocess.run([ptxas, "-arch=sm_90a", src, "-o", cubin], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"ptxas failed ({r.returncode}): {r.stderr.strip()[-800:]}")
        r = subprocess.run([nvdisasm, "-c", cubin], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"nvdisasm failed ({r.returncode}): {r.stderr.strip()[-800:]}")
        return r.stdout


def loops(listing: str) -> list[tuple[int, int]]:
    """The loops of an nvdisasm listing: (first, last) instruction index of each backward branch's
    span (a label, then a BRA back to it), the one-instruction trap after EXIT left out."""
    labels: dict[str, int] = {}
    branches: list[tuple[int, str]] = []
    n = 0
    for line in listing.splitlines():
        if m := re.match(r"^\s*(\.L_x_\d+):", line):
            labels[m.group(1)] = n
        elif m := re.match(r"^\s*/\*[0-9a-f]{4,}\*/\s+(.*?);", line):
            if b := re.search(r"\bBRA\b.*?(\.L_x_\d+)", m.group(1)):
                branches.append((n, b.group(1)))
            n += 1
    return [(labels[t], i) for i, t in branches if t in labels and labels[t] < i]


def main_loop_instructions(listing: str) -> int | None:
    """Instructions in one pass of the main loop: the largest loop that holds no other loop."""
    spans = loops(listing)
    inner = [(a, b) for a, b in spans if not any((c, d) != (a, b) and a <= c and d <= b for c, d in spans)]
    return max((b - a + 1 for a, b in inner), default=None)


def families() -> dict[str, str]:
    """{family: module} of every bench module defining ``sm90_launches`` (found by text, not import)."""
    out = {}
    for path in sorted((REPO_ROOT / "bench").glob("test_bench_*.py")):
        if re.search(r"^def sm90_launches\(", path.read_text(), re.M):
            out[path.stem[len("test_bench_"):]] = f"bench.{path.stem}"
    return out


def triton_kernels() -> list[str]:
    """Names of every ``@triton.jit`` kernel (launched, not helper) defined in kernels/*.py: the
    functions decorated with ``triton.jit`` whose name ends in ``_kernel``."""
    names = []
    for path in sorted((REPO_ROOT / "kernels").glob("*.py")):
        names += re.findall(r"^@triton\.jit[^\n]*\n(?:@[^\n]*\n)*def (\w+_kernel)\(", path.read_text(), re.M)
    return sorted(set(names))


def collect(selected: list[str] | None = None, *, progress=print) -> list[Launch]:
    """Run the families' ``sm90_launches()`` under :func:`compile_only`; one Launch per distinct compilation."""
    if os.environ.get("TRITON_INTERPRET") != "0" or os.environ.get("BITWEIGHT_COMPILE_ONLY") != "1":
        raise RuntimeError("bench.sm90.collect needs TRITON_INTERPRET=0 and BITWEIGHT_COMPILE_ONLY=1 set before "
                           "the kernels are imported: run `python -m bench.sm90`")
    fams = families()
    unknown = sorted(set(selected or []) - set(fams))
    if unknown:
        raise ValueError(f"--family {', '.join(unknown)}: not a family with sm90_launches(); known: {', '.join(fams)}")
    launches: dict[str, Launch] = {}
    family = {"name": "?"}

    def sink(fn, compiled, where):
        key = compiled.hash
        if key in launches:
            if where not in launches[key].sites:
                launches[key].sites.append(where)
            return
        src = compiled.src
        names = fn.arg_names
        consts = {names[p[0]]: _jsonable(v) for p, v in src.constants.items() if len(p) == 1 and names[p[0]] in
                  {x.name for x in fn.params if x.is_constexpr}}
        launches[key] = Launch(
            family=family["name"], kernel=fn.__name__, sites=[where],
            num_warps=compiled.metadata.num_warps, num_stages=compiled.metadata.num_stages,
            # integer constexprs (tile sizes, lengths, bit widths) name the configuration; flags do not
            tiles={k: v for k, v in consts.items() if type(v) is int},
            constexprs={k: v for k, v in consts.items() if type(v) is not int},
            signature={k: v for k, v in src.signature.items() if v != "constexpr"},
            shared=compiled.metadata.shared, key=key, wgmma="wgmma.mma_async" in compiled.asm["ptx"],
            tma="cp.async.bulk.tensor" in compiled.asm["ptx"])
        launches[key]._ptx = compiled.asm["ptx"]

    with compile_only(sink):
        for name, module in fams.items():
            if selected and name not in selected:
                continue
            family["name"] = name
            t0, before = time.perf_counter(), len(launches)
            importlib.import_module(module).sm90_launches()
            progress(f"sm90: {name}: {len(launches) - before} compilations in {time.perf_counter() - t0:.1f} s")
    return list(launches.values())


def measure(launches: list[Launch], jobs: int) -> None:
    """Fill in registers and spills (ptxas -v, ``jobs`` at a time) and each launch's problems."""
    ptxas = _ptxas()
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        usage = list(pool.map(lambda ln: ptxas_usage(ln._ptx, ptxas), launches))
    counted = [ln for ln in launches if ln.kernel in LOOP_COUNTED and any(s.startswith("bench ") for s in ln.sites)]
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        listings = list(pool.map(lambda ln: sass(ln._ptx, ptxas), counted))
    for ln, listing in zip(counted, listings):
        ln.loop_instructions = main_loop_instructions(listing)
    for ln, (regs, stores, loads) in zip(launches, usage):
        ln.regs, ln.spill_stores, ln.spill_loads = regs, stores, loads
        if ln.shared > SHARED_LIMIT:
            ln.problems.append(f"shared memory {ln.shared:,} B > {SHARED_LIMIT:,} B (sm_90's limit per block)")
        if stores or loads:
            ln.problems.append(f"spills {stores} B stored / {loads} B loaded at {regs} registers")


def table(launches: list[Launch]) -> str:
    rows = [("family", "kernel [tiles, warps, stages]", "shared B", "regs", "spill B", "status", "reached from")]
    for ln in sorted(launches, key=lambda x: (x.family, x.kernel, x.label())):
        rows.append((ln.family, ln.label(), f"{ln.shared:,}", str(ln.regs), str(ln.spill_stores),
                     "OK" if not ln.problems else "FAIL: " + "; ".join(ln.problems),
                     ln.sites[0] + (f" (+{len(ln.sites) - 1})" if len(ln.sites) > 1 else "")))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def _in_parallel(fams: list[str], jobs: int, warm: bool) -> list[Launch]:
    """One child process per family, ``jobs`` at a time (compilation is single-threaded Python);
    their records merged, a compilation two families share listed once."""
    from concurrent.futures import ThreadPoolExecutor

    def run(family):
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
            out = Path(f.name)
        try:
            r = subprocess.run([sys.executable, "-m", "bench.sm90", "--family", family, "--jobs", "1",
                                *(["--warm"] if warm else ["--json", str(out)])],
                               cwd=REPO_ROOT, env=dict(os.environ), capture_output=True, text=True)
            print("\n".join(ln for ln in r.stdout.splitlines() if ln.startswith(f"sm90: {family}:")), flush=True)
            if r.returncode not in (0, 1) or (not warm and not out.stat().st_size):
                raise RuntimeError(f"sm90 --family {family} failed ({r.returncode}):\n{r.stderr.strip()[-2000:]}")
            return [] if warm else [Launch(**d) for d in json.loads(out.read_text())]
        finally:
            out.unlink(missing_ok=True)

    merged: dict[str, Launch] = {}
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for launches in pool.map(run, fams):
            for ln in launches:
                if ln.key in merged:
                    merged[ln.key].sites += [s for s in ln.sites if s not in merged[ln.key].sites]
                else:
                    merged[ln.key] = ln
    return list(merged.values())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sm90", description=__doc__.split("\n")[0])
    parser.add_argument("--family", action="append", metavar="NAME",
                        help="only this family (a bench module's name without test_bench_; repeatable)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, metavar="N",
                        help="families compiled at a time, one process each (ptxas runs within each; default: "
                        "the number of cores)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write every launch as JSON here")
    parser.add_argument("--warm", action="store_true",
                        help="only fill Triton's compile cache (no ptxas pass, no table): for the GPU machine")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be >= 1, got {args.jobs}")
    if args.json is not None and not args.json.parent.is_dir():
        parser.error(f"--json {args.json}: folder {args.json.parent} does not exist")
    if os.environ.get("TRITON_INTERPRET") != "0" or os.environ.get("BITWEIGHT_COMPILE_ONLY") != "1":
        env = dict(os.environ, TRITON_INTERPRET="0", BITWEIGHT_COMPILE_ONLY="1",
                   PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])))
        return subprocess.run([sys.executable, "-m", "bench.sm90", *(argv if argv is not None else sys.argv[1:])],
                              env=env, cwd=REPO_ROOT).returncode
    t0 = time.perf_counter()
    fams = args.family or list(families())
    unknown = sorted(set(fams) - set(families()))
    if unknown:
        parser.error(f"--family {', '.join(unknown)}: not a family with sm90_launches(); known: {', '.join(families())}")
    if args.jobs > 1 and len(fams) > 1:
        launches = _in_parallel(fams, args.jobs, args.warm)
    else:
        launches = collect(fams, progress=lambda s: print(s, flush=True))
        if not args.warm:
            measure(launches, args.jobs)
    if args.warm:
        print(f"sm90: Triton's cache holds {len(launches)} compilations ({time.perf_counter() - t0:.0f} s)")
        return 0
    print(table(launches))
    if args.json is not None:
        args.json.write_text(json.dumps([asdict(ln) for ln in launches], indent=1))
    reached = {ln.kernel for ln in launches}
    missing = [k for k in triton_kernels() if k not in reached] if not args.family else []
    bad = [ln for ln in launches if ln.problems]
    print(f"\nsm90: {len(launches)} compilations, {len(bad)} over a limit or spilling"
          + (f"; never launched: {', '.join(missing)}" if missing else "")
          + f" ({time.perf_counter() - t0:.0f} s)")
    return 1 if bad or missing else 0


if __name__ == "__main__":
    from bench.sm90 import main as _main  # one module object: the families' site() must reach collect()'s records

    sys.exit(_main())
