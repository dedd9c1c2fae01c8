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
