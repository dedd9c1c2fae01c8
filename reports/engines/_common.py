"""Pieces the family files share: the INT8 GEMM contract (operands (a, b), int8; values C, int32),
its golden cases and kernel, and the model outcome of any result with c / cycles / fold_cycles /
events. Not a family file (its name starts with an underscore)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from reports.engine import Case, Outcome, load

# slices of all-MiniLM-L6-v2's INT8 weights and its INT8 activations on real text, beside the
# random and edge-value workloads: the same golden tensors for every implementation
REAL_LAYERS = ("blocks.0.q", "blocks.2.ffn_up", "blocks.5.ffn_down")


def torch_of(x: np.ndarray):
    import torch

    return torch.from_numpy(np.ascontiguousarray(x))


@lru_cache(maxsize=1)
def real_int8_cases() -> tuple[Case, ...]:
    from kernels.models.real_tensors import real_int8_gemms

    return tuple(Case(name, (a, b)) for name, a, b in
                 real_int8_gemms(max_m=8, max_n=7, max_k=24, layers=list(REAL_LAYERS)))


def int8_golden(workloads_ref: str, real: bool = True):
    """seed -> the family's (name, a, b) workloads as cases, plus the real-model slices."""

    def golden(seed: int) -> list[Case]:
        cases = [Case(name, (a, b)) for name, a, b in load(workloads_ref)(seed=seed)]
        return cases + list(real_int8_cases()) if real else cases

    return golden


def narrow_b(golden, b_bits: int):
    """The cases with B's values brought into signed b_bits (weight-only low-bit arrays): each
    value's low b_bits, sign-extended, so edge values stay at the range's ends."""
    shift = 8 - b_bits

    def narrowed(seed: int) -> list[Case]:
        out = []
        for c in golden(seed):
            a, b = c.operands
            nb = ((b.astype(np.int8) << shift).astype(np.int8) >> shift).astype(np.int8)
            out.append(Case(c.name, (a, nb)))
        return out

    return narrowed


def outcome(result, values_attr: str = "c") -> Outcome:
    """A model result with values / cycles / fold_cycles / events as the contract's Outcome."""
    return Outcome(np.asarray(getattr(result, values_attr)), int(result.cycles),
                   tuple(int(c) for c in getattr(result, "fold_cycles", ()) or ()), dict(result.events))


def gemm_model(ref: str):
    """(cfg, (a, b)) -> Outcome of the model ``ref`` (a GEMM simulate(a, b, cfg))."""
    return lambda cfg, ops: outcome(load(ref)(ops[0], ops[1], cfg))


def int8_kernel(cfg, ops) -> np.ndarray:
    from kernels.int8_gemm import int8_gemm

    return int8_gemm(torch_of(ops[0]), torch_of(ops[1])).numpy()


def int8_reference(cfg, ops) -> np.ndarray:
    from kernels.int8_gemm import int8_gemm_reference

    return int8_gemm_reference(torch_of(ops[0]), torch_of(ops[1])).numpy()


def gemm_benchmark(m: int = 128, n: int = 384, k: int = 384):
    """Operands of the model-speed benchmark: all-MiniLM-L6-v2's Q projection shape, 128 tokens."""
    from sim.workloads import random_int8

    rng = np.random.default_rng(0)
    return random_int8(rng, (m, k)), random_int8(rng, (k, n))
