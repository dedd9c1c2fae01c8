"""sim/memory.py: the memory model's schedule by hand, its shortcut held to every step, the
closed-form bounds, the branch-and-bound search held to brute force, and its error messages."""

import functools
import itertools

import pytest

from sim.memory import (Buffer, Dram, Mapping, MemoryConfig, OperandBits, best_mapping, bounds, candidates,
                        port_limited, scalesim_mapping, simulate)
from sim.systolic import SystolicConfig, estimate_gemm

BITS = OperandBits()


def const(cycles):
    return lambda tm, tn, tk: cycles


def os_cycles(rows=4, cols=4):
    cfg = SystolicConfig(rows, cols, "os")
    return functools.lru_cache(maxsize=None)(lambda a, b, c: estimate_gemm(a, b, c, cfg).cycles)


def test_two_tile_schedule_by_hand():
    # M = N = 2, K = 4 in two k tiles; A and B tiles 4 bytes each, C 2x2 int32 = 16 bytes.
    # slot 0: read A0, B0 = 2 x (latency 1 + 4/4) = 4; slot 1: compute 10 | read A1, B1 (4) -> 10;
    # slot 2: compute 10 | nothing to write (C stays) -> 10; slot 3: write C, 16/4 = 4. Total 28.
    mem = MemoryConfig.uniform(kb=1, bandwidth=4, latency=1)
    r = simulate(2, 2, 4, const(10), BITS, mem, Mapping("mnk", 2, 2, 2))
    assert (r.total_cycles, r.compute_cycles, r.stall_cycles) == (28, 20, 8)
    assert r.dram_read_bytes == {"ifmap": 8, "filter": 8, "ofmap": 0}
    # the port is busy 4 + 4 + 4 = 12 cycles, the engine 20: compute-bound, though slots 0 and 3 stall
    assert r.dram_write_bytes["ofmap"] == 16 and r.dram_cycles == 12 and r.bound == "compute"
    # single buffered: each step reads, computes, writes: (4 + 10) + (4 + 10 + 4)
    single = MemoryConfig(Buffer(1024, False), Buffer(1024, False), Buffer(1024, False), Dram(4, 1))
    assert simulate(2, 2, 4, const(10), BITS, single, Mapping("mnk", 2, 2, 2)).total_cycles == 32


def test_partial_sums_spill_and_return_when_k_is_outer():
    # k outermost, two n tiles: C tile (0, 0) leaves after k tile 0 unfinished (psum write) and
    # returns for k tile 1 (psum read), then leaves finished (out bits)
    bits = OperandBits(a=8, w=8, out=8, psum=32)
    r = simulate(2, 4, 4, const(5), bits, MemoryConfig.uniform(1, 8), Mapping("kmn", 2, 2, 2))
    assert r.dram_read_bytes["ofmap"] == 2 * 16  # two C tiles come back once each, 2x2 int32
    assert r.dram_write_bytes["ofmap"] == 2 * 16 + 2 * 4  # two spills at 32 bits, two finals at 8 bits
    # with k innermost nothing spills: each C tile is written once, finished
    r = simulate(2, 4, 4, const(5), bits, MemoryConfig.uniform(1, 8), Mapping("mnk", 2, 2, 2))
    assert r.dram_read_bytes["ofmap"] == 0 and r.dram_write_bytes["ofmap"] == 2 * 4


def test_packed_weights_move_fewer_bytes():
    mem = MemoryConfig.uniform(64, 16)
    mp = Mapping("mnk", 1, 64, 256)
    w8 = simulate(1, 512, 1024, const(100), OperandBits(w=8), mem, mp)
    w4 = simulate(1, 512, 1024, const(100), OperandBits(w=4), mem, mp)
    w2 = simulate(1, 512, 1024, const(100), OperandBits(w=2), mem, mp)
    assert w8.dram_read_bytes["filter"] == 512 * 1024
    assert w4.dram_read_bytes["filter"] * 2 == w8.dram_read_bytes["filter"] == w2.dram_read_bytes["filter"] * 4


MEMS = [
    MemoryConfig.uniform(1, 3, 5),
    MemoryConfig.uniform(0.5, 64, 0),
    MemoryConfig(Buffer(700, False), Buffer(512), Buffer(4096), Dram(2.5, 7, shared=False)),
    MemoryConfig(Buffer(700), Buffer(512), Buffer(4096), Dram(2.5, 7, shared=False)),
]


@pytest.mark.parametrize("mem", MEMS, ids=["shared", "fast", "single-ports", "double-ports"])
@pytest.mark.parametrize("bits", [OperandBits(), OperandBits(8, 4, 8, 32), OperandBits(8, 2, 32, 32)],
                         ids=["w8", "w4out8", "w2"])
def test_representative_steps_equal_every_step_and_bounds_hold(mem, bits):
    tc = os_cycles()
    for (m, n, k), overhead in zip([(13, 7, 30), (1, 50, 77), (16, 16, 16), (33, 17, 29)], (0, 1, 2, 0)):
        for mp in candidates(m, n, k, (4, 4, 4), bits, mem)[::4]:  # every order, a quarter of the tiles
            fast = simulate(m, n, k, tc, bits, mem, mp, slot_overhead=overhead)
            assert fast == simulate(m, n, k, tc, bits, mem, mp, slot_overhead=overhead, every_step=True), mp
            compute, nbytes, low = bounds(m, n, k, tc, bits, mem, mp)
            assert compute == fast.compute_cycles
            assert nbytes <= fast.dram_bytes and low <= fast.total_cycles, mp


@pytest.mark.parametrize("objective", ["latency", "dram", "edp"])
def test_branch_and_bound_finds_the_brute_force_optimum(objective):
    tc, mem = os_cycles(), MemoryConfig.uniform(1, 3, 4)
    for m, n, k in [(13, 7, 30), (1, 50, 77), (40, 24, 64)]:
        best = best_mapping(m, n, k, tc, BITS, mem, (4, 4, 4), objective)
        key = {"latency": lambda r: (r.total_cycles, r.dram_bytes), "dram": lambda r: (r.dram_bytes, r.total_cycles),
               "edp": lambda r: (r.dram_bytes * r.total_cycles, r.total_cycles)}[objective]
        brute = min(key(simulate(m, n, k, tc, BITS, mem, mp)) for mp in candidates(m, n, k, (4, 4, 4), BITS, mem))
        assert key(best) == brute
        assert best.mapping.name == f"best {objective}"


def test_more_bandwidth_never_stalls_more():
    tc = os_cycles()
    runs = [best_mapping(40, 24, 64, tc, BITS, MemoryConfig.uniform(2, bw), (4, 4, 4)) for bw in (1, 2, 4, 8, 64, 1024)]
    stalls = [r.stall_cycles for r in runs]
    assert stalls == sorted(stalls, reverse=True) and stalls[0] > 10 * stalls[-1]
    assert runs[0].bound == "memory" and runs[-1].bound == "compute"


def test_scalesim_mappings():
    mem = MemoryConfig.uniform(64, 10)
    # the whole ifmap (196 x 2304 bytes) does not fit half of 64 kB: one fold per tile, K split
    assert scalesim_mapping("os", 32, 32, 196, 256, 2304, BITS, mem) == Mapping("nmk", 32, 32, 576, "scalesim os")
    ws = scalesim_mapping("ws", 32, 32, 196, 256, 2304, BITS, mem)
    assert (ws.order, ws.tn, ws.tk) == ("nkm", 32, 32) and ws.tm * 32 * 4 <= 32 * 1024
    # it fits: one tile per column fold, the ifmap fetched once
    small = scalesim_mapping("os", 8, 8, 64, 64, 64, BITS, mem)
    assert small == Mapping("nmk", 64, 8, 64, "scalesim os")
    r = simulate(64, 64, 64, const(1), BITS, mem, small)
    assert r.dram_read_bytes["ifmap"] == 64 * 64 and r.dram_read_bytes["filter"] == 64 * 64
    assert scalesim_mapping("is", 8, 8, 64, 64, 64, BITS, mem).order == "mkn"
    with pytest.raises(ValueError, match="dataflow must be os, ws or is"):
        scalesim_mapping("rs", 8, 8, 4, 4, 4, BITS, mem)


def test_tile_larger_than_its_buffer_names_the_operand_and_size():
    mem = MemoryConfig(Buffer(1024), Buffer(4096), Buffer(4096), Dram(8))
    with pytest.raises(ValueError, match=r"^ifmap buffer of 1024 bytes is smaller than one tile of mnk tiles "
                                         r"16x16x64: it needs at least 2048 bytes \(1024 per tile, double buffered\)$"):
        simulate(64, 64, 64, const(1), BITS, mem, Mapping("mnk", 16, 16, 64))
    with pytest.raises(ValueError, match=r"^filter buffer of 64 bytes .* at least 128 bytes"):
        candidates(64, 64, 64, (8, 8, 8), BITS, MemoryConfig(Buffer(4096), Buffer(64), Buffer(4096), Dram(8)))


@pytest.mark.parametrize("make,match", [
    (lambda: Dram(0), r"^DRAM bandwidth must be a positive number of bytes per cycle, got 0$"),
    (lambda: Dram(-3), r"DRAM bandwidth must be a positive number"),
    (lambda: Dram(float("inf")), r"DRAM bandwidth must be a positive number"),
    (lambda: Dram(4, latency=-1), r"^DRAM latency must be a non-negative integer of cycles, got -1$"),
    (lambda: Buffer(0), r"^buffer capacity_bytes must be a positive integer, got 0$"),
    (lambda: Buffer(64, ports=0), r"^buffer ports must be a positive integer, got 0$"),
    (lambda: Buffer(64, banks=2.5), r"^buffer banks must be a positive integer, got 2.5$"),
    (lambda: Mapping("mnm", 1, 1, 1), r"^mapping order must be a permutation of 'mnk'"),
    (lambda: Mapping("mnk", 0, 1, 1), r"^mapping tm must be a positive integer, got 0$"),
    (lambda: OperandBits(w=0), r"^OperandBits.w must be a number of bits in 1..64, got 0$"),
    (lambda: simulate(0, 1, 1, const(1), BITS, MemoryConfig.uniform(), Mapping("mnk", 1, 1, 1)),
     r"^GEMM M must be a positive integer, got 0$"),
    (lambda: best_mapping(4, 4, 4, const(1), BITS, MemoryConfig.uniform(), (4, 4, 4), "power"),
     r"^objective must be one of latency, dram, edp, got 'power'$"),
])
def test_bad_arguments_say_what_was_expected(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_candidates_cover_every_order_and_fit():
    mem = MemoryConfig.uniform(1, 4)
    cands = candidates(40, 24, 64, (4, 4, 4), BITS, mem)
    assert {mp.order for mp in cands} == {"".join(p) for p in itertools.permutations("mnk")}
    for mp in cands:
        simulate(40, 24, 64, const(1), BITS, mem, mp)  # check_fits passes


def test_ports_pace_a_tile_by_the_bytes_the_engine_moves():
    mem = MemoryConfig(*(Buffer(1 << 16, width_bytes=2, banks=2, ports=1) for _ in range(3)), Dram(8))
    assert mem.port_limited and mem.ifmap.array_bytes_per_cycle == 4
    assert not MemoryConfig.uniform().port_limited and MemoryConfig.uniform().ifmap.array_bytes_per_cycle == float("inf")
    calls = []

    def traffic(tm, tn, tk):
        calls.append((tm, tn, tk))
        return {"ifmap": tm * tk, "filter": 2 * tk * tn + 1, "ofmap": 4 * tm * tn}

    paced = port_limited(const(10), traffic, mem)
    assert paced(2, 2, 2) == 10  # 4, 9 and 16 bytes at 4 per cycle: 1, 3, 4 cycles, under the compute's 10
    assert paced(4, 4, 4) == 16  # the ofmap's 64 B at 4 B per cycle outlasts the compute
    assert paced(8, 8, 8) == 64  # ofmap 256 B / 4 B per cycle; filter 129 B -> 33 cycles; compute 10
    assert paced(8, 8, 8) == 64 and calls.count((8, 8, 8)) == 1  # cached per tile
    one = MemoryConfig(Buffer(1 << 16, width_bytes=1, ports=1), Buffer(1 << 16), Buffer(1 << 16), Dram(8))
    assert port_limited(const(10), traffic, one)(8, 8, 8) == 64  # only the ifmap's 64 B at 1 B per cycle
