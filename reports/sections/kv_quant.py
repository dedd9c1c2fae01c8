"""KV-cache quantisation on a real (tiny) LM: WKVQuant's past-only and 2D quantisation against RTN.

    tables = kv_quant_tables(steps=500)
    tables["loss"]    # one row per method x bits: KV bytes per token per layer, validation loss, perplexity
    tables["decode"]  # KV bytes one decode step reads at 1k / 4k / 16k context, and their DRAM energy

The model is kernels/models/tiny_lm.py's byte-level decoder, sized here to head dimension 32 (d_model
128, 4 heads, 2 layers, context 128; decode_attention's smallest head size), trained in fp32 for
``steps`` AdamW steps on the Python standard library's source (the module's training split; same
schedule as its ``train``; seeded; cached in memory for the process). Everything else is post-training:

* **calibration**: K and V of every layer over ``n_calib`` windows of the *training* split give
  WKVQuant's per-channel shift and scale (kernels.kv_quant.calibrate_smoothing);
* **evaluation**: cross-entropy per byte over ``n_eval`` fixed windows of the *validation* split
  (other files: disjoint from training and calibration), every position of every window, the
  attention of each layer computed as decoding with a quantised KV cache computes it
  (kernels.kv_quant.kv_quant_attention; K and V quantised alike).

Methods, per-token groups of 32 channels (one per head and token), fp16 scale and minimum per group:

* ``fp`` the fp32 cache (the reference; its bytes counted at fp16, as a cache stores it);
* ``rtn``: RTN per token, the current token read back quantised too;
* ``rtn+past_only``: RTN, the current token's K and V exact (WKVQuant's first piece alone);
* ``2d``: per-channel smoothing then per-token quantisation (WKVQuant's second piece alone);
* ``wkvquant``: both (2D + past-only), WKVQuant's KV side without its learned (CRR) refinement of
  the channel parameters, which is not done here.

``loss_minus_fp`` is the quantised cache's cost in nats per byte; ``perplexity`` = exp(loss), per
byte; ``ppl_ratio`` = perplexity / fp's. ``k_rel_err`` / ``v_rel_err``: ||X_q - X|| / ||X|| of the
fp model's K / V over the evaluation windows, mean over layers (reconstruction alone, no compounding).
Decode bytes: a step of a decoder at context L reads L past tokens' K and V in every layer once
(the current token's stay on chip); WKVQuant adds its channel parameters (2 x 2 x H x D fp32 per
layer). DRAM energy at Horowitz's 1.3 nJ per 64 bits (162.5 pJ/B, reports/tables/horowitz_45nm.csv
``dram_read_64bit_low``, ISSCC 2014: reports.memory.dram_pj_per_byte, the suite's DRAM figure).
The tiny LM's rows at 1k-16k are its per-token bytes times the context (it was trained at 128).
"""

from __future__ import annotations

import functools
import math
import time

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from kernels.kv_quant import (
    KV_BITS,
    KVQuantizer,
    calibrate_smoothing,
    fp16_kv_bytes_per_token,
    kv_bytes_per_token,
    kv_quant_attention,
)
from kernels.models.tiny_lm import LMConfig, TinyLM, load_corpus

__all__ = ["CONTEXTS", "LM_CONFIG", "METHODS", "REPORT_STEPS", "decode_bytes_table", "kv_quant_tables",
           "lm_kv_loss_table", "report_sections", "trained_tiny_lm"]

#: the tiny LM, sized to head dimension 32 (d_model / n_heads)
LM_CONFIG = LMConfig(d_model=128, n_heads=4, n_layers=2, seq_len=128, batch_size=16, lr=3e-3)
REPORT_STEPS = 500
#: (method, channel smoothing, past-only)
METHODS = (("rtn", False, False), ("rtn+past_only", False, True), ("2d", True, False), ("wkvquant", True, True))
TABLE_BITS = (8, 4, 2)
CONTEXTS = (1024, 4096, 16384)
#: a 7B-class decoder (Llama-2-7B's attention): 32 layers, 32 heads x 128
DECODER_7B = {"model": "7B-class decoder (32 layers, 32 heads x 128)", "layers": 32, "heads": 32, "head_dim": 128,
              "group": 128}


# %%
# The model: trained once per process
# ------------------------------------


@functools.lru_cache(maxsize=2)
def _trained_state(cfg: LMConfig, steps: int, seed: int) -> tuple[dict, float]:
    """(state dict, seconds): ``steps`` AdamW steps of a fresh fp32 TinyLM, the schedule of
    kernels.models.tiny_lm.train (warm-up then cosine to 10%, gradient clipping), on one thread."""
    train_data, _, _ = load_corpus(cfg.max_bytes_per_file)
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, cfg.threads))
    t0 = time.perf_counter()
    try:
        torch.manual_seed(seed)
        model = TinyLM(cfg)
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.95))
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: min(1.0, (s + 1) / cfg.warmup_steps) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * s / steps))))
        gen = torch.Generator().manual_seed(seed)
        span = train_data.numel() - cfg.seq_len - 1
        for step in range(steps):
            starts = torch.randint(0, span, (cfg.batch_size,), generator=gen)
            x, y = _windows(train_data, starts, cfg.seq_len)
            loss = model(x, y)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"tiny LM training loss is {float(loss.detach())} at step {step}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            sched.step()
    finally:
        torch.set_num_threads(threads)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}, time.perf_counter() - t0


def trained_tiny_lm(steps: int = REPORT_STEPS, seed: int = 0, cfg: LMConfig = LM_CONFIG) -> TinyLM:
    """The tiny LM after ``steps`` training steps (trained on first use, then cached), in eval mode."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if not isinstance(cfg, LMConfig):
        raise TypeError(f"cfg must be an LMConfig, got {type(cfg).__name__}")
    state, _ = _trained_state(cfg, steps, seed)
    model = TinyLM(cfg)
    model.load_state_dict(state)
    return model.eval()


def _windows(data: torch.Tensor, starts: torch.Tensor, seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    chunk = data[starts[:, None] + torch.arange(seq_len + 1)[None, :]].long()
    return chunk[:, :-1], chunk[:, 1:]


def _fixed_windows(data: torch.Tensor, n: int, seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` evenly spread windows of ``data`` (the same every call)."""
    starts = torch.linspace(0, data.numel() - seq_len - 2, n).long()
    return _windows(data, starts, seq_len)


# %%
# The forward pass with a quantised KV cache
# ------------------------------------------


def _split_heads(t: torch.Tensor, n_heads: int) -> torch.Tensor:
    B, S, D = t.shape
    return t.reshape(B, S, n_heads, D // n_heads).transpose(1, 2)


@torch.no_grad()
def kv_forward(model: TinyLM, idx: torch.Tensor, quantizers=None, past_only: bool = True, capture=None) -> torch.Tensor:
    """The logits of TinyLM.forward with each layer's attention replaced by
    kernels.kv_quant.kv_quant_attention: ``quantizers`` one (K, V) pair of KVQuantizer per layer
    (None: the fp cache). ``capture``: a list that receives each layer's (K, V), (B, H, S, D)."""
    S = idx.shape[1]
    x = model.tok(idx) + model.pos(torch.arange(S, device=idx.device))
    for i, blk in enumerate(model.blocks):
        B, S, D = x.shape
        q, k, v = (_split_heads(t, blk.n_heads) for t in blk.qkv(blk.ln1(x)).split(D, dim=-1))
        if capture is not None:
            capture.append((k, v))
        kq, vq = (None, None) if quantizers is None else quantizers[i]
        a = kv_quant_attention(q, k, v, kq, vq, past_only=past_only).transpose(1, 2).reshape(B, S, D)
        x = x + blk.proj(a)
        x = x + blk.fc2(F.gelu(blk.fc1(blk.ln2(x))))
    return model.head(model.ln_f(x))


@torch.no_grad()
def _loss(model, x, y, quantizers, past_only, batch: int) -> float:
    """Mean cross-entropy per byte over all windows (equal-length windows: the mean of batch means)."""
    total = 0.0
    for i in range(0, x.shape[0], batch):
        logits = kv_forward(model, x[i:i + batch], quantizers, past_only)
        total += float(F.cross_entropy(logits.reshape(-1, 256), y[i:i + batch].reshape(-1), reduction="sum"))
    return total / y.numel()


def _calibrate(model, x, batch: int) -> list[tuple]:
    """Per layer (K smoothing, V smoothing) from the calibration windows."""
    per_layer: list[list] = [[] for _ in model.blocks]
    for i in range(0, x.shape[0], batch):
        cap: list = []
        kv_forward(model, x[i:i + batch], capture=cap)
        for layer, kv in enumerate(cap):
            per_layer[layer].append(kv)
    return [(calibrate_smoothing(torch.cat([k for k, _ in kvs])), calibrate_smoothing(torch.cat([v for _, v in kvs])))
            for kvs in per_layer]


def lm_kv_loss_table(steps: int = REPORT_STEPS, n_calib: int = 16, n_eval: int = 128, bits=TABLE_BITS,
                     seed: int = 0, cfg: LMConfig = LM_CONFIG, progress=print) -> pd.DataFrame:
    """One row per KV-cache method x bits on the trained tiny LM (module docstring)."""
    for name, n in (("n_calib", n_calib), ("n_eval", n_eval)):
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"{name} must be a positive integer, got {n!r}")
    if isinstance(bits, int) or not bits or any(b not in KV_BITS for b in bits):
        raise ValueError(f"bits must be a non-empty sequence drawn from {KV_BITS}, got {bits!r}")
    t0 = time.perf_counter()
    model = trained_tiny_lm(steps, seed, cfg)
    train_s = _trained_state(cfg, steps, seed)[1]
    train_data, val_data, _ = load_corpus(cfg.max_bytes_per_file)
    H, hd, L = cfg.n_heads, cfg.d_model // cfg.n_heads, cfg.n_layers
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        smoothing = _calibrate(model, _fixed_windows(train_data, n_calib, cfg.seq_len)[0], cfg.batch_size)
        x, y = _fixed_windows(val_data, n_eval, cfg.seq_len)
        fp_loss = _loss(model, x, y, None, True, cfg.batch_size)
        held_out: list = []  # the fp model's K and V of the evaluation windows, per layer
        kv_forward(model, x, capture=held_out)
        rows = [{"method": "fp", "bits": 16, "smoothing": False, "past_only": False,
                 "kv_bytes_per_token_per_layer": 2 * fp16_kv_bytes_per_token(H, hd), "val_loss": fp_loss,
                 "k_rel_err": 0.0, "v_rel_err": 0.0}]
        for b in bits:
            for method, smooth, past_only in METHODS:
                quantizers = [(KVQuantizer(b, hd, ks if smooth else None), KVQuantizer(b, hd, vs if smooth else None))
                              for ks, vs in smoothing]
                errs = [[float((qz.fake_quantize(t) - t).norm() / t.norm()) for qz, t in zip(pair, kv)]
                        for pair, kv in zip(quantizers, held_out)]
                rows.append({"method": method, "bits": b, "smoothing": smooth, "past_only": past_only,
                             "kv_bytes_per_token_per_layer": 2 * kv_bytes_per_token(H, hd, b, hd),
                             "val_loss": _loss(model, x, y, quantizers, past_only, cfg.batch_size),
                             "k_rel_err": sum(e[0] for e in errs) / L, "v_rel_err": sum(e[1] for e in errs) / L})
                progress(f"kv quant: {method:>14} {b}-bit  val loss {rows[-1]['val_loss']:.4f} (fp {fp_loss:.4f})")
    finally:
        torch.set_num_threads(threads)
    table = pd.DataFrame(rows)
    table["perplexity"] = table["val_loss"].map(math.exp)
    table["loss_minus_fp"] = table["val_loss"] - fp_loss
    table["ppl_ratio"] = table["perplexity"] / math.exp(fp_loss)
    table.attrs.update({"train_steps": steps, "train_s": train_s, "n_calib_tokens": n_calib * cfg.seq_len,
                        "n_eval_tokens": n_eval * cfg.seq_len, "layers": L, "heads": H, "head_dim": hd,
                        "total_s": time.perf_counter() - t0})
    return table


# %%
# Decode-step bytes and DRAM energy
# ---------------------------------


def decode_bytes_table(contexts=CONTEXTS, bits=TABLE_BITS, cfg: LMConfig = LM_CONFIG) -> pd.DataFrame:
    """KV bytes a decode step reads (all layers, K and V, ``contexts`` past tokens) and their DRAM
    energy, for the tiny LM and a 7B-class decoder; fp16 and each quantised width."""
    from reports.memory import dram_pj_per_byte

    pj_per_byte = dram_pj_per_byte("horowitz_low")
    models = [{"model": f"tiny LM ({cfg.n_layers} layers, {cfg.n_heads} heads x {cfg.d_model // cfg.n_heads})",
               "layers": cfg.n_layers, "heads": cfg.n_heads, "head_dim": cfg.d_model // cfg.n_heads,
               "group": cfg.d_model // cfg.n_heads}, DECODER_7B]
    rows = []
    for m in models:
        L, H, D, g = m["layers"], m["heads"], m["head_dim"], m["group"]
        formats = [("fp16", 16, 2 * fp16_kv_bytes_per_token(H, D), 0)]
        for b in bits:
            formats.append(("rtn", b, 2 * kv_bytes_per_token(H, D, b, g), 0))
            formats.append(("wkvquant", b, 2 * kv_bytes_per_token(H, D, b, g), 2 * 2 * H * D * 4))
        for ctx in contexts:
            fp16_bytes = L * ctx * formats[0][2]
            for method, b, per_token, per_layer in formats:
                kv = L * (ctx * per_token + per_layer)
                rows.append({"model": m["model"], "context": ctx, "method": method, "bits": b,
                             "kv_bytes_per_token_per_layer": per_token, "kv_bytes_per_step": kv,
                             "kv_mib_per_step": kv / 2**20, "vs_fp16": kv / fp16_bytes,
                             "dram_energy_uj": kv * pj_per_byte * 1e-6})
    table = pd.DataFrame(rows)
    table.attrs["dram_pj_per_byte"] = pj_per_byte
    return table


def kv_quant_tables(steps: int = REPORT_STEPS, n_calib: int = 16, n_eval: int = 128, progress=print) -> dict:
    return {"loss": lm_kv_loss_table(steps, n_calib, n_eval, progress=progress), "decode": decode_bytes_table()}


# %%
# Report
# ------


def _verdict(loss: pd.DataFrame) -> str:
    """What the table says about WKVQuant against RTN, per width, in words (from the numbers)."""
    parts = []
    for b in sorted(set(loss.bits) - {16}, reverse=True):
        r = loss[(loss.bits == b)].set_index("method")["val_loss"]
        better = r["wkvquant"] < r["rtn"]
        rows = loss[(loss.bits == b)].set_index("method")
        recon = "lower" if (rows.loc["2d", "k_rel_err"] < rows.loc["rtn", "k_rel_err"]
                            and rows.loc["2d", "v_rel_err"] < rows.loc["rtn", "v_rel_err"]) else "not lower"
        parts.append(f"{b}-bit: wkvquant {r['wkvquant']:.4f} vs rtn {r['rtn']:.4f} "
                     f"({'better' if better else 'NOT better'}; past-only alone {r['rtn+past_only']:.4f}, "
                     f"2D alone {r['2d']:.4f}; 2D's K and V reconstruction error {recon} than RTN's)")
    return ("Validation loss measured (nothing tuned to it): " + "; ".join(parts) + ". Where 2D quantisation "
            "lowers the reconstruction error but not the loss, the error it leaves is spread over channels in "
            "proportion to their calibrated scale, which the attention weights differently from the norm.")


def _figure(loss: pd.DataFrame):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.2))
    ax = fig.add_subplot(1, 1, 1)
    for method, _, _ in METHODS:
        rows = loss[loss.method == method].sort_values("kv_bytes_per_token_per_layer")
        ax.plot(rows["kv_bytes_per_token_per_layer"], rows["loss_minus_fp"].clip(lower=1e-5), "o-", label=method)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("KV bytes per token per layer (codes + fp16 scale and minimum per group)")
    ax.set_ylabel("validation loss - fp cache (nats/byte)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


ORDER = 55  # after the FP8 training section (50), which trains the same tiny LM family


def report_sections(progress=print, quick: bool = False) -> list:
    """The report's KV-cache quantisation sections (reports/sections/)."""
    from reports.build import ReportSection

    steps, n_calib, n_eval = (20, 2, 8) if quick else (REPORT_STEPS, 16, 128)
    progress(f"report: KV-cache quantisation (WKVQuant, RTN) on the tiny LM, {steps} training steps")
    loss = lm_kv_loss_table(steps, n_calib, n_eval, progress=progress)
    decode = decode_bytes_table()
    a = loss.attrs
    note = (f"The tiny byte-level LM (kernels/models/tiny_lm.py: {a['layers']} layers, {a['heads']} heads x "
            f"{a['head_dim']}, context {LM_CONFIG.seq_len}) trained in fp32 for {steps} steps "
            f"({a['train_s']:.0f} s); K and V of every layer read from a quantised cache: per-token groups of "
            f"{a['head_dim']} channels (fp16 scale and minimum). rtn: RTN per token, the current token quantised "
            "too; rtn+past_only: its own K and V exact (WKVQuant's past-only); 2d: per-channel shift and scale "
            f"calibrated on {a['n_calib_tokens']} training-split tokens, then per-token quantisation; wkvquant: 2d + "
            "past-only (without the paper's learned CRR refinement). Validation: cross-entropy per byte over "
            f"{a['n_eval_tokens']} tokens of held-out files. " + _verdict(loss))
    decode_note = (f"KV bytes one decode step reads (every layer's K and V for the context's past tokens; wkvquant "
                   f"adds its fp32 channel parameters once per layer) and their DRAM energy at "
                   f"{decode.attrs['dram_pj_per_byte']:g} pJ/B (Horowitz, ISSCC 2014: 1.3 nJ per 64-bit DRAM access, "
                   "reports/tables/horowitz_45nm.csv dram_read_64bit_low via reports.memory.dram_pj_per_byte). "
                   "The tiny LM's rows scale its per-token bytes to contexts it was not trained at.")
    return [
        ReportSection("KV-cache quantisation: WKVQuant vs RTN on the tiny LM", "kv_quant_loss.csv", loss, note,
                      figure=_figure(loss),
                      figure_caption="Validation-loss cost of the quantised KV cache against its bytes per token "
                                     "and layer, per method (8, 4 and 2 bits from right to left)."),
        ReportSection("KV-cache quantisation: decode-step bytes and DRAM energy", "kv_quant_decode_bytes.csv", decode,
                      decode_note),
    ]
