"""A small byte-level decoder-only transformer LM, trained on real text found on every machine: the
Python standard library's own ``.py`` source files (``sysconfig.get_paths()["stdlib"]``), no download.

Its purpose is the FP8 training comparison of kernels/halo.py: the same model, data, seed and
optimiser trained with bf16, FP8 tensorwise, FP8 rowwise and HALO levels 1 and 2, every
``nn.Linear`` inside the transformer blocks swapped for a :class:`kernels.halo.HaloLinear`. The
embeddings, layer norms, attention softmax and the output head stay in float32 (the usual FP8
training practice: torchao and HALO quantise the blocks' linear layers).

Data. A fixed list of stdlib modules present in every CPython from 3.10 to 3.13 (``SOURCE_FILES``),
read as bytes (vocabulary 256), in the order listed; every fifth file is held out for validation,
so the split is by file (no validation text is seen in training). The bytes differ a little between
Python versions, so losses are compared within one run, not against stored numbers.
Batches are drawn at random offsets by a ``torch.Generator`` seeded with ``seed``; validation
uses a fixed set of windows. Same config, seed and machine: the same losses.
"""

from __future__ import annotations

import functools
import math
import os
import sysconfig
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from kernels.halo import HaloConfig, swap_linears_

__all__ = ["RECIPE_RUNS", "SOURCE_FILES", "LMConfig", "TinyLM", "TrainResult", "load_corpus", "train"]

#: stdlib modules in every CPython 3.10-3.13 (none deprecated for removal), mostly prose-rich code
SOURCE_FILES = (
    "abc.py", "argparse.py", "bisect.py", "calendar.py", "contextlib.py", "copy.py", "dataclasses.py",
    "difflib.py", "enum.py", "fractions.py", "functools.py", "heapq.py", "ipaddress.py", "numbers.py",
    "operator.py", "os.py", "queue.py", "random.py", "shutil.py", "statistics.py", "string.py",
    "tempfile.py", "textwrap.py", "threading.py", "tokenize.py", "typing.py", "weakref.py", "zipfile.py",
)

#: The five training runs of the report: (recipe, halo_level)
RECIPE_RUNS = (("bf16", 0), ("fp8_tensorwise", 0), ("fp8_rowwise", 0), ("fp8_tensorwise", 1), ("fp8_tensorwise", 2))


@dataclass(frozen=True)
class LMConfig:
    """Model, data and optimiser sizes. The defaults train 5 recipes on 2 CPU cores in about a minute."""

    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    mlp_ratio: int = 4
    seq_len: int = 64
    batch_size: int = 16
    lr: float = 2e-3
    warmup_steps: int = 20
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    eval_every: int = 25
    eval_batches: int = 4
    hadamard_block: int | None = 64  # HALO rotation block (in-features and tokens)
    grad_fmt: str = "e5m2"
    max_bytes_per_file: int = 60_000
    device: str = "cpu"
    #: CPU threads while training (restored after): the matrices are small, and on a shared
    #: 2-core machine one thread is many times faster than two fighting other processes; 0 = as is
    threads: int = 1

    def __post_init__(self) -> None:
        for name in ("d_model", "n_layers", "n_heads", "mlp_ratio", "seq_len", "batch_size", "eval_every",
                     "eval_batches", "max_bytes_per_file"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model = {self.d_model} must be divisible by n_heads = {self.n_heads}")
        if isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 0:
            raise ValueError(f"threads must be a non-negative integer, got {self.threads!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr!r}")


# ---------------------------------------------------------------------------------- data
def _stdlib_dir() -> str:
    return sysconfig.get_paths()["stdlib"]


def load_corpus(max_bytes_per_file: int = 60_000) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """(train bytes, validation bytes, file names) as uint8 tensors; every 5th file is validation."""
    if isinstance(max_bytes_per_file, bool) or not isinstance(max_bytes_per_file, int) or max_bytes_per_file < 1:
        raise ValueError(f"max_bytes_per_file must be a positive integer, got {max_bytes_per_file!r}")
    train, val, used = _load_corpus(max_bytes_per_file)
    return train.clone(), val.clone(), list(used)


@functools.lru_cache(maxsize=4)
def _load_corpus(max_bytes_per_file: int):
    root = _stdlib_dir()
    train, val, used = [], [], []
    for i, name in enumerate(SOURCE_FILES):
        path = os.path.join(root, name)
        if not os.path.isfile(path):
            continue
        with open(path, "rb") as f:
            data = f.read(max_bytes_per_file)
        (val if i % 5 == 4 else train).append(data)
        used.append(name)
    if not train or not val:
        raise RuntimeError(f"found too few of the stdlib source files in {root} (got {used})")
    return _as_bytes(train), _as_bytes(val), tuple(used)


def _as_bytes(chunks: list[bytes]) -> torch.Tensor:
    return torch.frombuffer(bytearray(b"\n".join(chunks)), dtype=torch.uint8).clone()


# ---------------------------------------------------------------------------------- model
class Block(nn.Module):
    def __init__(self, cfg: LMConfig):
        super().__init__()
        d = cfg.d_model
        self.n_heads = cfg.n_heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.fc1 = nn.Linear(d, cfg.mlp_ratio * d)
        self.fc2 = nn.Linear(cfg.mlp_ratio * d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, S, D = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(D, dim=-1)
        shape = (B, S, self.n_heads, D // self.n_heads)
        q, k, v = (t.reshape(shape).transpose(1, 2) for t in (q, k, v))
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, S, D)
        x = x + self.proj(a)
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class TinyLM(nn.Module):
    """Byte-level GPT: token + position embeddings, pre-LN blocks, float32 output head."""

    def __init__(self, cfg: LMConfig):
        super().__init__()
        self.cfg = cfg
        self.tok = nn.Embedding(256, cfg.d_model)
        self.pos = nn.Embedding(cfg.seq_len, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, 256, bias=False)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        S = idx.shape[1]
        x = self.tok(idx) + self.pos(torch.arange(S, device=idx.device))
        for blk in self.blocks:
            x = blk(x)
        logits = self.head(self.ln_f(x))
        if targets is None:
            return logits
        return F.cross_entropy(logits.reshape(-1, 256).float(), targets.reshape(-1))


# ---------------------------------------------------------------------------------- training
@dataclass
class TrainResult:
    """Per-step training losses and periodic validation losses of one run."""

    recipe: str
    halo_level: int
    steps: int
    train_losses: list[float]
    val_steps: list[int]
    val_losses: list[float]
    wall_s: float
    tokens_per_step: int
    swapped: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.recipe if self.halo_level == 0 else f"{self.recipe}+halo{self.halo_level}"

    @property
    def final_train_loss(self) -> float:
        """Mean of the last 10% of the steps' training losses (at least one step)."""
        n = max(1, len(self.train_losses) // 10)
        return sum(self.train_losses[-n:]) / n

    @property
    def final_val_loss(self) -> float:
        return self.val_losses[-1]


def _batch(data: torch.Tensor, starts: torch.Tensor, seq_len: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    idx = starts[:, None] + torch.arange(seq_len + 1)[None, :]
    chunk = data[idx].long().to(device)
    return chunk[:, :-1], chunk[:, 1:]


@torch.no_grad()
def _evaluate(model: TinyLM, val: torch.Tensor, cfg: LMConfig) -> float:
    model.eval()
    n = cfg.eval_batches * cfg.batch_size
    span = val.numel() - cfg.seq_len - 1
    starts = torch.linspace(0, span - 1, n).long()  # fixed, evenly spread windows
    losses = [float(model(*_batch(val, starts[i:i + cfg.batch_size], cfg.seq_len, cfg.device)))
              for i in range(0, n, cfg.batch_size)]
    model.train()
    return sum(losses) / len(losses)


def train(config: LMConfig | None = None, steps: int = 200, recipe: str = "bf16", halo_level: int = 0,
          seed: int = 0, progress=None) -> TrainResult:
    """Train a fresh TinyLM for ``steps`` AdamW steps with ``recipe`` / ``halo_level`` (kernels.halo);
    return the training loss of every step and the validation loss every ``eval_every`` steps and
    at the end. ``progress``: an optional callable taking one line of text."""
    cfg = LMConfig() if config is None else config
    if not isinstance(cfg, LMConfig):
        raise TypeError(f"config must be an LMConfig, got {type(cfg).__name__}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    halo = HaloConfig(recipe=recipe, halo_level=halo_level, block_size=cfg.hadamard_block, grad_fmt=cfg.grad_fmt)
    train_data, val_data, _ = _load_corpus(cfg.max_bytes_per_file)  # read-only here
    threads = torch.get_num_threads()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    try:
        return _train(cfg, halo, train_data, val_data, steps, seed, progress)
    finally:
        torch.set_num_threads(threads)


def _train(cfg, halo, train_data, val_data, steps, seed, progress) -> TrainResult:
    recipe, halo_level = halo.recipe, halo.halo_level
    torch.manual_seed(seed)
    model = TinyLM(cfg).to(cfg.device)
    swapped = swap_linears_(model, halo, skip=("head",))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.95))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / cfg.warmup_steps) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * s / steps))))
    gen = torch.Generator().manual_seed(seed)
    span = train_data.numel() - cfg.seq_len - 1
    result = TrainResult(recipe, halo_level, steps, [], [], [], 0.0, cfg.batch_size * cfg.seq_len, swapped)
    t0 = time.perf_counter()
    for step in range(steps):
        starts = torch.randint(0, span, (cfg.batch_size,), generator=gen)
        x, y = _batch(train_data, starts, cfg.seq_len, cfg.device)
        loss = model(x, y)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"{halo.name}: training loss is {float(loss.detach())} at step {step}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        sched.step()
        result.train_losses.append(float(loss.detach()))
        last = step == steps - 1
        if (step + 1) % cfg.eval_every == 0 or last:
            result.val_steps.append(step + 1)
            result.val_losses.append(_evaluate(model, val_data, cfg))
            if progress is not None:
                progress(f"  {halo.name}: step {step + 1}/{steps} train {result.train_losses[-1]:.3f} "
                         f"val {result.val_losses[-1]:.3f}")
    result.wall_s = time.perf_counter() - t0
    return result
