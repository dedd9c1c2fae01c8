"""Root pytest configuration: the plain run tests, ``pytest --benchmark`` benchmarks.

Kept import-light (pytest only) so the GPU machine, which has no RTL tools, can load it. A
``pytest --benchmark`` run is recorded in the results database (reports/dse/history.py;
``BITWEIGHT_HISTORY=0`` turns that off).
"""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent


def pytest_addoption(parser):
    parser.addoption(
        "--benchmark",
        action="store_true",
        default=False,
        help="run the benchmarks in bench/ instead of the tests (they are skipped otherwise); "
        "results are saved as JSON under .benchmarks/",
    )


def pytest_configure(config):
    if config.getoption("--benchmark"):
        # pytest-benchmark's own option: save every run's JSON under .benchmarks/
        config.option.benchmark_autosave = True
    else:
        # the tests' Verilator builds are small designs whose C++ compile dominates: build them at
        # -O0 (rtl_models/cosim.py; their folders are keyed apart from default builds). Set it to
        # override. Benchmarks keep Verilator's default optimisation: they measure its speed.
        os.environ.setdefault("BITWEIGHT_VERILATOR_OPT", "-O0")


def pytest_ignore_collect(collection_path, config):
    path = Path(collection_path).resolve()
    benchmarking = config.getoption("--benchmark")
    if path.is_relative_to(ROOT / "bench"):
        return None if benchmarking else True
    if path.is_relative_to(ROOT / "tests"):
        return True if benchmarking else None
    return None


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_json(config, benchmarks, output_json):
    # record each `pytest --benchmark` run in the results database (reports/dse/history.py); a
    # database that cannot be used prints one warning line, never fails the run
    try:
        from reports.dse.history import pytest_record_hook
    except ImportError:  # the GPU image may lack what reports/ needs
        return
    pytest_record_hook(config, output_json)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # GPU benchmarks: their roofline and predicted time beside the measurement (bench/gpu_plan.py);
    # with BITWEIGHT_ITEM_LOG set (python -m bench.gpu_check), every item's result is appended to
    # that JSON-lines file as it finishes, so a step killed at its time limit keeps what it did
    outcome = yield
    report = outcome.get_result()
    bench = item.funcargs.get("benchmark") if hasattr(item, "funcargs") else None
    if call.when == "call" and bench is not None and str(item.path).startswith(str(ROOT / "bench")):
        from bench.gpu_log import annotate_roofline

        annotate_roofline(item, bench)
    log = os.environ.get("BITWEIGHT_ITEM_LOG")
    if log and (call.when == "call" or report.outcome != "passed"):
        from bench.gpu_log import append_item

        append_item(log, item, report, bench)


# the figure each benchmark is about, from its extra_info, in the order shown: (key, unit)
HEADLINE_FIGURES = (
    ("macs_per_s", "MAC/s"),
    ("cycles_per_s", "cycles/s"),
    ("points_per_min", "points/min"),
    ("tops", "TOPS"),
    ("gb_per_s", "GB/s"),
    ("achieved_gb_per_s", "GB/s"),
    ("speedup_vs_scalesim", "x SCALE-Sim"),
    ("pct_of_peak", "% of peak"),
    ("percent_of_simulator_alone", "% of the simulator alone"),
)


def _headline(extra: dict) -> str:
    """The benchmark's figures of merit from its extra_info: rates, then ratio_vs_<peer> (peer time /
    this time), as one compact string."""

    def number(v):
        return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v  # not NaN

    parts = [f"{extra[k]:.3g} {unit}" for k, unit in HEADLINE_FIGURES if number(extra.get(k))]
    parts += [f"{v:.2f}x vs {k[len('ratio_vs_'):]}" for k, v in extra.items()
              if k.startswith("ratio_vs_") and number(v)]
    return ", ".join(parts)


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter, exitstatus, config):
    # `pytest --benchmark`: each benchmark's headline figure (MAC/s, cycles/s, TOPS, ratios) on screen,
    # not only in the JSON: name, median time and the figures of its extra_info
    session = getattr(config, "_benchmarksession", None)
    benchmarks = [b for b in getattr(session, "benchmarks", None) or [] if getattr(b, "extra_info", None) is not None]
    if not benchmarks:
        return
    rows = []
    for b in benchmarks:
        try:
            median = b.stats.median
            when = f"{median * 1e3:.3g} ms" if median < 1 else f"{median:.3g} s"
        except (AttributeError, TypeError):
            when = "-"
        rows.append((b.name, when, _headline(b.extra_info) or "-"))
    width = max(len(r[0]) for r in rows)
    tw = terminalreporter
    tw.write_sep("-", "benchmark figures (median time; extra_info)")
    for name, when, figures in rows:
        tw.write_line(f"{name:{width}}  {when:>10}  {figures}")
