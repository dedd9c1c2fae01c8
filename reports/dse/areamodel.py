"""Area and clock of array sizes that were not synthesised: a model fitted on those that were.

For one engine at one pair of operand widths (a *group*), each synthesised size gives the
array's area (um^2) and clock (MHz). The fitted models, least squares:

    area(R, C)   = c0 + c1 * units + c2 * (R + C)      units = the engine's multiply units at R x C
    period(R, C) = d0 + d1 * log2(units)               clock = 1 / period

(the PE grid grows with units, the edge registers and buffers' ports with R + C; the critical path
stays within a PE for the arrays, and grows with the adder depth, log2, for the trees). Outside
the synthesised sizes the period follows the fitted slope only where it grows with size, never
where it shrinks (a 2x2 array's shorter accumulate path must not promise a faster 32x32). With
fewer synthesised sizes than coefficients the last terms are dropped: two sizes fit c0 + c1 *
units, one size scales area by units and keeps the clock.

Its error is shown honestly: each synthesised size is predicted by the model fitted on the
others (leave one out) and the relative error of area and clock at that size is stored in the
results database (``area_models``) and shown by ``bitweight sweep``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

AREA_MODEL = "area = c0 + c1 * units + c2 * (rows + cols)"
CLOCK_MODEL = "clock = 1 / (d0 + d1 * log2(units)), the period never shrinking outside the synthesised sizes"


def _features(quantity: str, units: float, rows: int, cols: int, terms: int) -> list[float]:
    if quantity == "area":
        return [1.0, float(units), float(rows + cols)][:terms] if terms > 1 else [float(units)]
    return [1.0, math.log2(max(units, 1))][:terms]


@dataclass(frozen=True)
class Fit:
    quantity: str  # "area" (um^2) or "clock" (MHz; fitted as the period in ps)
    coefficients: tuple[float, ...]
    terms: int
    units_range: tuple[float, float] = (1.0, 1.0)  # the synthesised sizes' multiply units, min and max

    def _raw(self, units: float, rows: int, cols: int) -> float:
        return float(np.dot(self.coefficients, _features(self.quantity, units, rows, cols, self.terms)))

    def predict(self, units: float, rows: int, cols: int) -> float:
        if self.quantity == "area":
            return self._raw(units, rows, cols)
        lo, hi = self.units_range
        slope = self.coefficients[1] if self.terms > 1 else 0.0
        inside = min(max(units, lo), hi)
        period = self._raw(inside, rows, cols)
        if units != inside:  # outside: the fitted slope only where the period grows away from the data
            step = math.log2(units) - math.log2(inside)
            period += max(slope * step, 0.0)
        return 1e6 / period

    @property
    def model(self) -> str:
        return AREA_MODEL if self.quantity == "area" else CLOCK_MODEL


def fit(quantity: str, samples: list[tuple[float, int, int, float]]) -> Fit:
    """Least squares on ``samples`` of (units, rows, cols, value), as many terms as they determine."""
    if not samples:
        raise ValueError(f"no synthesised size to fit the {quantity} model on")
    distinct = len({(u, r, c) for u, r, c, _ in samples})
    terms = min(distinct, 3 if quantity == "area" else 2)
    x = np.array([_features(quantity, u, r, c, terms) for u, r, c, _ in samples])
    y = np.array([v if quantity == "area" else 1e6 / v for *_, v in samples])  # clock: fit the period, ps
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    units = [u for u, *_ in samples]
    return Fit(quantity, tuple(float(c) for c in coef), terms, (float(min(units)), float(max(units))))


def leave_one_out(quantity: str, samples: list[tuple[float, int, int, float]]) -> list[dict]:
    """Each sample predicted by the model fitted on the others: rows, cols, value, predicted and
    the relative error (empty with fewer than two samples)."""
    out = []
    if len(samples) < 2:
        return out
    for i, (u, r, c, v) in enumerate(samples):
        model = fit(quantity, samples[:i] + samples[i + 1:])
        pred = model.predict(u, r, c)
        out.append({"rows": r, "cols": c, "units": u, "value": v, "predicted": pred,
                    "rel_error": (pred - v) / v, "fitted_on": len(samples) - 1, "terms": model.terms})
    return out
