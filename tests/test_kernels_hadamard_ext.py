"""kernels.hadamard_ext: Paley matrices, the 12/20/28 x 2^k transform, the block-diagonal tl.dot
rotation and the fused rotate + quantise kernel (interpreted on the CPU here), against dense
matrices and torch references, and their error messages.

Tolerances (y the kernel's output, x its input, u32 = 2**-24 the fp32 unit roundoff, u_out the
output dtype's: 2**-24 fp32, 2**-11 fp16, 2**-8 bf16):

* ``hadamard_transform`` / ``block_hadamard`` against the float64 dense matrix: every output is a
  +-1 combination of the row's (block's) inputs summed in fp32. Whatever the summation order, a sum
  of terms over d levels of additions errs by at most ``d * u32 * sum|x_i|`` (first order), and one
  more rounding comes from the scale; so per row (block)
  ``|y - exact| <= (d + 1) * u32 * ||x||_1 / sqrt(n) + u_out * |exact|``, with d = log2(p) + m for the
  m x 2^k transform (butterflies, then a dot of m terms in any order) and d = b for a block of b
  (a tl.dot of b terms in an unspecified order).
* the same kernels against their torch references: the references sum in a fixed order that a
  dot need not follow, so they are held to the same bound against the dense matrix, not compared
  bit for bit; for m = 1 ``hadamard_transform`` is kernels.hadamard.fwht and is exactly equal.
* ``rotate_quantize``: **bit-exact** codes and scales. The rotation is the same butterflies in the
  same order as ``hadamard_reference`` (fp32), the amax is an exact max, scale = amax / qmax and
  x / scale are correctly rounded in both (``div_rn`` / torch), and the INT8 rounding and the e4m3
  cast are round-half-even in both.
"""

import math

import pytest
import torch

from kernels.hadamard import hadamard_matrix, hadamard_reference
from kernels.hadamard_ext import (
    PALEY_ORDERS,
    block_hadamard,
    block_hadamard_reference,
    dense_hadamard,
    hadamard_transform,
    hadamard_transform_reference,
    paley_hadamard,
    rotate_quantize,
    rotate_quantize_reference,
    split_size,
)

FLOATS = (torch.float32, torch.float16, torch.bfloat16)
UNIT_ROUNDOFF = {torch.float32: 2.0**-24, torch.float16: 2.0**-11, torch.bfloat16: 2.0**-8}
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
NEEDS_CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def random_input(shape, dtype, seed=0, device=DEVICE, outliers=False):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g)
    if outliers:  # a few large channels, as in real activations
        x[..., 3] *= 40.0
        x[..., -2] *= -25.0
    return x.to(dtype).to(device)


def exact_transform(x, n):
    """x @ (H_m (x) H_p) along the last dim in float64 on x's device, without forming the n x n matrix:
    Sylvester butterflies along p, then the Paley mix (checked against dense_hadamard below)."""
    m, p = split_size(n)
    y = x.double().reshape(-1, m, p)
    h = 1
    while h < p:
        v = y.reshape(y.shape[0], m, p // (2 * h), 2, h)
        y = torch.stack([v[..., 0, :] + v[..., 1, :], v[..., 0, :] - v[..., 1, :]], dim=3).reshape(y.shape)
        h *= 2
    if m > 1:
        y = torch.einsum("rap,ac->rcp", y, paley_hadamard(m, torch.float64, x.device))
    return y.reshape(-1, n)


def assert_within_bound(y, x, h, levels, normalize=True):
    """y against x @ h (float64; h the dense block or full matrix, applied per len(h) elements, or the
    size n of a full transform, computed by exact_transform)."""
    b = h if isinstance(h, int) else h.shape[0]
    x64 = x.double().reshape(-1, b)
    scale = 1 / math.sqrt(b) if normalize else 1.0
    exact = (exact_transform(x, b) if isinstance(h, int) else x64 @ h.double().to(x.device)) * scale
    bound = (levels + 1) * 2.0**-24 * x64.abs().sum(-1, keepdim=True) * scale
    bound = bound + UNIT_ROUNDOFF[y.dtype] * exact.abs() + 1e-30
    err = (y.double().reshape(-1, b) - exact).abs()
    worst = (err / bound).max().item()
    assert worst <= 1.0, f"error {worst:.3g} x the bound ({y.dtype}, block {b})"


@pytest.mark.parametrize("n", [2, 12, 40, 384, 28 * 4])
def test_exact_transform_helper_is_the_dense_matrix(n):
    x = random_input((3, n), torch.float32, seed=n)
    torch.testing.assert_close(exact_transform(x, n).cpu(), x.double().cpu() @ dense_hadamard(n),
                               rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------- matrices
@pytest.mark.parametrize("m", PALEY_ORDERS)
def test_paley_matrices_are_symmetric_hadamard(m):
    h = paley_hadamard(m, torch.int64)
    assert set(h.unique().tolist()) == {-1, 1}
    assert torch.equal(h @ h.T, m * torch.eye(m, dtype=torch.int64))  # Hadamard: H H^T = m I
    assert torch.equal(h, h.T)  # symmetric, so H H = m I: the normalised transform is an involution


@pytest.mark.parametrize("n", [2, 12, 24, 40, 56, 96, 384])
def test_dense_hadamard_is_kronecker_and_orthogonal(n):
    h = dense_hadamard(n, torch.int64)
    assert torch.equal(h @ h, n * torch.eye(n, dtype=torch.int64))
    m, p = split_size(n)
    expect = hadamard_matrix(p, torch.int64) if m == 1 else torch.kron(paley_hadamard(m, torch.int64),
                                                                        hadamard_matrix(p, torch.int64))
    assert torch.equal(h, expect)


def test_split_size():
    assert split_size(384) == (12, 32) and split_size(1536) == (12, 128) and split_size(12) == (12, 1)
    assert split_size(40) == (20, 2) and split_size(28 * 64) == (28, 64) and split_size(4096) == (1, 4096)
    for bad in (1, 3, 36, 44, 100, 12 * 3):
        with pytest.raises(ValueError, match=rf"x.shape\[-1\] = {bad} is not a supported Hadamard size: it must "
                                             r"be 2\*\*k \(k >= 1\) or 12, 20 or 28 times 2\*\*k \(k >= 0\)"):
            split_size(bad)


# ----------------------------------------------------------------------------- m x 2^k transform
@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("n", [12, 20, 28, 24, 384, 20 * 64, 28 * 32, 64])
def test_transform_matches_dense_within_bound(dtype, n):
    x = random_input((3, n), dtype, seed=n, outliers=n > 32)
    y = hadamard_transform(x)
    assert y.dtype == dtype and y.shape == x.shape
    m, p = split_size(n)
    levels = int(math.log2(p)) + m
    h = dense_hadamard(n)
    assert_within_bound(y, x, h, levels)
    assert_within_bound(hadamard_transform_reference(x), x, h, levels)
    raw = hadamard_transform(x, normalize=False)
    assert_within_bound(raw, x, h, levels, normalize=False)
    if m == 1:  # the power-of-two path is kernels.hadamard.fwht: bit for bit its reference
        assert torch.equal(y, hadamard_reference(x))


def test_transform_involution_orthogonality_and_leading_dims():
    x = random_input((2, 3, 384), torch.float32, seed=1, outliers=True)
    y = hadamard_transform(x)
    # H/sqrt(n) orthogonal: norms kept; symmetric: applying it twice is the identity
    torch.testing.assert_close(y.norm(dim=-1), x.norm(dim=-1), rtol=1e-5, atol=0)
    torch.testing.assert_close(hadamard_transform(y), x, rtol=0, atol=1e-4 * x.abs().max().item())
    # the outlier channels are spread: max |y| is far below max |x| (48 x 40 sigma channel -> ~ 40/sqrt(384)*...)
    assert y.abs().max() < 0.25 * x.abs().max()
    t = random_input((40, 5), torch.float32, seed=2).t()  # non-contiguous (5, 40)
    torch.testing.assert_close(hadamard_transform(t), hadamard_transform(t.contiguous()), rtol=0, atol=0)
    assert hadamard_transform(torch.zeros((0, 24), device=DEVICE)).shape == (0, 24)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
def test_two_launch_path_agrees(dtype):
    n = 12 * 64
    x = random_input((3, n), dtype, seed=7)
    two = hadamard_transform(x, max_fused_elems=512)  # 16 x 64 > 512: FWHT into fp32, then the chunked mix
    # the butterflies are the same; the mix is a dot of another shape (its summation order may differ),
    # so both paths are held to the bound, not to each other bit for bit
    assert_within_bound(two, x, dense_hadamard(n), 6 + 12)
    assert_within_bound(hadamard_transform(x), x, dense_hadamard(n), 6 + 12)


# ----------------------------------------------------------------------------- block-diagonal
@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("block", [16, 32, 64, 128, 256])
def test_block_hadamard_matches_dense_block_diagonal(dtype, block):
    n = 3 * block if block <= 64 else 2 * block  # n need not be a power of two
    x = random_input((5, n), dtype, seed=block, outliers=True)
    y = block_hadamard(x, block)
    assert y.dtype == dtype and y.shape == x.shape
    h = hadamard_matrix(block)
    assert_within_bound(y, x, h, block)
    assert_within_bound(block_hadamard_reference(x, block), x, h, block)
    # the same as a full block-diagonal matrix
    full = torch.block_diag(*[h] * (n // block)) / math.sqrt(block)
    torch.testing.assert_close(y.double().cpu(), x.double().cpu() @ full, rtol=0,
                               atol=4 * UNIT_ROUNDOFF[dtype] * x.double().abs().max().item() * math.sqrt(block))


@pytest.mark.parametrize("block", [128, 256])
def test_block_hadamard_fp32_split_k_over_several_programs(block):
    # fp32 at block >= 128 sums over K chunks of 16 (sm_90: one K = block FMA dot spilled); the
    # interpreter runs the same BN / BK, here over several row tiles with a partial last one
    from kernels.hadamard_ext import _block_config

    x = random_input((300, 512), torch.float32, seed=block + 1, outliers=True)
    R = x.numel() // block
    br, bn, bk, _ = _block_config(block, torch.float32, R)
    assert (bn, bk) == (64, 16) and R % br != 0 and R > br
    for dtype in (torch.float16, torch.bfloat16):  # these keep one dot over the whole block
        assert _block_config(block, dtype, R)[2] == block
    h = hadamard_matrix(block)
    y = block_hadamard(x, block)
    assert_within_bound(y, x, h, block)
    assert_within_bound(block_hadamard_reference(x, block), x, h, block)


def test_kron_warps_keep_fp32_m_pad_32_at_8_warps():
    from kernels.hadamard_ext import _kron_warps

    assert [_kron_warps(e, 16, torch.bfloat16) for e in (1024, 2048, 4096, 8192, 16384)] == [4, 4, 8, 16, 16]
    assert _kron_warps(16384, 32, torch.float32) == 8  # 20 / 28 x 512: spilled at 16 warps on sm_90
    assert _kron_warps(8192, 32, torch.float32) == 16 and _kron_warps(16384, 16, torch.float32) == 16
    assert _kron_warps(16384, 32, torch.bfloat16) == 16 and _kron_warps(16384, 32, torch.float16) == 16


def test_block_hadamard_involution_and_norm():
    x = random_input((4, 384), torch.float32, seed=5, outliers=True)
    y = block_hadamard(x, 128)
    torch.testing.assert_close(y.norm(dim=-1), x.norm(dim=-1), rtol=1e-5, atol=0)
    torch.testing.assert_close(block_hadamard(y, 128), x, rtol=0, atol=1e-4 * x.abs().max().item())


# ----------------------------------------------------------------------------- rotate + quantise
@pytest.mark.parametrize("granularity", ["tensorwise", "rowwise"])
@pytest.mark.parametrize("fmt", ["int8", "e4m3"])
@pytest.mark.parametrize("block,dtype,shape", [
    (None, torch.bfloat16, (7, 256)), (16, torch.float32, (5, 96)), (64, torch.float16, (2, 3, 192)),
    (128, torch.bfloat16, (33, 512)),
])
def test_rotate_quantize_is_bit_exact(block, dtype, shape, fmt, granularity):
    x = random_input(shape, dtype, seed=shape[-1], outliers=True)
    q, scale = rotate_quantize(x, block, fmt, granularity)
    q_ref, scale_ref = rotate_quantize_reference(x, block, fmt, granularity)
    assert q.dtype == (torch.int8 if fmt == "int8" else torch.float8_e4m3fn) and q.shape == x.shape
    expect_scale_shape = () if granularity == "tensorwise" else shape[:-1] + (1,)
    assert scale.dtype == torch.float32 and tuple(scale.shape) == expect_scale_shape
    assert torch.equal(scale, scale_ref)
    assert torch.equal(q.view(torch.uint8) if fmt == "e4m3" else q,
                       q_ref.view(torch.uint8) if fmt == "e4m3" else q_ref)  # bit patterns
    # and the reference is what it claims: rotate in fp32, then the saturating quantiser
    b = shape[-1] if block is None else block
    rot = hadamard_reference(x.float().reshape(-1, b)).reshape(shape)
    qmax = 127 if fmt == "int8" else 448
    assert q.float().abs().max() == qmax  # the amax element lands on the grid's end
    err = (q.float() * scale - rot).abs().max().item()
    step = scale.max().item() if fmt == "int8" else scale.max().item() * 32  # e4m3: ulp at 448 is 32
    assert err <= step / 2 + 1e-6


def test_int8_rounds_half_to_even_in_kernel():
    # rotated values chosen exactly: x = H4 r / 2 (exact), so rotate(x) = r, amax 127, scale 1
    r = torch.tensor([[127.0, 2.5, -0.5, 1.5], [127.0, -2.5, 0.5, 3.5]])
    x = (r @ hadamard_matrix(4, torch.float32) / 2).to(DEVICE)
    q, scale = rotate_quantize(x, 4, "int8", "tensorwise")
    assert scale.item() == 1.0
    assert q.cpu().tolist() == [[127, 2, 0, 2], [127, -2, 0, 4]]
    assert torch.equal(q, rotate_quantize_reference(x, 4, "int8", "tensorwise")[0])


def test_e4m3_saturates_and_rounds_like_the_host_cast():
    x = random_input((3, 64), torch.float32, seed=3, outliers=True)
    q, scale = rotate_quantize(x, 16, "e4m3", "rowwise")
    rot = hadamard_reference(x.reshape(3, 4, 16)).reshape(3, 64)
    from kernels.fp8 import fp8_e4m3_saturating
    assert torch.equal(q.view(torch.uint8), fp8_e4m3_saturating(rot / scale).view(torch.uint8))


@pytest.mark.filterwarnings("ignore:invalid value encountered")  # the interpreter computes 0/0 before the refusal
def test_rotate_quantize_refuses_zero_and_nonfinite_rows():
    x = random_input((3, 32), torch.float32, seed=4)
    x[1] = 0
    with pytest.raises(ValueError, match=r"rowwise amax is 0 \(first at row 1\): an all-zero input has no scale"):
        rotate_quantize(x, 16, "int8", "rowwise")
    with pytest.raises(ValueError, match=r"tensorwise amax is 0: an all-zero input has no scale"):
        rotate_quantize(torch.zeros((2, 32), device=DEVICE), None, "e4m3", "tensorwise")
    x[1] = 1
    x[2, 5] = float("nan")
    for g in ("rowwise", "tensorwise"):
        with pytest.raises(ValueError, match=r"amax is NaN or Inf.*the input holds non-finite values"):
            rotate_quantize(x, 32, "e4m3", g)
    x[2, 5] = float("inf")
    with pytest.raises(ValueError, match=r"rowwise amax is NaN or Inf \(first at row 2\)"):
        rotate_quantize(x, 32, "int8", "rowwise")


# ----------------------------------------------------------------------------- bad input
X384 = torch.zeros((2, 384), device=DEVICE)


@pytest.mark.parametrize("call,exc,msg", [
    (lambda: hadamard_transform([1.0, 2.0]), TypeError, r"x must be a torch.Tensor, got list"),
    (lambda: hadamard_transform(torch.zeros(2, 24, dtype=torch.int32, device=DEVICE)), TypeError,
     (r"x must have dtype float32, float16 or bfloat16, got torch.int32 \(for an exact int32 transform use "
      r"kernels.hadamard.fwht\)")),
    (lambda: hadamard_transform(torch.zeros(2, 36, device=DEVICE)), ValueError,
     r"x.shape\[-1\] = 36 is not a supported Hadamard size"),
    (lambda: hadamard_transform(torch.tensor(1.0, device=DEVICE)), ValueError, r"x must have at least one dimension"),
    (lambda: hadamard_transform(X384, normalize=None), TypeError, r"normalize must be True or False, got None"),
    (lambda: hadamard_transform(X384, max_fused_elems=0), ValueError, r"max_fused_elems must be a positive int, got 0"),
    (lambda: block_hadamard(X384, 8), ValueError, r"block must be a power of two in 16..256, got 8"),
    (lambda: block_hadamard(X384, 512), ValueError, r"block must be a power of two in 16..256, got 512"),
    (lambda: block_hadamard(X384, 48), ValueError, r"block must be a power of two in 16..256, got 48"),
    (lambda: block_hadamard(X384, 256), ValueError,
     r"block = 256 does not divide x.shape\[-1\] = 384: the rotation is block-diagonal"),
    (lambda: block_hadamard(X384, 64.0), TypeError, r"block must be an int, got float"),
    (lambda: paley_hadamard(16), ValueError, r"m must be one of \(12, 20, 28\)"),
    (lambda: dense_hadamard(44), ValueError, r"n = 44 is not a supported Hadamard size"),
    (lambda: rotate_quantize(X384, None), ValueError,
     (r"block=None \(a full rotation\) needs x.shape\[-1\] a power of two >= 2, got 384; for 12/20/28 x 2\*\*k "
      r"use hadamard_transform")),
    (lambda: rotate_quantize(X384, 128, fmt="e5m2"), ValueError, r"fmt must be 'e4m3' or 'int8', got 'e5m2'"),
    (lambda: rotate_quantize(X384, 128, granularity="blockwise"), ValueError,
     r"granularity must be 'tensorwise' or 'rowwise', got 'blockwise'"),
    (lambda: rotate_quantize(X384, 96), ValueError, r"block must be a power of two in 2..8192, got 96"),
    (lambda: rotate_quantize(torch.zeros((1, 3 * 4096), device=DEVICE), 4096), ValueError,
     (r"x.shape\[-1\] = 12288 is too long: rotate_quantize holds a whole row \(padded to 16384\) in one "
      r"program, at most 8192 elements")),
    (lambda: rotate_quantize(torch.zeros((0, 64), device=DEVICE), 16), ValueError, r"x is empty: no amax, no scale"),
])
def test_errors(call, exc, msg):
    with pytest.raises(exc, match=msg):
        call()


# ----------------------------------------------------------------------------- compiled kernels
@pytest.mark.gpu
@NEEDS_CUDA
@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("n", [12, 384, 12 * 1024, 20 * 512, 28 * 2048])
def test_compiled_transform_on_gpu(dtype, n):
    x = random_input((64, n), dtype, seed=n, device="cuda", outliers=True)
    m, p = split_size(n)
    assert_within_bound(hadamard_transform(x), x, n, int(math.log2(p)) + m)  # 28 * 2048: the two-launch path


@pytest.mark.gpu
@NEEDS_CUDA
@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("block", [16, 128, 256])
def test_compiled_block_hadamard_on_gpu(dtype, block):
    x = random_input((256, 1024), dtype, seed=block, device="cuda", outliers=True)
    assert_within_bound(block_hadamard(x, block), x, hadamard_matrix(block), block)


@pytest.mark.gpu
@NEEDS_CUDA
@pytest.mark.parametrize("granularity", ["tensorwise", "rowwise"])
@pytest.mark.parametrize("fmt", ["int8", "e4m3"])
@pytest.mark.parametrize("block", [None, 128])
def test_compiled_rotate_quantize_is_bit_exact_on_gpu(block, fmt, granularity):
    """On the GPU the e4m3 cast happens in-kernel: it must still equal the host's saturating cast."""
    x = random_input((300, 4096), torch.bfloat16, seed=11, device="cuda", outliers=True)
    q, scale = rotate_quantize(x, block, fmt, granularity)
    q_ref, scale_ref = rotate_quantize_reference(x, block, fmt, granularity)
    assert torch.equal(scale, scale_ref)
    if fmt == "e4m3":
        q, q_ref = q.view(torch.uint8), q_ref.view(torch.uint8)
    assert torch.equal(q, q_ref)
