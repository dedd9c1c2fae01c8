"""
Mixed-precision weight quantisation: CVXQ bit-depth allocation, AMQ layer-wise search, and both
with an engine's cost as the budget
================================================================================================

Uniform quantisation gives every weight the same width. A model of a given size does better when
the bits go where the output is most sensitive. Two ways to choose, from PAPERS.md:

**CVXQ** (Young, "Foundations of Large Language Model Compression -- Part 1: Weight
Quantization", 2024; reference code github.com/seannz/cvxq). Model size is a rate R, the output
error a distortion D; each group of weights n gets a bit depth B_n to minimise sum_n D_n(B_n)
subject to sum_n R_n(B_n) <= the target size. The paper solves it by the Lagrangian dual: for a
multiplier lambda every group independently minimises D_n(B) + lambda R_n(B) (its closed form is
B_n = 1/2 log2(G_n^2 S_n^2 / lambda) with G_n^2 the mean squared gradient of the model output with
respect to the weights and S_n^2 their variance, rounded to an integer), and lambda is bisected
until the total rate meets the target. Here D_n(B) is not modelled but *measured* for each
candidate depth B (2, 3, 4, 8): the group is quantised at B and its output-weighted error

    D_n(B) = sum_r s_r (E_n H_n E_n^T)_rr,   E_n = W_n - Q_B(W_n)   (rows x group columns),

where H_n is the group's block of the layer's calibration X^T X (so E H E^T sums the squared
output error over the calibration tokens) and s_r the output channel's sensitivity: the mean
squared gradient of the model's final output with respect to that channel (the paper's G^2,
factored as output-side gradients x input-side X^T X; :func:`output_sensitivity` estimates it with
random probes), or 1 for the layer's own output error. Or the paper's own diagonal form,
D_n(B) = sum G^2 E_n^2 with G^2 the squared gradient of the model output with respect to each
weight, summed over calibration tokens (``per_weight=True`` in :func:`output_sensitivity`; what the
reference code accumulates as ``gradsq``). Cross terms between groups (E_n H_nm E_m^T) are left out:
D is additive over groups, which is what makes the dual decompose.

Discrete depths make the per-group choice a walk along the lower convex hull of its (R, D) points:
the dual picks, for each lambda, the hull vertex whose next segment has slope <= lambda, and
bisection on lambda finds the smallest total rate not above the budget (:func:`allocate`,
``method="lagrangian"``). The budget left over (one segment's worth at most) is then filled with
the remaining hull segments in order of slope (D saved per byte), skipping, and freezing, any group
whose next segment no longer fits. ``method="greedy"`` does the marginal-return walk from the
cheapest depths up; both give the same allocation (tested), and the total rate never exceeds the
budget.

Groups are ``group_size`` consecutive input columns across all rows of a layer. Quantiser: the
paper rounds with a companded (Laplace-CDF) non-uniform grid, whose codes the uniform packed format
the W-only kernel and engines read cannot hold; here each depth uses the suite's own group-wise
asymmetric round-to-nearest grid (kernels/lowbit.py's ``rtn_quantize`` for 2, 3 and 4 bits; the
same min/max grid with 255 levels for 8 bits, which lowbit's packed format does not have). RTN
quantises every (row, group) independently, so a layer whose groups have different depths is
exactly the union of its groups quantised alone, and the measured D_n(B) are the errors of the
final weights.

Stored bytes, exact (:func:`quantize_groups` builds the tensors and counts their ``nbytes``): the
columns of a layer at depth B are packed together at B bits (kernels/lowbit_format.py's layout for
2-4 bits, one uint8 per code at 8), with an fp16 scale and a uint8 zero per row and group, plus
one uint8 depth per group (``group_bits``: what a kernel needs to find each group's codes). With
``group_size`` a multiple of 32 every group's codes fill whole int32 words, so the bytes are the
sum of the per-group rates (:func:`group_bytes`) plus the depth map, and the allocator's budget
arithmetic is exact.

**AMQ** ("AMQ: Enabling AutoML for Mixed-precision Weight-Only Quantization of Large Language
Models", code github.com/dlwns147/amq): one width per layer (2, 3 or 4 bits), chosen by a search that measures
few configurations: (1) sample configurations and *measure* their quality (the caller's
``measure``: e.g. the model's output on calibration data, with every layer's weights quantised in
advance at every width: AMQ's "quantization proxy"), (2) fit a cheap quality predictor, here a
per-layer additive sensitivity model loss ~ c + sum_l a[l, bits_l] (least squares weighted for
relative error, a small ridge; ``predictor="log_additive"``: the same on log(loss), a product of
per-layer factors, which cannot predict a negative loss), (3) search the predictor under the
budget (the allocator above on the additive model, then a local search of single- and paired-layer moves against the true
cost), (4) measure what the search found, add it to the training set, refit, repeat. The
result's front is the Pareto front of the *measured* configurations only (cost vs quality), and
each budget's answer is the best measured configuration within it.

**Hardware-aware** (in neither paper): the same searches with the budget being an engine's cost of
running the layers at their widths instead of bytes: ``cost(bits_per_layer) -> float`` is passed in
(kernels/ does not import the cost models in sim/ and reports/). CVXQ then allocates one depth per
layer: the per-layer cost increments are read from ``cost`` one layer at a time, and if ``cost`` is
not additive the allocation is repaired (cheapest loss of predicted quality per unit of cost) until
``cost`` itself says it fits.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch

from kernels import lowbit
from kernels.lowbit_format import BITS as LAYER_BITS
from kernels.lowbit_format import is_int, pack_codes, packed_words

__all__ = [
    "mixed_gemm",
    "mixed_gemm_tolerance",
    "DEPTHS",
    "LAYER_BITS",
    "AmqPoint",
    "AmqResult",
    "MixedPrecisionResult",
    "RDTable",
    "allocate",
    "amq_search",
    "cvxq_hardware_aware",
    "cvxq_quantize",
    "group_bytes",
    "layer_bytes",
    "output_sensitivity",
    "pareto_front",
    "quantize_groups",
    "rd_table",
]

#: CVXQ's candidate depths: the packed format's 2, 3 and 4 bits and 8 (one byte per code)
DEPTHS = (2, 3, 4, 8)
METHODS = ("lagrangian", "greedy")
#: AMQ's quality predictors: loss additive over layers, or log(loss) additive (a product of factors)
PREDICTORS = ("additive", "log_additive")


# %%
# Checks
# ------


def _check_depths(depths, allowed: Sequence[int], name: str = "depths") -> tuple[int, ...]:
    if (not isinstance(depths, (tuple, list)) or not depths or any(not is_int(b) or b not in allowed for b in depths)
            or len(set(depths)) != len(depths)):
        raise ValueError(f"{name} must be a non-empty sequence of distinct values drawn from {tuple(allowed)}, "
                         f"got {depths!r}")
    return tuple(sorted(depths))


def _check_group_size(group_size, shapes: Mapping[str, tuple[int, int]]) -> int:
    if not is_int(group_size) or group_size < 32 or group_size % 32:
        raise ValueError(f"group_size must be a positive multiple of 32 (so every group's codes fill whole int32 "
                         f"words at 2, 3 and 4 bits and the byte count is exact), got {group_size!r}")
    for name, (_, K) in shapes.items():
        if K % group_size:
            raise ValueError(f"group_size {group_size} does not divide K = {K} of layer {name!r}")
    return group_size


def _check_weights(weights) -> dict[str, torch.Tensor]:
    if not isinstance(weights, Mapping) or not weights:
        raise ValueError("weights must be a non-empty mapping {layer name: (N, K) weight}")
    out = {}
    for name, w in weights.items():
        if not isinstance(name, str):
            raise ValueError(f"weights must be keyed by layer names (str), got key {name!r}")
        if not isinstance(w, torch.Tensor) or w.dim() != 2 or 0 in w.shape or not w.dtype.is_floating_point:
            raise ValueError(f"weights[{name!r}] must be a non-empty 2-D float (N, K) tensor, got "
                             f"{getattr(w, 'shape', type(w).__name__)}")
        if not torch.isfinite(w).all():
            raise ValueError(f"weights[{name!r}] holds NaN or infinite values")
        out[name] = w.detach().float()
    return out


def _check_hessians(hessians, weights: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    if not isinstance(hessians, Mapping) or set(hessians) != set(weights):
        raise ValueError("hessians must be a mapping with the same layer names as weights, got "
                         f"{sorted(hessians) if isinstance(hessians, Mapping) else type(hessians).__name__}")
    out = {}
    for name, w in weights.items():
        H, K = hessians[name], w.shape[1]
        if not isinstance(H, torch.Tensor) or H.shape != (K, K) or not H.dtype.is_floating_point:
            raise ValueError(f"hessians[{name!r}] must be a float (K, K) = ({K}, {K}) tensor (the layer's "
                             f"calibration X^T X), got {getattr(H, 'shape', type(H).__name__)}")
        if not torch.isfinite(H).all():
            raise ValueError(f"hessians[{name!r}] holds NaN or infinite values")
        out[name] = H.detach().double()
    return out


def _check_output_weights(output_weights, weights) -> dict[str, torch.Tensor]:
    if output_weights is None:
        return {n: torch.ones(w.shape[0], dtype=torch.float64) for n, w in weights.items()}
    if not isinstance(output_weights, Mapping) or set(output_weights) != set(weights):
        raise ValueError("output_weights must be None or a mapping with the same layer names as weights")
    out = {}
    for name, w in weights.items():
        s = output_weights[name]
        if (not isinstance(s, torch.Tensor) or s.shape not in ((w.shape[0],), tuple(w.shape))
                or not s.dtype.is_floating_point or not torch.isfinite(s).all() or bool((s < 0).any())):
            raise ValueError(f"output_weights[{name!r}] must be a finite non-negative float tensor of shape "
                             f"(N,) = ({w.shape[0]},) (each output channel's sensitivity) or (N, K) = "
                             f"{tuple(w.shape)} (each weight's squared gradient)")
        out[name] = s.detach().double()
    return out


def _check_method(method) -> str:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    return method


def _check_number(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def _check_cost(cost, names: Sequence[str]) -> Callable[[tuple[int, ...]], float]:
    if not callable(cost):
        raise ValueError(f"cost must be a callable cost(bits_per_layer) -> float, got {type(cost).__name__}")

    def checked(bits: tuple[int, ...]) -> float:
        c = cost(tuple(bits))
        if isinstance(c, bool) or not isinstance(c, (int, float)) or not math.isfinite(c):
            raise ValueError(f"cost({tuple(bits)}) must return a finite number, got {c!r}")
        return float(c)

    return checked


# %%
# Bytes
# -----


def group_bytes(N: int, group_size: int, bits: int) -> int:
    """Stored bytes of one column group (N rows x group_size columns) at ``bits``: the codes (packed
    int32 words at 2-4 bits, one uint8 each at 8), an fp16 scale and a uint8 zero per row."""
    codes = N * group_size if bits == 8 else 4 * N * packed_words(group_size, bits)
    return codes + 3 * N


def layer_bytes(N: int, K: int, bits: int, group_size: int) -> int:
    """Stored bytes of an (N, K) layer at one width: kernels/lowbit.py's ``QuantizedWeight.pack()``
    without outlier columns for 2-4 bits (codes, fp16 scales, uint8 zeros), and the same with one
    byte per code at 8 bits."""
    G = K // group_size
    codes = N * K if bits == 8 else 4 * N * packed_words(K, bits)
    return codes + 3 * G * N


def _nbytes(tensors: Mapping[str, torch.Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in tensors.values())


# %%
# Quantising a layer whose groups have different depths
# -----------------------------------------------------


def _rtn8(w: torch.Tensor, group_size: int):
    """8-bit group-wise asymmetric RTN on lowbit's grid (range [min(w, 0), max(w, 0)], fp16 scale,
    integer zero): (codes uint8 (N, K), scales fp16 (N, G), zeros uint8 (N, G), dequantised (N, K))."""
    N, K = w.shape
    wg = w.reshape(N, K // group_size, group_size)
    lo, hi = wg.amin(2).clamp(max=0), wg.amax(2).clamp(min=0)
    scale = ((hi - lo) / 255).to(torch.float16).float()
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    zero = torch.round(-lo / scale).clamp(0, 255)
    codes = torch.clamp(torch.round(wg / scale[..., None]) + zero[..., None], 0, 255)
    deq = ((codes - zero[..., None]) * scale[..., None]).reshape(N, K)
    return codes.reshape(N, K).to(torch.uint8), scale.to(torch.float16), zero.to(torch.uint8), deq


def _quantize_uniform(w: torch.Tensor, bits: int, group_size: int):
    """(codes (N, K) uint8, scales (N, G) fp16, zeros (N, G) uint8, dequantised (N, K) fp32) at one width."""
    if bits == 8:
        return _rtn8(w, group_size)
    q = lowbit.rtn_quantize(w, bits, group_size)
    return q.codes, q.scales, q.zeros, q.dequantize()


def quantize_groups(weight: torch.Tensor, group_bits, group_size: int, *, depth_map: bool = True,
                    cache: dict | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One layer with a depth per column group: (dequantised fp32 (N, K), the stored tensors).

    ``group_bits``: (K / group_size,) depths from :data:`DEPTHS`. Stored: for each depth B used,
    ``w{B}.qweight`` (the group's codes packed at B bits, transposed as kernels/lowbit_format.py
    lays them out; uint8 (K_B, N) at 8 bits), ``w{B}.scales`` fp16 and ``w{B}.zeros`` uint8 (G_B, N),
    and, with ``depth_map``, ``group_bits`` (G,) uint8. ``cache``: a dict the caller keeps per layer
    so that each depth is quantised once across calls.
    """
    if not isinstance(weight, torch.Tensor) or weight.dim() != 2 or 0 in weight.shape or \
            not weight.dtype.is_floating_point:
        raise ValueError(f"weight must be a non-empty 2-D float (N, K) tensor, got "
                         f"{getattr(weight, 'shape', type(weight).__name__)}")
    w = weight.detach().float()
    N, K = w.shape
    g = _check_group_size(group_size, {"weight": (N, K)})
    G = K // g
    if isinstance(group_bits, (list, tuple)):
        group_bits = torch.tensor(group_bits)
    if (not isinstance(group_bits, torch.Tensor) or group_bits.shape != (G,) or group_bits.dtype.is_floating_point
            or any(int(b) not in DEPTHS for b in group_bits)):
        raise ValueError(f"group_bits must be a ({G},) integer tensor of depths from {DEPTHS} (one per group of "
                         f"{g} columns), got {group_bits!r}")
    cache = {} if cache is None else cache
    deq = torch.empty(N, K)
    stored: dict[str, torch.Tensor] = {}
    for b in sorted({int(x) for x in group_bits}):
        if b not in cache:
            cache[b] = _quantize_uniform(w, b, g)
        codes, scales, zeros, full = cache[b]
        gsel = torch.nonzero(group_bits == b).flatten()
        cols = (gsel[:, None] * g + torch.arange(g)).flatten()
        deq[:, cols] = full[:, cols]
        c = codes[:, cols]
        stored[f"w{b}.qweight"] = c.T.contiguous() if b == 8 else pack_codes(c, b)
        stored[f"w{b}.scales"] = scales[:, gsel].T.contiguous()
        stored[f"w{b}.zeros"] = zeros[:, gsel].T.contiguous()
    if depth_map:
        stored["group_bits"] = group_bits.to(torch.uint8)
    return deq, stored


def mixed_gemm(x: torch.Tensor, stored: Mapping[str, torch.Tensor], group_size: int) -> torch.Tensor:
    """y = x W^T (M, N) float32 for a layer stored by :func:`quantize_groups`: one
    kernels.wonly_gemm call per depth on that depth's columns of ``x`` (gathered by the layer's
    ``group_bits``), the parts summed in float32 in increasing depth (the engines price such a
    layer the same way: one GEMM per depth). Depths 2, 3 and 4 only: the W-only kernel has no
    8-bit packed format, so a layer holding an 8-bit group is refused, not run another way."""
    from kernels.wonly_gemm import wonly_gemm

    parts = _depth_parts(x, stored, group_size)
    y = None
    for b, cols in parts:
        part = wonly_gemm(x[:, cols].contiguous(), stored[f"w{b}.qweight"], stored[f"w{b}.scales"],
                          stored[f"w{b}.zeros"], b, group_size, out_dtype=torch.float32)
        y = part if y is None else y + part
    return y


def mixed_gemm_tolerance(x: torch.Tensor, stored: Mapping[str, torch.Tensor], group_size: int) -> torch.Tensor:
    """Elementwise bound on |mixed_gemm - x W_q^T in float64|: each part's kernels.wonly_gemm
    bound (``wonly_tolerance``) plus one float32 rounding of the running sum per added part."""
    from kernels.wonly_gemm import wonly_gemm_reference, wonly_tolerance

    parts = _depth_parts(x, stored, group_size)
    bound, mag = 0.0, 0.0
    for b, cols in parts:
        args = (x[:, cols].contiguous(), stored[f"w{b}.qweight"], stored[f"w{b}.scales"], stored[f"w{b}.zeros"], b,
                group_size)
        bound = bound + wonly_tolerance(*args, out_dtype=torch.float32)
        mag = mag + wonly_gemm_reference(*args).double().abs()
    return bound + (len(parts) - 1) * 2.0**-24 * mag


def _depth_parts(x, stored, group_size) -> list[tuple[int, torch.Tensor]]:
    gb = stored.get("group_bits") if isinstance(stored, Mapping) else None
    if gb is None:
        raise ValueError("stored must hold the layer's group_bits (quantize_groups(..., depth_map=True))")
    if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.shape[1] != gb.numel() * group_size:
        raise ValueError(f"x must be a 2-D (M, K) tensor with K = {gb.numel()} groups x {group_size} = "
                         f"{gb.numel() * group_size}, got {getattr(x, 'shape', type(x).__name__)}")
    depths = sorted({int(b) for b in gb})
    unserved = [b for b in depths if b not in LAYER_BITS]
    if unserved:
        raise ValueError(f"the layer has groups at {unserved} bits: kernels.wonly_gemm serves {LAYER_BITS} bits only")
    out = []
    for b in depths:
        gsel = torch.nonzero(gb.to(torch.int64) == b).flatten()
        out.append((b, (gsel[:, None] * group_size + torch.arange(group_size)).flatten().to(x.device)))
    return out


# %%
# Rate-distortion table
# ---------------------


@dataclass(frozen=True)
class RDTable:
    """Distortion and rate of every (layer, group) at every candidate depth.

    Row i of ``distortion`` / ``rate_bytes`` (n_groups, n_depths) is group ``group[i]`` of layer
    ``names[layer[i]]``; column j is depth ``depths[j]``.
    """

    names: tuple[str, ...]
    shapes: tuple[tuple[int, int], ...]
    depths: tuple[int, ...]
    group_size: int
    distortion: torch.Tensor
    rate_bytes: torch.Tensor
    layer: torch.Tensor
    group: torch.Tensor

    @property
    def depth_map_bytes(self) -> int:
        """One uint8 depth per group (the ``group_bits`` tensor of every layer)."""
        return int(self.layer.numel())

    def layer_table(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(distortion, rate) per (layer, depth), every group of a layer at the same depth."""
        L = len(self.names)
        D = torch.zeros(L, len(self.depths), dtype=torch.float64).index_add_(0, self.layer, self.distortion)
        R = torch.zeros(L, len(self.depths), dtype=torch.float64).index_add_(0, self.layer, self.rate_bytes.double())
        return D, R


def rd_table(weights: Mapping[str, torch.Tensor], hessians: Mapping[str, torch.Tensor], *,
             depths: Sequence[int] = DEPTHS, group_size: int = 128,
             output_weights: Mapping[str, torch.Tensor] | None = None) -> RDTable:
    """The measured D_n(B) and R_n(B) of every column group (module docstring).

    ``hessians``: each layer's calibration X^T X (K, K); ``output_weights``: each layer's (N,)
    output-channel sensitivity s (None: 1, the layer's own output error), or an (N, K) squared
    gradient per weight G^2, for the paper's own diagonal form D_n(B) = sum G^2 (W - Q_B(W))^2 over
    the group (X^T X then unused: the input statistics are inside G^2)."""
    w = _check_weights(weights)
    H = _check_hessians(hessians, w)
    s = _check_output_weights(output_weights, w)
    depths = _check_depths(depths, DEPTHS)
    g = _check_group_size(group_size, {n: tuple(x.shape) for n, x in w.items()})
    names = tuple(w)
    dist, rate, layer, group = [], [], [], []
    for li, name in enumerate(names):
        N, K = w[name].shape
        G = K // g
        d = torch.zeros(G, len(depths), dtype=torch.float64)
        for j, b in enumerate(depths):
            E = (w[name] - _quantize_uniform(w[name], b, g)[3]).double()
            for n in range(G):
                sl = slice(n * g, (n + 1) * g)
                En = E[:, sl]
                if s[name].dim() == 2:  # the paper's diagonal form: squared gradient x squared error
                    d[n, j] = (s[name][:, sl] * En.pow(2)).sum()
                else:
                    d[n, j] = (s[name] * ((En @ H[name][sl, sl]) * En).sum(1)).sum()
        dist.append(d)
        rate.append(torch.tensor([[group_bytes(N, g, b) for b in depths]] * G, dtype=torch.int64))
        layer.append(torch.full((G,), li, dtype=torch.int64))
        group.append(torch.arange(G))
    return RDTable(names, tuple(tuple(w[n].shape) for n in names), depths, g, torch.cat(dist), torch.cat(rate),
                   torch.cat(layer), torch.cat(group))


# %%
# The allocator: Lagrangian dual with bisection, or greedy marginal return
# ------------------------------------------------------------------------


def _lower_hull(r: list[float], d: list[float]) -> list[int]:
    """Indices of the lower convex hull of one item's (rate, distortion) points, rate increasing and
    distortion strictly decreasing: the only choices a Lagrangian (or marginal-return) walk makes."""
    order = sorted(range(len(r)), key=lambda j: (r[j], d[j], j))
    pareto: list[int] = []
    for j in order:
        if pareto and r[j] == r[pareto[-1]]:
            continue  # same rate, no lower distortion (sorted by distortion within a rate)
        if not pareto or d[j] < d[pareto[-1]]:
            pareto.append(j)
    hull: list[int] = []
    for j in pareto:  # monotone chain: drop a middle point lying on or above the chord
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            if (d[b] - d[a]) * (r[j] - r[a]) >= (d[j] - d[a]) * (r[b] - r[a]):
                hull.pop()
            else:
                break
        hull.append(j)
    return hull


def _as_table(x, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        try:
            x = torch.as_tensor(x, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError):
            raise ValueError(f"{name} must be a 2-D (items, choices) table of numbers") from None
    if x.dim() != 2 or 0 in x.shape:
        raise ValueError(f"{name} must be a non-empty 2-D (items, choices) table, got shape {tuple(x.shape)}")
    x = x.double()
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return x


def allocate(distortion, rate, budget: float, *, method: str = "lagrangian") -> torch.Tensor:
    """The choice (column index) per item minimising sum of distortion subject to sum of rate <= budget.

    ``distortion``, ``rate``: (items, choices) tables. ``lagrangian``: bisection on lambda (each item
    at argmin D + lambda R, ties to the lower rate) to the smallest feasible total rate, then the
    leftover filled in order of slope; ``greedy``: marginal return from the cheapest choices.
    Raises when even the cheapest choices exceed the budget.
    """
    D, R = _as_table(distortion, "distortion"), _as_table(rate, "rate")
    if D.shape != R.shape:
        raise ValueError(f"distortion and rate must have the same shape, got {tuple(D.shape)} and {tuple(R.shape)}")
    budget = _check_number(budget, "budget")
    _check_method(method)
    n = D.shape[0]
    Dl, Rl = D.tolist(), R.tolist()
    hulls = [_lower_hull(Rl[i], Dl[i]) for i in range(n)]
    # hull segment k of item i: from hull[k] to hull[k + 1]; slope = distortion saved per unit of rate
    slopes = [[(Dl[i][h[k]] - Dl[i][h[k + 1]]) / (Rl[i][h[k + 1]] - Rl[i][h[k]]) for k in range(len(h) - 1)]
              for i, h in enumerate(hulls)]
    floor = math.fsum(Rl[i][h[0]] for i, h in enumerate(hulls))
    tol = 1e-9 * max(1.0, abs(budget))
    if floor > budget + tol:
        raise ValueError(f"budget {budget:.6g} is below the smallest total rate {floor:.6g} (every item at its "
                         "cheapest choice)")

    def total(pos: list[int]) -> float:
        return math.fsum(Rl[i][hulls[i][p]] for i, p in enumerate(pos))

    if method == "lagrangian":
        def at(lam: float) -> list[int]:  # per item: the hull vertex reached by every segment steeper than lambda
            return [sum(1 for s in sl if s > lam) for sl in slopes]

        hi = max((s for sl in slopes for s in sl), default=0.0) * 2 + 1.0
        lo = 0.0
        if total(at(lo)) <= budget + tol:
            hi = lo
        else:
            for _ in range(200):
                mid = 0.5 * (lo + hi)
                if total(at(mid)) <= budget + tol:
                    hi = mid
                else:
                    lo = mid
                if hi - lo <= 1e-15 * hi:
                    break
        pos = at(hi)
    else:
        pos = [0] * n
    # fill: remaining segments, steepest first; an item whose next segment does not fit stops there
    left = budget + tol - total(pos)
    heap = [(-slopes[i][pos[i]], i) for i in range(n) if pos[i] < len(slopes[i])]
    heapq.heapify(heap)
    while heap:
        _, i = heapq.heappop(heap)
        k = pos[i]
        step = Rl[i][hulls[i][k + 1]] - Rl[i][hulls[i][k]]
        if step > left:
            continue  # frozen
        left -= step
        pos[i] = k + 1
        if pos[i] < len(slopes[i]):
            heapq.heappush(heap, (-slopes[i][pos[i]], i))
    return torch.tensor([hulls[i][p] for i, p in enumerate(pos)], dtype=torch.int64)


# %%
# CVXQ
# ----


@dataclass(frozen=True)
class MixedPrecisionResult:
    """A mixed-precision model: depths, quantised weights and exact stored bytes.

    ``group_bits[name]``: (G,) depth per column group (one value repeated for layer-wise results);
    ``weights[name]``: dequantised fp32 (N, K); ``tensors[name]``: what is stored; ``stored_bytes``
    their total ``nbytes``; ``distortion``: the table's sum D over the chosen depths (calibration);
    ``cost``: the ``cost`` callable's value (hardware-aware) or None.
    """

    names: tuple[str, ...]
    group_bits: dict[str, torch.Tensor]
    weights: dict[str, torch.Tensor]
    tensors: dict[str, dict[str, torch.Tensor]]
    stored_bytes: int
    budget: float
    distortion: float
    cost: float | None = None

    @property
    def n_weights(self) -> int:
        return sum(w.numel() for w in self.weights.values())

    @property
    def bits_per_weight(self) -> float:
        return 8 * self.stored_bytes / self.n_weights

    def layer_bits(self) -> tuple[int, ...]:
        """One width per layer (layer-wise results); raises if a layer mixes depths."""
        out = []
        for n in self.names:
            b = self.group_bits[n]
            if bool((b != b[0]).any()):
                raise ValueError(f"layer {n!r} mixes depths {sorted(set(b.tolist()))}: no single width per layer")
            out.append(int(b[0]))
        return tuple(out)

    def depth_shares(self) -> dict[int, float]:
        """Fraction of the weights at each depth."""
        counts: dict[int, int] = {}
        for n in self.names:
            N, K = self.weights[n].shape
            per_group = N * K // self.group_bits[n].numel()
            for b in self.group_bits[n].tolist():
                counts[b] = counts.get(b, 0) + per_group
        total = sum(counts.values())
        return {b: counts[b] / total for b in sorted(counts)}


def _build(weights, table: RDTable, choice: torch.Tensor, budget: float, depth_map: bool,
           cost: float | None = None) -> MixedPrecisionResult:
    g = table.group_size
    bits_of = torch.tensor(table.depths)[choice]
    out_bits, out_w, out_t = {}, {}, {}
    stored = 0
    for li, name in enumerate(table.names):
        gb = bits_of[table.layer == li]
        deq, tensors = quantize_groups(weights[name], gb, g, depth_map=depth_map)
        out_bits[name], out_w[name], out_t[name] = gb, deq, tensors
        stored += _nbytes(tensors)
    expected = int(table.rate_bytes.gather(1, choice[:, None]).sum()) + (table.depth_map_bytes if depth_map else 0)
    if stored != expected:  # the byte arithmetic the allocator used must be the tensors' own
        raise RuntimeError(f"stored tensors hold {stored} bytes, the rate table says {expected}")
    distortion = float(table.distortion.gather(1, choice[:, None]).sum())
    return MixedPrecisionResult(table.names, out_bits, out_w, out_t, stored, budget, distortion, cost)


def _table_for(weights, hessians, table, depths, group_size, output_weights) -> RDTable:
    if table is None:
        return rd_table(weights, hessians, depths=depths, group_size=group_size, output_weights=output_weights)
    if not isinstance(table, RDTable):
        raise ValueError(f"table must be an RDTable from rd_table() or None, got {type(table).__name__}")
    if set(table.names) != set(weights):
        raise ValueError("table must be built from the same layers as weights")
    return table


def cvxq_quantize(weights: Mapping[str, torch.Tensor], hessians: Mapping[str, torch.Tensor], budget_bytes: float,
                  *, depths: Sequence[int] = DEPTHS, group_size: int = 128,
                  output_weights: Mapping[str, torch.Tensor] | None = None, method: str = "lagrangian",
                  table: RDTable | None = None) -> MixedPrecisionResult:
    """CVXQ: a depth per (layer, column group) minimising the summed output-weighted distortion with
    the stored bytes (depth map included) at most ``budget_bytes``.

    ``table``: a precomputed :func:`rd_table` (reused across budgets; ``depths``, ``group_size`` and
    ``output_weights`` are then ignored)."""
    w = _check_weights(weights)
    budget = _check_number(budget_bytes, "budget_bytes")
    _check_method(method)
    table = _table_for(w, hessians, table, depths, group_size, output_weights)
    floor = int(table.rate_bytes.min(1).values.sum()) + table.depth_map_bytes
    if budget < floor:
        raise ValueError(f"budget_bytes {budget:.0f} is below the smallest size {floor} (every group at "
                         f"{table.depths[0]} bits, depth map included)")
    choice = allocate(table.distortion, table.rate_bytes, budget - table.depth_map_bytes, method=method)
    return _build(w, table, choice, budget, depth_map=True)


def _fits(c: float, budget: float) -> bool:
    """``c`` within ``budget``, allowing for rounding between a sum of per-layer costs and the total."""
    return c <= budget + 1e-9 * max(1.0, abs(budget))


def _repair(bits: list[int], widths: Sequence[int], cost: Callable, budget: float,
            loss_of: Callable[[list[int]], float]) -> list[int]:
    """Lower one layer's width at a time (to any narrower width), least predicted loss per unit of
    cost saved first, until ``cost`` says the configuration fits (for a cost the per-layer
    increments did not describe)."""
    c = cost(bits)
    while not _fits(c, budget):
        best = None
        base_loss = loss_of(bits)
        for i, b in enumerate(bits):
            for lower in widths[:widths.index(b)]:
                trial = bits.copy()
                trial[i] = lower
                saved = c - cost(trial)
                if saved <= 0:
                    continue
                score = (loss_of(trial) - base_loss) / saved
                if best is None or score < best[0]:
                    best = (score, trial)
        if best is None:
            raise ValueError(f"no configuration found whose cost is within the budget {budget:.6g} "
                             f"(lowest reached {c:.6g})")
        bits = best[1]
        c = cost(bits)
    return bits


def _layer_cost_table(cost: Callable, L: int, widths: Sequence[int]) -> torch.Tensor:
    """(L, W) per-layer costs read from ``cost`` one layer at a time, from all layers at the
    narrowest width: R[l, w] = cost(base, layer l at w) - cost(base) + cost(base) / L, so the sum
    over a configuration equals ``cost`` when ``cost`` is additive."""
    base = [widths[0]] * L
    c0 = cost(base)
    R = torch.empty(L, len(widths), dtype=torch.float64)
    for li in range(L):
        for j, b in enumerate(widths):
            trial = base.copy()
            trial[li] = b
            R[li, j] = (cost(trial) - c0 if j else 0.0) + c0 / L
    return R


def cvxq_hardware_aware(weights: Mapping[str, torch.Tensor], hessians: Mapping[str, torch.Tensor],
                        cost: Callable[[tuple[int, ...]], float], cost_budget: float, *,
                        depths: Sequence[int] = DEPTHS, group_size: int = 128,
                        output_weights: Mapping[str, torch.Tensor] | None = None, method: str = "lagrangian",
                        table: RDTable | None = None) -> MixedPrecisionResult:
    """CVXQ with an engine's cost as the rate: one depth per layer (the order of ``weights``),
    minimising the summed distortion with ``cost(bits_per_layer) <= cost_budget``.

    The per-layer rates are read from ``cost`` one layer at a time; the result is checked with
    ``cost`` itself and repaired if ``cost`` is not additive. Stored per layer at one width, no
    depth map."""
    w = _check_weights(weights)
    budget = _check_number(cost_budget, "cost_budget")
    _check_method(method)
    table = _table_for(w, hessians, table, depths, group_size, output_weights)
    names = table.names
    cost = _check_cost(cost, names)
    widths = table.depths
    D, _ = table.layer_table()
    R = _layer_cost_table(lambda b: cost(tuple(b)), len(names), widths)
    lowest = cost(tuple([widths[0]] * len(names)))
    if budget < lowest:
        raise ValueError(f"cost_budget {budget:.6g} is below the cost of every layer at {widths[0]} bits "
                         f"({lowest:.6g})")
    pick = allocate(D, R, budget, method=method)
    bits = [widths[int(j)] for j in pick]
    Dl = D.tolist()

    def loss_of(b: list[int]) -> float:
        return math.fsum(Dl[i][widths.index(x)] for i, x in enumerate(b))

    bits = _repair(bits, widths, lambda b: cost(tuple(b)), budget, loss_of)
    idx = torch.tensor([widths.index(b) for b in bits])
    choice = idx[table.layer]
    return _build(w, table, choice, budget, depth_map=False, cost=cost(tuple(bits)))


# %%
# Output sensitivity (the paper's G^2, on the output side)
# --------------------------------------------------------


def output_sensitivity(modules: Mapping[str, torch.nn.Module], forward: Callable, batches: Sequence, *,
                       n_probes: int = 2, seed: int = 0, per_weight: bool = False) -> dict[str, torch.Tensor]:
    """Per output channel of each module: the sum over ``batches``, positions and ``n_probes``
    random probes v ~ N(0, I) of (d(v . forward(batch)) / d y)^2, where y is the module's output.

    E_v[(d(v.f)/dy)^2] is the diagonal of J^T J (J = df/dy): the weight of a squared error on that
    channel in the squared error of the model's output f, the Gauss-Newton form of CVXQ's squared
    gradients. ``forward(batch)`` runs the model with these modules inside it and returns its
    output; only relative values matter to the allocator (a common factor cancels).

    ``per_weight``: instead the (N, K) squared gradient with respect to each weight of a linear
    module, summed per position: sum_t (g_t,n x_t,k)^2, with x the module's input (the diagonal
    Fisher that CVXQ's reference code accumulates, with probes for its one backward per output)."""
    if not isinstance(modules, Mapping) or not modules or any(not isinstance(m, torch.nn.Module)
                                                               for m in modules.values()):
        raise ValueError("modules must be a non-empty mapping {name: torch.nn.Module}")
    if not callable(forward):
        raise ValueError("forward must be a callable forward(batch) -> output tensor")
    if isinstance(batches, (str, bytes)) or not isinstance(batches, Sequence) or not batches:
        raise ValueError("batches must be a non-empty sequence of forward's inputs")
    if not is_int(n_probes) or n_probes < 1:
        raise ValueError(f"n_probes must be a positive integer, got {n_probes!r}")
    gen = torch.Generator().manual_seed(seed)
    acc: dict[str, torch.Tensor | None] = dict.fromkeys(modules)
    outputs: dict[str, torch.Tensor] = {}
    inputs: dict[str, torch.Tensor] = {}

    def hook(_m, args, out, n):
        outputs[n] = out
        if per_weight:
            inputs[n] = args[0].detach()

    handles = [m.register_forward_hook(lambda m, a, o, n=n: hook(m, a, o, n)) for n, m in modules.items()]
    try:
        with torch.enable_grad():
            for batch in batches:
                outputs.clear()
                f = forward(batch)
                missing = [n for n in modules if n not in outputs]
                if missing:
                    raise ValueError(f"forward did not run module {missing[0]!r}")
                if not isinstance(f, torch.Tensor) or not f.requires_grad:
                    raise ValueError("forward must return a tensor that depends on the modules' outputs with "
                                     "gradients enabled (parameters with requires_grad)")
                ys = [outputs[n] for n in modules]
                for p in range(n_probes):
                    v = torch.randn(f.shape, generator=gen, dtype=f.dtype)
                    grads = torch.autograd.grad((f * v).sum(), ys, retain_graph=p < n_probes - 1, allow_unused=True)
                    for n, y, gr in zip(modules, ys, grads):
                        # an output the model's output does not depend on has no gradient: weight 0
                        if gr is None:
                            gr = torch.zeros_like(y)
                        g2 = gr.detach().double().pow(2).reshape(-1, gr.shape[-1])
                        if per_weight:
                            x2 = inputs[n].double().pow(2).reshape(-1, inputs[n].shape[-1])
                            sq = g2.T @ x2  # (N, K): sum over positions of g_n^2 x_k^2
                        else:
                            sq = g2.sum(0)
                        acc[n] = sq if acc[n] is None else acc[n] + sq
    finally:
        for h in handles:
            h.remove()
    return {n: v / n_probes for n, v in acc.items()}


# %%
# AMQ: layer-wise search with a quality predictor
# -----------------------------------------------


@dataclass(frozen=True)
class AmqPoint:
    """One measured configuration: widths per layer, its cost, measured loss (lower is better) and
    the predictor's value for it before it was measured (NaN for the initial samples)."""

    bits: tuple[int, ...]
    cost: float
    loss: float
    predicted: float

    def mean_bits(self) -> float:
        return sum(self.bits) / len(self.bits)


@dataclass(frozen=True)
class AmqResult:
    """Every measured point, the Pareto front among them, the answer per budget and the predictor.

    ``best[budget]``: the lowest measured loss with cost <= budget. ``coef``: (L, W) additive
    sensitivities (0 at the narrowest width; of log(loss) for ``log_additive``) and ``intercept``.
    ``kendall_tau``: rank agreement of predictions made before measuring with the measurements (search points only)."""

    names: tuple[str, ...]
    widths: tuple[int, ...]
    measured: tuple[AmqPoint, ...]
    front: tuple[AmqPoint, ...]
    best: dict[float, AmqPoint]
    coef: torch.Tensor
    intercept: float
    kendall_tau: float
    predictor: str = "additive"

    def predict(self, bits: Sequence[int]) -> float:
        """The final predictor's loss for one configuration."""
        v = self.intercept + sum(float(self.coef[i, self.widths.index(b)]) for i, b in enumerate(bits))
        return math.exp(v) if self.predictor == "log_additive" else v

    @property
    def n_measured(self) -> int:
        return len(self.measured)


def pareto_front(points: Sequence[AmqPoint]) -> tuple[AmqPoint, ...]:
    """The points no other point beats on both cost and loss, cost increasing (loss decreasing)."""
    front: list[AmqPoint] = []
    for p in sorted(points, key=lambda p: (p.cost, p.loss)):
        if not front or p.loss < front[-1].loss:
            front.append(p)
    return tuple(front)


def _fit_additive(configs: list[tuple[int, ...]], losses: list[float], widths: Sequence[int], log: bool = False,
                  ridge: float = 1e-6) -> tuple[float, torch.Tensor]:
    """loss ~ c + sum_l a[l, bits_l] with a[l, narrowest] = 0, by least squares on the relative
    error (rows weighted by 1 / loss); ``log``: log(loss) ~ c + sum_l a[l, bits_l] (unweighted), a
    product of per-layer factors that stays positive. A ridge of ``ridge`` x the mean squared
    feature keeps an under-determined fit (fewer configurations than coefficients) solvable."""
    L, W = len(configs[0]), len(widths)
    X = torch.zeros(len(configs), L * (W - 1), dtype=torch.float64)
    for r, cfg in enumerate(configs):
        for li, b in enumerate(cfg):
            j = widths.index(b)
            if j:
                X[r, li * (W - 1) + j - 1] = 1.0
    y = torch.tensor(losses, dtype=torch.float64)
    if log:
        if bool((y <= 0).any()):
            raise ValueError("predictor 'log_additive' needs positive losses; measure returned "
                             f"{float(y.min())}")
        y, wt = y.log(), torch.ones_like(y)
    else:
        wt = 1.0 / y.abs().clamp_min(1e-12 * float(y.abs().max()) + 1e-300)
    A = torch.cat([torch.ones(len(configs), 1, dtype=torch.float64), X], 1) * wt[:, None]
    b = y * wt
    reg = math.sqrt(ridge * float((A[:, 1:] ** 2).mean()) * len(configs)) if X.numel() else 0.0
    eye = torch.eye(X.shape[1], dtype=torch.float64)
    R = torch.cat([torch.zeros(X.shape[1], 1, dtype=torch.float64), reg * eye], 1)
    sol = torch.linalg.lstsq(torch.cat([A, R]), torch.cat([b, torch.zeros(X.shape[1], dtype=torch.float64)])[:, None],
                             driver="gelsd").solution.flatten()
    coef = torch.zeros(L, W, dtype=torch.float64)
    coef[:, 1:] = sol[1:].reshape(L, W - 1)
    return float(sol[0]), coef


def _kendall_tau(x: list[float], y: list[float]) -> float:
    n, s = len(x), 0
    for i in range(n):
        for j in range(i + 1, n):
            s += (1 if (x[i] - x[j]) * (y[i] - y[j]) > 0 else -1 if (x[i] - x[j]) * (y[i] - y[j]) < 0 else 0)
    return 2 * s / (n * (n - 1)) if n > 1 else math.nan


def _local_search(bits: list[int], widths: Sequence[int], cost: Callable, budget: float, coef: torch.Tensor,
                  rounds: int = 200) -> list[int]:
    """Best-improvement hill climbing on the additive predictor ``coef`` (L, W): moves are one
    layer to any other width, or one layer wider and another narrower; the move with the largest
    predicted gain whose true ``cost`` fits is taken, until none is left."""
    L, W = coef.shape
    cur = [widths.index(b) for b in bits]
    for _ in range(rounds):
        c = coef[torch.arange(L), torch.tensor(cur)]  # each layer's current term
        single = coef - c[:, None]  # (L, W): predicted change of moving layer l to width w
        moves = [(float(single[i, w]), ((i, w),)) for i in range(L) for w in range(W) if w != cur[i]]
        up = [(float(single[i, w]), i, w) for i in range(L) for w in range(cur[i] + 1, W)]
        down = [(float(single[j, w]), j, w) for j in range(L) for w in range(cur[j])]
        moves += [(du + dd, ((i, wu), (j, wd))) for du, i, wu in up for dd, j, wd in down if i != j]
        moves.sort(key=lambda m: m[0])
        taken = False
        for gain, change in moves:
            if gain >= -1e-15 * (1.0 + float(c.abs().sum())):
                break
            trial = cur.copy()
            for i, w in change:
                trial[i] = w
            if _fits(cost([widths[k] for k in trial]), budget):
                cur, taken = trial, True
                break
        if not taken:
            break
    return [widths[k] for k in cur]


def amq_search(names: Sequence[str], measure: Callable[[tuple[int, ...]], float],
               cost: Callable[[tuple[int, ...]], float], budgets: Sequence[float], *,
               widths: Sequence[int] = LAYER_BITS, predictor: str = "additive", n_samples: int = 64,
               n_iterations: int = 3,
               front_points: int = 6, seed: int = 0, progress: Callable[[str], None] | None = None) -> AmqResult:
    """AMQ's search (module docstring): one width per layer of ``names`` from ``widths``.

    ``measure(bits) -> loss`` (lower is better; e.g. 1 - cosine to the fp32 model on calibration
    data); ``cost(bits) -> float`` (bytes, or an engine's energy); ``budgets``: the costs to answer
    for; ``front_points`` more budgets spread between all-narrowest and all-widest fill the front.
    ``n_samples`` random configurations (plus one per uniform width) train the first predictor;
    each of ``n_iterations`` rounds searches it at every budget, measures the new configurations
    and refits."""
    if isinstance(names, str) or not isinstance(names, Sequence) or not names or \
            any(not isinstance(n, str) for n in names) or len(set(names)) != len(names):
        raise ValueError(f"names must be a non-empty sequence of distinct layer names, got {names!r}")
    if not callable(measure):
        raise ValueError(f"measure must be a callable measure(bits_per_layer) -> loss, got {type(measure).__name__}")
    widths = _check_depths(widths, DEPTHS, "widths")
    if len(widths) < 2:
        raise ValueError(f"widths must hold at least two widths to choose between, got {widths!r}")
    if predictor not in PREDICTORS:
        raise ValueError(f"predictor must be one of {PREDICTORS}, got {predictor!r}")
    log = predictor == "log_additive"
    for nm, v, lo in (("n_samples", n_samples, 1), ("n_iterations", n_iterations, 1),
                      ("front_points", front_points, 0)):
        if not is_int(v) or v < lo:
            raise ValueError(f"{nm} must be an integer >= {lo}, got {v!r}")
    if isinstance(budgets, (str, bytes)) or not isinstance(budgets, Sequence) or not budgets:
        raise ValueError("budgets must be a non-empty sequence of costs")
    budgets = [_check_number(b, "each budget") for b in budgets]
    names = tuple(names)
    L = len(names)
    cost_c = _check_cost(cost, names)
    cost_l = lambda b: cost_c(tuple(b))  # noqa: E731
    lowest = cost_l([widths[0]] * L)
    for b in budgets:
        if b < lowest:
            raise ValueError(f"budget {b:.6g} is below the cost of every layer at {widths[0]} bits ({lowest:.6g})")
    highest = cost_l([widths[-1]] * L)
    grid = [lowest + (highest - lowest) * (i + 1) / (front_points + 1) for i in range(front_points)]
    say = progress or (lambda _s: None)

    measured: dict[tuple[int, ...], AmqPoint] = {}

    def run(cfg: tuple[int, ...], predicted: float) -> None:
        loss = measure(cfg)
        if isinstance(loss, bool) or not isinstance(loss, (int, float)) or not math.isfinite(loss):
            raise ValueError(f"measure({cfg}) must return a finite number, got {loss!r}")
        measured[cfg] = AmqPoint(cfg, cost_l(cfg), float(loss), predicted)

    rng = random.Random(seed)
    initial = [tuple([b] * L) for b in widths]
    for _ in range(n_samples):
        # a random mixture per sample, so samples spread over the whole range of mean widths
        p = [rng.expovariate(1.0) for _ in widths]
        initial.append(tuple(rng.choices(widths, weights=p)[0] for _ in range(L)))
    for cfg in initial:
        if cfg not in measured:
            run(cfg, math.nan)
    say(f"amq: {len(measured)} initial configurations measured")

    R = _layer_cost_table(cost_l, L, widths)
    intercept, coef = 0.0, torch.zeros(L, len(widths), dtype=torch.float64)
    for it in range(n_iterations):
        cfgs = list(measured)
        intercept, coef = _fit_additive(cfgs, [measured[c].loss for c in cfgs], widths, log)
        cl = coef.tolist()

        def pred(b: list[int] | tuple[int, ...]) -> float:
            v = intercept + math.fsum(cl[i][widths.index(x)] for i, x in enumerate(b))
            return math.exp(v) if log else v

        new = {}
        for budget in list(budgets) + grid:
            pick = allocate(coef, R, budget)
            bits = [widths[int(j)] for j in pick]
            bits = _repair(bits, widths, cost_l, budget, pred)
            bits = tuple(_local_search(bits, widths, cost_l, budget, coef))
            if bits not in measured and bits not in new:
                new[bits] = pred(bits)
        for cfg, p in new.items():
            run(cfg, p)
        say(f"amq: round {it + 1}: {len(new)} new configurations measured ({len(measured)} in all)")
        if not new:
            break
    cfgs = list(measured)
    intercept, coef = _fit_additive(cfgs, [measured[c].loss for c in cfgs], widths, log)
    pts = tuple(measured.values())
    searched = [p for p in pts if not math.isnan(p.predicted)]
    tau = _kendall_tau([p.predicted for p in searched], [p.loss for p in searched])
    best = {}
    for b in budgets:
        fits = [p for p in pts if _fits(p.cost, b)]
        best[b] = min(fits, key=lambda p: (p.loss, p.cost))
    return AmqResult(names, widths, pts, pareto_front(pts), best, coef, intercept, tau, predictor)
