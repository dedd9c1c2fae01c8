"""What the kernel tests share: the devices a kernel runs on here, and a one-thread torch fixture.

    from kernels.testing import DEVICES, HAS_CUDA, NEEDS_GPU
    @pytest.mark.parametrize("device", DEVICES)   # CPU (Triton interpreter) and CUDA, each skipped
                                                  # with its reason where it cannot run

Imported by tests only (it needs pytest); kernels themselves never import it.
"""

import pytest
import torch

from kernels._triton_env import TRITON_INTERPRET

HAS_CUDA = torch.cuda.is_available()
NEEDS_GPU = [pytest.mark.gpu, pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU")]
DEVICES = [
    pytest.param("cpu", marks=pytest.mark.skipif(
        not TRITON_INTERPRET, reason="CPU tensors run only in Triton's interpreter (TRITON_INTERPRET=1)"),
        id="cpu-interpreter"),
    pytest.param("cuda", marks=NEEDS_GPU, id="cuda"),
]


def cupy_problem() -> str | None:
    """Why CuPy kernels cannot run here, or None: CuPy must import, see a GPU and compile with its
    runtime compiler (NVRTC, a separate library the GPU image may lack): the probe of
    ``kernels.lut_gemm_cupy.cupy_unavailable_reason``, which compiles a one-line kernel once."""
    if not HAS_CUDA:
        return "needs a CUDA GPU"
    from kernels.lut_gemm_cupy import cupy_unavailable_reason

    return cupy_unavailable_reason()


def bcq_int_case(M, N, K, q, g, seed, scale_hi=64):
    """Random integer operands of the binary-coded GEMM kernels: int8 x (M, K), packed sign bits
    (q, N, K/8) uint8, int32 scales (q, N, K/g) in [-scale_hi, scale_hi]; seeded."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randint(-128, 128, (M, K), dtype=torch.int8, generator=gen)
    packed = torch.randint(0, 256, (q, N, K // 8), dtype=torch.uint8, generator=gen)
    scales = torch.randint(-scale_hi, scale_hi + 1, (q, N, K // g), dtype=torch.int32, generator=gen)
    return x, packed, scales


#: marks of a CuPy test: gpu, and skipped with the reason when CuPy cannot compile here (probed once,
#: when this module is imported)
NEEDS_CUPY = [pytest.mark.gpu, pytest.mark.skipif(cupy_problem() is not None, reason=str(cupy_problem()))]


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Imported into a test module, runs it with one torch thread: thousands of small tensor ops
    are several times faster on one thread than on two on a busy 2-core CI box."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
