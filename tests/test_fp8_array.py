"""The output-stationary FP8 MAC array three ways, held equal bit for bit:

* the cycle model sim/fp8_array.py (fast: closed forms + vectorised sequential accumulation;
  stepwise: every register clock by clock, checked against the closed forms by itself);
* the exact torch emulation kernels.fp8.scaled_fp8_gemm_emulated (unit scales) and the single
  MAC's model sim.fp8 (dot_fp8_bits / simulate_dot), per output;
* the Verilog rtl_models/verilog/fp8_os_array.v on Icarus and Verilator (result bits and the
  measured start->done cycles of every fold).

Where the order matters. FP32 addition is not associative: for the products (max*max, tiny,
-max*max) the sequential sum k = 0, 1, 2 from +0 is +0 (tiny is absorbed by max*max, whose FP32
ulp is 2**-6 for e4m3, 2**8 for e5m2), the exact sum is tiny, and the order (max*max, -max*max,
tiny) gives tiny. The model, the single MAC, the emulation and the RTL all add in the order
k = 0..K-1 from +0, so they agree *exactly*; a GPU kernel (tensor cores add blocks of products)
would agree only to within FP32 accumulation error, which is why the emulation, not a GPU
kernel, is the anchor here. The starting +0 matters too: (+0) + (-0) = +0 but (-0) + (-0) = -0,
so an accumulator cleared to -0 turns an all-(-0) dot product into -0 (caught below).

NaN policy (sim/fp8.py): every NaN result is the canonical 0x7FC00000; the emulation's NaN bits
are canonicalised (sim.fp8.f32_to_bits) before comparing, because torch does not define them.

Cost on 2 cores: Icarus builds a 3x2 array in ~1 s and runs a batch in ~3 s; a Verilator build
takes ~40 s the first time (cached in rtl_models/build after), so Verilator runs one mixed
e4m3 x e5m2 build (both operand decoders).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from kernels.fp8 import FP8_DTYPES, fp8_saturating, scaled_fp8_gemm_emulated
from rtl_models.cosim import CosimError
from rtl_models.fp8_array_cosim import run_fp8_array_cosim_batch
from rtl_models.testing import broken_rtl, needs
from sim.fp8 import (
    E4M3,
    E5M2,
    Fp8MacConfig,
    bits_to_f32,
    decode,
    dot_fp8_bits,
    encode,
    f32_to_bits,
    fp8_product_bits,
    get_format,
    simulate_dot,
)
from sim.fp8_array import (
    Fp8ArrayConfig,
    edge_workloads,
    estimate_gemm,
    fold_cycles,
    fold_events,
    fold_schedule,
    nan_mask,
    simulate_gemm,
)

FORMAT_PAIRS = [("e4m3", "e4m3"), ("e5m2", "e5m2"), ("e4m3", "e5m2"), ("e5m2", "e4m3")]



def emulated_bits(a_codes, b_codes, fa, fb) -> np.ndarray:
    """kernels.fp8's exact emulation with unit scales ((acc * 1) * 1 = acc), as canonical FP32 bits."""
    a = torch.from_numpy(np.asarray(a_codes, np.uint8).copy()).view(FP8_DTYPES[fa])
    b = torch.from_numpy(np.asarray(b_codes, np.uint8).copy()).view(FP8_DTYPES[fb])
    one = torch.ones((), dtype=torch.float32)
    return f32_to_bits(scaled_fp8_gemm_emulated(a, b, one, one).numpy())


def extra_workloads(cfg: Fp8ArrayConfig, seed: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Several folds with partial tiles on both edges, and all-(-0) products."""
    rng = np.random.default_rng(seed)
    fa, fb = get_format(cfg.fmt_a), get_format(cfg.fmt_b)
    k = min(cfg.depth, 5)
    a = rng.integers(0, fa.max_code + 1, (2 * cfg.rows + 1, k)) | (rng.integers(0, 2, (2 * cfg.rows + 1, k)) << 7)
    b = rng.integers(0, fb.max_code + 1, (k, cfg.cols + 1)) | (rng.integers(0, 2, (k, cfg.cols + 1)) << 7)
    neg = np.full((cfg.rows, k), 0x80)  # -0 * +0 = -0: every product -0, the sum from +0 is +0
    return [("multi_fold_partial", a, b), ("all_products_minus_zero", neg, np.zeros((k, cfg.cols), np.int64))]


# ------------------------------------------------------------------------------------------
# the model against the emulation and the single MAC
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fa,fb", FORMAT_PAIRS)
def test_model_equals_emulation_and_single_mac(fa, fb):
    cfg = Fp8ArrayConfig(3, 2, fa, fb, depth=8)
    mac = Fp8MacConfig(fa, fb, addr_bits=3)
    work = edge_workloads(cfg, seed=1) + extra_workloads(cfg, seed=1)
    assert {"zeros_both_signs", "subnormals", "max_codes", "nan_operand", "order_cancellation"} <= {w[0] for w in work}
    for name, a, b in work:
        fast = simulate_gemm(a, b, cfg)
        step = simulate_gemm(a, b, cfg, mode="stepwise")  # raises if its cycles / events / C differ
        np.testing.assert_array_equal(step.c_bits, fast.c_bits, err_msg=name)
        assert step.fold_cycles == fast.fold_cycles and step.events == fast.events, name
        np.testing.assert_array_equal(fast.c_bits, emulated_bits(a, b, fa, fb), err_msg=name)
        for i in range(a.shape[0]):
            for j in range(b.shape[1]):
                assert fast.c_bits[i, j] == dot_fp8_bits(a[i], b[:, j], fa, fb), (name, i, j)
        # the single MAC's cycle-level model, for one output of each workload
        assert fast.c_bits[-1, -1] == simulate_dot(a[-1], b[:, -1], mac).result_bits, name
        # every NaN the model returns is the canonical 0x7FC00000 (the emulation's were canonicalised)
        c = fast.c_bits
        assert np.all(c[nan_mask(c)] == 0x7FC00000), name


def test_specials_follow_the_documented_policy():
    cfg = Fp8ArrayConfig(2, 2, "e5m2", "e5m2", depth=8)
    work = {name: (a, b) for name, a, b in edge_workloads(cfg, seed=0)}
    c = simulate_gemm(*work["nan_operand"], cfg).c_bits
    assert np.all(c[0] == 0x7FC00000) and not nan_mask(c[1]).any()  # a NaN in row 0 of A
    c = simulate_gemm(*work["inf_minus_inf"], cfg).c_bits
    assert np.all(c == 0x7FC00000)  # Inf + (-Inf)
    c = simulate_gemm(*work["inf"], cfg).c_bits
    assert c[0, 0] == 0x7FC00000  # Inf * 0
    assert np.all(np.isinf(bits_to_f32(c[0, 1:])))  # Inf * Inf plus finite terms
    c = simulate_gemm(*work["zeros_both_signs"], cfg).c_bits
    assert np.all(c == 0)  # +0: the accumulator starts at +0, so -0 products leave it +0


def test_accumulation_order_is_sequential_from_plus_zero():
    """(max*max, tiny, -max*max): +0 in order k = 0, 1, 2; tiny in any order that adds the two
    big products first, and in exact arithmetic; every implementation here gives +0."""
    for fmt in (E4M3, E5M2):
        cfg = Fp8ArrayConfig(1, 1, fmt.name, fmt.name, depth=4)
        a = np.array([[fmt.max_code, 1, fmt.max_code | 0x80]])
        b = np.array([[fmt.max_code], [1], [fmt.max_code]])
        tiny = float(decode(1, fmt)) ** 2
        # math.fsum: the correctly rounded exact sum (float64 alone drops 2**-32 next to 2**31.6)
        exact = math.fsum(decode(a[0], fmt).astype(np.float64) * decode(b[:, 0], fmt).astype(np.float64))
        assert exact == tiny > 0
        assert simulate_gemm(a, b, cfg).c_bits[0, 0] == 0  # sequential: tiny absorbed, then cancelled
        assert emulated_bits(a, b, fmt.name, fmt.name)[0, 0] == 0
        swapped = [0, 2, 1]  # (max*max, -max*max, tiny): the order changes the bits
        assert bits_to_f32(simulate_gemm(a[:, swapped], b[swapped], cfg).c_bits)[0, 0] == np.float32(tiny)


@pytest.mark.parametrize("fa,fb", FORMAT_PAIRS)
def test_all_256x256_operand_pairs_model_equals_emulation(fa, fb):
    """A = every code (256 x 1), B = every code (1 x 256): C holds all 65,536 exact products."""
    cfg = Fp8ArrayConfig(16, 16, fa, fb, depth=2)
    a = np.arange(256).reshape(256, 1)
    b = np.arange(256).reshape(1, 256)
    res = simulate_gemm(a, b, cfg)
    np.testing.assert_array_equal(res.c_bits, emulated_bits(a, b, fa, fb))
    grid_a, grid_b = np.meshgrid(np.arange(256), np.arange(256), indexing="ij")
    products = fp8_product_bits(grid_a, grid_b, fa, fb)
    # C = +0 + product: the product itself, except -0 (a zero times a zero of the other sign),
    # which the accumulator's starting +0 turns into +0
    minus_zero = products == 0x80000000
    assert minus_zero[0x80, 0x00] and minus_zero[0x01, 0x80] and not minus_zero[0x80, 0x80]
    np.testing.assert_array_equal(res.c_bits, np.where(minus_zero, np.uint32(0), products))
    assert len(res.folds) == 256 and res.fold_cycles == [2 * 16 + 16 + 1 - 1] * 256


@pytest.mark.parametrize("fmt", ["e4m3", "e5m2"])
def test_saturated_inputs(fmt):
    """Overflowing and infinite floats, quantised by the saturating casts of kernels.fp8 and of
    sim.fp8.encode (the same codes), then multiplied: +-max codes (e4m3: Inf -> 448 too)."""
    f = get_format(fmt)
    x = np.array([[1e9, -1e9, np.inf, 3.0], [-np.inf, 0.5, 1e6, -2.0]], np.float32)
    codes = encode(x, fmt).astype(np.int64)
    torch_codes = fp8_saturating(torch.from_numpy(x), fmt).view(torch.uint8).numpy().astype(np.int64)
    np.testing.assert_array_equal(codes, torch_codes)
    assert codes[0, 0] == f.max_code and codes[0, 1] == f.max_code | 0x80
    if not f.has_inf:
        assert codes[0, 2] == f.max_code and codes[1, 0] == f.max_code | 0x80
    b = encode(np.array([[1.0, -1.0], [2.0, 0.5], [0.25, 4.0], [1.0, 1.0]], np.float32), fmt).astype(np.int64)
    cfg = Fp8ArrayConfig(2, 2, fmt, fmt, depth=4)
    c = simulate_gemm(codes, b, cfg, mode="stepwise").c_bits
    np.testing.assert_array_equal(c, emulated_bits(codes, b, fmt, fmt))
    if not f.has_inf:
        assert np.all(np.isfinite(bits_to_f32(c)))  # no Inf anywhere in e4m3
    else:
        assert np.isinf(bits_to_f32(c)).any()


# ------------------------------------------------------------------------------------------
# cycles and events
# ------------------------------------------------------------------------------------------


def test_fold_cycles_and_events_closed_forms():
    cfg = Fp8ArrayConfig(3, 2, depth=8)
    assert fold_cycles(cfg, 5) == 2 * 3 + 2 + 5 - 1 == 12
    folds = fold_schedule(7, 3, 5, cfg)  # m-tiles 0:3, 3:6, 6:7 x n-tiles 0:2, 2:3
    assert [(f.m0, f.m1, f.n0, f.n1) for f in folds] == [(0, 3, 0, 2), (0, 3, 2, 3), (3, 6, 0, 2), (3, 6, 2, 3),
                                                         (6, 7, 0, 2), (6, 7, 2, 3)]
    ev = fold_events(cfg, folds[-1])  # a 1 x 1 corner of a 3 x 2 array, K = 5
    assert ev["macs"] == 5 and ev["mac_slots"] == ev["fp8_mults"] == ev["fp32_adds"] == 30
    assert ev["pe_drain_reg_writes"] == 2 * (3 + 2 + 1)
    assert ev["a_buffer_reads_bytes"] == 15 and ev["b_buffer_reads_bytes"] == 10
    assert ev["out_buffer_writes_bytes"] == 24
    assert ev["reg_bits_written"] == 30 * 80 + 12 * 32
    est = estimate_gemm(7, 3, 5, cfg)
    assert est.c_bits is None and est.cycles == 6 * 12 and est.events["macs"] == 7 * 3 * 5
    assert est.mapping_efficiency == pytest.approx(105 / 180)
    rng = np.random.default_rng(4)
    a, b = rng.integers(0, 0x7F, (7, 5)), rng.integers(0, 0x7F, (5, 3))
    step = simulate_gemm(a, b, cfg, mode="stepwise")  # stepping reproduces every fold's closed forms
    assert step.fold_cycles == est.fold_cycles and step.events == est.events
    with pytest.raises(ValueError, match="this result holds no C"):
        _ = est.c


# ------------------------------------------------------------------------------------------
# RTL
# ------------------------------------------------------------------------------------------


@pytest.mark.rtl
@pytest.mark.parametrize("sim,rows,cols,fa,fb", [
    ("icarus", 2, 2, "e4m3", "e4m3"),
    ("icarus", 3, 2, "e5m2", "e5m2"),
    ("icarus", 2, 3, "e5m2", "e4m3"),
    ("verilator", 3, 2, "e4m3", "e5m2"),
])
def test_rtl_equals_model_bits_and_cycles(sim, rows, cols, fa, fb):
    needs(sim)
    cfg = Fp8ArrayConfig(rows, cols, fa, fb, depth=8)
    work = edge_workloads(cfg, seed=5) + extra_workloads(cfg, seed=5)
    results = run_fp8_array_cosim_batch([(a, b) for _, a, b in work], cfg, sim=sim, seed=5)
    assert len(results) == len(work)
    for (name, a, b), rtl in zip(work, results):
        model = simulate_gemm(a, b, cfg)
        np.testing.assert_array_equal(rtl.values, model.c_bits, err_msg=name)
        np.testing.assert_array_equal(rtl.values, emulated_bits(a, b, fa, fb), err_msg=name)
        assert list(rtl.fold_cycles) == model.fold_cycles, name
        assert list(rtl.fold_cycles) == [2 * rows + cols + a.shape[1] - 1] * len(model.folds), name
        assert rtl.sim == sim


@pytest.mark.rtl
def test_bench_catches_an_accumulator_cleared_to_minus_zero(tmp_path, monkeypatch):
    """The drain clears the accumulators for the next fold; clearing them to -0 instead of +0 turns
    a second fold's all-(-0) dot products into -0 (0x80000000), and the bench says so."""
    needs("icarus")
    build_root = broken_rtl(tmp_path, monkeypatch, "fp8_os_array.v", "assign acc_link[j] = 32'd0;",
                            "assign acc_link[j] = 32'h80000000;", count=None)
    cfg = Fp8ArrayConfig(2, 2, depth=4)
    neg = np.full((2, 2), 0x80)
    with pytest.raises(CosimError, match=r"workload 1 \(2x2x2\): 4 outputs differ from the model; first "
                                         r"C\[0,0\] = 0x80000000, model 0x00000000"):
        run_fp8_array_cosim_batch([(neg, np.zeros((2, 2), np.int64))] * 2, cfg, build_root=build_root)


@pytest.mark.rtl
def test_bench_catches_a_late_done(tmp_path, monkeypatch):
    """Cycles are measured: a drain that starts one edge late fails the bench with both counts."""
    needs("icarus")
    broken_rtl(tmp_path, monkeypatch, "fp8_os_array.v", "FILL_I = R + C - 1;", "FILL_I = R + C;", count=None)
    build_root = broken_rtl(tmp_path, monkeypatch, "fp8_os_array.v", "LAST_I = 2 * R + C - 2;",
                            "LAST_I = 2 * R + C - 1;", count=None)
    cfg = Fp8ArrayConfig(2, 2, depth=4)
    one = np.full((2, 3), 0x38)  # 1.0 in e4m3
    with pytest.raises(CosimError, match=r"workload 0 \(2x2x3\) fold 0: 9 cycles, model 8"):
        run_fp8_array_cosim_batch([(one, one.T.copy())], cfg, build_root=build_root)


# ------------------------------------------------------------------------------------------
# argument checks (no simulator runs)
# ------------------------------------------------------------------------------------------

CFG = Fp8ArrayConfig(2, 2, depth=4)
A2 = np.zeros((2, 2), np.int64)


@pytest.mark.parametrize("call,exc,message", [
    (lambda: Fp8ArrayConfig(0, 2), ValueError, r"rows must be a positive integer \(array size\), got 0"),
    (lambda: Fp8ArrayConfig(2, True), ValueError, r"cols must be a positive integer \(array size\), got True"),
    (lambda: Fp8ArrayConfig(2, 2, fmt_a="fp8"), ValueError, r"fmt_a: fmt must be 'e4m3', 'e5m2'"),
    (lambda: Fp8ArrayConfig(2, 2, fmt_b=2), ValueError, r"fmt_b: fmt must be 'e4m3', 'e5m2'"),
    (lambda: Fp8ArrayConfig(2, 2, depth=6), ValueError, r"depth must be a power of two in 2..65536"),
    (lambda: Fp8ArrayConfig(2, 2, depth=1 << 17), ValueError, r"depth must be a power of two in 2..65536"),
    (lambda: simulate_gemm(A2.astype(np.float32), A2, CFG), TypeError,
     r"a must be an integer array of FP8 codes \(uint8 bit patterns\), got dtype float32"),
    (lambda: simulate_gemm(A2, np.zeros(2, np.int64), CFG), ValueError,
     r"b must be a non-empty 2-D matrix of FP8 codes, got shape \(2,\)"),
    (lambda: simulate_gemm(A2 + 256, A2, CFG), ValueError, r"a holds values outside the FP8 codes 0..255"),
    (lambda: simulate_gemm(np.zeros((2, 3), np.int64), A2, CFG), ValueError,
     r"inner dimensions differ: a is \(2, 3\) \(M x K\), b is \(2, 2\) \(K x N\)"),
    (lambda: simulate_gemm(np.zeros((2, 5), np.int64), np.zeros((5, 2), np.int64), CFG), ValueError,
     r"K = 5 exceeds the operand buffer depth 4"),
    (lambda: simulate_gemm(A2, A2, CFG, mode="slow"), ValueError, r"mode must be 'fast' or 'stepwise', got 'slow'"),
    (lambda: simulate_gemm(A2, A2, Fp8MacConfig()), TypeError, r"cfg must be an Fp8ArrayConfig, got Fp8MacConfig"),
    (lambda: estimate_gemm(0, 2, 2, CFG), ValueError, r"GEMM dimension M must be a positive integer, got 0"),
    (lambda: fold_cycles(CFG, 0), ValueError, r"t \(streamed length, K\) must be a positive integer, got 0"),
    (lambda: run_fp8_array_cosim_batch([(A2, A2)], "2x2"), TypeError, r"cfg must be an Fp8ArrayConfig, got str"),
    (lambda: run_fp8_array_cosim_batch([(A2, A2)], CFG, sim="vcs"), ValueError,
     r"sim must be one of \('icarus', 'verilator'\), got 'vcs'"),
    (lambda: run_fp8_array_cosim_batch([(A2, A2)], CFG, seed=1.5), TypeError, r"seed must be an integer, got 1.5"),
    (lambda: run_fp8_array_cosim_batch([], CFG), ValueError, r"workloads must be a non-empty list"),
    (lambda: run_fp8_array_cosim_batch([(A2, A2), (A2,)], CFG), ValueError,
     r"workload 1 must be an \(a_codes, b_codes\) pair"),
    (lambda: run_fp8_array_cosim_batch([(A2, np.zeros((3, 2), np.int64))], CFG), ValueError,
     r"workload 0: inner dimensions differ"),
])
def test_bad_arguments_are_named(call, exc, message):
    with pytest.raises(exc, match=message):
        call()


def test_config_normalises_formats_and_gives_rtl_params():
    cfg = Fp8ArrayConfig(3, 2, 1, "e4m3", depth=8)
    assert cfg.fmt_a == "e5m2" and cfg.fmt_b == "e4m3"
    assert cfg.rtl_params == {"R": 3, "C": 2, "FMT_A": 1, "FMT_B": 0, "DEPTH": 8}


@pytest.mark.rtl
def test_rtl_every_a_code_against_every_b_class():
    """All 256 e4m3 codes of A against e5m2 B codes of every class (+-0, subnormals, 1, -max,
    Inf, NaN), K = 1 and K = 2, through the array's datapath (the multiplier alone is checked on
    all 256 x 256 pairs in tests/test_rtl_fp8.py). 64 folds of a 4 x 8 array on Icarus."""
    needs("icarus")
    cfg = Fp8ArrayConfig(4, 8, "e4m3", "e5m2", depth=2)
    b_codes = np.array([0x00, 0x80, 0x01, 0x83, 0x3C, 0xFB, 0x7C, 0x7F])
    a1, b1 = np.arange(256).reshape(256, 1), b_codes.reshape(1, 8)
    a2 = np.stack([np.arange(256), np.arange(256)[::-1]], axis=1)  # code m, then code 255 - m
    b2 = np.stack([b_codes, np.roll(b_codes, 3)])
    results = run_fp8_array_cosim_batch([(a1, b1), (a2, b2)], cfg, sim="icarus", seed=7)
    for (a, b), rtl in zip([(a1, b1), (a2, b2)], results):
        np.testing.assert_array_equal(rtl.values, emulated_bits(a, b, "e4m3", "e5m2"))
        assert list(rtl.fold_cycles) == [2 * 4 + 8 + a.shape[1] - 1] * 64
    assert nan_mask(results[0].values).sum() > 256 and np.isinf(bits_to_f32(results[0].values)).sum() > 200
