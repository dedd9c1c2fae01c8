"""Cost model: event counts from a cycle model x energy per event, plus synthesised area and clock.

An engine's events (sim/ cycle models count them: MACs, register writes, buffer bytes...) are
costed with one readable table of EventEnergy rows, one row per event name, each giving the
energy per event in pJ, the component it is booked to, and how that energy was derived from the
technology tables (reports/tables/). An event with no row is an error, not a free event.

What the energy covers: dynamic energy of the MAC arithmetic, the PE registers and the on-chip
buffer accesses. Not covered: leakage, the clock tree beyond the flip-flops' own clock pins,
wires between PEs, control, DRAM. Latency = cycles / clock; throughput counts 2 ops per MAC.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from reports import tech

COMPONENTS = ("mac_arithmetic", "pe_registers", "buffers", "dram")  # by level, inside out
# the components the engines' own events price; "buffers" and "dram" also take the memory
# system's fills, drains and DRAM traffic (reports/memory.py) through gemm_cost's extra_energy
EVENT_COMPONENTS = ("mac_arithmetic", "pe_registers", "buffers")
NOT_CHARGED = "not_charged"


@dataclass(frozen=True)
class EventEnergy:
    event: str
    component: str  # one of COMPONENTS, or NOT_CHARGED for an event whose cost another row carries
    energy_pj: float  # per event
    derivation: str  # how energy_pj follows from the table entries named in `source`
    source: str


def int_gemm_event_energy(a_bits: int = 8, b_bits: int = 8, acc_bits: int = 32,
                          sram_key: str = "sram_32kb_read_64bit") -> tuple[EventEnergy, ...]:
    """Event -> energy table of an integer a_bits x b_bits -> acc_bits GEMM array (systolic OS/WS).

    The multiplier is costed at the wider operand's Horowitz multiply, the accumulate as an
    acc_bits add; buffers as 64-bit reads of a `sram_key` array, per byte, writes costed as
    reads (Horowitz gives reads only).
    """
    wide = max(a_bits, b_bits)
    if not (2 <= min(a_bits, b_bits) and wide <= 32):
        raise ValueError(f"operand widths must be 2..32 bits, got a_bits={a_bits}, b_bits={b_bits}")
    mult_width = 8 if wide <= 8 else 32
    mult = tech.energy_entry(f"int{mult_width}_mult")
    add = tech.energy_entry(f"int{acc_bits}_add")
    reg = tech.energy_entry("register_write_per_bit")
    sram = tech.energy_entry(sram_key)
    if sram.bits is None or sram.bits % 8:
        raise ValueError(f"{sram_key}: need a whole number of bytes per access, table says {sram.bits} bits")
    sram_byte_pj = sram.energy_pj / (sram.bits // 8)
    operand_bits = (a_bits + b_bits) / 2
    # Horowitz gives 8- and 32-bit multipliers only; an array multiplier's energy scales with its
    # partial-product bits, so a narrower one is charged that fraction (ASSUMPTION, first order)
    mult_fraction = (a_bits * b_bits) / (mult_width * mult_width)
    mult_pj = mult.energy_pj * mult_fraction
    mult_text = (f"{mult.key} {mult.energy_pj} pJ" if mult_fraction == 1 else
                 f"{mult.key} {mult.energy_pj} pJ x {a_bits}*{b_bits}/{mult_width}^2 partial-product bits "
                 f"(ASSUMPTION: energy proportional to a*b)")
    # a weight narrower than a byte sits packed in the SRAM (64 // b_bits per 64-bit read), though
    # the model counts one buffer "byte" per weight entry: each is charged its b_bits / 8 share
    b_share = b_bits / (8 * ((b_bits + 7) // 8))
    b_text = (f"{sram.key} {sram.energy_pj} pJ / {sram.bits // 8} bytes" if b_share == 1 else
              f"{sram.key} {sram.energy_pj} pJ / {sram.bits // 8} bytes x {b_bits}/8: {b_bits}-bit weights "
              f"packed in the SRAM, one counted entry per weight")
    return (
        EventEnergy("mac_slots", "mac_arithmetic", mult_pj + add.energy_pj,
                    f"{mult_text} + {add.key} {add.energy_pj} pJ per PE-cycle spent multiplying "
                    f"(zero-padded slots of partial tiles included: the hardware runs them)",
                    f"{mult.source}"),
        EventEnergy("macs", NOT_CHARGED, 0.0,
                    "useful MACs; their energy is charged on mac_slots, which include them", "-"),
        EventEnergy("pe_operand_reg_writes", "pe_registers", operand_bits * reg.energy_pj,
                    f"{operand_bits:g} bits (mean operand width) x {reg.key} {reg.energy_pj} pJ",
                    reg.source),
        EventEnergy("pe_acc_reg_writes", "pe_registers", acc_bits * reg.energy_pj,
                    f"{acc_bits} bits x {reg.key} {reg.energy_pj} pJ", reg.source),
        EventEnergy("pe_drain_reg_writes", "pe_registers", acc_bits * reg.energy_pj,
                    f"{acc_bits} bits (a result shifting out of the array) x {reg.key} {reg.energy_pj} pJ",
                    reg.source),
        EventEnergy("pe_weight_reg_writes", "pe_registers", b_bits * reg.energy_pj,
                    f"{b_bits} bits (a stationary weight shifting in) x {reg.key} {reg.energy_pj} pJ",
                    reg.source),
        EventEnergy("a_buffer_reads_bytes", "buffers", sram_byte_pj,
                    f"{sram.key} {sram.energy_pj} pJ / {sram.bits // 8} bytes", sram.source),
        EventEnergy("b_buffer_reads_bytes", "buffers", sram_byte_pj * b_share, b_text, sram.source),
        EventEnergy("out_buffer_writes_bytes", "buffers", sram_byte_pj,
                    f"{sram.key} {sram.energy_pj} pJ / {sram.bits // 8} bytes; write costed as a read (ASSUMPTION)",
                    sram.source),
        EventEnergy("out_buffer_reads_bytes", "buffers", sram_byte_pj,
                    f"{sram.key} {sram.energy_pj} pJ / {sram.bits // 8} bytes", sram.source),
        EventEnergy("psum_writes", NOT_CHARGED, 0.0,
                    "partial sums written to the output buffer: their bytes are in out_buffer_writes_bytes", "-"),
    )


def fp16_gemm_event_energy(sram_key: str = "sram_32kb_read_64bit") -> tuple[EventEnergy, ...]:
    """Event -> energy table of an FP16 x FP16 -> FP32 MAC array priced on the INT8 array's events
    (same dataflow, same counts): Horowitz fp16 multiply + fp32 add per MAC slot, 16-bit operand
    registers, and every counted operand buffer entry (one byte in the INT8 array) two bytes."""
    mult, add = tech.energy_entry("fp16_mult"), tech.energy_entry("fp32_add")
    reg = tech.energy_entry("register_write_per_bit")
    out = []
    for row in int_gemm_event_energy(8, 8, 32, sram_key):
        if row.event == "mac_slots":
            row = EventEnergy(row.event, row.component, mult.energy_pj + add.energy_pj,
                              f"{mult.key} {mult.energy_pj} + {add.key} {add.energy_pj} pJ per PE-cycle",
                              mult.source)
        elif row.event in ("pe_operand_reg_writes", "pe_weight_reg_writes"):
            row = EventEnergy(row.event, row.component, 16 * reg.energy_pj,
                              f"16 bits x {reg.key} {reg.energy_pj} pJ", reg.source)
        elif row.event in ("a_buffer_reads_bytes", "b_buffer_reads_bytes"):
            row = EventEnergy(row.event, row.component, 2 * row.energy_pj,
                              f"2 bytes per fp16 entry (counted as one entry): 2 x ({row.derivation})", row.source)
        out.append(row)
    return tuple(out)


def _sram_byte(sram_key: str) -> tuple[float, str, str]:
    sram = tech.energy_entry(sram_key)
    return sram.energy_pj / (sram.bits // 8), f"{sram.key} {sram.energy_pj} pJ / {sram.bits // 8} bytes", sram.source


def tree_event_energy(sram_key: str = "sram_32kb_read_64bit") -> tuple[EventEnergy, ...]:
    """Event -> energy table of the baseline multiplier-adder tree and 3D-cube (sim/adder_tree.py,
    pe="mult"): each tree input is one 8x8 multiply and one add of the tree, charged as Horowitz's
    int32 add (the tree's adds are 16-24 bits wide: an upper bound). The engine's input and result
    pipeline registers are not counted events."""
    mult, add, reg = tech.energy_entry("int8_mult"), tech.energy_entry("int32_add"), tech.energy_entry(
        "register_write_per_bit")
    byte_pj, byte_txt, src = _sram_byte(sram_key)
    return (
        EventEnergy("tree_slots", "mac_arithmetic", mult.energy_pj + add.energy_pj,
                    f"{mult.key} {mult.energy_pj} + {add.key} {add.energy_pj} pJ per tree input (padding included; "
                    "the tree's adds are narrower than 32 bits: an upper bound)", mult.source),
        EventEnergy("macs", NOT_CHARGED, 0.0, "useful MACs; charged on tree_slots", "-"),
        EventEnergy("b_reg_writes", "pe_registers", 8 * reg.energy_pj, f"8 bits x {reg.key} {reg.energy_pj} pJ",
                    reg.source),
        EventEnergy("a_reads_bytes", "buffers", byte_pj, byte_txt, src),
        EventEnergy("psum_reads_bytes", "buffers", byte_pj, byte_txt, src),
        EventEnergy("out_writes_bytes", "buffers", byte_pj, f"{byte_txt}; write costed as a read (ASSUMPTION)", src),
    )


def bcast_event_energy(sram_key: str = "sram_32kb_read_64bit") -> tuple[EventEnergy, ...]:
    """Event -> energy table of the 2D-matrix grid with the MAC PE (sim/broadcast.py, pe="mac")."""
    mult, add, reg = tech.energy_entry("int8_mult"), tech.energy_entry("int32_add"), tech.energy_entry(
        "register_write_per_bit")
    byte_pj, byte_txt, src = _sram_byte(sram_key)
    return (
        EventEnergy("mac_slots", "mac_arithmetic", mult.energy_pj + add.energy_pj,
                    f"{mult.key} {mult.energy_pj} + {add.key} {add.energy_pj} pJ per PE-cycle multiplying", mult.source),
        EventEnergy("macs", NOT_CHARGED, 0.0, "useful MACs; charged on mac_slots", "-"),
        EventEnergy("edge_operand_reg_writes", "pe_registers", 8 * reg.energy_pj,
                    f"8 bits x {reg.key} {reg.energy_pj} pJ (the broadcast registers at the grid's edge)", reg.source),
        EventEnergy("pe_acc_reg_writes", "pe_registers", 32 * reg.energy_pj, f"32 bits x {reg.key} {reg.energy_pj} pJ",
                    reg.source),
        EventEnergy("a_buffer_reads_bytes", "buffers", byte_pj, byte_txt, src),
        EventEnergy("b_buffer_reads_bytes", "buffers", byte_pj, byte_txt, src),
        EventEnergy("out_buffer_writes_bytes", "buffers", byte_pj, f"{byte_txt}; write costed as a read (ASSUMPTION)",
                    src),
    )


def lut_event_energy(table_bits: int = 12, acc_bits: int = 32, exp_bits: int = 4,
                     sram_key: str = "sram_32kb_read_64bit") -> tuple[EventEnergy, ...]:
    """Event -> energy table of the LUT PE (sim/lut_pe.py's events): ShiftAddLLM's LUT read and
    shift energies, Horowitz adds and SRAM, DFF register writes."""
    lut = tech.energy_entry("lut_read")
    shift = tech.energy_entry("shift")
    add = tech.energy_entry(f"int{acc_bits}_add")
    reg = tech.energy_entry("register_write_per_bit")
    sram = tech.energy_entry(sram_key)
    sram_byte_pj = sram.energy_pj / (sram.bits // 8)
    sram_text = f"{sram.key} {sram.energy_pj} pJ / {sram.bits // 8} bytes"
    return (
        EventEnergy("table_reads", "mac_arithmetic", lut.energy_pj, f"{lut.key} {lut.energy_pj} pJ per look-up",
                    lut.source),
        EventEnergy("table_writes", "mac_arithmetic", lut.energy_pj,
                    f"{lut.key} {lut.energy_pj} pJ: a write to the 256-entry table costed as a read (ASSUMPTION)",
                    lut.source),
        EventEnergy("shifts", "mac_arithmetic", shift.energy_pj,
                    f"{shift.key} {shift.energy_pj} pJ: the power-of-two scale applied per look-up", shift.source),
        EventEnergy("adds", "mac_arithmetic", add.energy_pj,
                    f"{add.key} {add.energy_pj} pJ for every add; the table-build adds are {table_bits}-bit, so "
                    "this is an upper bound for them", add.source),
        EventEnergy("act_reads", "buffers", sram_byte_pj, f"one int8 activation: {sram_text}", sram.source),
        EventEnergy("weight_byte_reads", "buffers", sram_byte_pj, f"one byte of sign bits: {sram_text}",
                    sram.source),
        EventEnergy("exp_reads", "buffers", sram_byte_pj * exp_bits / 8,
                    f"one {exp_bits}-bit exponent, packed: {sram_text} x {exp_bits}/8", sram.source),
        EventEnergy("build_reg_writes", "pe_registers", table_bits * reg.energy_pj,
                    f"{table_bits} bits (running table sum) x {reg.key} {reg.energy_pj} pJ", reg.source),
        EventEnergy("acc_writes", "pe_registers", acc_bits * reg.energy_pj,
                    f"{acc_bits} bits x {reg.key} {reg.energy_pj} pJ", reg.source),
        EventEnergy("reg_writes", NOT_CHARGED, 0.0, "build_reg_writes + acc_writes, charged there", "-"),
        EventEnergy("table_builds", NOT_CHARGED, 0.0, "tables built: their cost is in table_writes and adds", "-"),
    )


def energy_by_component_pj(events: Mapping[str, int], table: Iterable[EventEnergy]) -> dict[str, float]:
    """Energy in pJ per component (COMPONENTS) for the event counts `events`."""
    rows = {row.event: row for row in table}
    unknown = sorted(set(events) - set(rows))
    if unknown:
        raise tech.MissingTechnologyEntry(
            f"events {unknown} have no row in the event -> energy table ({sorted(rows)}); "
            f"add one (or mark it {NOT_CHARGED!r} if another event carries its cost)"
        )
    out = {c: 0.0 for c in COMPONENTS}
    for name, count in events.items():
        if count < 0:
            raise ValueError(f"event {name!r} has a negative count {count}")
        row = rows[name]
        if row.component == NOT_CHARGED:
            continue
        if row.component not in out:
            raise ValueError(f"event {name!r} is booked to unknown component {row.component!r}")
        out[row.component] += float(count) * row.energy_pj
    return out


@dataclass(frozen=True)
class GemmCost:
    engine: str
    workload: str
    M: int
    N: int
    K: int
    macs: int
    cycles: int
    num_pes: int
    utilisation: float  # macs / (num_pes x cycles)
    clock_mhz: float
    latency_us: float
    area_um2: float
    energy_pj: float
    energy_by_component_pj: Mapping[str, float]
    energy_per_mac_pj: float
    throughput_gops: float
    peak_gops: float  # 2 x num_pes x clock
    gops_per_mm2: float
    gops_per_w: float

    def row(self) -> dict[str, object]:
        r = {k: getattr(self, k) for k in ("engine", "workload", "M", "N", "K", "macs", "cycles", "num_pes",
                                           "utilisation", "clock_mhz", "latency_us", "area_um2", "energy_pj",
                                           "energy_per_mac_pj", "throughput_gops", "peak_gops",
                                           "gops_per_mm2", "gops_per_w")}
        for c, v in self.energy_by_component_pj.items():
            r[f"energy_{c}_pj"] = v
        return r


def gemm_cost(*, engine: str, workload: str, M: int, N: int, K: int, cycles: int,
              events: Mapping[str, int], num_pes: int, clock_mhz: float, area_um2: float,
              event_energy: Iterable[EventEnergy], extra_energy: Mapping[str, float] | None = None) -> GemmCost:
    """Energy, latency, area efficiency and energy efficiency of one GEMM on one engine.

    ``extra_energy``: pJ per component added to the events' (the memory system's buffer fills and
    DRAM traffic); ``cycles`` then includes the stall cycles."""
    if cycles <= 0 or num_pes <= 0 or clock_mhz <= 0 or area_um2 <= 0:
        raise ValueError(f"need positive cycles, num_pes, clock_mhz, area_um2; got {cycles}, {num_pes}, "
                         f"{clock_mhz}, {area_um2}")
    macs = int(events.get("macs", M * N * K))
    if macs != M * N * K:
        raise ValueError(f"events['macs'] = {macs} but M*N*K = {M * N * K}")
    by_comp = energy_by_component_pj(events, event_energy)
    for comp, pj in (extra_energy or {}).items():
        if comp not in by_comp:
            raise ValueError(f"extra_energy component must be one of {', '.join(COMPONENTS)}, got {comp!r}")
        by_comp[comp] += pj
    energy = sum(by_comp.values())
    ops = 2 * macs
    latency_us = cycles / clock_mhz
    gops = ops / latency_us / 1e3  # ops per us / 1e3 = Gop/s
    return GemmCost(
        engine=engine, workload=workload, M=M, N=N, K=K, macs=macs, cycles=int(cycles), num_pes=num_pes,
        utilisation=macs / (num_pes * cycles),
        clock_mhz=clock_mhz,
        latency_us=latency_us,
        area_um2=area_um2,
        energy_pj=energy,
        energy_by_component_pj=by_comp,
        energy_per_mac_pj=energy / macs,
        throughput_gops=gops,
        peak_gops=2 * num_pes * clock_mhz / 1e3,
        gops_per_mm2=gops / (area_um2 / 1e6),
        gops_per_w=ops / (energy * 1e-12) / 1e9 if energy > 0 else float("inf"),
    )


# ---------------------------------------------------------------------------------------------
# The TPE techniques' datapaths, priced bit by bit (first order).
#
# Horowitz gives whole adders and multipliers, not their parts, and the techniques rearrange those
# parts: a carry-save tree is rows of full adders with no carry chain, a Booth select is a mux per
# partial-product bit. So these tables price two derived units and count how many of each a
# datapath uses per event:
#   full-adder bit   int32_add / 32: a 32-bit ripple-carry adder is 32 full adders (ASSUMPTION:
#                    an add's energy is that of its full adders). A W-bit carry-propagate add is W
#                    of them; a word-wide 3:2 compressor is W of them; an n-input carry-save tree
#                    of W-bit words is (n - 2) x W of them.
#   partial-product bit  (int8_mult - 56 full-adder bits) / 64: an 8x8 array multiplier is 64
#                    partial-product bits (AND gates) reduced by 56 full adders (ASSUMPTION). A
#                    Booth select of a (b_bits + 1)-bit multiple is charged that many of them.
# Both are assumptions stated in the derivations; the gate-level toggle estimate
# (reports/toggles.py) is the second, independent estimate the report puts beside them.
# ---------------------------------------------------------------------------------------------

def full_adder_bit() -> tuple[float, str, str]:
    add = tech.energy_entry("int32_add")
    return add.energy_pj / 32, f"{add.key} {add.energy_pj} pJ / 32 full adders", add.source


def pp_bit() -> tuple[float, str]:
    fa, _, _ = full_adder_bit()
    mult = tech.energy_entry("int8_mult")
    return (mult.energy_pj - 56 * fa) / 64, f"({mult.key} {mult.energy_pj} pJ - 56 full adders) / 64 partial-product bits"


def _fa_row(event: str, component: str, fa_bits: float, what: str, extra_pj: float = 0.0, extra_txt: str = "",
            pp_bits: float = 0.0) -> EventEnergy:
    fa, fa_txt, src = full_adder_bit()
    pp, pp_txt = pp_bit()
    parts = [f"{fa_bits:g} full-adder bits x ({fa_txt})"]
    if pp_bits:
        parts.append(f"{pp_bits:g} select bits x ({pp_txt})")
    if extra_txt:
        parts.append(extra_txt)
    return EventEnergy(event, component, fa_bits * fa + pp_bits * pp + extra_pj,
                       f"{what}: " + " + ".join(parts) + " (ASSUMPTION: first-order bit counts)", src)


def _replace(table: Iterable[EventEnergy], *rows: EventEnergy) -> tuple[EventEnergy, ...]:
    new = {r.event: r for r in rows}
    out = [new.pop(r.event, r) for r in table]
    return tuple(out) + tuple(new.values())


def csa_pe_event_energy(dataflow: str = "os", acc_bits: int = 32, b_bits: int = 8,
                        sram_key: str = "sram_32kb_read_64bit") -> tuple[EventEnergy, ...]:
    """The OPT1 carry-save PE (booth_csa_pe / ws_csa_pe) in the systolic arrays (``dataflow`` os or
    ws) and the 2D-matrix grid (``dataflow`` "bcast"): per MAC slot 4 Booth selects and a 7-input
    carry-save tree of acc_bits words; the accumulator is a (sum, carry) pair; one carry-propagate
    add per result at read-out (WS: after a 3:2 layer that folds in the buffer's old value)."""
    reg = tech.energy_entry("register_write_per_bit")
    add = tech.energy_entry(f"int{acc_bits}_add")
    slot = _fa_row("mac_slots", "mac_arithmetic", 5 * acc_bits,
                   "per PE-cycle: a 7-input carry-save tree (5 word-wide 3:2 levels of work)",
                   pp_bits=4 * (b_bits + 1))
    pair = EventEnergy("pe_acc_reg_writes", "pe_registers", 2 * acc_bits * reg.energy_pj,
                       f"{2 * acc_bits} bits (the (sum, carry) pair) x {reg.key} {reg.energy_pj} pJ", reg.source)
    if dataflow == "bcast":
        byte_pj, _, src = _sram_byte(sram_key)
        readout = EventEnergy("out_buffer_writes_bytes", "buffers", byte_pj + add.energy_pj / (acc_bits // 8),
                              f"one SRAM byte written (as in the MAC grid) + the read-out carry-propagate add "
                              f"{add.key} {add.energy_pj} pJ per {acc_bits // 8}-byte result", src)
        return _replace(bcast_event_energy(sram_key), slot, pair, readout)
    if dataflow not in ("os", "ws"):
        raise ValueError(f"dataflow must be 'os', 'ws' or 'bcast', got {dataflow!r}")
    drain = EventEnergy("pe_drain_reg_writes", "pe_registers", 2 * acc_bits * reg.energy_pj,
                        f"{2 * acc_bits} bits (a (sum, carry) pair shifting out) x {reg.key} {reg.energy_pj} pJ",
                        reg.source)
    fold_in = acc_bits if dataflow == "ws" else 0
    readout = _fa_row("psum_writes", "mac_arithmetic", fold_in,
                      "per result written: the read-out carry-propagate add"
                      + (" after a 3:2 layer folding in the buffer's old value" if fold_in else ""),
                      extra_pj=add.energy_pj, extra_txt=f"{add.key} {add.energy_pj} pJ")
    return _replace(int_gemm_event_energy(8, b_bits, acc_bits, sram_key), slot, pair, drain, readout)


def _add_tree_fa_bits(leaves: int, width: int) -> int:
    """Full-adder bits of add_tree (tree_gemm.v) over ``leaves`` real leaves: level l adds pairs at
    width + l bits; a node whose second half holds only padding (zero) leaves is a wire, which
    synthesis removes, so only nodes with real leaves on both sides count."""
    levels = max(leaves - 1, 0).bit_length()
    bits = 0
    for lvl in range(1, levels + 1):
        half = 1 << (lvl - 1)
        # node i covers leaves [2 i half, 2 (i + 1) half); it adds when its right half starts inside
        bits += sum(width + lvl for i in range((1 << levels) >> lvl) if (2 * i + 1) * half < leaves)
    return bits


def tree_pe_event_energy(pe: str = "mult", k: int = 16, sram_key: str = "sram_32kb_read_64bit"
                         ) -> tuple[EventEnergy, ...]:
    """The multiplier-adder tree / 3D-cube datapaths of sim/adder_tree.py, per tree slot (one
    a_k b_kn of one streamed row), with the unit's per-row adds shared by its K slots:

    * ``mult``: an 8x8 multiply (Horowitz) and the balanced tree's adders (16-bit leaves, one bit
      wider per level), plus the 32-bit partial-sum add / K;
    * ``sbw`` (OPT2): 4 digit selections of +-b / +-2b (10 bits each, charged on the non-zero
      digits), 4 narrow trees of K + 1 10-bit leaves, then 4 32-bit adds per unit (partial sum and
      the 3 shifted per-weight sums) / K; each streamed element's digit recoding as an 8-bit add;
    * ``csa`` (OPT1, sim/adder_tree.py's own events): each Booth partial product a 10-bit select;
      each of the unit's 4K word compressions an 11-bit 3:2 (the Booth words are 10 bits wide at
      offsets 2j); per unit and streamed row the registered (sum, carry) pair (64 bits), the one
      carry-propagate add, and the partial-sum and correction words compressed at 32 bits; each
      streamed element's Booth recoding as an 8-bit add.
    """
    if pe not in ("mult", "sbw", "csa"):
        raise ValueError(f"pe must be 'mult', 'sbw' or 'csa', got {pe!r}")
    base = tree_event_energy(sram_key)
    if pe == "mult":
        mult = tech.energy_entry("int8_mult")
        fa_bits = (_add_tree_fa_bits(k, 16) + 32) / k
        slot = _fa_row("tree_slots", "mac_arithmetic", fa_bits, "per tree input: the adder tree's bits / K and the "
                       "32-bit partial-sum add / K", extra_pj=mult.energy_pj,
                       extra_txt=f"{mult.key} {mult.energy_pj} pJ")
        return _replace(base, slot)
    if pe == "sbw":
        fa_bits = (4 * _add_tree_fa_bits(k + 1, 10) + 4 * 32) / k
        slot = _fa_row("tree_slots", "mac_arithmetic", fa_bits,
                       "per tree input: 4 narrow trees of K + 1 10-bit leaves / K and 4 32-bit adds per unit / K "
                       "(selections are on nonzero_digits)")
        pp, pp_txt = pp_bit()
        sel = EventEnergy("nonzero_digits", "mac_arithmetic", 10 * pp,
                          f"a +-b / +-2b selection of 10 bits: 10 x ({pp_txt}) (ASSUMPTION)", "derived")
        enc_add = tech.energy_entry("int8_add")
        enc = EventEnergy("encodes", "mac_arithmetic", enc_add.energy_pj,
                          f"radix-4 recoding of one int8 element, charged as {enc_add.key} {enc_add.energy_pj} pJ "
                          "(ASSUMPTION: an upper bound for 4 digit encoders)", enc_add.source)
        return _replace(base, slot, sel, enc)
    add, reg = tech.energy_entry("int32_add"), tech.energy_entry("register_write_per_bit")
    enc_add = tech.energy_entry("int8_add")
    return _replace(
        base,
        EventEnergy("tree_slots", NOT_CHARGED, 0.0, "charged on booth_pps, csa_compressions and cpa_adds", "-"),
        _fa_row("booth_pps", "mac_arithmetic", 0, "per Booth partial product: a 10-bit select", pp_bits=10),
        _fa_row("csa_compressions", "mac_arithmetic", 11, "per word compression: an 11-bit 3:2"),
        _fa_row("cpa_adds", "mac_arithmetic", 2 * 32, "per unit and streamed row: the partial-sum and correction "
                "words at 32 bits, the read-out add and the registered pair", extra_pj=add.energy_pj + 64 * reg.energy_pj,
                extra_txt=f"{add.key} {add.energy_pj} pJ + 64 register bits x {reg.key} {reg.energy_pj} pJ"),
        EventEnergy("encodes", "mac_arithmetic", enc_add.energy_pj,
                    f"radix-4 Booth recoding of one int8 element, charged as {enc_add.key} {enc_add.energy_pj} pJ "
                    "(ASSUMPTION: an upper bound for 4 digit encoders)", enc_add.source),
    )


def digit_skip_event_energy(sram_key: str = "sram_32kb_read_64bit", acc_bits: int = 32,
                            group4e: bool = False) -> tuple[EventEnergy, ...]:
    """The OPT3 zero-digit-skipping PE (sim/digit_skip.py's events) or, with ``group4e``, the OPT4E
    group (sim/digit_skip_4e.py: the same names plus lane_idle and compressions).

    OPT3: a selection is a 10-bit +-B / +-2B select, a 12-bit 3:2 and a 12-bit (sum, carry)
    register write. OPT4E: the 4 sub-PEs' selections (10-bit selects) enter one shared 6:2 tree
    per cycle, a compression: 4 x 14 full-adder bits and a 14-bit pair written. Both: a merge
    resolves the narrow pair, shifts it and compresses it into the wide pair; one wide
    carry-propagate add per result."""
    reg = tech.energy_entry("register_write_per_bit")
    add = tech.energy_entry(f"int{acc_bits}_add")
    enc_add = tech.energy_entry("int8_add")
    byte_pj, byte_txt, src = _sram_byte(sram_key)
    narrow_bits = 14 if group4e else 12
    if group4e:
        per_select = (
            _fa_row("selects", "mac_arithmetic", 0, "per non-zero digit: a 10-bit select", pp_bits=10),
            _fa_row("compressions", "mac_arithmetic", 4 * narrow_bits,
                    f"per group cycle: the shared 6:2 tree of {narrow_bits}-bit words (4 word-wide 3:2 levels of work)",
                    extra_pj=2 * narrow_bits * reg.energy_pj,
                    extra_txt=f"{2 * narrow_bits} register bits x {reg.key} {reg.energy_pj} pJ"),
            EventEnergy("lane_idle", NOT_CHARGED, 0.0,
                        "a sub-PE cycle with nothing selected while another works (clock energy not modelled)", "-"),
        )
    else:
        per_select = (
            _fa_row("selects", "mac_arithmetic", narrow_bits, f"per non-zero digit: a {narrow_bits}-bit 3:2",
                    pp_bits=10, extra_pj=2 * narrow_bits * reg.energy_pj,
                    extra_txt=f"{2 * narrow_bits} register bits x {reg.key} {reg.energy_pj} pJ"),
        )
    return per_select + (
        _fa_row("merges", "mac_arithmetic", narrow_bits + acc_bits,
                f"per slot: a {narrow_bits}-bit carry-propagate add and a {acc_bits}-bit 3:2",
                extra_pj=2 * acc_bits * reg.energy_pj,
                extra_txt=f"{2 * acc_bits} register bits x {reg.key} {reg.energy_pj} pJ"),
        EventEnergy("final_adds", "mac_arithmetic", add.energy_pj, f"{add.key} {add.energy_pj} pJ", add.source),
        EventEnergy("encodes", "mac_arithmetic", enc_add.energy_pj,
                    f"one int8 a's EN-T recoding, charged as {enc_add.key} {enc_add.energy_pj} pJ (ASSUMPTION). The "
                    "a operand's buffer read is not an event of this model and is not charged", enc_add.source),
        EventEnergy("b_reads", "buffers", byte_pj, byte_txt, src),
        EventEnergy("shifts", NOT_CHARGED, 0.0, "the 2j shift is a 4-way mux on the merge path, charged in merges", "-"),
        EventEnergy("idle_slots", NOT_CHARGED, 0.0, "a cycle with nothing selected (clock energy not modelled)", "-"),
        EventEnergy("zero_digits_skipped", NOT_CHARGED, 0.0, "skipped: no work", "-"),
        EventEnergy("macs", NOT_CHARGED, 0.0, "useful MACs; their energy is in the rows above", "-"),
    )
