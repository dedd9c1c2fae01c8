"""Sequences computed on access, for the fold lists of the estimate functions.

A 1024^3 GEMM on a 4x4 array has 65,536 folds; the report estimates thousands of such GEMMs and
reads only their totals. The estimate functions compute those totals in closed form and hand out
the fold list and the per-fold cycles as :class:`LazySeq`: the same items, in the same order, as
the list they replace, built only when someone looks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


class LazySeq(Sequence):
    """``count`` items, item i being ``item(i)``; compares equal to any list or tuple of the same
    items."""

    __slots__ = ("_count", "_item")

    def __init__(self, count: int, item: Callable[[int], Any]):
        self._count, self._item = int(count), item

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self._item(i) for i in range(*index.indices(self._count))]
        i = int(index)
        if i < 0:
            i += self._count
        if not 0 <= i < self._count:
            raise IndexError(f"index {index} out of range for {self._count} items")
        return self._item(i)

    def __iter__(self):
        return (self._item(i) for i in range(self._count))

    def __eq__(self, other) -> bool:
        if not isinstance(other, (Sequence, LazySeq)) or isinstance(other, (str, bytes)):
            return NotImplemented
        return len(self) == len(other) and all(x == y for x, y in zip(self, other))

    __hash__ = None

    def __repr__(self) -> str:
        shown = ", ".join(repr(x) for x in self[:3])
        return f"LazySeq([{shown}{', ...' if self._count > 3 else ''}], {self._count} items)"


def repeated(value, count: int) -> LazySeq:
    """``count`` times ``value`` (the per-fold cycles of a GEMM whose folds all take as long)."""
    return LazySeq(count, lambda _i: value)
