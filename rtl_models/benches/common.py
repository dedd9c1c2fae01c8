"""What every cocotb bench in rtl_models/benches shares: the job/result files of
rtl_models.runner.run_bench and two's-complement lane packing of flat Verilog buses."""

from __future__ import annotations

import os

import numpy as np

from rtl_models.runner import ENV_IN, ENV_OUT


def job_path() -> str | None:
    """The job .npz of this run (None when the module is imported outside a run)."""
    path = os.environ.get(ENV_IN)
    return path if path and os.path.exists(path) else None


def load_job() -> dict[str, np.ndarray]:
    with np.load(os.environ[ENV_IN]) as job:
        return {k: job[k] for k in job.files}


def save_outputs(errors: list[str], **outputs: np.ndarray) -> None:
    """Write the results before asserting, so the caller sees both the numbers and the errors."""
    np.savez(os.environ[ENV_OUT], errors=np.array(errors, dtype=str), **outputs)


def pack(values, width: int) -> int:
    """Lane i of ``values`` (two's complement, ``width`` bits) at bits [i*width +: width]."""
    mask = (1 << width) - 1
    word = 0
    for lane, v in enumerate(values):
        word |= (int(v) & mask) << (lane * width)
    return word


def unpack_signed(word: int, lanes: int, width: int) -> list[int]:
    """The inverse of :func:`pack`: ``lanes`` signed ``width``-bit values from a bus word."""
    mask = (1 << width) - 1
    out = []
    for lane in range(lanes):
        v = (word >> (lane * width)) & mask
        out.append(v - (1 << width) if v >> (width - 1) else v)
    return out
