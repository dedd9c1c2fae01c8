"""kernels/decode_attention.py: the Triton decode-attention kernel over a quantised (WKVQuant / RTN)
or dense KV cache, against the float64 reference on the same stored values.

Runs in Triton's interpreter on the CPU here, compiled on a GPU (``cuda``). Tolerance:
kernels.decode_attention.decode_attention_tolerance, twice a first-order bound of the kernel's fp32
rounding (scores, exponentials, the sums over tokens and chunks, the output's dtype), computed per
output element from the operands; each test also reports how much of it was used.
"""

import math

import pytest
import torch

from kernels.decode_attention import (
    HEAD_DIMS,
    block_t,
    decode_attention,
    decode_attention_reference,
    decode_attention_tolerance,
    plan_splits,
)
from kernels.kv_quant import (
    ChannelSmoothing,
    KVQuantizer,
    QuantizedKV,
    calibrate_smoothing,
    kv_quant_attention,
    quantize_kv,
)
from kernels.testing import DEVICES, one_torch_thread  # noqa: F401  (autouse fixture)

# The cases live in the benchmark module, whose sm90_launches() compiles every GPU launch of them:
# context lengths 1 (only the current token, or only one cached token), within a tile, exactly a
# tile, non-multiples of the tile over several chunks; head sizes 32, 64, 128; K and V at different
# widths; and the dense (unquantised) mode
from bench.test_bench_decode_attention import TEST_DENSE_CASES as DENSE_CASES  # noqa: E402
from bench.test_bench_decode_attention import TEST_QUANT_CASES as QUANT_CASES  # noqa: E402


def _kv(B, H, T, D, seed, outliers=True):
    """Random K and V (B, H, T, D) with a few outlier channels in K (offset and large), as real keys have."""
    gen = torch.Generator().manual_seed(seed)
    k = torch.randn(B, H, T, D, generator=gen)
    v = torch.randn(B, H, T, D, generator=gen)
    if outliers:
        k[..., 3] = 8 * k[..., 3] + 6
        k[..., D - 2] = 4 * k[..., D - 2] - 5
    return k, v, gen


def _close(got, want, tol, what):
    diff = (got.cpu().double() - want).abs()
    used = float((diff / tol).max())
    assert bool((diff <= tol).all()), f"{what}: {used:.3g} x the tolerance (max |diff| {float(diff.max()):.3g})"
    return used


def _quant_operands(case, device, seed=0):
    B, H, T, D, kb, vb, g, smooth, new, _, dtype = case
    k, v, gen = _kv(B, H, T + 1, D, seed)
    cal_k, cal_v, _ = _kv(B, H, 64, D, seed + 1000)  # calibration data: other draws of the same distribution
    kc = quantize_kv(k[:, :, :T], kb, g, calibrate_smoothing(cal_k) if smooth else None)
    vc = quantize_kv(v[:, :, :T], vb, g, calibrate_smoothing(cal_v) if smooth else None)
    q = (torch.randn(B, H, D, generator=gen) * 0.5).to(dtype)
    extra = (k[:, :, T].to(dtype), v[:, :, T].to(dtype)) if new else ()
    cpu = (q, kc, vc, *extra)
    dev = tuple(a.to(device) for a in cpu)
    return cpu, dev


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", QUANT_CASES, ids=lambda c: f"B{c[0]}H{c[1]}T{c[2]}D{c[3]}K{c[4]}V{c[5]}g{c[6]}"
                         f"{'-smooth' if c[7] else ''}{'-new' if c[8] else ''}-s{c[9]}-{str(c[10])[6:]}")
def test_quantised_matches_reference(device, case):
    cpu, dev = _quant_operands(case, device)
    got = decode_attention(*dev, num_splits=case[9])
    assert got.dtype == case[10] and tuple(got.shape) == tuple(cpu[0].shape) and got.device.type == device
    _close(got, decode_attention_reference(*cpu), decode_attention_tolerance(*cpu), f"quantised {case}")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", DENSE_CASES, ids=lambda c: f"B{c[0]}H{c[1]}T{c[2]}D{c[3]}-{str(c[4])[6:]}"
                         f"{'-new' if c[5] else ''}-s{c[6]}")
def test_dense_matches_reference(device, case):
    B, H, T, D, dtype, new, splits = case
    gen = torch.Generator().manual_seed(T)
    k, v = (torch.randn(B, H, T + 1, D, generator=gen).to(dtype) for _ in range(2))
    q = torch.randn(B, H, D, generator=gen).to(dtype)
    cpu = (q, k[:, :, :T], v[:, :, :T], *((k[:, :, T], v[:, :, T]) if new else ()))
    got = decode_attention(*(a.to(device) for a in cpu), num_splits=splits)
    assert got.dtype == dtype
    _close(got, decode_attention_reference(*cpu), decode_attention_tolerance(*cpu), f"dense {case}")


def test_gpu_cases_are_the_ones_sm90_compiles():
    """bench/test_bench_decode_attention.py's sm90_launches() compiles these cases' GPU launches."""
    from bench.test_bench_decode_attention import TEST_DENSE_CASES, TEST_QUANT_CASES

    assert TEST_QUANT_CASES == QUANT_CASES
    assert TEST_DENSE_CASES == DENSE_CASES


def test_every_split_count_gives_the_reference():
    # T = 190 at D = 32: 3 tiles of 64; splits 1, 2, 3 and more than the tiles (capped at 3)
    case = (1, 2, 190, 32, 4, 4, 32, True, True, None, torch.float32)
    cpu, _ = _quant_operands(case, "cpu", seed=5)
    want, tol = decode_attention_reference(*cpu), decode_attention_tolerance(*cpu)
    outs = []
    for splits in (1, 2, 3, 7):
        assert plan_splits(2, 190, 32, num_splits=splits)[0] == min(splits, 3)
        outs.append(decode_attention(*cpu, num_splits=splits))
        _close(outs[-1], want, tol, f"num_splits={splits}")
    assert torch.equal(outs[2], outs[3])  # 7 splits of 3 tiles run as 3
    assert torch.equal(decode_attention(*cpu, num_splits=2), outs[1])  # deterministic


def test_plan_splits_covers_the_context_without_empty_chunks():
    for T in (1, 15, 64, 65, 1000, 4096, 32768):
        for bh in (1, 8, 256, 4096):
            for D in HEAD_DIMS:
                n, chunk = plan_splits(bh, T, D)
                bt = block_t(D)
                assert chunk % bt == 0 and n >= 1
                assert (n - 1) * chunk < T <= n * chunk  # every chunk starts inside the context
                assert n <= math.ceil(T / bt)
    assert plan_splits(8, 0, 64) == (0, 0)
    # B x H = 256 on 132 SMs: about 4 programs per SM
    assert plan_splits(256, 32768, 128, sm_count=132)[0] == 3


def test_past_only_decoding_is_kv_quant_attention():
    """Token-by-token decoding through the kernel (the past from the quantised cache, the current
    token exact) computes what kv_quant_attention(past_only=True) computes over the whole sequence;
    and with the current token read from the cache too, what past_only=False computes."""
    B, H, S, D = 1, 2, 12, 32
    k, v, gen = _kv(B, H, S, D, seed=3)
    q = torch.randn(B, H, S, D, generator=gen)
    kq = KVQuantizer(2, smoothing=calibrate_smoothing(_kv(B, H, 64, D, seed=4)[0]))
    vq = KVQuantizer(2)
    kc, vc = kq.quantize(k), vq.quantize(v)
    whole = kv_quant_attention(q, k, v, kq, vq, past_only=True)
    whole_all = kv_quant_attention(q, k, v, kq, vq, past_only=False)
    assert float((whole - whole_all).abs().max()) > 1e-3  # the two semantics differ here
    for t in range(S):
        args = (q[:, :, t], kc.tokens(0, t), vc.tokens(0, t), k[:, :, t], v[:, :, t])
        _close(decode_attention(*args), decode_attention_reference(*args), decode_attention_tolerance(*args),
               f"past-only step {t}")
        # the torch path is fp32 throughout: within 1e-5 of max |v| of the float64 reference
        assert torch.allclose(whole[:, :, t].double(), decode_attention_reference(*args), rtol=0, atol=1e-5 * float(v.abs().max()))
        args_all = (q[:, :, t], kc.tokens(0, t + 1), vc.tokens(0, t + 1))
        got_all = decode_attention(*args_all)
        _close(got_all, decode_attention_reference(*args_all), decode_attention_tolerance(*args_all), f"step {t}")
        assert torch.allclose(whole_all[:, :, t].double(), got_all.double(), rtol=0, atol=1e-5 * float(v.abs().max()))


def test_tolerance_catches_a_one_percent_scale_error():
    # the tolerance is a worst-case bound (on these operands ~1e-3, about 1000x the error fp32
    # rounding actually makes, ~1e-6): still below what a kernel with a 1% wrong score scale
    # or a dropped channel-smoothing shift gets wrong
    case = (1, 2, 100, 64, 4, 4, 64, True, True, None, torch.float32)
    cpu, _ = _quant_operands(case, "cpu", seed=9)
    want, tol = decode_attention_reference(*cpu), decode_attention_tolerance(*cpu)
    used = _close(decode_attention(*cpu), want, tol, "sm_scale right")
    assert used < 0.01
    got = decode_attention(*cpu, sm_scale=1.01 / math.sqrt(64))
    assert bool(((got.double() - want).abs() > tol).any())
    q, kc, vc, kn, vn = cpu
    wrong = QuantizedKV(kc.codes, kc.scales, kc.mins, 4, 64, 64,
                        ChannelSmoothing(torch.zeros_like(kc.smoothing.shift), kc.smoothing.scale))
    got = decode_attention(q, wrong, vc, kn, vn)
    assert bool(((got.double() - want).abs() > tol).any())


# %%
# Bad input
# ---------


def _ops(D=32, T=4, dtype=torch.float32):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(1, 2, T, D, generator=gen)
    q = torch.randn(1, 2, D, generator=gen).to(dtype)
    return q, quantize_kv(x, 4), quantize_kv(x, 4), x[:, :, 0].to(dtype), x[:, :, 1].to(dtype)


def test_kv_length_zero_is_an_error():
    q, kc, vc, kn, vn = _ops()
    with pytest.raises(ValueError, match="the KV length is 0"):
        decode_attention(q, kc.tokens(0, 0), vc.tokens(0, 0))
    empty = torch.zeros(1, 2, 0, 32)
    with pytest.raises(ValueError, match="the KV length is 0"):
        decode_attention(q, empty, empty)
    # the current token alone is a context of one: softmax of one score is 1, out = v_new
    out = decode_attention(q, kc.tokens(0, 0), vc.tokens(0, 0), kn, vn)
    assert torch.allclose(out, vn, rtol=0, atol=1e-6)


def test_unsupported_head_size_is_an_error():
    x = torch.randn(1, 2, 4, 48)
    c = quantize_kv(x, 4, 16)
    with pytest.raises(ValueError, match=r"head dimension D = 48 \(q.shape\[-1\]\) is not supported"):
        decode_attention(torch.randn(1, 2, 48), c, c)
    with pytest.raises(ValueError, match="D = 16"):
        decode_attention(torch.randn(1, 2, 16), torch.randn(1, 2, 4, 16), torch.randn(1, 2, 4, 16))


def test_mismatched_dtypes_are_errors():
    q, kc, vc, kn, vn = _ops()
    dense = torch.randn(1, 2, 4, 32)
    with pytest.raises(TypeError, match="k_cache has dtype torch.float16; the dense cache must have q's dtype"):
        decode_attention(q, dense.half(), dense)
    with pytest.raises(TypeError, match="v_new has dtype torch.bfloat16; it must have q's dtype torch.float32"):
        decode_attention(q, kc, vc, kn, vn.bfloat16())
    with pytest.raises(TypeError, match="q must have dtype float16, bfloat16 or float32, got torch.float64"):
        decode_attention(q.double(), kc, vc)
    with pytest.raises(TypeError, match="k_cache and v_cache must both be QuantizedKV"):
        decode_attention(q, kc, dense)


def test_mismatched_shapes_are_errors():
    q, kc, vc, kn, vn = _ops()
    with pytest.raises(ValueError, match="q must be 3-D"):
        decode_attention(q[0], kc, vc)
    with pytest.raises(ValueError, match=r"k_cache holds 4 tokens but v_cache 3"):
        decode_attention(q, kc, vc.tokens(0, 3))
    with pytest.raises(ValueError, match=r"v_cache has shape \(1, 1, 4, 32\)"):
        decode_attention(q, torch.randn(1, 2, 4, 32), torch.randn(1, 1, 4, 32))
    with pytest.raises(ValueError, match=r"k_new must have q's shape \(B, H, D\) = \(1, 2, 32\)"):
        decode_attention(q, kc, vc, kn[:, :1], vn)
    with pytest.raises(ValueError, match="k_new and v_new .* go together"):
        decode_attention(q, kc, vc, kn)
    with pytest.raises(ValueError, match=r"k_cache has shape \(1, 2, 4, 32\)"):
        decode_attention(torch.randn(2, 2, 32), kc, vc)


def test_mismatched_devices_and_arguments_are_errors():
    q, kc, vc, kn, vn = _ops()
    with pytest.raises(ValueError, match="all operands must be on one device, got .*k_new on meta"):
        decode_attention(q, kc, vc, kn.to("meta"), vn)
    with pytest.raises(ValueError, match="the operands are on meta; decode_attention runs on cuda"):
        decode_attention(q.to("meta"), kc.to("meta"), vc.to("meta"))
    with pytest.raises(ValueError, match="num_splits must be a positive integer"):
        decode_attention(q, kc, vc, num_splits=0)
    with pytest.raises(ValueError, match="sm_scale must be a positive finite number"):
        decode_attention(q, kc, vc, sm_scale=-1.0)
    with pytest.raises(TypeError, match="k_new must be a torch.Tensor, got list"):
        decode_attention(q, kc, vc, [0.0], vn)
