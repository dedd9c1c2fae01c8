"""bitweight's memory model against the real SCALE-Sim 3 on the same network in one run: wall
time of each and the ratio (goal: bitweight at least 10x faster with the memory model on).

SCALE-Sim runs once (it takes seconds to minutes), bitweight's ``layers`` path (every layer
through sim/memory.py under SCALE-Sim's fold tiles, plus its own best-latency mapping search)
is timed by pytest-benchmark. Skipped without ``make scalesim-env``."""

import time

import pytest

from reports.layers import layer_table
from reports.scalesim_compare import run_scalesim, scalesim_python
from sim.networks import minilm, write_topology
from sim.topology import ArchConfig, read_topology

GOAL_RATIO = 10


def _has_scalesim() -> bool:
    try:
        return scalesim_python().is_file()
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not _has_scalesim(), reason="run `make scalesim-env` for the real SCALE-Sim")
@pytest.mark.parametrize("dataflow", ["os", "ws"])
@pytest.mark.parametrize("mapping", ["scalesim", "latency"])
def test_memory_model_vs_scalesim(benchmark, tmp_path, dataflow, mapping):
    topo = write_topology(minilm(32), tmp_path / "minilm.csv")  # the attention heads one row each
    layers = read_topology(topo)
    arch = ArchConfig(16, 16, dataflow, 64, 64, 64, bandwidth=10, interface_bandwidth="USER")
    t = time.perf_counter()
    ss, _ = run_scalesim(topo, arch, gemm=True)
    wall_ss = time.perf_counter() - t
    mem = arch.memory()
    df = benchmark(layer_table, layers, arch, memory=mem, mapping=mapping)
    ours = benchmark.stats.stats.median
    ratio = wall_ss / ours
    benchmark.extra_info.update(network="minilm 32 tokens", layers=len(layers), array="16x16", dataflow=dataflow,
                                mapping=mapping, scalesim_wall_s=wall_ss, bitweight_wall_s=ours,
                                speedup_vs_scalesim=ratio, goal=GOAL_RATIO,
                                total_cycles_ours=int(df["Total Cycles"].iloc[-1]),
                                total_cycles_scalesim=int(ss["Total Cycles"].sum()))
    print(f"\n[{dataflow} 16x16 minilm 32 tokens, mapping {mapping}] SCALE-Sim {wall_ss:.2f} s, bitweight "
          f"{ours * 1e3:.1f} ms: {ratio:.0f}x")
    assert ratio >= GOAL_RATIO
