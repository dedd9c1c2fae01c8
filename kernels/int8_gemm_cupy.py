"""
INT8 GEMM as a raw CUDA kernel (CuPy RawKernel): the Triton kernel's twin
=========================================================================

Same contract as ``kernels.int8_gemm.int8_gemm``: C = A @ B for int8 A (M x K) and B (K x N),
int32 C (M x N), exact, any strides. Where the Triton kernel rides the tensor cores through
``tl.dot``, this one is the classic CUDA-core formulation, written out by hand so that every step
is visible: shared-memory tiles and ``__dp4a``, the instruction that multiplies four int8 pairs
and adds them into an int32 in one go (sm_61 and later). It is slower than tensor cores by
design; it is here as an independent implementation to hold the Triton kernel and the reference
to, and as a peer in the benchmark.

CuPy is imported lazily, on first call: importing this module never needs CuPy or a GPU, and
calling it without either raises a RuntimeError that says which is missing.
"""

import functools

import torch

from kernels._validate import check_int8_gemm_operands, check_out

__all__ = ["int8_gemm_cupy", "CUDA_SOURCE", "KERNEL_NAME"]

KERNEL_NAME = "int8_gemm_dp4a"

# Tile geometry, shared by the CUDA source and the launch grid.
BLOCK_M = 64  # rows of C per thread block
BLOCK_N = 64  # columns of C per thread block
BLOCK_K = 32  # K values per shared-memory stage: 8 packed words of 4 int8 each
THREADS = 256  # 16 x 16 threads, each computing a 4 x 4 patch of the 64 x 64 tile

CUDA_SOURCE = r"""
// C[M, N] = A[M, K] @ B[K, N], int8 operands, exact int32 accumulation with __dp4a.
// Strides are in elements, so any view works (transposed, sliced, broadcast).

#define BM 64
#define BN 64
#define BK 32            // K values per stage
#define BKW (BK / 4)     // ... = packed 32-bit words per row of a stage
#define TM 4             // rows of C per thread
#define TN 4             // columns of C per thread
#define NT 256           // threads per block (16 x 16)

// Pack four int8 into one 32-bit word, lowest K in the lowest byte: the layout __dp4a reads.
__device__ __forceinline__ int pack4(int b0, int b1, int b2, int b3) {
    return (b0 & 0xff) | ((b1 & 0xff) << 8) | ((b2 & 0xff) << 16) | ((b3 & 0xff) << 24);
}

extern "C" __global__ void __launch_bounds__(NT) int8_gemm_dp4a(
    const signed char* __restrict__ A, const signed char* __restrict__ B, int* __restrict__ C,
    long long M, long long N, long long K,
    long long sam, long long sak, long long sbk, long long sbn, long long scm, long long scn)
{
    // As[w][m] holds A[m0 + m, k0 + 4w .. k0 + 4w + 3], Bs[w][n] holds B[k0 + 4w .. +3, n0 + n].
    // Both are stored "K-word major" so that the inner product loop reads one word of A and one
    // of B per __dp4a. The +1 column pads rows apart so the A loads below (threads spread
    // along w) do not all hit the same shared-memory bank.
    __shared__ int As[BKW][BM + 1];
    __shared__ int Bs[BKW][BN + 1];

    const int tid = threadIdx.x;
    const int tx = tid % 16;   // this thread's columns: tx, tx + 16, tx + 32, tx + 48
    const int ty = tid / 16;   // this thread's rows:    ty, ty + 16, ty + 32, ty + 48
    const long long m0 = (long long)blockIdx.y * BM;
    const long long n0 = (long long)blockIdx.x * BN;

    int acc[TM][TN];
    #pragma unroll
    for (int i = 0; i < TM; ++i)
        #pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = 0;

    for (long long k0 = 0; k0 < K; k0 += BK) {
        // Stage A: BM x BKW words, 2 per thread. Consecutive threads take consecutive words of
        // one row, i.e. consecutive bytes along K: coalesced when A is row-major.
        for (int e = tid; e < BM * BKW; e += NT) {
            const int m = e / BKW, w = e % BKW;
            const long long gm = m0 + m, gk = k0 + 4 * w;
            int v[4];
            #pragma unroll
            for (int t = 0; t < 4; ++t)  // out-of-range K or M loads 0, which adds nothing
                v[t] = (gm < M && gk + t < K) ? (int)A[gm * sam + (gk + t) * sak] : 0;
            As[w][m] = pack4(v[0], v[1], v[2], v[3]);
        }
        // Stage B: BKW x BN words, 2 per thread. Consecutive threads take consecutive columns:
        // each of the four byte loads is coalesced when B is row-major.
        for (int e = tid; e < BKW * BN; e += NT) {
            const int w = e / BN, n = e % BN;
            const long long gn = n0 + n, gk = k0 + 4 * w;
            int v[4];
            #pragma unroll
            for (int t = 0; t < 4; ++t)
                v[t] = (gn < N && gk + t < K) ? (int)B[(gk + t) * sbk + gn * sbn] : 0;
            Bs[w][n] = pack4(v[0], v[1], v[2], v[3]);
        }
        __syncthreads();

        // 4 x 4 outer product per packed K-word: 16 __dp4a = 64 MACs per 8 shared-memory reads.
        #pragma unroll
        for (int w = 0; w < BKW; ++w) {
            int a[TM], b[TN];
            #pragma unroll
            for (int i = 0; i < TM; ++i) a[i] = As[w][ty + 16 * i];
            #pragma unroll
            for (int j = 0; j < TN; ++j) b[j] = Bs[w][tx + 16 * j];
            #pragma unroll
            for (int i = 0; i < TM; ++i)
                #pragma unroll
                for (int j = 0; j < TN; ++j) acc[i][j] = __dp4a(a[i], b[j], acc[i][j]);
        }
        __syncthreads();  // the next stage overwrites As/Bs
    }

    #pragma unroll
    for (int i = 0; i < TM; ++i) {
        const long long gm = m0 + ty + 16 * i;
        #pragma unroll
        for (int j = 0; j < TN; ++j) {
            const long long gn = n0 + tx + 16 * j;
            if (gm < M && gn < N) C[gm * scm + gn * scn] = acc[i][j];
        }
    }
}
"""

# A grid's y dimension is limited to 65535 blocks (CUDA programming guide, "Compute
# capabilities" table: maximum y-dimension of a grid of thread blocks).
MAX_GRID_Y = 65535


def _import_cupy():
    try:
        import cupy
    except ImportError as e:
        raise RuntimeError(
            "int8_gemm_cupy needs CuPy (pip install cupy-cuda13x) and a CUDA GPU; CuPy is not installed"
        ) from e
    try:
        n_devices = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # CUDARuntimeError without a driver, or a broken install
        raise RuntimeError(f"int8_gemm_cupy needs a CUDA GPU; CuPy cannot reach one: {e}") from e
    if n_devices == 0:
        raise RuntimeError("int8_gemm_cupy needs a CUDA GPU; CuPy sees none")
    return cupy


@functools.cache
def _compiled_kernel(device_id: int):
    # One RawKernel per device: CuPy compiles with NVRTC for the current device's architecture
    # (and caches the binary on disk), so each GPU gets code for its own compute capability.
    cupy = _import_cupy()
    with cupy.cuda.Device(device_id):
        return cupy.RawKernel(CUDA_SOURCE, KERNEL_NAME)


def _is_cupy_array(x) -> bool:
    return type(x).__module__.split(".")[0] == "cupy" and hasattr(x, "__dlpack__")


def int8_gemm_cupy(a, b, *, out=None):
    """C = A @ B for int8 ``a`` (M x K) and ``b`` (K x N) on a CUDA GPU, as int32, exactly.

    ``a`` and ``b`` are both torch CUDA tensors (the result is a torch tensor, launched on torch's
    current stream) or both CuPy arrays (the result is a CuPy array, on CuPy's current stream);
    either is shared with CuPy through DLPack, without a copy. Any strides are accepted. ``out``,
    if given, is an int32 (M, N) array of the same kind and device, and is returned.
    """
    cupy = _import_cupy()

    kinds = {name: ("cupy" if _is_cupy_array(x) else "torch" if isinstance(x, torch.Tensor) else None)
             for name, x in (("a", a), ("b", b))}
    for name, x in (("a", a), ("b", b)):
        if kinds[name] is None:
            raise TypeError(f"{name} must be a torch.Tensor or a cupy.ndarray, got {type(x).__name__}")
    if kinds["a"] != kinds["b"]:
        raise TypeError(f"a and b must be of one kind, got a {kinds['a']} array and a {kinds['b']} array")
    from_cupy = kinds["a"] == "cupy"
    if out is not None and from_cupy != _is_cupy_array(out):
        raise TypeError(f"out must be a {'cupy.ndarray' if from_cupy else 'torch.Tensor'}, got {type(out).__name__}")

    # One set of checks for both kinds: view CuPy arrays as torch tensors (zero-copy DLPack).
    ta = torch.from_dlpack(a) if from_cupy else a
    tb = torch.from_dlpack(b) if from_cupy else b
    M, N, K = check_int8_gemm_operands(ta, tb)
    if ta.device.type != "cuda":
        raise ValueError(f"a and b must be on a CUDA device, got {ta.device}")
    tout = None
    if out is not None:
        tout = torch.from_dlpack(out) if from_cupy else out
        check_out(tout, M, N, ta.device)
    grid = ((N + BLOCK_N - 1) // BLOCK_N, (M + BLOCK_M - 1) // BLOCK_M, 1)
    if grid[1] > MAX_GRID_Y:
        raise ValueError(f"M = {M} needs {grid[1]} row blocks of {BLOCK_M}; CUDA allows at most {MAX_GRID_Y}")

    if tout is None:
        tout = torch.empty((M, N), dtype=torch.int32, device=ta.device)
    if M and N:
        device_id = ta.device.index if ta.device.index is not None else torch.cuda.current_device()
        kernel = _compiled_kernel(device_id)
        ca, cb, cc = cupy.from_dlpack(ta), cupy.from_dlpack(tb), cupy.from_dlpack(tout)
        # Element strides: CuPy reports strides in bytes, torch in elements; take torch's.
        i64 = cupy.int64
        args = (ca, cb, cc, i64(M), i64(N), i64(K),
                i64(ta.stride(0)), i64(ta.stride(1)), i64(tb.stride(0)), i64(tb.stride(1)),
                i64(tout.stride(0)), i64(tout.stride(1)))
        with cupy.cuda.Device(device_id):
            stream = (cupy.cuda.get_current_stream() if from_cupy else
                      cupy.cuda.ExternalStream(torch.cuda.current_stream(ta.device).cuda_stream))
            with stream:
                kernel(grid, (THREADS, 1, 1), args)
    if from_cupy:
        return out if out is not None else cupy.from_dlpack(tout)
    return tout
