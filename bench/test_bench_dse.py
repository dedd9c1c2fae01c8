"""Design-space sweep throughput: analytic design points per minute on Dask, with 1 and 2 worker
processes, against the serial in-process loop measured in the same run (the peer: the same
pricing with no Dask), and the scaling from 1 to 2 workers (the machine's limit: the serial rate
times the workers).

The space is 11,520 points (2 engines x 3 sizes x 2 weight widths x 4 x 4 x 4 buffer sizes x 5 DRAM
bandwidths x 3 networks, SCALE-Sim's mapping). Syntheses are done before the timed runs (the
yosys cache), so the figure is pricing alone, cluster start-up and database writes included.
Goal (the issue): at least 10,000 points per minute on 2 cores."""

import os
import time

import pytest

from reports.dse import evaluate, space, sweep

GOAL_PER_MIN = 10_000

SPACE = """
name = "bench"
networks = ["bert_base_128", "minilm_128", "llama7b_decode"]
[space]
engine = ["os", "ws"]
rows = [8, 16, 32]
w_bits = [8, 4]
ifmap_kb = [16, 32, 64, 128]
filter_kb = [16, 32, 64, 128]
ofmap_kb = [16, 32, 64, 128]
bandwidth = [4, 8, 16, 32, 64]
[area]
synthesise = [4, 8]
"""


@pytest.fixture(scope="module")
def bench_space(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dse")
    path = folder / "space.toml"
    path.write_text(SPACE)
    sp = space.load(path)
    sweep.run(space.load(path), db=folder / "warm.sqlite", workers=1, progress=False, log=lambda s: None)
    return sp, folder


def _serial_rate(sp, n: int = 1500) -> float:
    """Points per minute of the plain loop: evaluate_chunk in this process, fresh caches."""
    pts = space.points(sp)[::max(1, len(space.points(sp)) // n)][:n]
    designs = {evaluate.design_key(p): (1e5, 400.0, "fit") for p in pts}
    evaluate._layer_memory.cache_clear()
    t = time.perf_counter()
    evaluate.evaluate_chunk(pts, designs, sp.dram_energy, {}, evaluate.model_hash())
    return 60 * len(pts) / (time.perf_counter() - t)


@pytest.mark.parametrize("workers", [1, 2])
def test_sweep_points_per_minute(benchmark, bench_space, workers):
    sp, folder = bench_space
    cores = os.cpu_count() or 1
    if workers > cores:
        pytest.skip(f"{workers} workers on {cores} cores")
    serial = _serial_rate(sp)
    dbs = iter(range(100))

    def one():
        return sweep.run(sp, db=folder / f"run-{workers}-{next(dbs)}.sqlite", workers=workers, progress=False,
                         log=lambda s: None)

    summary = benchmark.pedantic(one, rounds=1, iterations=1)
    assert summary.computed == summary.points == 11_520 and summary.syntheses_run == 0
    rate = summary.rate_per_min
    benchmark.extra_info.update(points=summary.points, workers=workers, points_per_min=rate,
                                serial_points_per_min=serial, ratio_vs_serial=rate / serial,
                                pct_of_limit=100 * rate / (serial * workers), goal_per_min=GOAL_PER_MIN)
    print(f"\n[{workers} worker(s)] {summary.points} points in {summary.seconds:.1f} s = {rate:,.0f} points/min; "
          f"serial loop {serial:,.0f}/min; {100 * rate / (serial * workers):.0f}% of {workers} x serial")
    if workers == 2 and cores >= 2:
        assert rate >= GOAL_PER_MIN
