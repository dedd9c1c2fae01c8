"""kernels/kv_quant.py (WKVQuant's past-only and two-dimensional KV-cache quantisation, RTN per token,
the packed layout and its bytes) and reports/sections/kv_quant.py (the tiny LM with a quantised KV
cache; the decode-step bytes and DRAM energy)."""

import math

import pytest
import torch
import torch.nn.functional as F

from kernels.kv_quant import (
    KV_BITS,
    ChannelSmoothing,
    KVQuantizer,
    QuantizedKV,
    calibrate_smoothing,
    dequantize_kv,
    fp16_kv_bytes_per_token,
    kv_bytes_per_token,
    kv_quant_attention,
    pack_kv_codes,
    quantize_kv,
    unpack_kv_codes,
)
from kernels.testing import one_torch_thread  # noqa: F401  (autouse fixture)


def _outlier_kv(n_tokens, seed, B=2, H=4, D=64):
    """Keys as real LLM keys look: most channels ~N(0, 1), a few outlier channels large and offset
    (fixed per head: the same channels for every token), and tokens of different overall size."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(B, H, n_tokens, D, generator=gen) * (0.5 + torch.rand(B, H, n_tokens, 1, generator=gen))
    chans = torch.Generator().manual_seed(1234)  # the outlier channels do not depend on the draw
    for h in range(H):
        idx = torch.randperm(D, generator=chans)[:3]
        gain = 10 + 20 * torch.rand(3, generator=chans)
        offset = 15 * torch.randn(3, generator=chans)
        x[:, h, :, idx] = x[:, h, :, idx] * gain + offset
    return x


# %%
# Packing and bytes
# -----------------


@pytest.mark.parametrize("bits", KV_BITS)
def test_pack_round_trips_and_lays_codes_little_endian(bits):
    gen = torch.Generator().manual_seed(bits)
    codes = torch.randint(0, 2**bits, (2, 3, 5, 64), generator=gen)
    words = pack_kv_codes(codes, bits)
    assert words.dtype == torch.int32 and tuple(words.shape) == (2, 3, 5, 64 * bits // 32)
    assert torch.equal(unpack_kv_codes(words, bits), codes)
    # code j of a word at bits [j b, j b + b)
    per_word = 32 // bits
    one = torch.arange(per_word) % (2**bits)
    want = sum(int(c) << (j * bits) for j, c in enumerate(one))
    got = int(pack_kv_codes(one[None], bits)[0, 0]) & 0xFFFFFFFF
    assert got == want


def test_pack_rejects_bad_codes():
    with pytest.raises(ValueError, match=r"codes must lie in 0..15 for 4 bits, got 0..16"):
        pack_kv_codes(torch.tensor([[0, 16, 0, 0, 0, 0, 0, 0]]), 4)
    with pytest.raises(ValueError, match="the last dimension \\(12\\) must be a multiple of 8"):
        pack_kv_codes(torch.zeros(1, 12, dtype=torch.int64), 4)
    with pytest.raises(ValueError, match=r"bits must be one of \(2, 4, 8\), got 3"):
        pack_kv_codes(torch.zeros(1, 32, dtype=torch.int64), 3)
    with pytest.raises(TypeError, match="codes must be a uint8/int32/int64 tensor, got torch.float32"):
        pack_kv_codes(torch.zeros(1, 8), 4)


@pytest.mark.parametrize("bits", KV_BITS)
@pytest.mark.parametrize("group", [None, 32, 16])
def test_bytes_per_token_are_the_stored_bytes(bits, group):
    B, H, T, D = 2, 4, 7, 64
    q = quantize_kv(torch.randn(B, H, T, D), bits, group)
    g = D if group is None else group
    assert q.bytes_per_token == kv_bytes_per_token(H, D, bits, group) == H * (D * bits // 8 + 4 * D // g)
    assert q.nbytes == B * T * q.bytes_per_token


def test_bytes_of_a_7b_class_layer():
    # 32 heads x 128, groups of 128: K or V of one token and layer
    assert fp16_kv_bytes_per_token(32, 128) == 8192
    assert kv_bytes_per_token(32, 128, 8) == 32 * (128 + 4) == 4224
    assert kv_bytes_per_token(32, 128, 4) == 32 * (64 + 4) == 2176
    assert kv_bytes_per_token(32, 128, 2) == 32 * (32 + 4) == 1152
    assert kv_bytes_per_token(32, 128, 4, 32) == 32 * (64 + 16) == 2560


# %%
# The quantiser
# -------------


@pytest.mark.parametrize("bits", KV_BITS)
def test_exactly_representable_values_round_trip_exactly(bits):
    # x = code * scale + min with fp16 scale and min and both ends of the grid in every group:
    # the quantiser finds that very scale and min, so dequantisation returns x exactly
    gen = torch.Generator().manual_seed(0)
    B, H, T, D, g = 1, 2, 5, 32, 16
    qmax = 2**bits - 1
    codes = torch.randint(0, qmax + 1, (B, H, T, D // g, g), generator=gen)
    codes[..., 0], codes[..., 1] = 0, qmax
    scale = (torch.rand(B, H, T, D // g, 1, generator=gen) + 0.1).half().float()
    mn = torch.randn(B, H, T, D // g, 1, generator=gen).half().float()
    x = (codes * scale + mn).reshape(B, H, T, D)
    q = quantize_kv(x, bits, g)
    assert torch.equal(q.dequantize(), x)
    assert torch.equal(unpack_kv_codes(q.codes, bits).reshape(codes.shape), codes)


@pytest.mark.parametrize("bits", KV_BITS)
@pytest.mark.parametrize("smooth", [False, True])
def test_every_element_is_within_half_a_step(bits, smooth):
    """Stored min rounded down, scale up: the grid covers the group, so |x - x_q| <= scale / 2 (in
    the smoothed domain; times the channel scale back in x's), up to fp32 rounding."""
    x = _outlier_kv(40, seed=bits)
    sm = calibrate_smoothing(_outlier_kv(200, seed=100 + bits)) if smooth else None
    q = quantize_kv(x, bits, 16, sm)
    err = (dequantize_kv(q, torch.float64) - x.double()).abs()
    half_step = (q.scales.double() / 2).repeat_interleave(16, dim=-1)
    if smooth:
        half_step = half_step * sm.scale.double()[:, None]
    assert bool((err <= half_step * (1 + 1e-5) + 1e-6).all())
    # and the codes use the whole grid somewhere
    c = unpack_kv_codes(q.codes, bits)
    assert int(c.min()) == 0 and int(c.max()) == 2**bits - 1


def test_constant_groups_and_dtypes():
    x = torch.full((1, 1, 3, 32), 0.25)  # fp16-exact: a zero range, scale 0, codes 0, exact
    q = quantize_kv(x, 2)
    assert float(q.scales.float().max()) == 0.0 and int(unpack_kv_codes(q.codes, 2).max()) == 0
    assert torch.equal(q.dequantize(), x)
    x = torch.full((1, 1, 3, 32), 0.3)  # not fp16-exact: min rounded down, a one-ulp range
    q = quantize_kv(x, 2)
    assert bool((q.mins.float() < 0.3).all()) and torch.allclose(q.dequantize(), x, rtol=0, atol=2**-12)
    for dtype in (torch.float16, torch.bfloat16, torch.float64):
        assert torch.equal(quantize_kv(x.to(dtype), 4).codes, quantize_kv(x.to(dtype).float(), 4).codes)


def test_two_dimensional_quantisation_beats_rtn_on_outlier_channels():
    """WKVQuant's claim on the data it targets: channel smoothing (calibrated on other tokens)
    then per-token groups reconstructs keys with outlier channels much better than per-token RTN."""
    calib, held_out = _outlier_kv(256, seed=1), _outlier_kv(128, seed=2)  # disjoint draws
    sm = calibrate_smoothing(calib)
    for bits, factor in ((4, 0.3), (2, 0.6)):
        errs = {}
        for name, smoothing in (("rtn", None), ("2d", sm)):
            deq = quantize_kv(held_out, bits, smoothing=smoothing).dequantize()
            errs[name] = float(((deq - held_out).norm() / held_out.norm()) ** 2)
        assert errs["2d"] < factor * errs["rtn"], (bits, errs)


def test_quantising_token_by_token_is_quantising_at_once():
    """Per-token parameters, static channel ones: the cache is append-only (a prefix of the
    quantised cache is the quantised prefix)."""
    x = _outlier_kv(30, seed=7)
    sm = calibrate_smoothing(_outlier_kv(64, seed=8))
    whole = quantize_kv(x, 4, 32, sm)
    for t in (0, 1, 17, 30):
        part = quantize_kv(x[:, :, :t], 4, 32, sm)
        pre = whole.tokens(0, t)
        for name in ("codes", "scales", "mins"):
            assert torch.equal(getattr(pre, name), getattr(part, name))
    one_by_one = torch.cat([quantize_kv(x[:, :, t:t + 1], 4, 32, sm).codes for t in range(30)], dim=2)
    assert torch.equal(one_by_one, whole.codes)


def test_calibration_gives_midrange_and_half_range():
    x = torch.zeros(2, 1, 3, 32)
    x[0, 0, :, 0] = torch.tensor([1.0, 5.0, 3.0])
    x[1, 0, :, 0] = torch.tensor([-3.0, 2.0, 0.0])
    x[..., 1] = 7.0  # constant: scale 1
    sm = calibrate_smoothing(x)
    assert sm.shift[0, 0] == 1.0 and sm.scale[0, 0] == 4.0
    assert sm.shift[0, 1] == 7.0 and sm.scale[0, 1] == 1.0
    assert sm.nbytes == 2 * 32 * 4


def test_dequantize_applies_the_channel_parameters():
    x = _outlier_kv(8, seed=3)
    sm = calibrate_smoothing(x)
    q = quantize_kv(x, 8, None, sm)
    plain = QuantizedKV(q.codes, q.scales, q.mins, 8, 64, 64)
    assert torch.allclose(q.dequantize(), plain.dequantize() * sm.scale[:, None] + sm.shift[:, None])
    assert q.method == "wkvquant" and plain.method == "rtn"


# %%
# Bad input
# ---------


def test_quantiser_errors_name_the_argument():
    x = torch.randn(1, 2, 3, 32)
    with pytest.raises(ValueError, match=r"bits must be one of \(2, 4, 8\), got 3"):
        quantize_kv(x, 3)
    with pytest.raises(ValueError, match="group_size 12 must divide the head dimension 32"):
        quantize_kv(x, 4, 12)
    with pytest.raises(ValueError, match="group_size 8 must divide the head dimension 32 and be a multiple of 16"):
        quantize_kv(x, 2, 8)
    with pytest.raises(ValueError, match=r"x must be 4-D \(batch, heads, tokens, head_dim\), got shape \(2, 3, 32\)"):
        quantize_kv(x[0], 4)
    with pytest.raises(TypeError, match="x must be a floating-point tensor"):
        quantize_kv(x.long(), 4)
    with pytest.raises(ValueError, match="x must be finite"):
        quantize_kv(x.clone().fill_(float("nan")), 4)
    with pytest.raises(ValueError, match="fp16 group minimum and range hold at most 32752"):
        quantize_kv(x * 1e5, 4)
    sm = calibrate_smoothing(torch.randn(1, 3, 4, 32))
    with pytest.raises(ValueError, match=r"smoothing is for \(3, 32\) \(heads, head_dim\); x has \(2, 32\)"):
        quantize_kv(x, 4, smoothing=sm)
    with pytest.raises(TypeError, match="smoothing must be a ChannelSmoothing or None, got Tensor"):
        quantize_kv(x, 4, smoothing=torch.ones(2, 32))
    with pytest.raises(ValueError, match="finite, positive scales"):
        ChannelSmoothing(torch.zeros(2, 32), torch.zeros(2, 32))
    with pytest.raises(ValueError, match="x must hold at least one calibration token"):
        calibrate_smoothing(x[:, :, :0])
    q = quantize_kv(x, 4)
    with pytest.raises(ValueError, match=r"need 0 <= start <= stop <= 3"):
        q.tokens(2, 5)
    with pytest.raises(ValueError, match=r"scales must be float16 of shape \(B, H, T, D / group_size\)"):
        QuantizedKV(q.codes, q.scales.float(), q.mins, 4, 32, 32)
    with pytest.raises(ValueError, match="codes has 4 words per token-head; head_dim 32 at 2 bits needs 2"):
        QuantizedKV(q.codes, q.scales, q.mins, 2, 32, 32)


# %%
# Attention over a sequence with a quantised cache
# ------------------------------------------------


def test_attention_without_quantiser_is_causal_sdpa():
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 9, 32, generator=gen) for _ in range(3))
    want = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert torch.allclose(kv_quant_attention(q, k, v), want, atol=1e-6)


def test_past_only_keeps_the_current_token_exact():
    gen = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(1, 2, 6, 32, generator=gen) for _ in range(3))
    kq, vq = KVQuantizer(2), KVQuantizer(2)
    # the first token attends only to itself: past-only gives its exact value, full quantisation not
    assert torch.allclose(kv_quant_attention(q, k, v, kq, vq, past_only=True)[:, :, 0], v[:, :, 0], atol=1e-6)
    assert not torch.allclose(kv_quant_attention(q, k, v, kq, vq, past_only=False)[:, :, 0], v[:, :, 0], atol=1e-2)
    # row t of past-only = softmax over [q.k_q(<t), q.k_t] against [v_q(<t), v_t], built by hand
    out = kv_quant_attention(q, k, v, kq, vq, past_only=True)
    kd, vd = kq.fake_quantize(k), vq.fake_quantize(v)
    for t in range(6):
        keys = torch.cat([kd[:, :, :t], k[:, :, t:t + 1]], dim=2)
        vals = torch.cat([vd[:, :, :t], v[:, :, t:t + 1]], dim=2)
        p = torch.softmax(torch.einsum("bhd,bhtd->bht", q[:, :, t], keys) / math.sqrt(32), dim=-1)
        assert torch.allclose(out[:, :, t], torch.einsum("bht,bhtd->bhd", p, vals), atol=1e-6)


def test_attention_errors():
    x = torch.randn(1, 2, 4, 32)
    with pytest.raises(ValueError, match="q, k and v must have one shape"):
        kv_quant_attention(x, x, x[:, :, :3])
    with pytest.raises(TypeError, match="past_only must be True or False"):
        kv_quant_attention(x, x, x, past_only=1)
    with pytest.raises(ValueError, match=r"bits must be one of \(2, 4, 8\), got 5"):
        KVQuantizer(5)


# %%
# The report provider
# -------------------


def test_report_provider_quick():
    import time

    from reports.build import ReportSection
    from reports.sections import kv_quant as section

    t0 = time.perf_counter()
    sections = section.report_sections(progress=lambda s: None, quick=True)
    assert time.perf_counter() - t0 < 45
    assert [s.csv_name for s in sections] == ["kv_quant_loss.csv", "kv_quant_decode_bytes.csv"]
    assert all(isinstance(s, ReportSection) for s in sections)
    loss = sections[0].table
    assert list(loss.method) == ["fp"] + [m for _ in section.TABLE_BITS for m, _, _ in section.METHODS]
    assert set(loss.bits) == {16, 8, 4, 2}
    assert bool((loss.perplexity - loss.val_loss.map(math.exp)).abs().max() < 1e-9)
    fp = float(loss.val_loss[loss.method == "fp"].iloc[0])
    assert bool((loss.loss_minus_fp - (loss.val_loss - fp)).abs().max() < 1e-12)
    # bytes per token per layer of the tiny LM (4 heads x 32, groups of 32): fp16 512, 4-bit 160, 2-bit 96
    per = dict(zip(zip(loss.method, loss.bits), loss.kv_bytes_per_token_per_layer))
    assert per[("fp", 16)] == 512 and per[("wkvquant", 4)] == 160 and per[("rtn", 2)] == 96
    assert "Validation loss measured" in sections[0].note
    # decode bytes: the 7B-class decoder at 4k context reads 32 x 4096 x 2 x 8192 B of fp16 K and V
    dec = sections[1].table
    row = dec[(dec.model.str.startswith("7B")) & (dec.context == 4096) & (dec.method == "fp16")].iloc[0]
    assert row.kv_bytes_per_step == 32 * 4096 * 2 * 8192 == 2 * 2**30
    assert math.isclose(row.dram_energy_uj, 2 * 2**30 * 162.5e-6)
    w2 = dec[(dec.model.str.startswith("7B")) & (dec.context == 4096) & (dec.method == "wkvquant") & (dec.bits == 2)]
    assert int(w2.kv_bytes_per_step.iloc[0]) == 32 * (4096 * 2 * 1152 + 2 * 2 * 32 * 128 * 4)
    assert set(dec.context) == {1024, 4096, 16384}


def test_kv_forward_is_the_model_forward():
    """The report's forward pass with the fp cache is TinyLM.forward (guards against drift)."""
    from kernels.models.tiny_lm import TinyLM
    from reports.sections.kv_quant import LM_CONFIG, kv_forward

    torch.manual_seed(0)
    model = TinyLM(LM_CONFIG).eval()
    for p in model.parameters():  # away from the tiny init, so attention is not uniform
        p.data.add_(0.1 * torch.randn_like(p))
    idx = torch.randint(0, 256, (2, 40))
    with torch.no_grad():
        assert torch.allclose(kv_forward(model, idx), model(idx), atol=1e-5)
