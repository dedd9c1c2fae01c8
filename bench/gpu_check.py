"""One command for the GPU machine: every GPU test, the GPU benchmarks, one summary table.

    python -m bench.gpu_check [--require-gpu] [--budget-s 420] [--select EXPR] [--skip-tests | --skip-bench]

Steps:

1. print the machine and versions; without a CUDA device print why nothing ran and exit 0
   (exit 1 with ``--require-gpu``, for a machine that is supposed to have one);
2. check that the GPU code imports without the RTL tool chain (no sim/, rtl_models/, cocotb,
   pyverilog): the GPU image has none of them;
3. ``pytest -m gpu tests/test_kernels_*.py`` (collection errors in other modules are reported, not fatal to the
   run, so one module needing cocotb cannot hide every GPU result);
4. ``pytest --benchmark -m gpu bench/`` with ``--benchmark-json``, recorded in the results database
   (``$BITWEIGHT_DB`` or ``bitweight-results.sqlite`` in the checkout) as a ``gpu-check`` run when
   reports/dse/history.py imports (``bitweight history`` compares it with the previous one);
5. a summary: test counts and failures; per benchmark its shape, time, TOPS, ratios vs peers
   and % of peak, read from ``extra_info`` (keys ``shape``, ``time_s``, ``tops``,
   ``ratio_vs_<peer>``, ``pct_of_peak``, ``pct_of_roofline``: benchmarks of other kernel
   families that record these keys show up in the same table).

Exit status: 0 when every step passed, 1 otherwise. The whole run is held under ``--budget-s``
seconds (default 420: with a machine's start-up it fits the 15 minutes a task may hold one); a step
that runs out is killed and counts as a failure. ``--select EXPR`` passes ``-k EXPR`` to both pytest
runs (e.g. ``--select "fp8 or halo"`` to rerun one family), ``--skip-tests`` / ``--skip-bench`` drop
a step. Needs only the GPU image's packages (torch, triton, cupy, pytest,
pytest-benchmark, hypothesis); nothing is installed, the checkout is found on PYTHONPATH.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

# Modules the GPU code must import, and the top-level packages it must not pull in with them.
GPU_MODULES = ["kernels.int8_gemm", "kernels.int8_gemm_cupy", "bench.test_bench_int8_gemm",
               "kernels.hadamard", "bench.test_bench_hadamard",
               "kernels.bcq", "kernels.lut_gemm", "bench.test_bench_lut_gemm",
               "kernels.lowbit_format", "kernels.lowbit", "kernels.lowbit_linear", "kernels.wonly_gemm",
               "bench.test_bench_wonly_gemm", "kernels.fp8",
               "kernels.bcq_tc_gemm", "kernels.lut_gemm_cupy", "kernels.bcq_gemm", "bench.test_bench_bcq_paths",
               "kernels.hadamard_ext", "bench.test_bench_hadamard_ext", "kernels.fp8_gemm", "bench.test_bench_fp8_gemm",
               "kernels.halo", "kernels.models.tiny_lm", "bench.test_bench_halo", "kernels.bitplane_gemm",
               "bench.test_bench_bitplane"]
FORBIDDEN_TOP_LEVEL = ["sim", "rtl_models", "reports", "cocotb", "cocotb_tools", "pyverilog"]

TESTS_SHARE = 0.6  # of the budget; the benchmarks get the rest


def _versions() -> dict:
    out = {"python": platform.python_version()}
    for mod in ("torch", "triton", "cupy", "numpy", "pytest", "pytest_benchmark", "hypothesis"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception as e:  # not installed, or broken: say which
            out[mod] = f"unavailable ({type(e).__name__})"
    return out


def _child_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env["BITWEIGHT_HISTORY"] = "0"  # the check records its benchmarks itself, as kind gpu-check
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


def _run_pytest(args: list[str], timeout_s: float) -> tuple[int | None, float]:
    """Run pytest in a child process, output streamed; (return code or None on timeout, seconds)."""
    cmd = [sys.executable, "-m", "pytest", *args]
    print("$ " + " ".join(cmd), flush=True)
    t0 = time.perf_counter()
    try:
        rc = subprocess.run(cmd, cwd=REPO_ROOT, env=_child_env(), timeout=max(timeout_s, 1)).returncode
    except subprocess.TimeoutExpired:
        rc = None
    return rc, time.perf_counter() - t0


def _junit_counts(path: Path) -> dict:
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0, "failed": [], "skip_reasons": {}}
    if not path.exists():
        return counts
    root = ET.parse(path).getroot()
    for case in root.iter("testcase"):
        counts["tests"] += 1
        name = f"{case.get('classname')}::{case.get('name')}"
        for child in case:
            if child.tag in ("failure", "error"):
                counts["failures" if child.tag == "failure" else "errors"] += 1
                message = (child.get("message") or "").strip().splitlines() or [""]
                counts["failed"].append(f"{child.tag.upper()} {name}: {message[0][:160]}")
            elif child.tag == "skipped":
                counts["skipped"] += 1
                reason = (child.get("message") or "").strip()[:120]
                counts["skip_reasons"][reason] = counts["skip_reasons"].get(reason, 0) + 1
    counts["passed"] = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    return counts


def _fmt(v, spec):
    return "n/a" if v is None else format(v, spec)


def _benchmark_rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    rows = []
    for b in json.loads(path.read_text()).get("benchmarks", []):
        x = b.get("extra_info", {})
        ratios = {k[len("ratio_vs_"):]: v for k, v in x.items() if k.startswith("ratio_vs_")}
        time_s = x.get("time_s", b.get("stats", {}).get("median"))
        rows.append({
            "name": b.get("name", "?"),
            "shape": x.get("shape", b.get("param", "")),
            "time_ms": None if time_s is None else 1e3 * time_s,
            "tops": x.get("tops"),
            "ratios": ", ".join(f"{k} {'n/a' if v is None else format(v, '.2f') + 'x'}"
                                for k, v in ratios.items()) or "-",
            "pct_of_peak": x.get("pct_of_peak"),
            "pct_of_roofline": x.get("pct_of_roofline"),
        })
    return rows


def _print_table(headers, rows):
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths))
    print(line)
    print("-" * len(line))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gpu_check", description=__doc__.split("\n")[0])
    parser.add_argument("--require-gpu", action="store_true", help="exit 1 (not 0) when no CUDA device is found")
    parser.add_argument("--budget-s", type=float, default=420.0, help="wall-clock limit for the whole check")
    parser.add_argument("--select", metavar="EXPR", help="pytest -k expression for both the tests and the benchmarks")
    step = parser.add_mutually_exclusive_group()
    step.add_argument("--skip-tests", action="store_true", help="run only the benchmarks")
    step.add_argument("--skip-bench", action="store_true", help="run only the GPU tests")
    args = parser.parse_args(argv)
    t_start = time.perf_counter()

    versions = _versions()
    print("bitweight GPU check")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    import torch

    if not torch.cuda.is_available():
        print("no GPU: torch.cuda.is_available() is False, so no GPU test or benchmark ran. "
              "Run this on the GPU machine; on a CPU machine `pytest` runs the kernels in Triton's interpreter.")
        return 1 if args.require_gpu else 0
    print(f"gpu: {torch.cuda.get_device_name()} (capability "
          f"{'.'.join(map(str, torch.cuda.get_device_capability()))}), "
          f"{torch.cuda.device_count()} device(s), TRITON_INTERPRET={os.environ.get('TRITON_INTERPRET', 'unset')}")

    problems = check_imports()
    for p in problems:
        print("IMPORT PROBLEM: " + p)

    with tempfile.TemporaryDirectory(prefix="gpu_check_") as tmp:
        junit, bench_json = Path(tmp) / "tests.xml", Path(tmp) / "bench.json"
        select = ["-k", args.select] if args.select else []
        left = args.budget_s - (time.perf_counter() - t_start)
        if args.skip_tests:
            tests_rc, tests_s = 0, 0.0
        else:
            tests_rc, tests_s = _run_pytest(
                # the kernel test files hold every GPU test; the others need RTL tools this machine lacks
                ["-m", "gpu", *sorted(str(p.relative_to(REPO_ROOT))
                                      for p in (REPO_ROOT / "tests").glob("test_kernels_*.py")),
                 "-q", "-rfEs", "-p", "no:cacheprovider", *select,
                 "--continue-on-collection-errors", f"--junitxml={junit}"],
                timeout_s=left * (1.0 if args.skip_bench else TESTS_SHARE),
            )
        counts = _junit_counts(junit)
        left = args.budget_s - (time.perf_counter() - t_start)
        if args.skip_bench:
            bench_rc, bench_s = 0, 0.0
        else:
            bench_rc, bench_s = _run_pytest(
                ["--benchmark", "-m", "gpu", "bench/", "-q", "-rfEs", "-p", "no:cacheprovider", *select,
                 "--continue-on-collection-errors",
                 f"--benchmark-json={bench_json}", "--benchmark-columns=median,rounds", "--benchmark-sort=name"],
                timeout_s=left,
            )
        rows = _benchmark_rows(bench_json)
        history = _record_history(bench_json, versions) if bench_json.exists() else None

    # ---------------------------------------------------------------------------- summary
    print("\n" + "=" * 30 + " GPU check summary " + "=" * 30)
    print(f"gpu: {torch.cuda.get_device_name()}; " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    print(f"tests (pytest -m gpu tests/test_kernels_*.py, {tests_s:.0f} s): {counts.get('passed', 0)} passed, "
          f"{counts['failures']} failed, {counts['errors']} errors, {counts['skipped']} skipped"
          + ("  [TIMED OUT]" if tests_rc is None else ""))
    for f in counts["failed"]:
        print("  " + f)
    for reason, n in counts["skip_reasons"].items():
        print(f"  skipped x{n}: {reason}")
    print(f"\nbenchmarks (pytest --benchmark -m gpu bench/, {bench_s:.0f} s)"
          + ("  [TIMED OUT]" if bench_rc is None else ""))
    _print_table(
        ["benchmark", "shape", "time ms", "TOPS", "ratio vs peers (peer time / this time)", "% peak", "% roofline"],
        [[r["name"], r["shape"], _fmt(r["time_ms"], ".3f"), _fmt(r["tops"], ".1f"), r["ratios"],
          _fmt(r["pct_of_peak"], ".1f"), _fmt(r["pct_of_roofline"], ".1f")] for r in rows],
    )
    if history:
        print(history)

    failures = list(problems)
    if tests_rc is None:
        failures.append("the GPU tests ran out of time")
    elif tests_rc not in (0, 5) or (tests_rc == 5 and not args.select):
        failures.append(f"pytest -m gpu tests/test_kernels_*.py exited {tests_rc}"
                        + (" (no GPU tests were collected)" if tests_rc == 5 else ""))
    if bench_rc is None:
        failures.append("the GPU benchmarks ran out of time")
    elif bench_rc != 0:
        failures.append(f"the GPU benchmarks exited {bench_rc}"
                        + (" (is --benchmark registered in the root conftest?)" if bench_rc == 4 else ""))
    elif not rows and not args.skip_bench:
        failures.append("the GPU benchmarks recorded no results")
    total_s = time.perf_counter() - t_start
    if failures:
        print(f"\nGPU CHECK FAILED ({total_s:.0f} s):")
        for f in failures:
            print("  - " + f)
        return 1
    print(f"\nGPU check passed ({total_s:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
