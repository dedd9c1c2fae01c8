"""Helpers for the co-simulation tests."""

from rtl_models.runner import simulator_missing

SIMS = ("icarus", "verilator")


def needs(sim: str) -> None:
    """Skip the calling test (pytest.skip) when simulator ``sim`` cannot run here, saying why."""
    import pytest

    reason = simulator_missing(sim)
    if reason:
        pytest.skip(reason)
