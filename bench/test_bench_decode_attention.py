"""Decode attention over a quantised KV cache on the GPU (kernels/decode_attention.py) against bf16.

Compared on one GPU in one run: one decode step of B = 8 sequences x 32 heads x 128 (a 7B-class
decoder's layer), context T past tokens + the current one, T in 1k, 4k, 16k, 32k:

* ``wkv4``, ``wkv2``  kernels.decode_attention.decode_attention on a WKVQuant cache: K and V at 4 or
                      2 bits, per-channel smoothing, per-token groups of 128 (fp16 scale and minimum),
                      the current token's K and V exact (past-only); bf16 query and output
* ``bf16_triton``     the same kernel's dense mode on the bf16 cache (past + current token)
* ``sdpa_bf16``       torch.nn.functional.scaled_dot_product_attention on bf16 K and V of all T + 1
                      tokens (the current token already appended), query (B, H, 1, D)

The caches are random codes, scales and minimums (the time does not depend on the values); the
output of one sequence (4 heads of the first and the last) is checked against the float64
reference within decode_attention_tolerance before timing (sdpa against the same reference within
2^-6 max |v|: flash attention rounds the softmax weights to bf16 before P V). At decode time all
four are bound by reading the cache: 2 bytes per K or V element in bf16, b/8 + 4/128 for the
quantised cache, so the ideal speed-ups over bf16 are 3.8x (4-bit) and 7.1x (2-bit).

Reported in ``benchmark.extra_info``: time, ``kv_bytes`` (the cache as stored, read once),
``bytes_moved`` (the cache + q, the current K and V, the output, the channel parameters and the
split workspace written and read), achieved GB/s, ``ratio_vs_<peer>`` (peer time / this time) and
``pct_of_hbm_bandwidth`` against the GPU's datasheet bandwidth (= ``pct_of_roofline``: decode
attention's intensity is ~1 FLOP per byte, far below any GPU's ridge point).

Timing: bench/gpu_timing.py's TIMING_METHOD (CUDA events per call, L2 flushed before each, median;
each implementation timed once per run). Runs only under ``pytest --benchmark`` and only with a CUDA GPU.
"""


import pytest
import torch

from bench.gpu_timing import (
    GPU_ONLY,
    WorkloadCache,
    benchmark_per_call_s,
    gpu_peak,
    machine_info,
    print_past_capture,
)
from kernels.decode_attention import (
    decode_attention,
    decode_attention_reference,
    decode_attention_tolerance,
    plan_splits,
)
from kernels.kv_quant import ChannelSmoothing, QuantizedKV, kv_bytes_per_token

pytestmark = GPU_ONLY

B, H, D = 8, 32, 128
GROUP = 128
CONTEXTS = [1024, 4096, 16384, 32768]
IMPLS = ["wkv4", "wkv2", "bf16_triton", "sdpa_bf16"]
DTYPE = torch.bfloat16
CHECK_HEADS = 4  # heads of the first and the last sequence checked against the reference


def _bits(impl) -> int:
    return int(impl[3])


def bytes_moved(impl: str, T: int) -> tuple[int, int]:
    """(KV-cache bytes as stored, all bytes the call moves at least) for a context of T past tokens."""
    vec = B * H * D * 2  # one bf16 (B, H, D) tensor: q, the current k and v, the output
    if impl in ("bf16_triton", "sdpa_bf16"):
        kv = 2 * B * H * (T + (impl == "sdpa_bf16")) * D * 2
        extra = 4 * vec if impl == "bf16_triton" else 2 * vec
        if impl == "bf16_triton":
            s, _ = plan_splits(B * H, T, D)
            extra += 2 * B * H * s * (D + 2) * 4  # the split workspace, written and read
        return kv, kv + extra
    bits = _bits(impl)
    kv = 2 * B * T * kv_bytes_per_token(H, D, bits, GROUP)
    s, _ = plan_splits(B * H, T, D)
    return kv, kv + 4 * vec + 2 * 2 * H * D * 4 + 2 * B * H * s * (D + 2) * 4


def roofline_bytes(impl: str, T: int) -> int:
    """The roofline's bytes (bench/gpu_plan.py): the KV cache read once as stored, the current
    token's K and V (bf16; for sdpa inside its T + 1 cached tokens), q and the output."""
    vec = B * H * D * 2
    if impl in ("bf16_triton", "sdpa_bf16"):
        return 2 * B * H * (T + 1) * D * 2 + 2 * vec
    return 2 * B * T * kv_bytes_per_token(H, D, _bits(impl), GROUP) + 4 * vec


def roofline_ops(T: int) -> int:
    """2 FLOPs per multiply-add of q K^T and of P V over T + 1 tokens."""
    return 4 * B * H * (T + 1) * D


def _random_cache(T, bits, g) -> QuantizedKV:
    """Random codes, positive fp16 scales and fp16 minimums in the layout quantize_kv writes."""
    codes = torch.randint(-(2**31), 2**31 - 1, (B, H, T, D * bits // 32), dtype=torch.int32, device="cuda", generator=g)
    scales = (torch.rand((B, H, T, D // GROUP), device="cuda", generator=g) * (4.0 / 2**bits) + 1e-3).to(torch.float16)
    mins = (-2.0 - torch.rand((B, H, T, D // GROUP), device="cuda", generator=g)).to(torch.float16)
    smooth = ChannelSmoothing(torch.randn((H, D), device="cuda", generator=g) * 0.1,
                              torch.rand((H, D), device="cuda", generator=g) + 0.5)
    return QuantizedKV(codes, scales, mins, bits, GROUP, D, smooth)


def _rows(cache, b: int):
    """Sequence b, heads 0..CHECK_HEADS-1 of a cache (QuantizedKV or tensor) or a (B, H, D) tensor."""
    if isinstance(cache, QuantizedKV):
        sm = cache.smoothing
        return QuantizedKV(cache.codes[b:b + 1, :CHECK_HEADS], cache.scales[b:b + 1, :CHECK_HEADS],
                           cache.mins[b:b + 1, :CHECK_HEADS], cache.bits, cache.group_size, cache.head_dim,
                           ChannelSmoothing(sm.shift[:CHECK_HEADS].contiguous(), sm.scale[:CHECK_HEADS].contiguous()))
    return cache[b:b + 1, :CHECK_HEADS]


class Workload:
    """The operands of one context length, made once and shared by every implementation."""

    def __init__(self, T):
        self.T = T
        g = torch.Generator(device="cuda").manual_seed(T)
        self.q = torch.randn((B, H, D), device="cuda", generator=g).to(DTYPE)
        self.k_new = torch.randn((B, H, D), device="cuda", generator=g).to(DTYPE)
        self.v_new = torch.randn((B, H, D), device="cuda", generator=g).to(DTYPE)
        self.quant = {bits: (_random_cache(T, bits, g), _random_cache(T, bits, g)) for bits in (4, 2)}
        # bf16 K and V with room for the current token at position T (sdpa reads all T + 1)
        self.k_full = torch.randn((B, H, T + 1, D), device="cuda", generator=g).to(DTYPE)
        self.v_full = torch.randn((B, H, T + 1, D), device="cuda", generator=g).to(DTYPE)
        self.k_full[:, :, T] = self.k_new
        self.v_full[:, :, T] = self.v_new
        self.q4 = self.q[:, :, None]

    def args(self, impl):
        if impl.startswith("wkv"):
            kc, vc = self.quant[_bits(impl)]
            return self.q, kc, vc, self.k_new, self.v_new
        return self.q, self.k_full[:, :, :self.T], self.v_full[:, :, :self.T], self.k_new, self.v_new

    def check(self):
        """Every implementation's output for two sequences x CHECK_HEADS heads against the reference."""
        for impl in IMPLS:
            out = self.fn(impl)().reshape(B, H, D)
            args = self.args(impl)
            for b in (0, B - 1):
                sub = tuple(_rows(a, b) for a in args)
                want = decode_attention_reference(*sub)
                diff = (out[b:b + 1, :CHECK_HEADS].double() - want).abs()
                if impl == "sdpa_bf16":
                    tol = 2.0 ** -6 * float(self.v_full[b, :CHECK_HEADS].abs().max())
                    assert float(diff.max()) <= tol, f"sdpa_bf16 T={self.T}: {float(diff.max()):.3g} > {tol:.3g}"
                else:
                    tol = decode_attention_tolerance(*sub)
                    assert bool((diff <= tol).all()), f"{impl} T={self.T}: outside decode_attention_tolerance"

    def fn(self, impl):
        if impl == "sdpa_bf16":
            return lambda: torch.nn.functional.scaled_dot_product_attention(self.q4, self.k_full, self.v_full)
        args = self.args(impl)
        return lambda: decode_attention(*args)


_CACHE = WorkloadCache(lambda T: Workload(T))


@pytest.fixture(scope="module")
def machine(request):
    info = machine_info()
    peak = gpu_peak(info["gpu"])
    lines = [
        f"decode attention benchmark: kernels.decode_attention on a WKVQuant 4/2-bit cache (groups of {GROUP}, "
        f"past-only) and on bf16, vs torch SDPA on bf16; B={B} H={H} D={D}, contexts {CONTEXTS}",
        "machine: " + ", ".join(f"{k} {v}" for k, v in info.items()),
        f"HBM bandwidth ({peak.model}): {peak.hbm_tb_per_s:g} TB/s; source: {peak.source}" if peak else
        f"HBM bandwidth: unknown for {info['gpu']!r}; % of bandwidth left empty",
    ]
    print_past_capture(request, lines)
    return info, peak


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("T", CONTEXTS, ids=lambda t: f"ctx{t}")
def test_bench_decode_attention(benchmark, machine, impl, T):
    info, peak = machine
    work = _CACHE.workload(T)
    fn = work.fn(impl)
    benchmark.group = f"decode attention B{B} H{H} D{D} ctx {T}"
    time_s, reps = benchmark_per_call_s(benchmark, fn, key=_CACHE.timing_key(impl, T))
    if time_s is None:  # --benchmark-disable: the call ran once, untimed
        return
    _CACHE.times[(impl, T)] = time_s
    kv, moved = bytes_moved(impl, T)
    extra = {
        "impl": impl,
        "shape": f"B{B} H{H} D{D} ctx{T}+1",
        "reps_per_round": reps,
        "time_s": time_s,
        "kv_bytes": kv,
        "bytes_moved": moved,
        "achieved_gb_per_s": moved / time_s / 1e9,
        "gpu": info["gpu"],
        "versions": {k: info[k] for k in ("python", "torch", "cuda", "triton")},
    }
    for peer in IMPLS:
        if peer != impl:
            extra[f"ratio_vs_{peer}"] = _CACHE.time_s(peer, T) / time_s
    if peak is not None:
        pct = 100 * moved / time_s / (peak.hbm_tb_per_s * 1e12)
        extra["pct_of_hbm_bandwidth"] = pct
        extra["pct_of_roofline"] = pct
    benchmark.extra_info.update(extra)


def sm90_launches() -> None:
    """Every Triton launch of this benchmark (4- and 2-bit WKVQuant caches and the bf16 mode at each
    context; the correctness check launches the same, its reference is torch) and of the GPU tests of
    tests/test_kernels_decode_attention.py (its ``cuda`` parameters: the QUANT_CASES and DENSE_CASES
    listed there, mirrored here), for bench/sm90.py: CPU stand-ins, the launches only compile."""
    from bench.sm90 import site

    def quant_cache(b, h, t, d, bits, group, smooth):
        sm = ChannelSmoothing(torch.zeros((h, d)), torch.ones((h, d))) if smooth else None
        return QuantizedKV(torch.zeros((b, h, t, d * bits // 32), dtype=torch.int32),
                           torch.ones((b, h, t, d // group), dtype=torch.float16),
                           torch.zeros((b, h, t, d // group), dtype=torch.float16), bits, group, d, sm)

    vec = torch.zeros((B, H, D), dtype=DTYPE)
    for T in CONTEXTS:
        for bits in (4, 2):
            with site(f"bench wkv{bits} ctx{T}"):
                decode_attention(vec, quant_cache(B, H, T, D, bits, GROUP, True),
                                 quant_cache(B, H, T, D, bits, GROUP, True), vec, vec)
        with site(f"bench bf16_triton ctx{T}"):
            kv = torch.zeros((B, H, T + 1, D), dtype=DTYPE)
            decode_attention(vec, kv[:, :, :T], kv[:, :, :T], vec, vec)
    # tests/test_kernels_decode_attention.py: the cuda parameter of each DEVICES test, at the cases
    # listed there (a CPU test there holds these two lists equal to its own)
    for b, h, t, d, kb, vb, g, smooth, new, splits, dtype in TEST_QUANT_CASES:
        x = torch.zeros((b, h, d), dtype=dtype)
        with site(f"test_quantised_matches_reference B{b} H{h} T{t} D{d} K{kb} V{vb} g{g} smooth={smooth}"):
            decode_attention(x, quant_cache(b, h, t, d, kb, g, smooth), quant_cache(b, h, t, d, vb, g, smooth),
                             *((x, x) if new else ()), num_splits=splits)
    for b, h, t, d, dtype, new, splits in TEST_DENSE_CASES:
        x = torch.zeros((b, h, d), dtype=dtype)
        kv = torch.zeros((b, h, t, d), dtype=dtype)
        with site(f"test_dense_matches_reference B{b} H{h} T{t} D{d} {dtype}"):
            decode_attention(x, kv, kv, *((x, x) if new else ()), num_splits=splits)


#: the cases of tests/test_kernels_decode_attention.py (which imports them), so its GPU launches are compiled here:
#: (B, H, T past, D, K bits, V bits, group, smoothing, current token, num_splits, q dtype) and
#: (B, H, T, D, dtype, current token, num_splits)
TEST_QUANT_CASES = [
    (1, 2, 0, 64, 4, 4, 64, True, True, None, torch.float32),
    (2, 1, 1, 32, 4, 4, 32, False, False, None, torch.float32),
    (1, 2, 1, 128, 2, 2, 128, True, True, None, torch.float32),
    (2, 2, 37, 32, 8, 8, 16, True, True, None, torch.float32),
    (1, 3, 100, 64, 4, 2, 32, True, True, 3, torch.float32),
    (1, 2, 257, 128, 4, 4, 64, True, True, None, torch.bfloat16),
    (2, 2, 64, 64, 2, 2, 64, False, False, 1, torch.float16),
    (1, 2, 130, 32, 4, 4, 8, False, True, 2, torch.float32),
]
TEST_DENSE_CASES = [
    (1, 2, 1, 32, torch.float32, False, None),
    (2, 1, 0, 128, torch.bfloat16, True, None),
    (1, 2, 150, 64, torch.float16, True, None),
    (1, 2, 300, 128, torch.bfloat16, False, 2),
]
