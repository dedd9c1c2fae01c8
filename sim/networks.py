"""Named networks as GEMM layers (sim.topology.Layer), for ``bitweight layers``, the memory model
and the sweeps: the layers that motivate the seeds' quantisation, at decode and prefill.

* ``llama7b_decoder(tokens)``: one decoder block of a 7B-class LLaMA (hidden 4096, FFN 11008,
  32 heads of 128): q, k, v, o projections and the gate, up and down projections of the SwiGLU
  FFN, as M = tokens GEMMs (tokens = 1 is a decode step: every weight byte is read for one
  token, a GEMV). Attention over the KV cache is left out (it depends on the context length).
* ``bert_base(tokens)``, ``minilm(tokens)``: one encoder layer (BERT-base: hidden 768, FFN 3072,
  12 heads of 64; all-MiniLM-L6-v2: 384, 1536, 12 heads of 32), the per-head attention GEMMs
  as ``repeat`` = heads.
* ``resnet18()``: ResNet-18 at 224 x 224 as im2col GEMMs (M = output pixels, N = filters,
  K = kernel height x width x input channels), downsampling 1x1 convolutions and the final
  fully connected layer included.

``write_topology`` writes layers as a SCALE-Sim GEMM-form topology CSV (``Layer, M, N, K,``) so
SCALE-Sim and ``bitweight layers`` run the same file.
"""

from __future__ import annotations

from pathlib import Path

from sim.topology import Layer

LLAMA7B = {"hidden": 4096, "ffn": 11008}
DECODE_TOKENS = (1, 16, 128, 2048)


def llama7b_decoder(tokens: int = 1) -> list[Layer]:
    _check_tokens(tokens)
    h, f, t = LLAMA7B["hidden"], LLAMA7B["ffn"], tokens
    return [Layer(f"q_proj_{t}tok", t, h, h), Layer(f"k_proj_{t}tok", t, h, h), Layer(f"v_proj_{t}tok", t, h, h),
            Layer(f"o_proj_{t}tok", t, h, h), Layer(f"gate_proj_{t}tok", t, f, h), Layer(f"up_proj_{t}tok", t, f, h),
            Layer(f"down_proj_{t}tok", t, h, f)]


def _encoder(prefix: str, tokens: int, hidden: int, ffn: int, heads: int) -> list[Layer]:
    _check_tokens(tokens)
    t, d = tokens, hidden // heads
    return [Layer(f"{prefix}_q", t, hidden, hidden), Layer(f"{prefix}_k", t, hidden, hidden),
            Layer(f"{prefix}_v", t, hidden, hidden), Layer(f"{prefix}_scores", t, t, d, repeat=heads),
            Layer(f"{prefix}_context", t, d, t, repeat=heads), Layer(f"{prefix}_attn_out", t, hidden, hidden),
            Layer(f"{prefix}_ffn_up", t, ffn, hidden), Layer(f"{prefix}_ffn_down", t, hidden, ffn)]


def bert_base(tokens: int = 128) -> list[Layer]:
    return _encoder("bert", tokens, 768, 3072, 12)


def minilm(tokens: int = 128) -> list[Layer]:
    return _encoder("minilm", tokens, 384, 1536, 12)


def resnet18() -> list[Layer]:
    layers = [Layer("conv1", 112 * 112, 64, 7 * 7 * 3)]
    size, ch = 56, 64
    for stage, out in enumerate((64, 128, 256, 512), start=1):
        down = stage > 1
        if down:
            size //= 2
        m = size * size
        layers.append(Layer(f"layer{stage}.0.conv1", m, out, 9 * ch))
        layers.append(Layer(f"layer{stage}.0.conv2", m, out, 9 * out))
        if down:
            layers.append(Layer(f"layer{stage}.0.downsample", m, out, ch))
        layers += [Layer(f"layer{stage}.1.conv1", m, out, 9 * out), Layer(f"layer{stage}.1.conv2", m, out, 9 * out)]
        ch = out
    layers.append(Layer("fc", 1, 1000, 512))
    return layers


NETWORKS = {"llama7b_decode": lambda: llama7b_decoder(1), "llama7b_prefill_128": lambda: llama7b_decoder(128),
            "llama7b_prefill_2048": lambda: llama7b_decoder(2048), "bert_base_128": lambda: bert_base(128),
            "minilm_128": lambda: minilm(128), "resnet18": resnet18}


def network(name: str) -> list[Layer]:
    if name not in NETWORKS:
        raise ValueError(f"network must be one of {', '.join(NETWORKS)}, got {name!r}")
    return NETWORKS[name]()


def write_topology(layers: list[Layer], path: str | Path) -> Path:
    """A SCALE-Sim GEMM-form topology CSV; a layer with ``repeat`` > 1 becomes that many rows."""
    path = Path(path)
    rows = ["Layer, M, N, K,"]
    for layer in layers:
        for r in range(layer.repeat):
            suffix = f"_{r}" if layer.repeat > 1 else ""
            rows.append(f"{layer.name}{suffix}, {layer.m}, {layer.n}, {layer.k},")
    path.write_text("\n".join(rows) + "\n")
    return path


def _check_tokens(tokens: int) -> None:
    if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 1:
        raise ValueError(f"tokens must be a positive integer, got {tokens!r}")
