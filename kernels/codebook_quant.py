"""
Codebook weight quantisation: NUPES (power-exponent levels) and DGMS (Gaussian-mixture sharing)
==============================================================================================

Both quantisers store a weight matrix W (N x K, ``nn.Linear.weight``) as ``bits``-bit codes that
index a small table of values, the *codebook*, instead of an affine grid:

    W[n, k] ~ scale[n, k // group_size] * codebook[n // rows_per_codebook, code[n, k]]

with 2^bits fp16 entries per codebook, one codebook per group of ``rows_per_codebook`` output rows
(``rows_per_codebook = N``: one per layer), and optional fp16 scales per output row and group of
``group_size`` input columns (``scales = None``: 1). kernels/codebook_gemm.py multiplies by it
without ever forming W (a 2^bits-entry table lookup per weight, in registers).

Packing (:func:`pack_codebook_codes`): each output row's K codes form kernels/lowbit_format.py's
little-endian bit stream (code k at stream bits [k bits, (k+1) bits), int32 words, 3-bit codes 10
and 21 of every 32 straddling two words), stored row-major (N, ceil(K bits / 32)) int32 so that a
kernel program reads each of its rows' words as one contiguous run. Stored bytes
(:func:`codebook_stored_bytes`, equal to :attr:`CodebookWeight.stored_bytes`): 4 N ceil(K bits/32)
+ 2 * 2^bits * (N / rows_per_codebook) + (2 N K / group_size with scales).

NUPES
-----
Yvinec, Dapogny, Bailly, "NUPES: Non-Uniform Post-Training Quantization via Power Exponent
Search" (arXiv 2308.05600; IEEE TPAMI 2025). Power quantisation: the levels are a power function
of a uniform grid, L_j(a) = sign(u_j) |u_j|^a, u_j = -1 + 2j / (2^bits - 1) (the symmetric grid
without zero, so all 2^bits levels are used; a = 1 is the uniform symmetric grid, a > 1 puts
levels closer together near zero, where bell-shaped weights are dense). Here a is one exponent
per layer, and every output row and group of ``group_size`` input columns has its own fp16 scale
(the same granularity as kernels/lowbit.py's RTN/GPTQ groups), so the stored codebook is one per
layer, L(a) in fp16, and the scales carry the magnitudes.

* Rounding is the power quantiser's own: a weight w of a group with scale s goes to the grid
  domain, u = sign(w/s) |w/s|^(1/a), is rounded to the nearest u_j there, and is stored as code j
  (W_q = s L_j(a)).
* Data-free (``hessian=None``): the exponent is searched on a grid (``NUPES_EXPONENTS``,
  PowerQuant's data-free search), weight MSE as the objective, scales = group absmax.
* Data-driven (``hessian`` = X^T X of the layer's calibration inputs): the search uses the
  layer's output error tr(E H E^T) / tr(W H W^T), E = W - W_q; then the paper's optimisation:
  the *quantised weights themselves* (a latent u per weight on the uniform grid, free to move
  over the whole quantised range, not only to round up or down as AdaRound does), the exponent a
  and the scales (log s) are trained jointly by gradient descent (Adam) on that output error, the
  rounding passed straight through (STE). The exponent's gradient, d L_j / d a = L_j ln|u_j|, is
  finite because the grid has no zero level (the numerical trouble the paper works around).
  ``iters`` steps (modest: the default 32, with a linearly decaying step), deterministic (no
  random draws), and the iterate with the lowest calibration objective is kept. The gradients
  are written out by hand (one (N x K) x (K x K) product per step), not left to autograd.

DGMS
----
Dong et al., "Finding the Task-Optimal Low-Bit Sub-Distribution in Deep Neural Networks"
(ICML 2022, github.com/RunpeiDong/DGMS). The weights of a layer are modelled as a Gaussian
mixture of C = 2^bits components, one of them pinned at mean 0 (the paper's zero component);
a weight is mapped softly to sum_k softmax_k(gamma_k(w) / tau) mu_k, gamma the normalised
responsibilities pi_k N(w | mu_k, sigma_k) / sum_j pi_j N(w | mu_j, sigma_j), and hard at the end
to mu of argmax_k gamma_k(w). As in the repository's GaussianMixtureModel: k-means
initialisation of (mu, pi, sigma), then the soft mapping trained by gradient. The paper co-tunes
the mixture and the network weights on the task loss (quantisation-aware training); this is its
post-training form: the weights stay fixed and the mixture (mu, sigma, pi) is trained (Adam,
``iters`` steps) on the weight reconstruction error sum (w - soft(w))^2 while tau is annealed
geometrically from ``tau[0]`` to ``tau[1]``; the soft error is a proxy, so the hard error is
checked every 10 steps and the best mixture kept, the k-means start included. Deterministic:
k-means starts from quantiles, nothing is drawn at random. The fit runs on a quantile summary of
the layer's weights
(``summary_points`` evenly spaced order statistics, min and max included: the empirical
distribution the MSE is an integral over), then every weight is assigned. One codebook per layer
by default, no scales (the paper's layer-wise sharing); ``rows_per_codebook`` gives one per
group of output rows instead.

:func:`uniform_codebook_quantize` is the baseline of the same shape: 2^bits uniform levels per
codebook from min to max (or with the MSE-best clipping).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from kernels.lowbit_format import BITS, check_bits, is_int, pack_codes, packed_words, unpack_codes

__all__ = [
    "BITS",
    "CodebookWeight",
    "DGMS_ITERS",
    "NUPES_EXPONENTS",
    "NUPES_ITERS",
    "codebook_dequantize",
    "codebook_stored_bytes",
    "dgms_quantize",
    "nupes_quantize",
    "output_error",
    "pack_codebook_codes",
    "power_levels",
    "uniform_codebook_quantize",
    "unpack_codebook_codes",
]

FLOAT_WEIGHTS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
#: the data-free exponent grid NUPES searches before (data-driven) training; 1 = uniform
NUPES_EXPONENTS = (0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0)
#: Adam steps of the data-driven NUPES optimisation (the paper trains longer; kept modest here)
NUPES_ITERS = 32
#: Adam steps of the DGMS mixture fit, and its temperature annealing (start, end)
DGMS_ITERS = 60
DGMS_TAU = (0.05, 0.001)
DGMS_SUMMARY_POINTS = 2048
_DGMS_CHECK = 10


# %%
# The stored format
# -----------------


def _check_weight(w, name: str = "weight") -> None:
    if not isinstance(w, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(w).__name__}")
    if w.dtype not in FLOAT_WEIGHTS:
        raise TypeError(f"{name} must be a float tensor (fp16/bf16/fp32/fp64), got {w.dtype}")
    if w.dim() != 2 or w.shape[0] == 0 or w.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D (N, K) matrix, got shape {tuple(w.shape)}")
    if not bool(torch.isfinite(w).all()):
        raise ValueError(f"{name} must be finite (it holds inf or NaN)")


def pack_codebook_codes(codes: torch.Tensor, bits: int) -> torch.Tensor:
    """(N, K) codes -> (N, ceil(K bits / 32)) int32: each row's little-endian bit stream, row-major."""
    return pack_codes(codes, bits).T.contiguous()


def unpack_codebook_codes(packed: torch.Tensor, bits: int, K: int) -> torch.Tensor:
    """The inverse of :func:`pack_codebook_codes`: (N, W) int32 -> (N, K) uint8."""
    check_bits(bits)
    if not isinstance(packed, torch.Tensor) or packed.dtype != torch.int32 or packed.dim() != 2:
        got = getattr(packed, "dtype", type(packed).__name__)
        raise TypeError(f"packed must be a 2-D int32 tensor (N, words), got {got} of shape "
                        f"{tuple(getattr(packed, 'shape', ()))}")
    return unpack_codes(packed.T, bits, K)


def codebook_stored_bytes(N: int, K: int, bits: int, n_codebooks: int, group_size: int | None) -> int:
    """Bytes of the tensors the kernel reads: packed codes, fp16 codebooks, fp16 scales (``group_size``
    None: no scales)."""
    check_bits(bits)
    scales = 0 if group_size is None else 2 * N * (K // group_size)
    return 4 * N * packed_words(K, bits) + 2 * (1 << bits) * n_codebooks + scales


def codebook_dequantize(packed: torch.Tensor, codebook: torch.Tensor, scales: torch.Tensor | None, bits: int,
                        K: int, group_size: int | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """W = scale * codebook[row group, code] as ``dtype`` (the products are exact in float64)."""
    codes = unpack_codebook_codes(packed, bits, K).long()
    N = codes.shape[0]
    if codebook.dim() != 2 or codebook.shape[1] != 1 << bits or N % codebook.shape[0]:
        raise ValueError(f"codebook must be (N / rows_per_codebook, 2^bits) = (a divisor of {N}, {1 << bits}), "
                         f"got {tuple(codebook.shape)}")
    rows = N // codebook.shape[0]
    cb = codebook.to(dtype).repeat_interleave(rows, dim=0)  # (N, 2^bits)
    w = torch.gather(cb, 1, codes)
    if scales is not None:
        g = K if group_size is None else group_size
        w = w * scales.to(dtype).repeat_interleave(g, dim=1)
    return w


@dataclass(frozen=True)
class CodebookWeight:
    """One quantised weight in the codebook format (module docstring)."""

    packed: torch.Tensor  # (N, ceil(K bits / 32)) int32
    codebook: torch.Tensor  # (N / rows_per_codebook, 2^bits) fp16
    scales: torch.Tensor | None  # (N, K / group_size) fp16, or None
    bits: int
    K: int
    group_size: int | None  # None when there are no scales
    method: str
    info: dict = field(default_factory=dict, compare=False)  # what the quantiser found (exponent, objectives)

    @property
    def N(self) -> int:
        return self.packed.shape[0]

    @property
    def rows_per_codebook(self) -> int:
        return self.N // self.codebook.shape[0]

    def codes(self) -> torch.Tensor:
        """(N, K) uint8 codes."""
        return unpack_codebook_codes(self.packed, self.bits, self.K)

    def dequantize(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return codebook_dequantize(self.packed, self.codebook, self.scales, self.bits, self.K, self.group_size, dtype)

    def tensors(self) -> dict[str, torch.Tensor]:
        """The stored tensors (what the kernel reads)."""
        out = {"packed": self.packed, "codebook": self.codebook}
        if self.scales is not None:
            out["scales"] = self.scales
        return out

    @property
    def stored_bytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.tensors().values())


def output_error(w: torch.Tensor, wq: torch.Tensor, hessian: torch.Tensor) -> float:
    """tr(E H E^T) / tr(W H W^T), E = W - W_q: the layer's relative squared output error on the
    inputs whose X^T X is ``hessian``."""
    h = hessian.to(torch.float64)
    e = (w - wq).to(torch.float64)
    w = w.to(torch.float64)
    return float(((e @ h) * e).sum() / ((w @ h) * w).sum())


def _check_hessian(hessian, K: int) -> torch.Tensor:
    if not isinstance(hessian, torch.Tensor) or not hessian.dtype.is_floating_point:
        raise TypeError(f"hessian must be a float tensor (X^T X, K x K), got "
                        f"{getattr(hessian, 'dtype', type(hessian).__name__)}")
    if tuple(hessian.shape) != (K, K):
        raise ValueError(f"hessian must be (K, K) = ({K}, {K}) (X^T X of the layer's inputs), "
                         f"got {tuple(hessian.shape)}")
    if not bool(torch.isfinite(hessian).all()):
        raise ValueError("hessian must be finite (it holds inf or NaN)")
    return hessian


def _check_pos_int(name: str, v, lo: int = 1) -> None:
    if not is_int(v) or v < lo:
        raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")


# %%
# NUPES
# -----


def power_levels(bits: int, exponent: float) -> torch.Tensor:
    """(2^bits,) float64, increasing: sign(u_j) |u_j|^exponent on u_j = -1 + 2j / (2^bits - 1)."""
    check_bits(bits)
    if isinstance(exponent, bool) or not isinstance(exponent, (int, float)) or not math.isfinite(exponent) \
            or exponent <= 0:
        raise ValueError(f"exponent must be a positive finite number, got {exponent!r}")
    n = 1 << bits
    u = -1 + 2 * torch.arange(n, dtype=torch.float64) / (n - 1)
    return u.sign() * u.abs() ** exponent


def _nearest(z: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """Index of the nearest of the increasing ``levels`` for every z (int64)."""
    mids = ((levels[1:] + levels[:-1]) / 2).to(z.dtype).contiguous()
    return torch.bucketize(z, mids)


def _grid_codes(u: torch.Tensor, n_levels: int) -> torch.Tensor:
    """Round u in [-1, 1] to the uniform grid u_j = -1 + 2j / (n - 1): the index j (int64)."""
    half = (n_levels - 1) / 2
    return u.add(1.0).mul_(half).round_().clamp_(0, n_levels - 1).long()


def _to_grid_domain(z: torch.Tensor, exponent: float) -> torch.Tensor:
    """The power function's inverse: sign(z) |z|^(1/a), z in [-1, 1]."""
    return z.sign() * z.abs().pow(1.0 / exponent)


def _group_view(t: torch.Tensor, g: int) -> torch.Tensor:
    N, K = t.shape
    return t.view(N, K // g, g)


def _nupes_error(w, codes, s, levels, g, hf) -> float:
    """The objective of (codes, scales, levels): tr(E H E^T) (hf = H float32) or ||E||^2 (hf None)."""
    e = (_group_view(w, g) - s[..., None] * _group_view(levels[codes], g)).view(w.shape)
    return float(((e @ hf) * e).sum()) if hf is not None else float((e * e).sum())


def nupes_quantize(weight: torch.Tensor, bits: int, group_size: int | None = 128, *,
                   hessian: torch.Tensor | None = None, iters: int = NUPES_ITERS,
                   exponents: tuple[float, ...] = NUPES_EXPONENTS, lr: float = 0.05) -> CodebookWeight:
    """NUPES power quantisation of ``weight`` (module docstring).

    ``group_size`` input columns share an fp16 scale per output row (None: one per row);
    ``hessian`` (K x K, X^T X of calibration inputs) turns on the data-driven search and the
    ``iters`` gradient steps on the output error; ``lr`` is Adam's step for the latent weights in
    units of the uniform grid's spacing (the exponent and the log-scales take lr / 5 and lr / 10).
    ``info`` holds the exponent and the objective after the search and after training.
    """
    _check_weight(weight)
    check_bits(bits)
    N, K = weight.shape
    if group_size is not None:
        _check_pos_int("group_size", group_size)
        if K % group_size:
            raise ValueError(f"group_size {group_size} does not divide K = {K}")
    g = K if group_size is None else group_size
    _check_pos_int("iters", iters, 0)
    if (not isinstance(exponents, (tuple, list)) or not exponents
            or any(isinstance(a, bool) or not isinstance(a, (int, float)) or not a > 0 for a in exponents)):
        raise ValueError(f"exponents must be a non-empty sequence of positive numbers, got {exponents!r}")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    w = weight.detach().to(torch.float32).contiguous()
    hf = None
    if hessian is not None:
        h = _check_hessian(hessian, K).to(torch.float32)
        hf = h / h.diagonal().mean().clamp_min(1e-30)  # scale-free: the objective is a ratio anyway
    norm = max(_nupes_error(w, torch.zeros_like(w, dtype=torch.long), torch.zeros(N, K // g),
                            torch.zeros(1 << bits), g, hf), 1e-30)

    # the search: scales at the group absmax, every weight rounded on the grid of each exponent
    s0 = _group_view(w, g).abs().amax(-1).clamp_min(1e-8)
    z0 = (_group_view(w, g) / s0[..., None]).view(N, K)
    best = None
    for a in exponents:
        u = _to_grid_domain(z0, float(a))
        codes = _grid_codes(u, 1 << bits)
        err = _nupes_error(w, codes, s0, power_levels(bits, float(a)).to(torch.float32), g, hf) / norm
        if best is None or err < best[0]:
            best = (err, float(a), codes, u)
    err0, a_best, codes, u0 = best
    info = {"exponent_searched": a_best, "objective_searched": err0, "data_driven": hf is not None}
    s_best, a_final, err_best = s0, a_best, err0
    if hf is not None and iters > 0:
        codes, s_best, a_final, err_best = _nupes_train(w, hf, norm, bits, g, s0, u0, a_best, iters, lr,
                                                        codes, err0)
    # stored: the scales and the codebook in fp16, the codes the search or the training chose
    scales16 = s_best.to(torch.float16)
    if not bool(torch.isfinite(scales16).all()):
        raise ValueError("weight has a group whose scale exceeds fp16's range (|w| > 65504): the format stores "
                         "fp16 scales")
    codebook16 = power_levels(bits, a_final).to(torch.float16)[None, :]
    packed = pack_codebook_codes(codes.to(torch.uint8), bits)
    info |= {"exponent": a_final, "objective": err_best}
    return CodebookWeight(packed, codebook16, scales16, bits, K, g, "nupes", info)


def _nupes_train(w, hf, norm, bits, g, s0, u0, a0, iters, lr, codes0, err0):
    """Adam on (u, log s, a), the output error's gradient written out; the best iterate
    (codes, scales, exponent, objective), the start included.

    u is each weight's latent position on the uniform grid (module docstring): W_q = s L_j(a) with
    j = round(u). Gradients: d err / d W_q = -2 E H / norm; through the rounding straight
    (STE), d W_q / d u = s a |u_j|^(a-1) (the power function's slope at the grid point);
    d W_q / d log s = W_q; d W_q / d a = s L_j ln|u_j|."""
    N, K = w.shape
    n_lv = 1 << bits
    grid = -1 + 2 * torch.arange(n_lv, dtype=torch.float32) / (n_lv - 1)
    log_u = grid.abs().log()  # finite: the grid has no zero
    u = u0.clone()
    log_s = s0.log()
    a = torch.tensor([float(a0)])
    opt = torch.optim.Adam([{"params": [u], "lr": lr * 2 / (n_lv - 1)},
                            {"params": [log_s], "lr": lr / 10}, {"params": [a], "lr": lr / 5}], fused=True)
    base = [grp["lr"] for grp in opt.param_groups]
    best = (err0, codes0, s0, float(a0))
    for t in range(iters):
        av = float(a.clamp_(0.25, 8.0))
        levels = grid.sign() * grid.abs() ** av
        table = torch.stack([levels, av * grid.abs() ** (av - 1), levels * log_u], 1)  # (n_lv, 3)
        codes = _grid_codes(u, n_lv)
        lc, slope, dlev = table.index_select(0, codes.view(-1)).view(N, K, 3).unbind(-1)
        s = log_s.exp()
        wq = _group_view(lc, g) * s[..., None]
        e = (_group_view(w, g) - wq).view(N, K)
        eh = e @ hf
        err = float(torch.vdot(eh.view(-1), e.view(-1))) / norm
        if err < best[0]:
            best = (err, codes, s.clone(), av)
        gq = _group_view(eh.mul_(-2 / norm), g)  # d err / d W_q (H symmetric), grouped
        u.grad = (gq * s[..., None]).view(N, K).mul_(slope)
        log_s.grad = (gq * wq).sum(-1)
        a.grad = torch.vdot((gq * s[..., None]).view(-1), dlev.reshape(-1)).reshape(1)
        for grp, lr0 in zip(opt.param_groups, base):
            grp["lr"] = lr0 * (1 - t / iters)  # a linear decay: late steps settle instead of oscillating
        opt.step()
        u.clamp_(-1.0, 1.0)
    err_best, codes, s, a_best = best
    return codes, s, a_best, err_best


# %%
# DGMS
# ----


def _summary(v: torch.Tensor, points: int) -> torch.Tensor:
    """``points`` evenly spaced order statistics of v (all of v when it is smaller), min and max included."""
    s = v.sort().values
    if s.numel() <= points:
        return s
    idx = torch.linspace(0, s.numel() - 1, points, dtype=torch.float64).round().long()
    return s[idx]


def _kmeans_1d(p: torch.Tensor, C: int, iters: int = 25) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Lloyd's k-means in 1-D with one centre pinned at 0 (DGMS's zero component): (centres,
    labels, index of the zero centre). Initial centres at the quantiles (j + 1/2) / C; the one
    nearest zero becomes the zero component."""
    mu = torch.quantile(p, (torch.arange(C, dtype=p.dtype) + 0.5) / C)
    zero = int(mu.abs().argmin())
    mu[zero] = 0.0
    for _ in range(iters):
        lab = (p[:, None] - mu[None, :]).abs().argmin(1)
        cnt = torch.bincount(lab, minlength=C).to(p.dtype)
        sums = torch.zeros(C, dtype=p.dtype).index_add_(0, lab, p)
        new = torch.where(cnt > 0, sums / cnt.clamp_min(1), mu)
        new[zero] = 0.0
        if torch.equal(new, mu):
            break
        mu = new
    lab = (p[:, None] - mu[None, :]).abs().argmin(1)
    return mu, lab, zero


def _log_joint(x: torch.Tensor, mu, log_sigma, logit_pi) -> torch.Tensor:
    """log pi_k + log N(x | mu_k, sigma_k) up to a constant, (len(x), C)."""
    return torch.log_softmax(logit_pi, 0) - log_sigma - 0.5 * ((x[:, None] - mu[None, :]) / log_sigma.exp()) ** 2


def _dgms_fit(v: torch.Tensor, C: int, iters: int, tau: tuple[float, float], points: int):
    """The mixture of one codebook's weights v: (means (C,), log sigma, logit pi), float32.

    k-means init (pi, sigma from the clusters, as the repository's ``cluster_weights``), then
    Adam on the soft-mapping error with tau annealed; the hard error (argmax-gamma assignment)
    is checked every ``_DGMS_CHECK`` steps and the best mixture kept, the initial one included:
    the soft objective is a proxy, and at the last temperatures its gradient lives only where
    two components overlap."""
    p64 = _summary(v.to(torch.float64), points)
    mu, lab, zero = _kmeans_1d(p64, C)
    p = p64.to(torch.float32)
    spread = float(p.std()) if p.numel() > 1 else 1.0
    spread = spread if spread > 0 else 1.0
    cnt = torch.bincount(lab, minlength=C).to(torch.float32)
    var = torch.zeros(C, dtype=torch.float64).index_add_(0, lab, (p64 - mu[lab]) ** 2).to(torch.float32)
    sigma = (var / cnt.clamp_min(1)).sqrt().clamp_min(0.05 * spread / C)
    keep = [k for k in range(C) if k != zero]
    mu_free = mu[keep].to(torch.float32).clone().requires_grad_(True)
    log_sigma = sigma.log().requires_grad_(True)
    logit_pi = (cnt.clamp_min(1) / cnt.sum()).log().requires_grad_(True)
    opt = torch.optim.Adam([{"params": [mu_free], "lr": 0.02 * spread},
                            {"params": [log_sigma, logit_pi], "lr": 0.05}])
    zeros = torch.zeros(1, dtype=torch.float32)

    def means():
        return torch.cat([mu_free[:zero], zeros, mu_free[zero:]])

    @torch.no_grad()
    def hard():
        m = means()
        c = _log_joint(p, m, log_sigma, logit_pi).argmax(1)
        return float(((m[c] - p) ** 2).mean()), m.clone(), log_sigma.clone(), logit_pi.clone()

    best = hard()
    for t in range(iters):
        tau_t = tau[0] * (tau[1] / tau[0]) ** (t / max(1, iters - 1))
        m = means()
        gamma = torch.softmax(_log_joint(p, m, log_sigma, logit_pi), 1)  # responsibilities
        soft = torch.softmax(gamma / tau_t, 1) @ m  # DGMS's concrete mapping
        loss = ((p - soft) ** 2).mean() / spread**2
        opt.zero_grad()
        loss.backward()
        opt.step()
        if (t + 1) % _DGMS_CHECK == 0 or t + 1 == iters:
            h = hard()
            if h[0] < best[0]:
                best = h
    return best[1], best[2], best[3]


def dgms_quantize(weight: torch.Tensor, bits: int, *, rows_per_codebook: int | None = None,
                  iters: int = DGMS_ITERS, tau: tuple[float, float] = DGMS_TAU,
                  summary_points: int = DGMS_SUMMARY_POINTS) -> CodebookWeight:
    """DGMS Gaussian-mixture weight sharing of ``weight`` (module docstring): 2^bits components per
    codebook, one codebook per ``rows_per_codebook`` output rows (None: per layer), no scales.
    Deterministic (k-means from quantiles, no random draws)."""
    _check_weight(weight)
    check_bits(bits)
    N, K = weight.shape
    R = N if rows_per_codebook is None else rows_per_codebook
    if not is_int(R) or R < 1 or N % R:
        raise ValueError(f"rows_per_codebook must be a positive integer dividing N = {N}, got {rows_per_codebook!r}")
    _check_pos_int("iters", iters, 0)
    _check_pos_int("summary_points", summary_points, 2)
    if (not isinstance(tau, (tuple, list)) or len(tau) != 2
            or any(isinstance(t, bool) or not isinstance(t, (int, float)) or not t > 0 for t in tau)):
        raise ValueError(f"tau must be a (start, end) pair of positive temperatures, got {tau!r}")
    C = 1 << bits
    w = weight.detach().to(torch.float64)
    codebooks, codes = [], torch.empty((N, K), dtype=torch.uint8)
    for r0 in range(0, N, R):
        v = w[r0:r0 + R]
        means, log_sigma, logit_pi = _dgms_fit(v.flatten(), C, iters, tuple(float(t) for t in tau), summary_points)
        means16 = means.to(torch.float16)
        for c0 in range(r0, r0 + R, max(1, (1 << 18) // K)):  # hard assignment, a slice of rows at a time
            c1 = min(r0 + R, c0 + max(1, (1 << 18) // K))
            lj = _log_joint(w[c0:c1].flatten().to(torch.float32), means, log_sigma, logit_pi)
            codes[c0:c1] = lj.argmax(1).reshape(c1 - c0, K).to(torch.uint8)  # argmax gamma = argmax pi N
        codebooks.append(means16)
    codebook = torch.stack(codebooks)
    if not bool(torch.isfinite(codebook).all()):
        raise ValueError("weight has values beyond fp16's range (|w| > 65504): the format stores fp16 codebooks")
    cw = CodebookWeight(pack_codebook_codes(codes, bits), codebook, None, bits, K, None, "dgms")
    mse = float(((cw.dequantize(torch.float64) - w) ** 2).mean())
    cw.info.update({"weight_mse": mse, "rows_per_codebook": R})
    return cw


# %%
# The uniform baseline of the same shape
# --------------------------------------


def uniform_codebook_quantize(weight: torch.Tensor, bits: int, *, rows_per_codebook: int | None = None,
                              clip_search: bool = False) -> CodebookWeight:
    """2^bits uniform levels per codebook, nearest-level codes, no scales: min to max, or
    (``clip_search``) the symmetric shrink of that range (50 steps down to 20%) with the least MSE."""
    _check_weight(weight)
    check_bits(bits)
    N, K = weight.shape
    R = N if rows_per_codebook is None else rows_per_codebook
    if not is_int(R) or R < 1 or N % R:
        raise ValueError(f"rows_per_codebook must be a positive integer dividing N = {N}, got {rows_per_codebook!r}")
    C = 1 << bits
    w = weight.detach().to(torch.float64)
    codebooks, codes = [], torch.empty((N, K), dtype=torch.uint8)
    for r0 in range(0, N, R):
        v = w[r0:r0 + R]
        lo, hi = float(v.min()), float(v.max())
        best = None
        for f in (torch.linspace(1.0, 0.2, 50).tolist() if clip_search else [1.0]):
            mid, half = (lo + hi) / 2, (hi - lo) / 2 * f
            lv = torch.linspace(mid - half, mid + half, C, dtype=torch.float64).to(torch.float16).to(torch.float64)
            c = _nearest(v.flatten(), lv)  # fp16 rounding keeps the levels increasing
            mse = float(((lv[c] - v.flatten()) ** 2).mean())
            if best is None or mse < best[0]:
                best = (mse, lv, c)
        codebooks.append(best[1].to(torch.float16))
        codes[r0:r0 + R] = best[2].reshape(R, K).to(torch.uint8)
    cw = CodebookWeight(pack_codebook_codes(codes, bits), torch.stack(codebooks), None, bits, K, None, "uniform")
    cw.info["weight_mse"] = float(((cw.dequantize(torch.float64) - w) ** 2).mean())
    return cw
