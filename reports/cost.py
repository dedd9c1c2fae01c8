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

COMPONENTS = ("mac_arithmetic", "pe_registers", "buffers")
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
              event_energy: Iterable[EventEnergy]) -> GemmCost:
    """Energy, latency, area efficiency and energy efficiency of one GEMM on one engine."""
    if cycles <= 0 or num_pes <= 0 or clock_mhz <= 0 or area_um2 <= 0:
        raise ValueError(f"need positive cycles, num_pes, clock_mhz, area_um2; got {cycles}, {num_pes}, "
                         f"{clock_mhz}, {area_um2}")
    macs = int(events.get("macs", M * N * K))
    if macs != M * N * K:
        raise ValueError(f"events['macs'] = {macs} but M*N*K = {M * N * K}")
    by_comp = energy_by_component_pj(events, event_energy)
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
