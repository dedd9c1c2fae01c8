"""Launcher checks shared by the INT8 GEMM kernels (Triton, CuPy) and their torch reference.

Bad input is part of a kernel's interface: every check raises before anything is launched, with a
message that names the argument and says what was expected and what was got. Device policy differs
per launcher (compiled Triton and CuPy need CUDA, the Triton interpreter needs CPU, the reference
takes either), so it stays in each launcher; what is common lives here.
"""

import torch

#: Largest K for which an int32 accumulator of int8 x int8 products cannot overflow, whatever the
#: data and the order of accumulation: the largest product magnitude is (-128) * (-128) = 2**14,
#: and every partial sum of K such products stays within K * 2**14 <= 2**31 - 1.
INT32_SAFE_MAX_K = (2**31 - 1) // (128 * 128)  # = 131071


def check_int8_gemm_operands(a, b) -> tuple[int, int, int]:
    """Check that ``a`` (M x K) and ``b`` (K x N) are int8 matrices on one device; return (M, N, K)."""
    for name, x in (("a", a), ("b", b)):
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
        if x.dtype != torch.int8:
            raise TypeError(f"{name} must have dtype torch.int8, got {x.dtype}")
        if x.dim() != 2:
            raise ValueError(
                f"{name} must be a 2-D matrix, got a {x.dim()}-D tensor of shape {tuple(x.shape)}"
            )
    M, K = a.shape
    K_b, N = b.shape
    if K != K_b:
        raise ValueError(
            f"inner dimensions must match: a is (M, K) = {tuple(a.shape)} "
            f"but b is (K, N) = {tuple(b.shape)}"
        )
    if a.device != b.device:
        raise ValueError(f"a and b must be on the same device, got a on {a.device} and b on {b.device}")
    if K > INT32_SAFE_MAX_K:
        raise ValueError(
            f"K = {K} exceeds {INT32_SAFE_MAX_K} = (2**31-1)//(128*128), the largest K for which "
            "the int32 accumulator cannot overflow"
        )
    return M, N, K


def check_out(out, M: int, N: int, device: torch.device) -> None:
    """Check a caller-supplied output: int32, shape (M, N), on the operands' device (any strides)."""
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"out must be a torch.Tensor, got {type(out).__name__}")
    if out.dtype != torch.int32:
        raise TypeError(f"out must have dtype torch.int32, got {out.dtype}")
    if tuple(out.shape) != (M, N):
        raise ValueError(f"out must have shape (M, N) = {(M, N)}, got {tuple(out.shape)}")
    if out.device != device:
        raise ValueError(f"out must be on the operands' device {device}, got {out.device}")


def max_element_offset(x: torch.Tensor) -> int:
    """Largest element offset a kernel computes into ``x`` (0 for an empty tensor)."""
    if x.numel() == 0:
        return 0
    return sum((size - 1) * stride for size, stride in zip(x.shape, x.stride()))
