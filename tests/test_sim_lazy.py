"""The closed-form estimates (sim.systolic, sim.adder_tree) against the per-fold sums they replace,
and sim.lazy.LazySeq, the fold lists they hand out."""

import itertools

import pytest

import sim.adder_tree as tree
import sim.systolic as systolic
from sim.lazy import LazySeq, repeated

SHAPES = [(1, 1, 1), (5, 7, 3), (16, 16, 16), (17, 33, 9), (64, 3, 100), (3, 70, 41)]


@pytest.mark.parametrize("dataflow,pe", list(itertools.product(("os", "ws"), ("mac", "booth_csa"))))
@pytest.mark.parametrize("rows,cols", [(1, 1), (4, 4), (3, 5), (8, 2)])
def test_systolic_estimate_equals_the_sum_over_its_folds(dataflow, pe, rows, cols):
    cfg = systolic.SystolicConfig(rows, cols, dataflow, pe=pe)
    for m, n, k in SHAPES:
        res = systolic.estimate_gemm(m, n, k, cfg)
        folds = systolic.fold_schedule(m, n, k, cfg)
        assert res.folds == folds and len(res.folds) == len(folds)
        cycles = [systolic.fold_cycles(cfg, f.t) for f in folds]
        assert res.fold_cycles == cycles and res.cycles == sum(cycles)
        events = dict.fromkeys(systolic.EVENT_NAMES, 0)
        for f in folds:
            for name, count in systolic.fold_events(cfg, f).items():
                events[name] += count
        assert res.events == events


@pytest.mark.parametrize("k,n,rows,pe", [(4, 4, 4, "mult"), (8, 3, 1, "sbw"), (16, 4, 1, "csa"), (4, 4, 2, "csa")])
def test_tree_estimate_equals_the_sum_over_its_folds(k, n, rows, pe):
    cfg = tree.TreeConfig(k=k, n=n, pe=pe, rows=rows)
    for m, nn, kk in SHAPES:
        res = tree.estimate_gemm(m, nn, kk, cfg)
        folds = tree.tree_folds(m, nn, kk, cfg)
        assert res.folds == folds
        assert res.fold_cycles == [tree.fold_cycles(m, cfg)] * len(folds)
        # the per-fold definitions the closed form sums
        assert res.events["macs"] == sum(m * (f.k1 - f.k0) * (f.n1 - f.n0) for f in folds)
        assert res.events["a_reads_bytes"] == sum(m * (f.k1 - f.k0) for f in folds)
        assert res.events["psum_reads_bytes"] == sum(4 * m * (f.n1 - f.n0) for f in folds if f.k0 > 0)
        assert res.events["out_writes_bytes"] == sum(4 * m * (f.n1 - f.n0) for f in folds)
        assert res.events["tree_slots"] == len(folds) * tree.row_groups(m, cfg) * cfg.rows * cfg.k * cfg.n
        if pe == "sbw":
            assert res.events["nonzero_digits"] == sum(m * (f.k1 - f.k0) * 4 * cfg.n for f in folds)


def test_a_big_estimate_builds_no_fold_list():
    """1024^3 on a 1x1 array: a million folds, counted, not listed."""
    res = systolic.estimate_gemm(1024, 1024, 1024, systolic.SystolicConfig(1, 1, "os"))
    assert len(res.folds) == 1024 * 1024 and res.cycles == 1024 * 1024 * (2 + 1 + 1024 - 2)
    assert res.folds[-1] == systolic.Fold(1023, 1024, 1023, 1024, 0, 1024, False, 1024)


def test_lazy_sequence_behaves_as_the_list_it_replaces():
    seq = LazySeq(5, lambda i: i * i)
    assert list(seq) == [0, 1, 4, 9, 16] and seq == [0, 1, 4, 9, 16] and seq == (0, 1, 4, 9, 16)
    assert seq != [0, 1, 4] and seq != "01234"
    assert seq[-1] == 16 and seq[1:4] == [1, 4, 9] and len(seq) == 5 and sum(seq) == 30
    with pytest.raises(IndexError, match="index 5 out of range for 5 items"):
        seq[5]
    assert repeated(7, 3) == [7, 7, 7] and "3 items" in repr(repeated(7, 3))
