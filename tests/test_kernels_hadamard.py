"""kernels.hadamard: the Triton FWHT (interpreted on the CPU here) against its torch reference,
the dense Hadamard matrix and the exact integer FWHT of sim/hadamard.py, and its error messages.

Tolerances:

* against ``hadamard_reference``: **exact** for every dtype. The reference performs the same
  butterflies in the same stage order (h = 1, 2, 4, ...) in fp32 (int64 for int32), each sum and
  difference is one correctly rounded fp32 operation, and scaling and the final cast happen once,
  the same way, so there is nothing to differ in.
* against the dense matrix in float64 (the true transform): per row, the classical bound of a
  log2(n)-level summation, ``(L + 1) * u32 * ||x||_1 / sqrt(n)`` (L levels plus the scaling, u32 =
  2**-24 the fp32 unit roundoff), plus the final rounding to the output dtype, ``u * |y|`` with
  u = 2**-24 (fp32), 2**-11 (fp16), 2**-8 (bf16).
* int32: exact everywhere (integer sums, bounded by the launcher's range check).
"""

import math

import numpy as np
import pytest
import torch

from kernels.hadamard import MAX_BLOCK, fwht, hadamard_matrix, hadamard_reference
from sim.hadamard import fwht_exact

FLOATS = (torch.float32, torch.float16, torch.bfloat16)
UNIT_ROUNDOFF = {torch.float32: 2.0**-24, torch.float16: 2.0**-11, torch.bfloat16: 2.0**-8}
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def random_input(shape, dtype, seed=0, device=DEVICE):
    g = torch.Generator().manual_seed(seed)
    if dtype == torch.int32:
        return torch.randint(-1000, 1001, shape, generator=g, dtype=torch.int32).to(device)
    return torch.randn(shape, generator=g).to(dtype).to(device)


def assert_within_summation_bound(y, x, normalize=True):
    """y (kernel output) against the float64 dense transform of x, within the stated bound."""
    n = x.shape[-1]
    x64 = x.double().cpu()
    exact = x64 @ hadamard_matrix(n, torch.float64)
    if normalize:
        exact = exact / math.sqrt(n)
    levels = int(math.log2(n)) + 1
    bound = levels * 2.0**-24 * x64.abs().sum(-1, keepdim=True) / math.sqrt(n if normalize else 1)
    bound = bound + UNIT_ROUNDOFF[y.dtype] * exact.abs() + 1e-30
    err = (y.double().cpu() - exact).abs()
    worst = (err / bound).max().item()
    assert worst <= 1.0, f"error {worst:.3g} x the bound ({y.dtype}, n={n})"


@pytest.mark.parametrize("n", [2, 8, 64, 1024])
def test_int32_is_exact_against_reference_dense_and_sim(n):
    x = random_input((3, n), torch.int32, seed=n)
    y = fwht(x)
    assert y.dtype == torch.int32 and y.shape == x.shape
    assert torch.equal(y, hadamard_reference(x))
    dense = x.cpu().long() @ hadamard_matrix(n, torch.int64)
    assert torch.equal(y.cpu().long(), dense)
    np.testing.assert_array_equal(y.cpu().numpy(), fwht_exact(x.cpu().numpy()))


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("n", [2, 16, 256, 2048])
def test_float_matches_reference_exactly_and_dense_within_bound(dtype, n):
    x = random_input((4, n), dtype, seed=n)
    y = fwht(x)
    assert y.dtype == dtype and y.shape == x.shape
    assert torch.equal(y, hadamard_reference(x)), "same operations in the same order: must be identical"
    assert_within_summation_bound(y, x)
    raw = fwht(x, normalize=False)
    assert torch.equal(raw, hadamard_reference(x, normalize=False))
    assert_within_summation_bound(raw, x, normalize=False)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.int32], ids=str)
def test_longest_transform_takes_two_passes(dtype):
    n = 32768  # > MAX_BLOCK: pass 1 over blocks of 4096, pass 2 across the 8 blocks
    assert n > MAX_BLOCK
    x = random_input((1, n), dtype, seed=5)
    y = fwht(x)
    assert torch.equal(y, hadamard_reference(x))
    if dtype == torch.int32:
        np.testing.assert_array_equal(y.cpu().numpy(), fwht_exact(x.cpu().numpy()))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.int32], ids=str)
@pytest.mark.parametrize("n,block", [(16, 4), (64, 8), (512, 32)])
def test_two_pass_equals_one_pass(dtype, n, block):
    x = random_input((3, n), dtype, seed=n + block)
    assert torch.equal(fwht(x, block_size=block), fwht(x))


def test_involution_and_orthogonality():
    x = random_input((5, 512), torch.float32, seed=3)
    y = fwht(x)
    # H/sqrt(n) is orthogonal and symmetric: it keeps norms and undoes itself
    torch.testing.assert_close(y.norm(dim=-1), x.norm(dim=-1), rtol=1e-5, atol=0)
    torch.testing.assert_close(fwht(y), x, rtol=0, atol=1e-5)
    xi = random_input((5, 512), torch.int32, seed=4)
    assert torch.equal(fwht(fwht(xi)), 512 * xi)  # unnormalised: H H = n I, exactly


def test_leading_dimensions_views_and_empty_batches():
    x = random_input((2, 3, 32), torch.float32, seed=9)
    assert torch.equal(fwht(x), hadamard_reference(x))
    t = random_input((64, 5), torch.int32, seed=10).t()  # non-contiguous (5, 64) view
    assert not t.is_contiguous()
    assert torch.equal(fwht(t), hadamard_reference(t.contiguous()))
    empty = torch.zeros((0, 16), dtype=torch.bfloat16, device=DEVICE)
    assert fwht(empty).shape == (0, 16)
    one = torch.zeros(8, dtype=torch.float32, device=DEVICE)
    one[0] = 1.0  # the first basis vector maps to the first column of H/sqrt(n): all 1/sqrt(8)
    torch.testing.assert_close(fwht(one), torch.full((8,), 8**-0.5, device=DEVICE), rtol=0, atol=0)


def test_int32_range_limit_is_exact_at_the_edge():
    n = 64
    limit = (2**31 - 1) // n
    x = torch.full((2, n), limit, dtype=torch.int32, device=DEVICE)
    x[1] = -limit
    y = fwht(x)
    assert int(y[0, 0]) == n * limit and int(y[1, 0]) == -n * limit
    with pytest.raises(ValueError, match=rf"x holds int32 values up to {limit + 1} in magnitude; a "
                                         rf"length-64 transform is exact in int32 only for \|x\| <= "
                                         rf"\(2\*\*31-1\)//64 = {limit}"):
        fwht(x - 1)


def test_dense_matrix():
    h = hadamard_matrix(8, torch.int64)
    assert torch.equal(h @ h, 8 * torch.eye(8, dtype=torch.int64))
    assert torch.equal(h[1], torch.tensor([1, -1] * 4))
    with pytest.raises(ValueError, match=r"n must be a power of two >= 1, got 6"):
        hadamard_matrix(6)


# ----------------------------------------------------------------------------- bad input
X8 = torch.zeros((2, 8), device=DEVICE)


@pytest.mark.parametrize("fn", [fwht, hadamard_reference], ids=["fwht", "reference"])
@pytest.mark.parametrize("args,kwargs,exc,message", [
    ((X8.tolist(),), {}, TypeError, r"x must be a torch.Tensor, got list"),
    ((X8.double(),), {}, TypeError, r"x must have dtype float32, float16, bfloat16 or int32, got torch.float64"),
    ((X8.long(),), {}, TypeError, r"x must have dtype .* got torch.int64"),
    ((torch.tensor(1.0, device=DEVICE),), {}, ValueError, r"x must have at least one dimension"),
    ((torch.zeros((2, 12), device=DEVICE),), {}, ValueError,
     r"x.shape\[-1\] must be a power of two >= 2 \(the FWHT pairs elements 2\*\*s apart\), got 12"),
    ((torch.zeros((2, 1), device=DEVICE),), {}, ValueError, r"x.shape\[-1\] must be a power of two >= 2 .*got 1"),
    ((torch.zeros((2, 0), device=DEVICE),), {}, ValueError, r"x.shape\[-1\] must be a power of two >= 2 .*got 0"),
    ((X8.int(),), {"normalize": True}, ValueError,
     r"normalize=True needs a float dtype: an int32 input is transformed unnormalised and exactly"),
    ((X8,), {"normalize": 1}, TypeError, r"normalize must be True, False or None, got 1"),
])
def test_bad_inputs_are_named(fn, args, kwargs, exc, message):
    with pytest.raises(exc, match=message):
        fn(*args, **kwargs)


def test_bad_block_sizes():
    with pytest.raises(ValueError, match=r"block_size must be a power of two >= 2, got 3"):
        fwht(X8, block_size=3)
    with pytest.raises(ValueError, match=r"x.shape\[-1\] = 64 exceeds the two-pass limit block_size\*\*2 = 16"):
        fwht(torch.zeros((1, 64), device=DEVICE), block_size=4)


def test_reference_rejects_int32_overflow():
    with pytest.raises(ValueError, match=r"the transform of x overflows int32 \(max \|y\| = 4294967296\)"):
        hadamard_reference(torch.full((1, 2), -(2**31), dtype=torch.int32))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", FLOATS + (torch.int32,), ids=str)
@pytest.mark.parametrize("n", [128, 4096, 32768])
def test_compiled_kernel_on_gpu(dtype, n):
    """The compiled kernel: exact for int32, within the summation bound for floats (and expected,
    though not required on every GPU stack, to equal the reference bit for bit)."""
    x = random_input((64, n), dtype, seed=n, device="cuda")
    y = fwht(x)
    if dtype == torch.int32:
        assert torch.equal(y, hadamard_reference(x))
    else:
        assert_within_summation_bound(y, x)
        assert_within_summation_bound(hadamard_reference(x), x)
