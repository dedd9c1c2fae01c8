"""What the Verilog in rtl_models/verilog declares: modules, their parameters and ports.

Parsed with pyverilog, so the benches, the runner and the synthesis scripts can check the port
names they drive and size buses from parameters without a simulator:

    from rtl_models.inventory import inventory
    mods = inventory()                        # {name: VerilogModule}
    arr = mods["os_systolic_array"]
    arr.parameters                            # {"R": "4", "C": "4", ..., "DEPTH": "16"}
    arr.port("ld_a")                          # Port("ld_a", "input", msb="R*A_W-1", lsb="0")
    arr.port_widths({"R": 8, "DEPTH": 64})    # {"clk": 1, ..., "ld_a": 64, ...}

pyverilog writes parser tables and ``preprocess.output`` into the current folder and shells out
to ``iverilog -E``; every parse here runs inside a temporary folder, so nothing lands in the tree.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

VERILOG_DIR = Path(__file__).resolve().parent / "verilog"


class VerilogInventoryError(ValueError):
    """A Verilog file does not parse, or a parameter or port width cannot be evaluated."""


@dataclass(frozen=True)
class Port:
    """One port: direction and width as the source writes it, ``[msb:lsb]`` (None: 1 bit)."""

    name: str
    direction: str  # "input", "output" or "inout"
    msb: str | None = None
    lsb: str | None = None

    @property
    def width_expr(self) -> str:
        """The width as an expression of the parameters, e.g. ``R*A_W`` for ``[R*A_W-1:0]``."""
        if self.msb is None:
            return "1"
        if self.lsb == "0":
            # outside parentheses, an operator binding weaker than + would swallow the +1
            depth, weaker_than_plus = 0, False
            for ch in self.msb:
                depth += (ch == "(") - (ch == ")")
                weaker_than_plus |= depth == 0 and ch in "<>=!&|^?"
            if weaker_than_plus:
                return f"({self.msb})+1"
            return self.msb[:-2] if self.msb.endswith("-1") else f"{self.msb}+1"
        return f"({self.msb})-({self.lsb})+1"


@dataclass(frozen=True)
class VerilogModule:
    name: str
    file: Path
    parameters: dict[str, str]  # overridable parameters: name -> default expression, in order
    ports: tuple[Port, ...]
    _exprs: dict = field(default_factory=dict, repr=False, compare=False)  # pyverilog AST nodes

    def port(self, name: str) -> Port:
        for p in self.ports:
            if p.name == name:
                return p
        raise ValueError(f"module {self.name} has no port {name!r}; its ports: "
                         f"{', '.join(p.name for p in self.ports)}")

    def resolve_parameters(self, overrides: dict[str, int] | None = None) -> dict[str, int]:
        """Integer values of every parameter: the defaults, with ``overrides`` applied."""
        overrides = dict(overrides or {})
        for name, value in overrides.items():
            if name not in self.parameters:
                raise ValueError(f"module {self.name} has no parameter {name!r}; its parameters: "
                                 f"{', '.join(self.parameters) or '(none)'}")
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"parameter {name} of {self.name} must be an int, got {value!r}")
        values: dict[str, int] = {}
        for name in self.parameters:  # a default may use the parameters declared before it
            if name in overrides:
                values[name] = overrides[name]
            else:
                values[name] = _evaluate(self._exprs[("param", name)], values,
                                         f"default of parameter {name} of module {self.name}")
        return values

    def port_widths(self, overrides: dict[str, int] | None = None) -> dict[str, int]:
        """Each port's width in bits under the given parameter values."""
        values = self.resolve_parameters(overrides)
        widths = {}
        for p in self.ports:
            if p.msb is None:
                widths[p.name] = 1
                continue
            where = f"width of port {p.name} of module {self.name}"
            msb = _evaluate(self._exprs[("msb", p.name)], values, where)
            lsb = _evaluate(self._exprs[("lsb", p.name)], values, where)
            width = abs(msb - lsb) + 1
            if msb < lsb:
                raise VerilogInventoryError(
                    f"{where} is [{msb}:{lsb}] (an empty or reversed range) with parameters {values}")
            widths[p.name] = width
        return widths


def inventory(paths=None) -> dict[str, VerilogModule]:
    """Every module in ``paths`` (default: all of rtl_models/verilog/*.v), keyed by name."""
    files = sorted(VERILOG_DIR.glob("*.v")) if paths is None else [Path(p) for p in paths]
    if not files:
        raise ValueError(f"no Verilog files to read (paths={paths!r})")
    for f in files:
        if not f.is_file():
            raise FileNotFoundError(f"Verilog file not found: {f}")
    files = [f.resolve() for f in files]
    from pyverilog.vparser.parser import VerilogParser

    modules: dict[str, VerilogModule] = {}
    with _scratch_dir() as tmp:
        # building the parser (its LALR tables) is the slow part, so one parser reads every file;
        # one file per parse, so an error names its file and its line numbers are the file's
        parser = VerilogParser(outputdir=str(tmp), debug=False)
        for f in files:
            for mod in _parse_file(parser, f):
                if mod.name in modules:
                    raise VerilogInventoryError(
                        f"module {mod.name} is defined twice: {modules[mod.name].file} and {f}")
                modules[mod.name] = mod
    return modules


# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _scratch_dir():
    old = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="pyverilog-") as tmp:
        os.chdir(tmp)
        try:
            yield Path(tmp)
        finally:
            os.chdir(old)


def _parse_file(parser, path: Path) -> list[VerilogModule]:
    from pyverilog.vparser import ast as vast
    from pyverilog.vparser.parser import ParseError
    from pyverilog.vparser.preprocessor import preprocess

    text = preprocess([str(path)])  # iverilog -E, via preprocess.output in the current folder
    parser.lexer.lexer.lineno = 1  # the PLY lexer keeps counting lines across inputs
    try:
        tree = parser.parse(text)
    except ParseError as e:
        raise VerilogInventoryError(f"{path.name} does not parse:{e}") from None
    modules = []
    for d in tree.description.definitions:
        if not isinstance(d, vast.ModuleDef):
            continue
        exprs: dict = {}
        params: dict[str, str] = {}
        decls = list(d.paramlist.params if d.paramlist else ()) + [
            item for item in d.items if isinstance(item, vast.Decl)]
        body_ports: dict[str, object] = {}
        for decl in decls:
            for x in decl.list:
                if isinstance(x, vast.Parameter) and not isinstance(x, vast.Localparam):
                    if x.value is None:
                        raise VerilogInventoryError(
                            f"{path.name}: parameter {x.name} of module {d.name} has no default")
                    params[x.name] = _expr_str(x.value.var)
                    exprs[("param", x.name)] = x.value.var
                elif isinstance(x, (vast.Input, vast.Output, vast.Inout)):
                    body_ports[x.name] = x  # non-ANSI port declarations in the body
        ports = []
        for p in d.portlist.ports:
            if isinstance(p, vast.Ioport):
                var = p.first
            else:  # a non-ANSI port: its direction and width are declared in the body
                var = body_ports.get(p.name)
                if var is None:
                    raise VerilogInventoryError(
                        f"{path.name}: port {p.name} of module {d.name} has no direction declared")
            direction = {vast.Input: "input", vast.Output: "output", vast.Inout: "inout"}[type(var)]
            msb = lsb = None
            if var.width is not None:
                msb, lsb = _expr_str(var.width.msb), _expr_str(var.width.lsb)
                exprs[("msb", var.name)], exprs[("lsb", var.name)] = var.width.msb, var.width.lsb
            ports.append(Port(var.name, direction, msb, lsb))
        modules.append(VerilogModule(d.name, path, params, tuple(ports), exprs))
    return modules


# binding strength of pyverilog's binary operators, for printing without spare parentheses
_BINARY = {
    "Power": ("**", 7), "Times": ("*", 6), "Divide": ("/", 6), "Mod": ("%", 6),
    "Plus": ("+", 5), "Minus": ("-", 5), "Sll": ("<<", 4), "Srl": (">>", 4),
    "Sla": ("<<<", 4), "Sra": (">>>", 4), "LessThan": ("<", 3), "GreaterThan": (">", 3),
    "LessEq": ("<=", 3), "GreaterEq": (">=", 3), "Eq": ("==", 2), "NotEq": ("!=", 2),
    "And": ("&", 1.6), "Xor": ("^", 1.5), "Or": ("|", 1.4), "Land": ("&&", 1.2), "Lor": ("||", 1.1),
}
_UNARY = {"Uminus": "-", "Uplus": "+", "Ulnot": "!", "Unot": "~"}


def _expr_str(node, parent_prec: float = 0, right: bool = False) -> str:
    kind = type(node).__name__
    if kind == "Rvalue":
        return _expr_str(node.var, parent_prec, right)
    if kind in ("IntConst", "FloatConst"):
        return node.value
    if kind == "StringConst":
        return f'"{node.value}"'
    if kind == "Identifier":
        return node.name
    if kind in _UNARY:
        return _UNARY[kind] + _expr_str(node.right, 8)
    if kind in _BINARY:
        op, prec = _BINARY[kind]
        text = f"{_expr_str(node.left, prec)}{op}{_expr_str(node.right, prec, right=True)}"
        return f"({text})" if prec < parent_prec or (right and prec == parent_prec) else text
    if kind == "Cond":
        text = f"{_expr_str(node.cond, 1)} ? {_expr_str(node.true_value)} : {_expr_str(node.false_value)}"
        return f"({text})" if parent_prec > 0 else text
    if kind == "SystemCall":
        return f"${node.syscall}({', '.join(_expr_str(a) for a in node.args)})"
    return str(node)  # anything else: pyverilog's own rendering


def _int_const(text: str) -> int:
    s = text.replace("_", "").lower()
    if "'" not in s:
        return int(s)
    base = s.split("'", 1)[1].lstrip("s")
    radix = {"d": 10, "h": 16, "b": 2, "o": 8}[base[0]]
    return int(base[1:], radix)


def _evaluate(node, values: dict[str, int], where: str) -> int:
    """Integer value of a constant expression over ``values`` (Verilog integer semantics)."""
    kind = type(node).__name__
    if kind == "Rvalue":
        return _evaluate(node.var, values, where)
    if kind == "IntConst":
        try:
            return _int_const(node.value)
        except (KeyError, ValueError, IndexError):
            raise VerilogInventoryError(f"{where}: cannot read the number {node.value!r}") from None
    if kind == "Identifier":
        if node.name not in values:
            raise VerilogInventoryError(
                f"{where}: {node.name!r} is not a parameter declared before it "
                f"(known: {', '.join(values) or 'none'})")
        return values[node.name]
    if kind == "SystemCall" and node.syscall == "clog2" and len(node.args) == 1:
        v = _evaluate(node.args[0], values, where)
        return max(0, (v - 1).bit_length())
    if kind == "Cond":
        return _evaluate(node.true_value if _evaluate(node.cond, values, where) else node.false_value,
                         values, where)
    if kind in ("Uminus", "Uplus", "Ulnot"):
        v = _evaluate(node.right, values, where)
        return {"Uminus": -v, "Uplus": v, "Ulnot": int(not v)}[kind]
    if kind in _BINARY:
        x, y = _evaluate(node.left, values, where), _evaluate(node.right, values, where)
        if kind in ("Divide", "Mod") and y == 0:
            raise VerilogInventoryError(f"{where}: division by zero in {_expr_str(node)}")
        ops = {
            "Power": lambda: x**y, "Times": lambda: x * y,
            "Divide": lambda: abs(x) // abs(y) * (1 if (x >= 0) == (y >= 0) else -1),
            "Mod": lambda: abs(x) % abs(y) * (1 if x >= 0 else -1),
            "Plus": lambda: x + y, "Minus": lambda: x - y, "Sll": lambda: x << y, "Srl": lambda: x >> y,
            "Sla": lambda: x << y, "Sra": lambda: x >> y, "LessThan": lambda: int(x < y),
            "GreaterThan": lambda: int(x > y), "LessEq": lambda: int(x <= y),
            "GreaterEq": lambda: int(x >= y), "Eq": lambda: int(x == y), "NotEq": lambda: int(x != y),
            "And": lambda: x & y, "Xor": lambda: x ^ y, "Or": lambda: x | y,
            "Land": lambda: int(bool(x) and bool(y)), "Lor": lambda: int(bool(x) or bool(y)),
        }
        return ops[kind]()
    raise VerilogInventoryError(f"{where}: cannot evaluate {_expr_str(node)!r} to a constant")
