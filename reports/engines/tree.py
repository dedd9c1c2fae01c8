"""Multiplier-adder tree (a K x N tile of B in registers, one row of A per clock) and 3D-cube
(ROWS = K = N: N rows of A per clock), INT8 x INT8 -> INT32: baseline multipliers and adder trees,
TPE OPT2 same-bit-weight compression ("sbw"), or TPE OPT1 carry-save trees ("csa", K in 4, 8, 16).

Model sim/adder_tree.py; RTL tree_gemm.v (PE_KIND 0/1/2, ROWS); kernel kernels/int8_gemm.py;
co-simulation rtl_models/tree_gemm_cosim.py."""

from __future__ import annotations

from reports.engine import GAUSSIAN, Engine, Priced, Sizing, gaussian_int8, load
from reports.engines._common import gemm_benchmark, gemm_model, int8_golden, int8_kernel, int8_reference

ORDER = 30
SRAM_EVENTS = ("a_reads_bytes", "b_reg_writes", "out_writes_bytes")
TAGS = {"mult": "", "sbw": ", OPT2 same-bit-weight trees", "csa": ", OPT1 carry-save trees"}


def _tree_config(pe: str, cube: bool):
    def make(k: int = 4 if cube else 16, n: int | None = None):
        n = (k if cube else 4) if n is None else n
        return load("sim.adder_tree:TreeConfig")(k, n, pe, rows=k if cube else 1)

    return make


def _energy(cfg, sram_key: str = "sram_32kb_read_64bit") -> tuple:
    from reports import cost

    return cost.tree_pe_event_energy(cfg.pe, cfg.k, sram_key)


def _toggles(pe: str, cube: bool):
    """The whole engine's netlist (tree_gemm at the table's size) on Gaussian INT8 rows of A
    streamed against one K x N tile of B."""

    def run(sizes, progress=None) -> dict[str, float]:
        from reports import toggles

        k, n = (sizes.cube, sizes.cube) if cube else sizes.tree
        a, b = gaussian_int8((16, k), (k, n))
        return {GAUSSIAN: toggles.tree_toggle_energy(pe, a, b, k, n, progress=progress, rows=k if cube else 1)}

    return run


def _cosim(cfg, operands, sim: str = "icarus", seed: int = 0, **kw) -> list:
    return load("rtl_models.tree_gemm_cosim:run_tree_cosim_batch")(list(operands), cfg, sim=sim, seed=seed, **kw)


def _priced(name: str, pe: str, cube: bool, make):
    def priced(s) -> list[Priced]:
        csa_ks = load("sim.adder_tree:CSA_KS")
        if cube:
            if pe == "csa" and s.cube not in csa_ks:
                return []
            return [Priced(f"{name}_{s.cube}", make(s.cube),
                           f"3D-cube, {s.cube}x{s.cube}x{s.cube} multipliers{TAGS[pe]}")]
        k, n = s.tree
        if pe == "csa" and k not in csa_ks:
            return []
        return [Priced(f"{name}_{k}x{n}", make(k, n), f"multiplier-adder tree, K={k} x N={n} tile, one row per clock"
                       f"{TAGS[pe]}")]

    return priced


def _engine(name: str, pe: str, cube: bool, technique: str, pe_alone: bool) -> Engine:
    shape = ("3D-cube (N x N x N multipliers: N rows of A per clock against an N x N tile of B, one "
             "dot-product unit per output)" if cube else
             "multiplier-adder tree engine (K x N tile of B in registers, one row of A per clock, partial sums "
             "from the output buffer)")
    make = _tree_config(pe, cube)
    return Engine(
        name=name,
        description=f"INT8 x INT8 -> INT32 {shape}, {technique}",
        family="tree",
        config=make,
        model="sim.adder_tree:simulate_gemm",
        estimate="sim.adder_tree:estimate_gemm",
        rtl_top="tree_gemm",
        rtl_params=lambda cfg: load("rtl_models.tree_gemm_cosim:rtl_params")(cfg),
        pe_top="add_tree",
        kernel="kernels.int8_gemm:int8_gemm",
        kernel_reference="kernels.int8_gemm:int8_gemm_reference",
        golden=int8_golden("sim.adder_tree:edge_workloads"),
        crosscheck_config=make,
        run_model=gemm_model("sim.adder_tree:simulate_gemm"),
        run_kernel=int8_kernel,
        run_reference=int8_reference,
        run_cosim=_cosim,
        mac_units=lambda c: c.k * c.n * c.rows,
        sizing=Sizing(config=(lambda arch: make(arch.array_height)) if cube else
                      (lambda arch: make(arch.array_height, arch.array_width)),
                      slots_event="tree_slots", sram_events=SRAM_EVENTS,
                      note="H x H x H cube" if cube else "K = H by N = W tile"),
        event_energy=_energy,
        priced=_priced(name, pe, cube, make),
        pe_in_cost_table=False,
        pe_alone=pe_alone,
        toggle_energy=_toggles(pe, cube),
        tables=dict.fromkeys(["tpe"]),
        benchmark=lambda: (make(8) if cube else make(16, 4), gemm_benchmark()),
    )


ENGINES = [
    _engine("mat", "mult", False, "K multipliers and a balanced adder tree per column", pe_alone=True),
    _engine("cube", "mult", True, "multipliers and an adder tree per unit", pe_alone=False),
    _engine("mat_sbw", "sbw", False, "TPE OPT2 same-bit-weight compression: the row Booth-encoded once and shared, "
            "one narrow tree per digit position and column, shifts and adds", pe_alone=False),
    _engine("cube_sbw", "sbw", True, "TPE OPT2 same-bit-weight compression per unit, digits shared along each row",
            pe_alone=False),
    _engine("mat_csa", "csa", False, "TPE OPT1: the 4K radix-4 Booth partial products, a correction word and the "
            "partial sum of each column in one carry-save tree, one add at read-out (K in 4, 8, 16)", pe_alone=True),
    _engine("cube_csa", "csa", True, "TPE OPT1 per unit: Booth partial products and the partial sum in one carry-save "
            "tree, the (sum, carry) pair registered, one add at read-out", pe_alone=True),
]
