"""The bit-serial baselines in Verilog (Stripes, Laconic, Bit Fusion), co-simulated under cocotb on
Icarus and Verilator: the RTL's dot products equal sim.bitserial's and the exact integer dot
product, and the cycles the bench counts from start to done equal the model's, workload by
workload (random, extreme and zero data, K not a multiple of the group, a short K after long ones).

Cost: one simulator run per (simulator, config); Icarus covers several precisions per PE, Verilator
(one build of 5-40 s each, cached in rtl_models/build) the default precision of each PE.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kernels.bitplane_gemm import MAX_BITS, bitplane_gemm
from rtl_models.bitserial_cosim import (
    CosimError,
    bitserial_params,
    run_bitserial_cosim,
    run_bitserial_cosim_batch,
)
from rtl_models.sources import sources_for
from rtl_models.testing import broken_rtl, needs, run_cache
from sim.bitserial import (
    BitFusionConfig,
    LaconicConfig,
    StripesConfig,
    operand_range,
    simulate_dot,
)

ICARUS_CONFIGS = {
    "stripes_8x8_l4": StripesConfig(lanes=4),
    "stripes_u4x3_l3": StripesConfig(a_bits=4, w_bits=3, lanes=3, a_signed=False),
    "stripes_1x16_l1": StripesConfig(a_bits=1, w_bits=16, lanes=1, acc_bits=40),
    "laconic_8x8_l4": LaconicConfig(lanes=4),
    "laconic_16x1_l3": LaconicConfig(a_bits=16, w_bits=1, lanes=3, acc_bits=40),
    "laconic_5x3_l2": LaconicConfig(a_bits=5, w_bits=3, lanes=2),
    "bitfusion_8x8": BitFusionConfig(),
    "bitfusion_8x4": BitFusionConfig(a_bits=8, w_bits=4),
    "bitfusion_u4x2": BitFusionConfig(a_bits=4, w_bits=2, a_signed=False),
    "bitfusion_2x2": BitFusionConfig(a_bits=2, w_bits=2),
}
VERILATOR_CONFIGS = ("stripes_8x8_l4", "laconic_8x8_l4", "bitfusion_8x8")
CASES = [("icarus", name) for name in ICARUS_CONFIGS] + [("verilator", name) for name in VERILATOR_CONFIGS]


def _workloads(cfg, seed: int = 0) -> list[tuple[str, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    alo, ahi = operand_range(cfg.a_bits, cfg.a_signed_)
    wlo, whi = operand_range(cfg.w_bits, cfg.w_signed_)
    ra = lambda k: rng.integers(alo, ahi + 1, k)
    rw = lambda k: rng.integers(wlo, whi + 1, k)
    out = [(f"random_k{k}", ra(k), rw(k)) for k in (1, 3, 5, 16, 23)]
    out += [
        ("all_zero_a_k9", np.zeros(9, np.int64), rw(9)),
        ("all_zero_w_k7", ra(7), np.zeros(7, np.int64)),
        ("min_times_min_k20", np.full(20, alo), np.full(20, wlo)),
        ("max_times_min_k13", np.full(13, ahi), np.full(13, wlo)),
        ("mixed_extremes_k18", rng.choice([alo, ahi], 18), rng.choice([wlo, whi], 18)),
        ("random_k2_after_long", ra(2), rw(2)),
    ]
    return out


@pytest.fixture(scope="module")
def runs():
    """(sim, config name) -> [(workload name, a, w, CosimOutcome)], one simulator run each, on demand."""

    def run(sim, name):
        cfg = ICARUS_CONFIGS[name]
        wl = _workloads(cfg)
        res = run_bitserial_cosim_batch([(a, w) for _, a, w in wl], cfg, sim=sim, seed=1)
        return [(n, a, w, r) for (n, a, w), r in zip(wl, res)]

    return run_cache(run)


@pytest.mark.rtl
@pytest.mark.parametrize("sim,name", CASES)
def test_rtl_matches_model(runs, sim, name):
    cfg = ICARUS_CONFIGS[name]
    results = runs(sim, name)
    for wname, a, w, res in results:
        model = simulate_dot(a, w, cfg)
        assert res.sim == sim
        assert res.value == model.value == int(a @ w), wname
        assert res.cycles == model.cycles, wname
    if max(cfg.a_bits, cfg.w_bits) <= MAX_BITS:
        # the bit-plane kernel on the very same golden vectors: every workload's dot product is a
        # diagonal entry of one GEMM (rows of A and columns of W zero-padded to the longest K)
        kmax = max(len(a) for _, a, _, _ in results)
        A = torch.zeros((len(results), kmax), dtype=torch.int64)
        W = torch.zeros((kmax, len(results)), dtype=torch.int64)
        for i, (_, a, w, _) in enumerate(results):
            A[i, : len(a)] = torch.from_numpy(np.asarray(a, np.int64))
            W[: len(w), i] = torch.from_numpy(np.asarray(w, np.int64))
        c = bitplane_gemm(A, W, cfg.a_bits, cfg.w_bits, a_signed=cfg.a_signed_, w_signed=cfg.w_signed_)
        assert torch.diagonal(c).tolist() == [r.value for _, _, _, r in results]


@pytest.mark.rtl
def test_cycles_on_the_rtl_are_what_each_design_promises(runs):
    """Stripes and Bit Fusion: fixed by K and precision; Laconic: data-dependent (zeros skip)."""
    by_name = {n: r for n, _, _, r in runs("icarus", "stripes_8x8_l4")}
    assert by_name["random_k23"].cycles == 2 + 6 * 8 and by_name["all_zero_a_k9"].cycles == 2 + 3 * 8
    by_name = {n: r for n, _, _, r in runs("icarus", "bitfusion_2x2")}
    assert by_name["random_k23"].cycles == 2 + 2  # sixteen 2x2 products per cycle
    lac = {n: r for n, _, _, r in runs("icarus", "laconic_8x8_l4")}
    assert lac["all_zero_a_k9"].cycles == 2 + 3  # one idle cycle per all-zero group
    assert lac["min_times_min_k20"].cycles == 2 + 5  # -128 is one Booth term: one pair per lane
    assert lac["random_k16"].cycles > 2 + 4 * 4


# Mutations the bench must catch: Stripes adding the MSB (unsigned reading of a signed operand);
# Laconic ending a group one lane early (cycles and value); Bit Fusion's top slice read unsigned.
MUTATIONS = [
    ("stripes_pe.v", "acc <= msb ? (acc - shifted) : (acc + shifted);", "acc <= acc + shifted;",
     StripesConfig(lanes=4), r"workload 0 \(K=5\): result -?\d+, model {v}"),
    ("laconic_pe.v", "assign group_last = (more == {LANES{1'b0}});", "assign group_last = (more[0] == 1'b0);",
     LaconicConfig(lanes=4), r"workload 0 \(K=5\): \d+ cycles, model {c}"),
    ("bitfusion_pe.v", ".sx((A_SIGNED != 0) && (I == SA - 1))", ".sx(1'b0)",
     BitFusionConfig(), r"workload 0 \(K=5\): result -?\d+, model {v}"),
]


@pytest.mark.rtl
@pytest.mark.parametrize("fname,old,new,cfg,message", MUTATIONS, ids=["stripes_msb", "laconic_lockstep", "fusion_sign"])
def test_bench_catches_broken_rtl(tmp_path, monkeypatch, fname, old, new, cfg, message):
    needs("icarus")
    build_root = broken_rtl(tmp_path, monkeypatch, fname, old, new)
    a = np.array([-128, 85, 0, -3, 127])
    w = np.array([85, -128, 7, 119, -1])
    model = simulate_dot(a, w, cfg)
    with pytest.raises(CosimError, match=message.format(c=model.cycles, v=model.value)):
        run_bitserial_cosim(a, w, cfg, build_root=build_root)


def test_sources_for_the_new_tops():
    names = {t: [p.name for p in sources_for(t)] for t in ("stripes_dot", "laconic_dot", "bitfusion_dot")}
    assert names == {"stripes_dot": ["bitserial_add_tree.v", "dot_host.v", "stripes_pe.v"],
                     "laconic_dot": ["bitserial_add_tree.v", "dot_host.v", "laconic_pe.v"],
                     "bitfusion_dot": ["bitfusion_pe.v", "bitserial_add_tree.v", "dot_host.v"]}


def test_params():
    assert bitserial_params(StripesConfig(lanes=3), 23) == {"A_W": 8, "W_W": 8, "ACC_W": 32, "DEPTH": 24,
                                                             "LANES": 3, "A_SIGNED": 1}
    assert bitserial_params(BitFusionConfig(4, 2, a_signed=False), 5)["PAIRS"] == 8
    assert bitserial_params(BitFusionConfig(4, 2, a_signed=False), 5)["DEPTH"] == 32


A = np.zeros(5, np.int64)


@pytest.mark.parametrize("kwargs,message", [
    (dict(sim="vcs"), r"sim must be one of \('icarus', 'verilator'\), got 'vcs'"),
    (dict(seed=1.5), r"seed must be an integer, got 1.5"),
    (dict(cfg=4), r"cfg must be a StripesConfig, LaconicConfig or BitFusionConfig, got int"),
    (dict(cfg=StripesConfig(a_bits=16, w_bits=16, acc_bits=31)),
     r"acc_bits must be >= a_bits \+ w_bits = 32 for the RTL \(the product width\), got 31"),
    (dict(a=np.array([1, 2, 300, 4, 5])), r"workload 0: a must be signed 8-bit values in \[-128, 127\], got 300"),
    (dict(w=np.ones(4, np.int64)), r"workload 0: a and w must have the same length K, got 5 and 4"),
])
def test_rejects_bad_arguments(kwargs, message):
    args = dict(a=A, w=A, cfg=StripesConfig(), sim="icarus") | kwargs
    with pytest.raises(ValueError, match=message):
        run_bitserial_cosim(**args)


def test_batch_needs_pairs():
    with pytest.raises(ValueError, match="at least one"):
        run_bitserial_cosim_batch([], LaconicConfig())
    with pytest.raises(ValueError, match=r"workload 0 must be an \(a, w\) pair of integer vectors, got ndarray"):
        run_bitserial_cosim_batch([A], LaconicConfig())


def test_pes_synthesise():
    """yosys takes each PE; its flip-flops are exactly the registers the models step."""
    from reports.synth import synthesize

    s = synthesize(sources_for("stripes_pe"), "stripes_pe", {"LANES": 4}, progress=None)
    assert s.flop_bits == 32 + 32  # accumulator + result
    lac = synthesize(sources_for("laconic_pe"), "laconic_pe", {"LANES": 4}, progress=None)
    assert lac.flop_bits == 32 + 32 + 4 * (4 + 4)  # + per lane the a-term and w-term done masks
    bf = synthesize(sources_for("bitfusion_unit"), "bitfusion_unit", {"PAIRS": 1}, progress=None)
    assert bf.flop_bits == 32 + 32
    for r in (s, lac, bf):
        assert r.area_um2 > 0 and r.logic_depth > 10
    assert lac.area_um2 > s.area_um2  # Booth encoders and term decoders in every lane


def test_inventory_parses_the_new_files():
    """pyverilog (rtl_models.inventory) reads the new Verilog; the tops' ports follow the parameters."""
    from rtl_models.inventory import inventory

    files = sorted({p for t in ("stripes_dot", "laconic_dot", "bitfusion_dot") for p in sources_for(t)})
    mods = inventory(files)
    assert {"stripes_dot", "laconic_dot", "bitfusion_dot", "bitserial_add_tree", "bitbrick", "dot_host"} <= set(mods)
    widths = mods["laconic_dot"].port_widths({"A_W": 5, "W_W": 3, "ACC_W": 24, "DEPTH": 32})
    assert (widths["ld_a"], widths["ld_w"], widths["result"], widths["ld_addr"], widths["k_len"]) == (5, 3, 24, 5, 6)
