"""FP8 training on the CPU: the tiny byte-level LM of kernels/models/tiny_lm.py trained on the Python standard
library's source with bf16, FP8 tensorwise, FP8 rowwise and HALO levels 1 and 2 (kernels/halo.py).

    table, results = training_table(steps=100)
    table      # one row per run: final train / validation loss, their gap to bf16, wall time
    results    # the kernels.models.tiny_lm.TrainResult of each run (per-step losses)

Same model, data, seed and batches for every run; only the transformer blocks' linear layers change
(recipe and HALO level). The FP8 GEMMs run on the CPU through kernels.halo.fp8_matmul's exact
"decoded" backend, so the loss differences are those of the FP8 casts themselves, not of a GPU's
accumulation order. Sized for the report: the five runs take about a minute on two CPU cores.
"""

from __future__ import annotations

import pandas as pd

from kernels.models.tiny_lm import RECIPE_RUNS, LMConfig, train

__all__ = ["training_table", "loss_figure", "report_sections", "REPORT_STEPS"]

REPORT_STEPS = 100


def training_table(steps: int = REPORT_STEPS, config: LMConfig | None = None, runs=RECIPE_RUNS, seed: int = 0,
                   progress=None):
    """(DataFrame, list of TrainResult): one training run per (recipe, halo_level) in ``runs``."""
    cfg = LMConfig(eval_every=max(1, steps // 6)) if config is None else config
    results = []
    for recipe, level in runs:
        if progress is not None:
            progress(f"report: training the tiny LM, {recipe} HALO level {level}, {steps} steps")
        results.append(train(cfg, steps=steps, recipe=recipe, halo_level=level, seed=seed))
    base = next((r for r in results if r.recipe == "bf16" and r.halo_level == 0), None)
    rows = []
    for r in results:
        row = {"run": r.name, "recipe": r.recipe, "halo_level": r.halo_level, "steps": r.steps,
               "tokens_per_step": r.tokens_per_step, "initial_train_loss": r.train_losses[0],
               "final_train_loss": r.final_train_loss, "final_val_loss": r.final_val_loss}
        if base is not None:
            row["val_loss_minus_bf16"] = r.final_val_loss - base.final_val_loss
        row["wall_s"] = r.wall_s
        rows.append(row)
    return pd.DataFrame(rows), results


def _smooth(values: list[float], window: int) -> list[float]:
    out, acc = [], 0.0
    for i, v in enumerate(values):
        acc += v
        if i >= window:
            acc -= values[i - window]
        out.append(acc / min(i + 1, window))
    return out


def loss_figure(results):
    """Training loss (moving average over 10 steps) and validation loss per run, one axis each."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4), layout="constrained")
    ax_t, ax_v = fig.subplots(1, 2)
    for r in results:
        steps = range(1, len(r.train_losses) + 1)
        ax_t.plot(steps, _smooth(r.train_losses, 10), label=r.name, linewidth=1.2)
        ax_v.plot(r.val_steps, r.val_losses, marker="o", markersize=3, label=r.name, linewidth=1.2)
    ax_t.set(title="training loss (10-step moving average)", xlabel="step", ylabel="cross-entropy (nats/byte)")
    ax_v.set(title="validation loss (held-out stdlib files)", xlabel="step", ylabel="cross-entropy (nats/byte)")
    for ax in (ax_t, ax_v):
        ax.grid(True, alpha=0.3)
    ax_v.legend(fontsize=8)
    return fig


ORDER = 50  # its place in the report: reports/sections/ runs its modules by ORDER


def report_sections(progress=print, steps: int = REPORT_STEPS, quick: bool = False) -> list:
    """The report's FP8 training section (reports/sections/)."""
    from reports.build import ReportSection

    steps = 5 if quick else steps
    progress(f"report: FP8 / HALO training of a tiny LM on Python stdlib source, {len(RECIPE_RUNS)} runs")
    table, results = training_table(steps, progress=progress)
    cfg = LMConfig()
    note = (f"A byte-level decoder-only transformer (d_model {cfg.d_model}, {cfg.n_layers} layers, {cfg.n_heads} "
            f"heads, context {cfg.seq_len}, batch {cfg.batch_size}) trained for {steps} AdamW steps on the Python "
            "standard library's own .py files (every fifth file held out for validation), on the CPU. Every linear "
            "layer of the transformer blocks is a kernels.halo.HaloLinear: bf16, FP8 e4m3 forward with e5m2 output "
            "gradients and one scale per tensor (tensorwise) or per row (rowwise), and HALO level 1 (Hadamard "
            f"rotation of inputs and weights along the in-features, block {cfg.hadamard_block}) and level 2 (also "
            "the output gradient along tokens). Same seed and batches for every run. final_train_loss: mean of the "
            "last 10% of steps; final_val_loss: at the last step; val_loss_minus_bf16: the FP8 cost in nats/byte.")
    return [ReportSection("FP8 training: tiny LM loss per recipe", "training_losses.csv", table, note,
                          figure=loss_figure(results),
                          figure_caption="Training and validation loss of each recipe (same data, seed and batches).")]
