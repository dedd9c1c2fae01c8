"""
The drop-in LowBitLinear and model-level weight-only quantisation (torchao-style)
=================================================================================

A frozen :class:`LowBitConfig` (bits, group size, RTN or GPTQ, OWQ's fp16 columns; named
:data:`PRESETS`), ``quantize_(model, config, calibration=...)`` swapping every ``nn.Linear`` for a
:class:`LowBitLinear` whose weights are quantised by kernels/lowbit.py and whose forward runs the
Triton kernel of kernels/wonly_gemm.py, and ``prepare_lowbit_(model, config)`` which swaps in
empty modules of the right shapes so a saved ``state_dict`` can be loaded. The buffers hold the
packed layout of kernels/lowbit_format.py. Calibration is one pass: every layer's H comes from
the float model's activations (GPTQ quantises layer by layer, feeding each layer the already
quantised model's activations; that refinement is left out).

This module sits above both the quantisers and the kernel, which import only the format and not
each other.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from kernels.lowbit import FLOAT_WEIGHTS, QuantizedWeight, gptq_quantize, owq_select_columns, rtn_quantize
from kernels.lowbit_format import check_bits, check_group_size, is_int, packed_words
from kernels.wonly_gemm import wonly_gemm

__all__ = [
    "LowBitConfig",
    "LowBitLinear",
    "PRESETS",
    "collect_hessians",
    "prepare_lowbit_",
    "quantize_",
]

METHODS = ("rtn", "gptq")


# %%
# Configuration
# -------------


@dataclass(frozen=True)
class LowBitConfig:
    """How to quantise every ``nn.Linear`` of a model.

    ``group_size=None`` is one group per output row (per-channel). ``outlier_columns`` > 0 is
    OWQ; it and ``method="gptq"`` need calibration inputs.
    """

    bits: int = 4
    group_size: int | None = 128
    method: str = "rtn"
    outlier_columns: int = 0
    damp_percent: float = 0.01
    block_size: int = 128

    def __post_init__(self) -> None:
        check_bits(self.bits)
        if self.group_size is not None and (not is_int(self.group_size) or self.group_size < 1):
            raise ValueError(f"group_size must be a positive integer or None (per-channel), got {self.group_size!r}")
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if not is_int(self.outlier_columns) or self.outlier_columns < 0:
            raise ValueError(f"outlier_columns must be a non-negative integer, got {self.outlier_columns!r}")
        if not isinstance(self.damp_percent, (int, float)) or not self.damp_percent > 0:
            raise ValueError(f"damp_percent must be a positive number, got {self.damp_percent!r}")
        if not is_int(self.block_size) or self.block_size < 1:
            raise ValueError(f"block_size must be a positive integer, got {self.block_size!r}")

    @property
    def needs_calibration(self) -> bool:
        return self.method == "gptq" or self.outlier_columns > 0


#: Named presets (gpt-fast style). OWQ's paper keeps about 0.1-0.5% of columns; 32 of 4096 is ~0.8%.
PRESETS = {
    "w4-g128-rtn": LowBitConfig(bits=4, group_size=128),
    "w4-g128-gptq": LowBitConfig(bits=4, group_size=128, method="gptq"),
    "w3-g128-gptq": LowBitConfig(bits=3, group_size=128, method="gptq"),
    "w3-owq32-gptq": LowBitConfig(bits=3, group_size=128, method="gptq", outlier_columns=32),
    "w2-g64-gptq": LowBitConfig(bits=2, group_size=64, method="gptq"),
}


# %%
# The drop-in module
# ------------------


class LowBitLinear(nn.Module):
    """``nn.Linear`` with packed low-bit weights; forward = kernels.wonly_gemm.wonly_gemm (+ bias).

    Buffers (all in ``state_dict``): ``qweight`` (ceil(K*bits/32), N) int32, ``scales`` (G, N)
    fp16, ``zeros`` (G, N) uint8, ``outlier_idx`` (n_out,) int32, ``outlier_weight`` (n_out, N)
    fp16; ``bias`` a parameter as in nn.Linear. Output dtype = input dtype.
    """

    def __init__(self, in_features: int, out_features: int, bits: int, group_size: int | None,
                 outlier_columns: int = 0, bias: bool = True, dtype: torch.dtype = torch.float32,
                 device=None):
        super().__init__()
        check_bits(bits)
        g = check_group_size(group_size, in_features)
        self.in_features, self.out_features = in_features, out_features
        self.bits, self.group_size, self.outlier_columns = bits, g, outlier_columns
        K, N, G = in_features, out_features, in_features // g
        self.register_buffer("qweight", torch.zeros((packed_words(K, bits), N), dtype=torch.int32, device=device))
        self.register_buffer("scales", torch.ones((G, N), dtype=torch.float16, device=device))
        self.register_buffer("zeros", torch.zeros((G, N), dtype=torch.uint8, device=device))
        self.register_buffer("outlier_idx", torch.arange(outlier_columns, dtype=torch.int32, device=device))
        self.register_buffer("outlier_weight", torch.zeros((outlier_columns, N), dtype=torch.float16, device=device))
        self.bias = nn.Parameter(torch.zeros(N, dtype=dtype, device=device)) if bias else None

    @classmethod
    def from_quantized(cls, qw: QuantizedWeight, bias: torch.Tensor | None) -> "LowBitLinear":
        N, K = qw.shape
        device = qw.codes.device
        mod = cls(K, N, qw.bits, qw.group_size, qw.outlier_idx.numel(), bias is not None,
                  dtype=bias.dtype if bias is not None else torch.float32, device=device)
        for name, t in qw.pack().items():
            getattr(mod, name).copy_(t)
        if bias is not None:
            mod.bias.data.copy_(bias.detach())
        return mod

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-1]
        y = wonly_gemm(x.reshape(-1, self.in_features), self.qweight, self.scales, self.zeros,
                       self.bits, self.group_size, self.outlier_idx, self.outlier_weight)
        if self.bias is not None:
            y = y + self.bias.to(y.dtype)
        return y.reshape(*lead, self.out_features)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, bits={self.bits}, "
                f"group_size={self.group_size}, outlier_columns={self.outlier_columns}, bias={self.bias is not None}")


# %%
# Model level
# -----------


def _linears(model: nn.Module) -> list[tuple[str, nn.Linear]]:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    found = [(name, m) for name, m in model.named_modules() if type(m) is nn.Linear]
    if not found:
        raise ValueError(f"model has no nn.Linear layers to quantise ({type(model).__name__})")
    return found


def _swap(model: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)


def _check_layer(name: str, lin: nn.Linear, config: LowBitConfig) -> None:
    if lin.weight.dtype not in FLOAT_WEIGHTS:
        raise TypeError(f"layer {name!r}: weight must be float16, bfloat16 or float32, got {lin.weight.dtype}")
    K = lin.in_features
    check_group_size(config.group_size, K, where=f" (in_features of layer {name!r})")
    if config.outlier_columns > K:
        raise ValueError(f"layer {name!r}: outlier_columns = {config.outlier_columns} exceeds K = {K}")


@torch.no_grad()
def collect_hessians(model: nn.Module, calibration, names) -> dict[str, torch.Tensor]:
    """X^T X (float64, K x K) of every named nn.Linear's input over the calibration batches."""
    mods = dict(model.named_modules())
    H: dict[str, torch.Tensor] = {}

    def hook(name):
        def record(_module, args):
            x = args[0].detach().reshape(-1, args[0].shape[-1]).to(torch.float64)
            H[name] = H.get(name, 0) + x.T @ x
        return record

    handles = [mods[n].register_forward_pre_hook(hook(n)) for n in names]
    try:
        batches = [calibration] if isinstance(calibration, torch.Tensor) else list(calibration)
        if not batches:
            raise ValueError("calibration holds no batches")
        for batch in batches:
            model(*batch) if isinstance(batch, (tuple, list)) else model(batch)
    finally:
        for h in handles:
            h.remove()
    missing = [n for n in names if n not in H]
    if missing:
        raise ValueError(f"calibration never reached layers {missing}")
    return H


@torch.no_grad()
def quantize_(model: nn.Module, config: LowBitConfig, calibration=None) -> nn.Module:
    """Replace every ``nn.Linear`` of ``model`` (in place) by a :class:`LowBitLinear`; return it.

    ``calibration``: model inputs (a tensor, or an iterable of tensors / argument tuples), needed
    for GPTQ and OWQ. All layers' statistics are gathered before any layer is swapped.
    """
    if not isinstance(config, LowBitConfig):
        raise TypeError(f"config must be a LowBitConfig, got {type(config).__name__}")
    layers = _linears(model)
    for name, lin in layers:
        _check_layer(name, lin, config)
    H = {}
    if config.needs_calibration:
        if calibration is None:
            raise ValueError(f"method={config.method!r} with outlier_columns={config.outlier_columns} "
                             "needs calibration inputs")
        H = collect_hessians(model, calibration, [n for n, _ in layers])
    for name, lin in layers:
        w = lin.weight
        idx = None
        if config.outlier_columns:
            idx = owq_select_columns(w, torch.diag(H[name]), config.bits, config.group_size, config.outlier_columns)
        if config.method == "gptq":
            qw = gptq_quantize(w, H[name], config.bits, config.group_size, damp_percent=config.damp_percent,
                               block_size=config.block_size, outlier_idx=idx)
        else:
            qw = rtn_quantize(w, config.bits, config.group_size, outlier_idx=idx)
        new = LowBitLinear.from_quantized(qw, lin.bias).to(w.device)
        _swap(model, name, new)
    return model


def prepare_lowbit_(model: nn.Module, config: LowBitConfig) -> nn.Module:
    """Swap every ``nn.Linear`` for an empty LowBitLinear of the same shape, ready for load_state_dict."""
    if not isinstance(config, LowBitConfig):
        raise TypeError(f"config must be a LowBitConfig, got {type(config).__name__}")
    for name, lin in _linears(model):
        _check_layer(name, lin, config)
        new = LowBitLinear(lin.in_features, lin.out_features, config.bits, config.group_size,
                           config.outlier_columns, lin.bias is not None, dtype=lin.weight.dtype,
                           device=lin.weight.device)
        _swap(model, name, new)
    return model
