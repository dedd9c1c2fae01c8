"""One command for the GPU machine: every GPU benchmark and GPU test, by family, within a budget,
with nothing lost when time runs out.

    python -m bench.gpu_check [--plan] [--require-gpu] [--budget-s 420] [--out DIR] [--resume]
                              [--select EXPR] [--skip-tests | --skip-bench]

``--plan`` (no GPU needed) prints every item with its roofline-predicted time at the H200 peers and
what it costs to run, step by step, and whether the whole fits the budget (bench/gpu_plan.py).

On a GPU machine:

1. print the machine and versions; without a CUDA device say why nothing ran and exit 0 (exit 1
   with ``--require-gpu``);
2. check that the GPU code imports without the RTL tool chain (no sim/, rtl_models/, cocotb,
   pyverilog): the GPU image has none of them;
3. warm Triton's compile cache: ``python -m bench.sm90 --warm`` once per family, all in parallel
   (the same compilations the runs below then find in the cache);
4. run the plan's steps in order: the headline benchmarks first (FP8 GEMM vs ``_scaled_mm``, W4/W2
   GEMV vs bf16, FWHT vs a copy, LUT vs bf16, FP8 training linear vs bf16), one pytest process per
   family; then the correctness tests (``-m gpu tests/test_kernels_*.py``) per family; then the other
   benchmarks per family. Each step has its own time slice (twice its estimate, at least 30 s more,
   never past the budget); every item's result is appended to ``DIR/items.jsonl`` as it finishes,
   so a step killed at its limit keeps what it did (the items it did not reach are listed);
5. a summary (also in ``DIR/summary.txt``): test counts and failures; per benchmark its shape, time,
   the roofline-predicted time at the H200 peers, ratios vs its peers (peer time / this time) and
   % of this GPU's roofline; the timing method; per step its time against its slice. The benchmarks
   are recorded in the results database as a ``gpu-check`` run (``bitweight history``).

Timing (bench/gpu_timing.py): CUDA events around each call, L2 flushed before each, median of
10-200 calls; each implementation of a workload is timed once per run. Exit status 0 when every step
passed, 1 otherwise. ``--resume`` reruns only what ``DIR/items.jsonl`` does not hold yet (a second
try after a cut-off). ``--select EXPR`` passes ``-k EXPR`` to the collection (e.g. ``"fp8 or halo"``).
Needs only the GPU image's packages (torch, triton, cupy, pytest, pytest-benchmark, hypothesis);
nothing is installed, the checkout is found on PYTHONPATH. DIR defaults to ``$OUT/gpu-check`` when
``OUT`` is set (the device tool brings that folder back), else ``gpu-check-results/``.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

# Modules the GPU code must import (every kernel module, the tiny LM the FP8 training benchmark
# trains, every GPU benchmark module: found, not listed), and the top-level packages it must not
# pull in with them.
GPU_MODULES = sorted([f"kernels.{p.stem}" for p in (REPO_ROOT / "kernels").glob("*.py") if p.stem != "__init__"]
                     + ["kernels.models.tiny_lm", "bench.gpu_timing"]
                     + [f"bench.{p.stem}" for p in (REPO_ROOT / "bench").glob("test_bench_*.py")
                        if "def sm90_launches(" in p.read_text()])
FORBIDDEN_TOP_LEVEL = ["sim", "rtl_models", "reports", "cocotb", "cocotb_tools", "pyverilog"]

WARM_SHARE = 0.2  # of the budget, at most, for warming the compile cache
SUMMARY_RESERVE_S = 15.0


def _versions() -> dict:
    out = {"python": platform.python_version()}
    for mod in ("torch", "triton", "cupy", "numpy", "pytest", "pytest_benchmark", "hypothesis"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception as e:  # not installed, or broken: say which
            out[mod] = f"unavailable ({type(e).__name__})"
    return out


def _child_env(item_log: Path | None = None) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env["BITWEIGHT_HISTORY"] = "0"  # the check records its benchmarks itself, as kind gpu-check
    env["TRITON_INTERPRET"] = "0"  # as bench.sm90 --warm compiles: the same cache keys
    if item_log is not None:
        env["BITWEIGHT_ITEM_LOG"] = str(item_log)
    return env


def _record_history(bench_json: Path, versions: dict) -> str:
    """Record the benchmarks in the results database (reports/dse/history.py); one line saying how.
    Never raises: the check's own result does not depend on it."""
    try:
        from reports.dse.history import record_pytest_benchmark
        from reports.dse.store import ENV_DB, default_path

        db = default_path()
        if not os.environ.get(ENV_DB) and not db.is_absolute():
            db = REPO_ROOT / db
        extra = {k: v for k, v in versions.items()
                 if k not in ("python", "pytest_benchmark") and not str(v).startswith("unavailable")}
        run_id = record_pytest_benchmark(bench_json, db, kind="gpu-check", source="python -m bench.gpu_check",
                                         versions=extra)
        return f"history: recorded as gpu-check run {run_id} in {db} (`bitweight history --db {db}` compares it)"
    except Exception as e:  # a missing module, a read-only database, ...
        return f"history: benchmarks not recorded ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"


def check_imports() -> list[str]:
    """Import the GPU modules in a fresh interpreter; return problems (empty when clean)."""
    code = (
        "import sys, importlib\n"
        f"for m in {GPU_MODULES!r}: importlib.import_module(m)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN_TOP_LEVEL!r})\n"
        "print('\\n'.join(bad))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=_child_env(),
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        return [f"importing {', '.join(GPU_MODULES)} failed:\n{r.stderr.strip()}"]
    return [f"importing the GPU modules pulled in {m}" for m in r.stdout.split()]


def _run(cmd: list[str], timeout_s: float, env: dict) -> tuple[int | None, float]:
    """Run a child in its own process group, output streamed; (return code or None when killed at
    ``timeout_s``, seconds)."""
    import signal

    print("$ " + " ".join(cmd if len(cmd) < 12 else cmd[:11] + [f"... ({len(cmd) - 11} more)"]), flush=True)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, start_new_session=True)
    try:
        rc = proc.wait(timeout=max(timeout_s, 1))
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        rc = None
    return rc, time.perf_counter() - t0


def warm_compile_cache(families: list[str], timeout_s: float) -> str:
    """``python -m bench.sm90 --warm --family F`` for every family at once; one line saying how it went."""
    import signal

    env = dict(_child_env(), BITWEIGHT_COMPILE_ONLY="1")
    t0 = time.perf_counter()
    procs = {f: subprocess.Popen([sys.executable, "-m", "bench.sm90", "--warm", "--family", f], cwd=REPO_ROOT, env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
             for f in families}
    failed, killed = [], []
    for f, p in procs.items():
        try:
            _, err = p.communicate(timeout=max(1.0, timeout_s - (time.perf_counter() - t0)))
            if p.returncode != 0:
                failed.append(f"{f} ({err.decode(errors='replace').strip().splitlines()[-1:] or ['?']})")
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            killed.append(f)
    return (f"warm: {len(families) - len(failed) - len(killed)} of {len(families)} families compiled in "
            f"{time.perf_counter() - t0:.0f} s" + (f"; stopped at {timeout_s:.0f} s: {', '.join(killed)}" if killed else "")
            + (f"; failed (their kernels compile on first use instead): {'; '.join(failed)}" if failed else ""))


def read_items(path: Path) -> dict[str, dict]:
    """The item log: nodeid -> its last record (a torn last line, from a kill, is skipped)."""
    out = {}
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            out[rec["nodeid"]] = rec
    return out


def _fmt(v, spec):
    return "n/a" if v is None else format(v, spec)


def _with_peer_ratios(benches: list[dict]) -> None:
    """Ratios vs the peers of the same group timed in this run that the item did not record itself
    (each implementation is timed once, so an early item's later peers are filled in here)."""
    by_group: dict = {}
    for b in benches:
        x = b["extra_info"]
        if x.get("impl") is not None and x.get("time_s"):
            by_group.setdefault(b.get("group"), {})[x["impl"]] = x["time_s"]
    for b in benches:
        x = b["extra_info"]
        for peer, t in by_group.get(b.get("group"), {}).items():
            if peer != x.get("impl") and x.get("time_s") and f"ratio_vs_{peer}" not in x:
                x[f"ratio_vs_{peer}"] = t / x["time_s"]


def _print_table(headers, rows, out):
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths))
    out(line)
    out("-" * len(line))
    for r in rows:
        out("  ".join(c.ljust(w) for c, w in zip(r, widths)))


def _default_out() -> Path:
    return Path(os.environ["OUT"]) / "gpu-check" if os.environ.get("OUT") else REPO_ROOT / "gpu-check-results"


def main(argv=None) -> int:
    from bench import gpu_plan

    parser = argparse.ArgumentParser(prog="python -m bench.gpu_check", description=__doc__.split("\n")[0])
    parser.add_argument("--plan", action="store_true", help="print the plan (items, predicted times, estimates) and exit; no GPU needed")
    parser.add_argument("--require-gpu", action="store_true", help="exit 1 (not 0) when no CUDA device is found")
    parser.add_argument("--budget-s", type=float, default=420.0, help="wall-clock limit for the whole check (default: %(default)s)")
    parser.add_argument("--out", type=Path, help="folder for items.jsonl, summary.txt, bench.json "
                        "(default: $OUT/gpu-check when OUT is set, else gpu-check-results/)")
    parser.add_argument("--resume", action="store_true", help="skip the items the folder's items.jsonl already holds")
    parser.add_argument("--dry-run", action="store_true",
                        help="run every step here even without a GPU (the GPU items skip): tests the check itself")
    parser.add_argument("--select", metavar="EXPR", help="pytest -k expression for the tests and the benchmarks")
    step = parser.add_mutually_exclusive_group()
    step.add_argument("--skip-tests", action="store_true", help="run only the benchmarks")
    step.add_argument("--skip-bench", action="store_true", help="run only the GPU tests")
    args = parser.parse_args(argv)
    if args.budget_s < 60:
        parser.error(f"--budget-s must be at least 60 s, got {args.budget_s:g}")
    t_start = time.perf_counter()

    versions = _versions()
    print("bitweight GPU check")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    items, collect_errors = gpu_plan.collect(REPO_ROOT, args.select)
    items = [i for i in items if not ((args.skip_tests and i.kind == "test") or (args.skip_bench and i.kind == "bench"))]
    for e in collect_errors:
        print("COLLECTION PROBLEM: " + e)
    warm_s = min(90.0, WARM_SHARE * args.budget_s)
    if args.plan:
        print(gpu_plan.format_plan(gpu_plan.plan_steps(items), args.budget_s, warm_s))
        return 1 if collect_errors else 0

    import torch

    if not torch.cuda.is_available() and not args.dry_run:
        print("no GPU: torch.cuda.is_available() is False, so no GPU test or benchmark ran. "
              "Run this on the GPU machine (`--plan` shows what it would run); on a CPU machine `pytest` "
              "runs the kernels in Triton's interpreter.")
        return 1 if args.require_gpu else 0
    if torch.cuda.is_available():
        gpu = torch.cuda.get_device_name()
        print(f"gpu: {gpu} (capability {'.'.join(map(str, torch.cuda.get_device_capability()))}), "
              f"{torch.cuda.device_count()} device(s)")
    else:
        gpu = "none (--dry-run)"
        print("gpu: none; --dry-run: every step runs, its GPU items skip")

    out = args.out or _default_out()
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / ".write-test").write_text("")
        (out / ".write-test").unlink()
    except OSError as e:
        parser.error(f"--out {out}: cannot write there ({e.strerror})")
    item_log = out / "items.jsonl"
    if not args.resume and item_log.exists():
        item_log.rename(out / f"items.{int(time.time())}.jsonl")  # an earlier run's, kept
    done = {k for k, r in read_items(item_log).items() if r["when"] == "call" or r["outcome"] != "passed"}
    items = [i for i in items if i.nodeid not in done]

    problems = check_imports()
    for p in problems:
        print("IMPORT PROBLEM: " + p)
    steps = gpu_plan.plan_steps(items)
    families = sorted({i.family for i in items if i.kind == "bench"} & set(_sm90_families()))
    print(warm_compile_cache(families, warm_s) if families else "warm: nothing to compile")

    step_log = []
    for st in steps:
        left = args.budget_s - (time.perf_counter() - t_start) - SUMMARY_RESERVE_S
        slice_s = min(st.slice_s(), left)
        if slice_s < 10:
            step_log.append((st, None, 0.0, slice_s, "not run: the budget is spent"))
            continue
        cmd = [sys.executable, "-m", "pytest", *(["--benchmark"] if st.kind == "bench" else []),
               "-q", "-rfEs", "-p", "no:cacheprovider", "--benchmark-columns=median,rounds",
               *[i.nodeid for i in st.items]]
        print(f"\n---- {st.name}: {len(st.items)} items, estimate {st.estimate_s:.0f} s, slice {slice_s:.0f} s", flush=True)
        rc, took = _run(cmd, slice_s, _child_env(item_log))
        status = "timed out" if rc is None else ("passed" if rc == 0 else f"exited {rc}")
        step_log.append((st, rc, took, slice_s, status))

    # ---------------------------------------------------------------------------- summary
    records = read_items(item_log)
    lines: list[str] = []
    say = lines.append
    say("=" * 30 + " GPU check summary " + "=" * 30)
    say(f"gpu: {gpu}; " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    tests = [r for k, r in records.items() if k.startswith("tests/")]
    t_pass = sum(r["outcome"] == "passed" for r in tests)
    t_fail = [r for r in tests if r["outcome"] == "failed"]
    t_skip = [r for r in tests if r["outcome"] == "skipped"]
    say(f"tests (-m gpu tests/test_kernels_*.py): {t_pass} passed, {len(t_fail)} failed, {len(t_skip)} skipped")
    for r in t_fail:
        say(f"  FAILED {r['nodeid']} ({r['when']}): {(r.get('message') or '').splitlines()[0][:200] if r.get('message') else ''}")
    reasons: dict = {}
    for r in t_skip:
        reasons[(r.get("message") or "")[:120]] = reasons.get((r.get("message") or "")[:120], 0) + 1
    for reason, n in reasons.items():
        say(f"  skipped x{n}: {reason}")
    benches = [r["benchmark"] for r in records.values() if "benchmark" in r]
    _with_peer_ratios(benches)
    b_fail = [r for k, r in records.items() if k.startswith("bench/") and r["outcome"] == "failed"]
    say(f"\nbenchmarks: {len(benches)} timed, {len(b_fail)} failed; timing: "
        + (benches[0]["extra_info"].get("timing", "?") if benches else "-"))
    for r in b_fail:
        say(f"  FAILED {r['nodeid']} ({r['when']}): {(r.get('message') or '').splitlines()[0][:200] if r.get('message') else ''}")
    rows = []
    for b in benches:
        x = b["extra_info"]
        ratios = ", ".join(f"{k[9:]} {v:.2f}x" for k, v in x.items() if k.startswith("ratio_vs_") and isinstance(v, (int, float)))
        t, pred = x.get("time_s"), x.get("predicted_s")
        rows.append([b["name"], str(x.get("shape", "")), _fmt(None if t is None else 1e3 * t, ".3f"),
                     _fmt(None if pred is None else 1e3 * pred, ".3f"), ratios or "-", _fmt(x.get("pct_of_roofline"), ".0f")])
    _print_table(["benchmark", "shape", "time ms", "predicted ms (H200 roofline)", "ratio vs peers (peer time / this)",
                  "% roofline"], rows, say)
    say("\nsteps:")
    for st, rc, took, slice_s, status in step_log:
        reached = sum(1 for i in st.items if i.nodeid in records)
        say(f"  {st.name:<28} {took:6.0f} s of {slice_s:5.0f} s  {reached}/{len(st.items)} items  {status}")
        if rc is None and status == "timed out":
            for i in st.items:
                if i.nodeid not in records:
                    say(f"    not reached: {i.nodeid}")
    bench_json = out / "bench.json"
    if benches:
        bench_json.write_text(json.dumps({"machine_info": {"gpu": gpu, "python_version": versions["python"]},
                                          "commit_info": {}, "datetime": time.strftime("%Y-%m-%dT%H:%M:%S"),
                                          "version": versions.get("pytest_benchmark"), "benchmarks": benches}, default=str))
        say(_record_history(bench_json, versions))
    failures = list(problems) + [f"collection: {e}" for e in collect_errors]
    failures += [f"step {st.name} {status}" for st, rc, _, _, status in step_log if status != "passed"]
    total_s = time.perf_counter() - t_start
    say(f"\nGPU CHECK {'FAILED' if failures else 'passed'} ({total_s:.0f} s of {args.budget_s:.0f})"
        + (" [--dry-run without a GPU: nothing was measured]" if gpu.startswith("none") else "") + f"; results in {out}")
    for f in failures:
        say("  - " + f)
    text = "\n".join(lines)
    print("\n" + text)
    (out / "summary.txt").write_text(text + "\n")
    return 1 if failures else 0


def _sm90_families() -> list[str]:
    from bench.sm90 import families

    return list(families())


if __name__ == "__main__":
    sys.exit(main())
