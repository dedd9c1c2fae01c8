"""
LUT-based binary-coded GEMM as a raw CUDA kernel (CuPy RawKernel): the Triton LUT kernel's twin
===============================================================================================

Same format and contract as the float path of ``kernels.lut_gemm.lut_gemm``: y = x W^T with
W = sum_i alpha_i B_i (kernels/bcq.py: q sign planes packed 8 columns to a byte, bit t of byte kb
is column 8*kb + t, 1 = +1; scales alpha (q, N, K/g)), float activations, fp32 tables and fp32
accumulation, any batch M >= 1. Where the Triton kernel keeps its tables in registers and reads
them with ``tl.gather``, this is the LUT-GEMM / ShiftAddLLM formulation written out in CUDA: the
tables live in shared memory and a weight byte is, literally, an address into them.

The kernel
----------
A thread block owns MT activation rows and BN = THREADS * R output rows (each thread R rows,
THREADS apart so that a warp's loads of one plane cover 32 different rows, one 16-byte piece each),
and walks its share of K in chunks of TB bytes (8 * TB columns; TB divides the bytes of a group,
so a chunk lies inside one group). Per chunk:

1. every thread issues the loads of its rows' weight bytes for all q planes (one 16-byte load per
   plane and row when the layout allows, byte loads otherwise); they are in flight while
2. the block builds the MT * TB tables of the chunk in shared memory, T[m][j][p] =
   sum_t (bit t of p ? +x : -x)[m, 8 (kb0 + j) + t]: a thread takes one low nibble l of one table,
   computes L[l] from 4 activations and writes T[h * 16 + l] = H[h] + L[l] for the 16 high
   nibbles h (consecutive threads write consecutive words; the two half-warps write two tables
   1 KB apart, a 2-way bank conflict);
3. after a barrier, each thread looks up T[m][j][byte] for every byte of its rows and planes,
   sums a chunk's TB reads per (row, plane, batch row), multiplies the sum by that plane's alpha
   of the chunk's group and adds it into an fp32 accumulator; a barrier, and the next chunk.

So per weight byte and batch row: one shared-memory read and one add; per chunk: one multiply.
No weight is ever multiplied by an activation. The reads of a warp go to 32 data-dependent
entries, so they meet bank conflicts (random bytes: ~3-4 way on average); whether that or HBM
bounds a decode GEMV is what the benchmark shows. No GPU was at hand when this was written: the
geometry constants below are reasoned, not tuned.

Decode batches have few blocks along M, and N / BN blocks along N are fewer than the GPU has SMs
to keep streaming (N = 28672 gives 56). The launcher then splits K across KSPLIT blocks: each
writes its fp32 partial sums to a workspace (KSPLIT, M, N), and a second small kernel adds the
KSPLIT partials in a fixed order into y. (Not atomics: the result stays deterministic.)

Blocks along M are the fastest-varying grid dimension, so the blocks that read the same weights
for different batch rows run at the same time and the second reader finds them in L2.

Tolerance (vs :func:`kernels.lut_gemm.lut_gemm_reference`): fp32 tables and accumulation in an
order different from the float64 reference (8-term tables, TB-term chunk sums, one scale product
per chunk, the K-split partials), so as for the Triton kernel the difference is within
(K + 16) * 2**-24 * (|x| @ (sum_i |alpha_i|)^T) elementwise (gamma_n, n sequential fp32 additions).

Without a GPU, tests/test_kernels_bcq_tc.py compiles this same CUDA text as C++ with g++ (CUDA's
built-ins defined as host code: one OS thread per CUDA thread, ``__syncthreads`` a std::barrier,
``__shared__`` one static array per block run) and runs it, so the indexing, the tables, the K
split and the reduction are tested on a CPU machine too; only the f16 conversion has a host twin.

CuPy is imported lazily, on first call: importing this module never needs CuPy or a GPU. Operands
are checked first (on any device, so the messages are the same everywhere), then a CPU operand
raises a ValueError and a missing CuPy, GPU or runtime compiler (NVRTC, probed once by compiling a
one-line kernel: :func:`cupy_unavailable_reason`) a RuntimeError that says which is missing.
Activations and scales may be fp16, bf16 or fp32: they are read as raw 16-bit words and widened
in the kernel (PTX ``cvt.f32.f16``; bf16 is the top half of an fp32), so no CUDA header is needed.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch

from kernels.bcq_tc_gemm import check_bcq_tc_operands
from kernels.lut_gemm import LutGemmOps, count_lut_ops

__all__ = [
    "CUDA_SOURCE",
    "KERNEL_NAME",
    "REDUCE_KERNEL_NAME",
    "LutCupyOps",
    "count_lut_cupy_ops",
    "cuda_source",
    "cupy_unavailable_reason",
    "lut_gemm_cupy",
    "lut_gemm_cupy_plan",
]

KERNEL_NAME = "lut_gemm_cupy_kernel"
REDUCE_KERNEL_NAME = "lut_gemm_cupy_reduce"

THREADS = 128  # threads per block
ROWS_PER_THREAD = 4  # R: output rows per thread, THREADS apart
BLOCK_N = THREADS * ROWS_PER_THREAD  # 512 output rows per block
MAX_TB = 16  # bytes (tables) per chunk: one 16-byte load per plane and row
MAX_MT = 2  # activation rows per block: MT * TB * 1 KB of tables <= 32 KB of static shared memory
#: the K split aims at this many blocks per SM: 4 blocks of 128 threads at <= 128 registers (ptxas:
#: 124 at q = 4, MT = 2) fit one SM's 64 K registers, and their 16-byte loads in flight are what
#: keeps HBM busy at decode batches. Untuned: no GPU was at hand; retune on one.
BLOCKS_PER_SM_TARGET = 4
REDUCE_THREADS = 256
# grid y and z are limited to 65535 blocks (CUDA programming guide, compute capabilities table)
MAX_GRID_YZ = 65535

_KIND = {torch.float32: 0, torch.float16: 1, torch.bfloat16: 2}  # how the kernel widens a value

CUDA_SOURCE = r"""
// y[M, N] (+)= x[M, K] W^T, W = sum_i alpha_i B_i binary-coded; LUT in shared memory, fp32.
// Compile-time parameters, #defined ahead of this text by cuda_source(): Q planes, MT activation
// rows per block, TB bytes per chunk, R rows per thread, THREADS, X_KIND / S_KIND (0 fp32,
// 1 fp16, 2 bf16), VEC (1: 16-byte weight loads).

typedef unsigned short u16;

__device__ __forceinline__ float f16_to_f32(u16 h) {
#ifdef LUT_GEMM_HOST_EMULATION  // the CPU test harness (tests/test_kernels_bcq_tc.py) has no PTX
    return host_f16_to_f32(h);
#else
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
#endif
}
__device__ __forceinline__ float bf16_to_f32(u16 h) { return __uint_as_float(((unsigned int)h) << 16); }

#if X_KIND == 0
typedef float x_t;
#define X2F(v) (v)
#elif X_KIND == 1
typedef u16 x_t;
#define X2F(v) f16_to_f32(v)
#else
typedef u16 x_t;
#define X2F(v) bf16_to_f32(v)
#endif

#if S_KIND == 0
typedef float s_t;
#define S2F(v) (v)
#elif S_KIND == 1
typedef u16 s_t;
#define S2F(v) f16_to_f32(v)
#else
typedef u16 s_t;
#define S2F(v) bf16_to_f32(v)
#endif

#define WORDS (TB / 4 > 0 ? TB / 4 : 1)  // 32-bit words of weight bits per plane, row and chunk

extern "C" __global__ void __launch_bounds__(THREADS) lut_gemm_cupy_kernel(
    const x_t* __restrict__ X, const unsigned char* __restrict__ P, const s_t* __restrict__ S,
    float* __restrict__ Y,
    long long M, long long N, long long chunks, long long bytes_per_group, long long chunks_per_split,
    long long sxm, long long sxk, long long spq, long long spn, long long spk,
    long long ssq, long long ssn, long long ssg,
    long long sy_split, long long sym, long long syn)
{
    __shared__ float T[MT][TB][256];

    const int tid = threadIdx.x;
    const long long m0 = (long long)blockIdx.x * MT;
    const long long n_first = (long long)blockIdx.y * (THREADS * R) + tid;
    const long long c_begin = (long long)blockIdx.z * chunks_per_split;
    const long long c_end = min(c_begin + chunks_per_split, chunks);

    float acc[R][MT];
    #pragma unroll
    for (int r = 0; r < R; ++r)
        #pragma unroll
        for (int m = 0; m < MT; ++m) acc[r][m] = 0.0f;

    for (long long c = c_begin; c < c_end; ++c) {
        const long long kb0 = c * TB;               // first byte (table) of the chunk
        const long long grp = kb0 / bytes_per_group;  // the chunk lies inside one group

        // 1. this thread's weight bytes of the chunk, every plane and row: loads issued first,
        //    so that they are in flight during the table build. Rows past N read zeros.
        unsigned int w[Q][R][WORDS];
        #pragma unroll
        for (int i = 0; i < Q; ++i)
            #pragma unroll
            for (int r = 0; r < R; ++r) {
                const long long n = n_first + (long long)r * THREADS;
                const unsigned char* row = P + i * spq + n * spn + kb0 * spk;
#if VEC
                uint4 v = make_uint4(0, 0, 0, 0);
                if (n < N) v = __ldg(reinterpret_cast<const uint4*>(row));
                w[i][r][0] = v.x; w[i][r][1] = v.y; w[i][r][2] = v.z; w[i][r][3] = v.w;
#else
                #pragma unroll
                for (int q4 = 0; q4 < WORDS; ++q4) w[i][r][q4] = 0;
                if (n < N) {
                    #pragma unroll
                    for (int b = 0; b < TB; ++b)
                        w[i][r][b / 4] |= ((unsigned int)__ldg(row + b * spk)) << (8 * (b % 4));
                }
#endif
            }

        // 2. the MT * TB tables: item (m, j, l) writes T[m][j][16 h + l] = H[h] + L[l], h < 16
        for (int it = tid; it < MT * TB * 16; it += THREADS) {
            const int l = it & 15;
            const int j = (it >> 4) % TB;
            const int m = it / (TB * 16);
            const long long row = m0 + m;
            float xv[8];
            #pragma unroll
            for (int t = 0; t < 8; ++t)
                xv[t] = row < M ? X2F(X[row * sxm + (8 * (kb0 + j) + t) * sxk]) : 0.0f;  // padding rows: 0
            const float lo = ((l & 1) ? xv[0] : -xv[0]) + ((l & 2) ? xv[1] : -xv[1])
                           + ((l & 4) ? xv[2] : -xv[2]) + ((l & 8) ? xv[3] : -xv[3]);
            // H[h] = a[h & 3] + b[h >> 2]: the four signed pairs of x4, x5 and of x6, x7
            const float a0 = -xv[4] - xv[5], a1 = xv[4] - xv[5], a2 = -xv[4] + xv[5], a3 = xv[4] + xv[5];
            const float b0 = -xv[6] - xv[7], b1 = xv[6] - xv[7], b2 = -xv[6] + xv[7], b3 = xv[6] + xv[7];
            const float a[4] = {a0, a1, a2, a3}, bb[4] = {b0, b1, b2, b3};
            float* t_row = &T[m][j][l];
            #pragma unroll
            for (int h = 0; h < 16; ++h) t_row[16 * h] = (a[h & 3] + bb[h >> 2]) + lo;
        }
        __syncthreads();

        // 3. look up: one shared-memory read per weight byte and batch row, a scale per chunk
        #pragma unroll
        for (int r = 0; r < R; ++r) {
            const long long n = n_first + (long long)r * THREADS;
            #pragma unroll
            for (int i = 0; i < Q; ++i) {
                const float alpha = n < N ? S2F(S[i * ssq + n * ssn + grp * ssg]) : 0.0f;
                #pragma unroll
                for (int m = 0; m < MT; ++m) {
                    float part = 0.0f;
                    #pragma unroll
                    for (int b = 0; b < TB; ++b)
                        part += T[m][b][(w[i][r][b / 4] >> (8 * (b % 4))) & 0xff];
                    acc[r][m] = fmaf(part, alpha, acc[r][m]);
                }
            }
        }
        __syncthreads();  // the next chunk overwrites the tables
    }

    #pragma unroll
    for (int r = 0; r < R; ++r) {
        const long long n = n_first + (long long)r * THREADS;
        #pragma unroll
        for (int m = 0; m < MT; ++m)
            if (n < N && m0 + m < M) Y[blockIdx.z * sy_split + (m0 + m) * sym + n * syn] = acc[r][m];
    }
}

// y[e] = sum_{s < ksplit} part[s][e], in order s = 0, 1, ...: the K-split partials, deterministic.
extern "C" __global__ void lut_gemm_cupy_reduce(const float* __restrict__ part, float* __restrict__ Y,
                                                long long ksplit, long long count)
{
    const long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= count) return;
    float s = 0.0f;
    for (long long k = 0; k < ksplit; ++k) s += part[k * count + e];
    Y[e] = s;
}
"""


def cuda_source(q: int, mt: int, tb: int, x_dtype: torch.dtype, s_dtype: torch.dtype, vec: bool) -> str:
    """The CUDA source of one kernel variant: the compile-time #defines, then CUDA_SOURCE."""
    defines = {"Q": q, "MT": mt, "TB": tb, "R": ROWS_PER_THREAD, "THREADS": THREADS,
               "X_KIND": _KIND[x_dtype], "S_KIND": _KIND[s_dtype], "VEC": int(vec)}
    return "".join(f"#define {k} {v}\n" for k, v in defines.items()) + CUDA_SOURCE


def lut_gemm_cupy_plan(M: int, N: int, K: int, group_size: int, sm_count: int) -> dict:
    """Launch geometry: MT, TB, the K split and the grid (pure arithmetic, checked on the CPU too).

    TB = the largest of 16, 8, 4, 2, 1 dividing the group's bytes. KSPLIT: enough blocks for
    BLOCKS_PER_SM_TARGET per SM, no more splits than chunks, no empty split.
    """
    mt = 1 if M == 1 else MAX_MT
    tb = math.gcd(MAX_TB, group_size // 8)
    chunks = K // 8 // tb
    blocks_m, blocks_n = -(-M // mt), -(-N // BLOCK_N)
    want = max(1, -(-BLOCKS_PER_SM_TARGET * sm_count // (blocks_m * blocks_n)))
    ksplit = min(chunks, want)
    per_split = -(-chunks // ksplit)
    ksplit = -(-chunks // per_split)
    return {"MT": mt, "TB": tb, "chunks": chunks, "chunks_per_split": per_split, "ksplit": ksplit,
            "grid": (blocks_m, blocks_n, ksplit)}


def _import_cupy():
    try:
        import cupy
    except ImportError as e:
        raise RuntimeError(
            "lut_gemm_cupy needs CuPy (pip install cupy-cuda13x) and a CUDA GPU; CuPy is not installed"
        ) from e
    try:
        n_devices = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # CUDARuntimeError without a driver, or a broken install
        raise RuntimeError(f"lut_gemm_cupy needs a CUDA GPU; CuPy cannot reach one: {e}") from e
    if n_devices == 0:
        raise RuntimeError("lut_gemm_cupy needs a CUDA GPU; CuPy sees none")
    return cupy


_PROBE_SOURCE = 'extern "C" __global__ void bitweight_nvrtc_probe(int* out) { out[threadIdx.x] = (int)threadIdx.x; }'


@functools.cache
def cupy_unavailable_reason() -> str | None:
    """Why lut_gemm_cupy cannot run here (None when it can): CuPy missing, no GPU it can reach, or
    no working runtime compiler (NVRTC: CuPy compiles the kernel's CUDA text on first use, and a
    CuPy wheel whose NVRTC library is missing or mismatched imports fine and fails only then).
    Probed once per process by compiling and loading a one-line RawKernel on device 0; GPU tests
    and benchmarks skip with this reason instead of erroring."""
    try:
        cupy = _import_cupy()
    except RuntimeError as e:
        return str(e)
    compiler = getattr(getattr(cupy, "cuda", None), "compiler", None)
    if compiler is None or not hasattr(compiler, "compile_using_nvrtc"):
        return "the CuPy kernels need CuPy's runtime compiler (cupy.cuda.compiler, NVRTC); this CuPy has none"
    try:
        with cupy.cuda.Device(0):
            cupy.RawKernel(_PROBE_SOURCE, "bitweight_nvrtc_probe").compile()
    except Exception as e:  # CompileException, a missing libnvrtc (OSError/ImportError), a driver too old
        return f"the CuPy kernels need CuPy's runtime compiler (NVRTC), which failed on a one-line kernel: {type(e).__name__}: {e}"
    return None


@functools.cache
def _compiled(device_id: int, q: int, mt: int, tb: int, x_dtype: torch.dtype, s_dtype: torch.dtype, vec: bool):
    # One module per device and variant: NVRTC compiles for the current device's architecture
    # (CuPy caches the binary on disk), so each GPU gets code for its own compute capability.
    cupy = _import_cupy()
    with cupy.cuda.Device(device_id):
        module = cupy.RawModule(code=cuda_source(q, mt, tb, x_dtype, s_dtype, vec), options=("--std=c++14",))
        return module.get_function(KERNEL_NAME), module.get_function(REDUCE_KERNEL_NAME)


def _vector_loads_ok(packed: torch.Tensor, tb: int) -> bool:
    """16-byte loads need a chunk of a row to be 16 contiguous, 16-byte-aligned bytes."""
    if tb != 16 or packed.stride(2) != 1:
        return False
    q, N, _ = packed.shape
    starts = [packed.data_ptr()] + ([packed.stride(0)] if q > 1 else []) + ([packed.stride(1)] if N > 1 else [])
    return all(s % 16 == 0 for s in starts)


def lut_gemm_cupy(x: torch.Tensor, packed: torch.Tensor, scales: torch.Tensor, group_size: int) -> torch.Tensor:
    """y = x W^T (M, N) float32 for binary-coded W, on a CUDA GPU, with shared-memory tables.

    ``x`` (M, K) float16 / bfloat16 / float32 CUDA tensor; ``packed`` (q, N, K/8) uint8;
    ``scales`` (q, N, K/g) float16 / bfloat16 / float32; any strides. Launched on torch's current
    stream. (The exact int8 path is the Triton kernels': kernels.lut_gemm, kernels.bcq_tc_gemm.)
    """
    if isinstance(x, torch.Tensor) and x.dtype == torch.int8:
        raise TypeError(
            "x must be float16/bfloat16/float32 for lut_gemm_cupy (fp32 tables), got torch.int8; "
            "the exact int8 path is kernels.lut_gemm.lut_gemm"
        )
    M, N, K, q, _ = check_bcq_tc_operands(x, packed, scales, group_size, tensor_cores=False)
    if x.device.type != "cuda":
        raise ValueError(f"x, packed and scales must be on a CUDA device for lut_gemm_cupy, got {x.device}")
    reason = cupy_unavailable_reason()
    if reason is not None:
        raise RuntimeError(reason)
    cupy = _import_cupy()
    device_id = x.device.index if x.device.index is not None else torch.cuda.current_device()
    y = torch.empty((M, N), dtype=torch.float32, device=x.device)
    if M == 0 or N == 0:
        return y
    plan = lut_gemm_cupy_plan(M, N, K, group_size, torch.cuda.get_device_properties(device_id).multi_processor_count)
    _, blocks_n, ksplit = plan["grid"]
    if blocks_n > MAX_GRID_YZ:
        raise ValueError(f"N = {N} needs {blocks_n} blocks of {BLOCK_N} rows; CUDA allows at most {MAX_GRID_YZ}")
    vec = _vector_loads_ok(packed, plan["TB"])
    kernel, reduce = _compiled(device_id, q, plan["MT"], plan["TB"], x.dtype, scales.dtype, vec)
    out = y if ksplit == 1 else torch.empty((ksplit, M, N), dtype=torch.float32, device=x.device)
    i64 = cupy.int64
    # 16-bit operands travel as raw words (the kernel widens them); strides in elements, as torch's
    xw = x.view(torch.int16) if x.dtype != torch.float32 else x
    sw = scales.view(torch.int16) if scales.dtype != torch.float32 else scales
    split_stride = out.stride(0) if ksplit > 1 else 0
    ym, yn = (out.stride(1), out.stride(2)) if ksplit > 1 else (out.stride(0), out.stride(1))
    args = (cupy.from_dlpack(xw), cupy.from_dlpack(packed), cupy.from_dlpack(sw), cupy.from_dlpack(out),
            i64(M), i64(N), i64(plan["chunks"]), i64(group_size // 8), i64(plan["chunks_per_split"]),
            i64(x.stride(0)), i64(x.stride(1)),
            i64(packed.stride(0)), i64(packed.stride(1)), i64(packed.stride(2)),
            i64(scales.stride(0)), i64(scales.stride(1)), i64(scales.stride(2)),
            i64(split_stride), i64(ym), i64(yn))
    with cupy.cuda.Device(device_id), cupy.cuda.ExternalStream(torch.cuda.current_stream(x.device).cuda_stream):
        kernel(plan["grid"], (THREADS, 1, 1), args)
        if ksplit > 1:
            count = M * N
            reduce((-(-count // REDUCE_THREADS),), (REDUCE_THREADS,),
                   (cupy.from_dlpack(out), cupy.from_dlpack(y), i64(ksplit), i64(count)))
    return y


# %%
# Operation and byte count
# ------------------------
# The algorithm's work is kernels.lut_gemm.count_lut_ops's (tables, table reads, adds, scales per
# group; the energy model prices those). What this kernel does differently is counted on top:
# the scale is applied once per chunk of TB bytes rather than once per group (more multiplies
# when a group spans several chunks), and with a K split every partial output is written once to
# the workspace and read once by the reduction, which adds (KSPLIT - 1) adds per output.


@dataclass(frozen=True)
class LutCupyOps:
    """count_lut_ops of the same GEMM, plus this kernel's chunked scaling and K-split traffic."""

    lut: LutGemmOps
    ksplit: int
    scale_muls: int  # one per batch row, plane, output row and chunk
    split_adds: int  # the reduction: (KSPLIT - 1) per output when the K split is on
    workspace_bytes: int  # fp32 partials written and read back (0 without a split)

    @property
    def bytes_moved(self) -> int:
        return self.lut.bytes_moved + self.workspace_bytes


def count_lut_cupy_ops(M: int, N: int, K: int, q: int, group_size: int, *, sm_count: int = 132,
                       act_bytes: int = 2, scale_bytes: int = 2) -> LutCupyOps:
    """Operation and byte counts of :func:`lut_gemm_cupy` on a GPU with ``sm_count`` SMs (fp32 y)."""
    lut = count_lut_ops(M, N, K, q, group_size, act_bytes=act_bytes, scale_bytes=scale_bytes, out_bytes=4)
    if isinstance(sm_count, bool) or not isinstance(sm_count, int) or sm_count < 1:
        raise ValueError(f"sm_count must be a positive int, got {sm_count!r}")
    if M == 0 or N == 0 or K == 0:
        return LutCupyOps(lut, 1, 0, 0, 0)
    plan = lut_gemm_cupy_plan(M, N, K, group_size, sm_count)
    ksplit = plan["ksplit"]
    return LutCupyOps(
        lut=lut, ksplit=ksplit,
        scale_muls=M * q * N * plan["chunks"],
        split_adds=(ksplit - 1) * M * N if ksplit > 1 else 0,
        workspace_bytes=2 * ksplit * M * N * 4 if ksplit > 1 else 0,
    )
