"""Decide, once and before ``import triton``, whether Triton kernels run compiled or interpreted.

Triton reads ``TRITON_INTERPRET`` when a function is decorated with ``@triton.jit``: with it set,
the kernel runs in Triton's NumPy interpreter on CPU tensors; without it, the kernel is compiled
for the GPU and needs CUDA tensors. A kernel module therefore has to settle the mode before it
defines its kernels, which is what importing this module does.

Policy:

* ``TRITON_INTERPRET`` already in the environment (``1`` or ``0``): respected as given. Setting
  ``TRITON_INTERPRET=0`` on a machine without a GPU makes every CPU launch an error, on purpose.
* not set and no CUDA device: set to ``1``, so plain ``pytest`` on a CPU-only CI machine runs the
  kernels in the interpreter. The variable is written into ``os.environ`` (child processes inherit
  it), which is harmless on a machine that has no GPU to compile for.
* not set and a CUDA device present (the GPU machine): left unset, kernels compile.

Every kernel module imports ``triton`` through here (``from kernels._triton_env import triton``)
so that the decision comes first whatever the import order of the caller.
"""

import os

import torch

if "TRITON_INTERPRET" not in os.environ and not torch.cuda.is_available():
    os.environ["TRITON_INTERPRET"] = "1"

import triton  # noqa: E402  (must follow the environment decision above)
import triton.language as tl  # noqa: E402

#: True when ``@triton.jit`` kernels defined from now on run in the interpreter (CPU tensors).
TRITON_INTERPRET: bool = bool(triton.knobs.runtime.interpret)

#: True inside ``python -m kernels.sm90`` (``BITWEIGHT_COMPILE_ONLY=1``, with ``TRITON_INTERPRET=0``):
#: every launch compiles for sm_90 and returns without running, so the launchers accept CPU
#: tensors as stand-ins for CUDA ones (their outputs are left unwritten). Never set it otherwise.
COMPILE_ONLY: bool = os.environ.get("BITWEIGHT_COMPILE_ONLY") == "1" and not TRITON_INTERPRET

#: Whether a launcher may take CPU tensors: in the interpreter, or when compiling only.
CPU_LAUNCH_OK: bool = TRITON_INTERPRET or COMPILE_ONLY


def _fix_interpreter_scalar_index() -> None:
    """Let the interpreter use runtime scalars as loop bounds under NumPy >= 2.4.

    Triton 3.6's interpreter holds a scalar kernel argument as a 1-element array and implements
    ``tensor.__index__`` as ``int(array)``, which NumPy 2.4 refuses ("only 0-dimensional arrays
    can be converted to Python scalars"), so ``for k in range(tl.cdiv(K, BLOCK_K))`` fails.
    This re-applies the upstream fix, ``int(array.squeeze())`` (triton-lang/triton#9171), on top
    of the interpreter's own patching; it changes nothing for 0-d arrays or older NumPy.
    """
    from triton.runtime import interpreter

    original = getattr(interpreter, "_patch_lang_tensor", None)
    if original is None or getattr(original, "_squeezes_index", False):
        return  # a Triton without this hook (fixed upstream), or already applied

    def patch_lang_tensor(tensor, scope):
        original(tensor, scope)
        scope.set_attr(tensor, "__index__", lambda self: int(self.handle.data.squeeze()))

    patch_lang_tensor._squeezes_index = True
    interpreter._patch_lang_tensor = patch_lang_tensor


if TRITON_INTERPRET:
    _fix_interpreter_scalar_index()

__all__ = ["COMPILE_ONLY", "CPU_LAUNCH_OK", "TRITON_INTERPRET", "tl", "triton"]
