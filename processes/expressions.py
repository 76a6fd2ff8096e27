"""Safe expressions for gateway conditions, script tasks and timers (design decisions 7 and 8).

Process owners write Python expressions in their diagrams, but they are not trusted with the
server. Every expression is parsed and checked against a whitelist of AST nodes before it runs:

* names from the task data (never starting with ``_``), literals, comparisons, boolean,
  unary and arithmetic operators, if-expressions, list/tuple/dict/set displays, subscripts,
  f-strings with plain format specs and reads of non-underscore attributes;
* calls of bare names only: the helpers registered in ``handlers.registry`` and a small set of
  builtins (``SAFE_BUILTINS``);
* script tasks (``mode="exec"``): only assignments, augmented assignments, ``del`` and ``if``.

A time limit by signal does not work outside the main thread, so growth is capped instead.
After checking, the AST is rewritten so that ``**``, ``*``, ``<<``, ``+``, ``%``, attribute
reads, f-string values, comparisons and assigned values go through internal guard functions
(named ``__ef_*``, which a user cannot write because user names cannot start with ``_``).

``SafeScriptEnvironment`` plugs this evaluator into SpiffWorkflow, so gateway conditions,
script tasks and timer expressions all run through it. Timer text written in Camunda Modeler
style (a bare ISO 8601 literal such as ``P5D``) is taken as a literal; JUEL (``${...}``) is
refused with a message showing the Python form.
"""

from __future__ import annotations

import ast
import copy
import re
import textwrap
import types
from collections.abc import Callable, Iterable
from datetime import datetime
from functools import lru_cache
from typing import Any

from SpiffWorkflow.bpmn.script_engine.python_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

__all__ = [
    "MAX_EXPONENT",
    "MAX_INT_BITS",
    "MAX_LENGTH",
    "MAX_SIZE",
    "SAFE_BUILTINS",
    "SafeScriptEnvironment",
    "UnsafeExpression",
    "check_expression",
    "evaluate",
    "execute",
    "iso_literal",
    "make_script_engine",
]

MAX_EXPONENT = 1000
"""Largest absolute exponent of ``**``."""
MAX_INT_BITS = 14_300
"""Largest integer an operator may produce, in bits (about 10**4300, Python's str() limit)."""
MAX_LENGTH = 1_000_000
"""Largest string/list/tuple that repetition (``*``) or concatenation (``+``) may produce."""
MAX_SIZE = 4_000_000
"""Largest total size (elements plus characters, nested) of a value that is rendered, sorted,
compared, summed or assigned by a script."""
MAX_FORMAT_WIDTH = 1000
"""Largest width or precision in ``%``-formatting and f-string format specs."""

_GUARD_PREFIX = "__ef_"


class UnsafeExpression(ValueError):
    """An expression or script that is refused, either when checked or while running.

    ``str(exc)`` is a Dutch message for the process owner; ``exc.expression`` is the source.
    """

    def __init__(self, message: str, expression: str = "", *, lineno: int | None = None,
                 col: int | None = None):
        super().__init__(message)
        self.message = message
        self.expression = expression
        self.lineno = lineno
        self.col = col


# --------------------------------------------------------------------------------------------
# Runtime guards
# --------------------------------------------------------------------------------------------


def _refuse(what: str) -> UnsafeExpression:
    return UnsafeExpression(f"Niet toegestaan in een expressie: {what}")


def _measure(obj: Any, budget: int) -> int | None:
    """Total size of ``obj`` following references (shared ones count each time they occur),
    in elements plus characters; None as soon as it exceeds ``budget``, so that its own cost
    is bounded by the budget (also for self-referencing lists)."""
    total = 0
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, str | bytes | bytearray):
            total += len(item) + 1
        elif isinstance(item, bool) or item is None or isinstance(item, float):
            total += 1
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 1
        elif isinstance(item, list | tuple | set | frozenset):
            total += len(item) + 1
            if total > budget:
                return None
            stack.extend(item)
        elif isinstance(item, dict):
            total += 2 * len(item) + 1
            if total > budget:
                return None
            stack.extend(item.keys())
            stack.extend(item.values())
        else:
            total += 1
        if total > budget:
            return None
    return total


def _dotted(number: int) -> str:
    return f"{number:_}".replace("_", ".")


def _size(obj: Any) -> int:
    size = _measure(obj, MAX_SIZE)
    if size is None:
        raise _refuse(f"gegevens te groot (meer dan {_dotted(MAX_SIZE)} elementen)")
    return size


_SCALARS = (int, float, str, bool, type(None))


def _guard_value(value: Any) -> Any:
    """Let a value through if it is not too large (used for comparisons, assigned values and
    f-string values)."""
    if type(value) in _SCALARS:
        return value
    _size(value)
    return value


def _guard_pow(base: Any, exponent: Any) -> Any:
    if isinstance(exponent, int | float) and abs(exponent) > MAX_EXPONENT:
        raise _refuse(f"machtsverheffing met exponent {exponent!r} (maximaal {MAX_EXPONENT})")
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0:
        if base.bit_length() * exponent > MAX_INT_BITS:
            raise _refuse("getal te groot (meer dan ongeveer 4300 cijfers)")
    return base**exponent


_SEQUENCES = (str, bytes, bytearray, list, tuple)


def _guard_mul(left: Any, right: Any) -> Any:
    if isinstance(left, int) and isinstance(right, int):
        if left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise _refuse("getal te groot (meer dan ongeveer 4300 cijfers)")
        return left * right
    if isinstance(left, _SEQUENCES) and isinstance(right, int):
        seq, count = left, right
    elif isinstance(right, _SEQUENCES) and isinstance(left, int):
        seq, count = right, left
    else:
        return left * right
    if count > 0:
        if len(seq) * count > MAX_LENGTH:
            raise _refuse(f"herhaling die meer dan {_dotted(MAX_LENGTH)} elementen oplevert")
        if isinstance(seq, list | tuple) and _measure(seq, MAX_SIZE // count) is None:
            raise _refuse(f"herhaling die gegevens van meer dan {_dotted(MAX_SIZE)} elementen oplevert")
    return left * right


def _guard_lshift(left: Any, right: Any) -> Any:
    if isinstance(left, int) and isinstance(right, int) and right > 0:
        if left.bit_length() + right > MAX_INT_BITS:
            raise _refuse("getal te groot (meer dan ongeveer 4300 cijfers)")
    return left << right


def _guard_add(left: Any, right: Any) -> Any:
    if isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES):
        if len(left) + len(right) > MAX_LENGTH:
            raise _refuse(f"samenvoeging die meer dan {_dotted(MAX_LENGTH)} elementen oplevert")
        if isinstance(left, list | tuple) and isinstance(right, list | tuple):
            _size([left, right])
    return left + right


# A %-format conversion specifier: flags, width, precision.
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")


def _guard_mod(left: Any, right: Any) -> Any:
    if isinstance(left, str | bytes):
        fmt = left if isinstance(left, str) else left.decode("latin-1")
        for width, precision in _PERCENT_SPEC.findall(fmt.replace("%%", "")):
            for number in (width, precision):
                if number == "*" or (number and int(number) > MAX_FORMAT_WIDTH):
                    raise _refuse(
                        f"opmaak met een breedte of precisie groter dan {MAX_FORMAT_WIDTH}"
                    )
        _size(right)
    return left % right


_FORBIDDEN_OBJECT_TYPES = (
    types.ModuleType,
    types.FrameType,
    types.CodeType,
    types.TracebackType,
    types.GeneratorType,
    types.CoroutineType,
    types.AsyncGeneratorType,
    type,
)


def _guard_attr(obj: Any, name: str) -> Any:
    """Read an attribute that holds data, never a method, class, module, frame or code."""
    if callable(obj) or isinstance(obj, _FORBIDDEN_OBJECT_TYPES):
        raise _refuse(f"attribuut '{name}' van een {type(obj).__name__}-object")
    value = getattr(obj, name)
    if callable(value) or isinstance(value, _FORBIDDEN_OBJECT_TYPES):
        raise _refuse(f"methode of object '{name}' (alleen gegevens mogen worden gelezen)")
    return value


def _safe_str(*args: Any, **kwargs: Any) -> str:
    if args:
        _guard_value(args[0])
    return str(*args, **kwargs)


def _safe_round(number: Any, ndigits: Any = None) -> Any:
    if isinstance(ndigits, int) and abs(ndigits) > MAX_FORMAT_WIDTH:
        raise _refuse(f"afronden op meer dan {MAX_FORMAT_WIDTH} cijfers")
    if ndigits is None:
        return round(number)
    return round(number, ndigits)


def _sized(function: Callable[..., Any]) -> Callable[..., Any]:
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _size(args)
        return function(*args, **kwargs)

    guarded.__name__ = function.__name__
    guarded.__doc__ = function.__doc__
    return guarded


SAFE_BUILTINS: dict[str, Callable[..., Any]] = {
    "len": len,
    "min": _sized(min),
    "max": _sized(max),
    "abs": abs,
    "round": _safe_round,
    "int": int,
    "float": float,
    "str": _safe_str,
    "bool": bool,
    "sum": _sized(sum),
    "any": any,
    "all": all,
    "sorted": _sized(sorted),
}
"""The builtins an expression may call, besides the registered helpers."""

_GUARDS: dict[str, Callable[..., Any]] = {
    _GUARD_PREFIX + "pow": _guard_pow,
    _GUARD_PREFIX + "mul": _guard_mul,
    _GUARD_PREFIX + "lshift": _guard_lshift,
    _GUARD_PREFIX + "add": _guard_add,
    _GUARD_PREFIX + "mod": _guard_mod,
    _GUARD_PREFIX + "attr": _guard_attr,
    _GUARD_PREFIX + "val": _guard_value,
}

# --------------------------------------------------------------------------------------------
# ISO 8601 literals and JUEL
# --------------------------------------------------------------------------------------------

_DATETIME = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:\d{2})"
_DURATION = (
    r"P(?:\d+W|(?=\d|T\d)(?:\d+Y)?(?:\d+M)?(?:\d+D)?"
    r"(?:T(?=\d)(?:\d+H)?(?:\d+M)?(?:\d+(?:\.\d+)?S)?)?)"
)
_DATETIME_RE = re.compile(_DATETIME)
_DURATION_RE = re.compile(_DURATION)
_REPEAT_RE = re.compile(
    rf"R\d*/(?:(?P<start>{_DATETIME})/{_DURATION}|{_DURATION}/(?P<end>{_DATETIME})|{_DURATION})"
)
_NAIVE_DATETIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?")


def _valid_datetime(text: str) -> bool:
    try:
        return datetime.fromisoformat(text).tzinfo is not None
    except ValueError:
        return False


def iso_literal(source: str | None) -> str | None:
    """The ISO 8601 literal that is the whole of ``source`` (stripped), else None.

    Recognised: a duration (``P5D``, ``PT10S``, ``P1Y2M``, ``P2W``), a date-time with a UTC
    offset (``2026-01-05T10:00:00+01:00``, ``...Z``) and a repeating interval (``R3/PT1H``,
    ``R/PT1H``, ``R2/<date-time>/P1D``, ``R2/P1D/<date-time>``). A date-time without an
    offset is not a literal: it would be read in the server's local time zone.
    """
    if not isinstance(source, str):
        return None
    text = source.strip()
    if _DURATION_RE.fullmatch(text):
        return text
    if _DATETIME_RE.fullmatch(text):
        return text if _valid_datetime(text) else None
    match = _REPEAT_RE.fullmatch(text)
    if match:
        moment = match.group("start") or match.group("end")
        if moment is None or _valid_datetime(moment):
            return text
    return None


_JUEL_BLOCK = re.compile(r"[$#]\{(.*?)\}", re.DOTALL)
_JUEL_WHOLE = re.compile(r"\s*[$#]\{(.*)\}\s*", re.DOTALL)
_JUEL_STRING = re.compile(r"""("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')""")
_JUEL_WORDS = [
    (re.compile(r"&&"), " and "),
    (re.compile(r"\|\|"), " or "),
    (re.compile(r"!(?!=)"), " not "),
    (re.compile(r"\beq\b"), "=="),
    (re.compile(r"\bne\b"), "!="),
    (re.compile(r"\blt\b"), "<"),
    (re.compile(r"\bgt\b"), ">"),
    (re.compile(r"\ble\b"), "<="),
    (re.compile(r"\bge\b"), ">="),
    (re.compile(r"\bdiv\b"), "/"),
    (re.compile(r"\bmod\b"), "%"),
    (re.compile(r"\bempty\s+"), "not "),
    (re.compile(r"\bnull\b"), "None"),
    (re.compile(r"\btrue\b"), "True"),
    (re.compile(r"\bfalse\b"), "False"),
]


def _juel_to_python(juel: str) -> str:
    parts = _JUEL_STRING.split(juel)
    for index in range(0, len(parts), 2):  # the odd parts are string literals
        for pattern, replacement in _JUEL_WORDS:
            parts[index] = pattern.sub(replacement, parts[index])
    return re.sub(r"\s+", " ", "".join(parts)).strip()


def _juel_message(source: str) -> str | None:
    """A Dutch message with the Python form if ``source`` is JUEL, else None."""
    whole = _JUEL_WHOLE.fullmatch(source)
    if whole and not _JUEL_BLOCK.search(whole.group(1)):
        python = _juel_to_python(whole.group(1))
    elif _JUEL_BLOCK.search(source):
        text = _JUEL_BLOCK.sub(lambda m: "{" + _juel_to_python(m.group(1)) + "}", source.strip())
        python = "f" + repr(text)
    else:
        return None
    return (
        "Niet toegestaan in een expressie: JUEL (${...}) wordt niet ondersteund; "
        f"schrijf de expressie in Python: {python}"
    )


# --------------------------------------------------------------------------------------------
# Checking
# --------------------------------------------------------------------------------------------

_DESCRIPTIONS = {
    "Lambda": "lambda-functie",
    "ListComp": "comprehensie ([... for ...])",
    "SetComp": "comprehensie ({... for ...})",
    "DictComp": "comprehensie ({...: ... for ...})",
    "GeneratorExp": "generator-expressie ((... for ...))",
    "NamedExpr": "toewijzing binnen een expressie (:=)",
    "Await": "await",
    "Yield": "yield",
    "YieldFrom": "yield from",
    "Import": "import",
    "ImportFrom": "import",
    "For": "lus (for)",
    "AsyncFor": "lus (for)",
    "While": "lus (while)",
    "FunctionDef": "functiedefinitie (def)",
    "AsyncFunctionDef": "functiedefinitie (def)",
    "ClassDef": "klassedefinitie (class)",
    "Return": "return",
    "Global": "global",
    "Nonlocal": "nonlocal",
    "With": "with",
    "AsyncWith": "with",
    "Try": "try",
    "TryStar": "try",
    "Raise": "raise",
    "Assert": "assert",
    "Match": "match",
    "Break": "break",
    "Continue": "continue",
    "AnnAssign": "toewijzing met type-annotatie",
    "Expr": "losse expressie (in een script zijn alleen toewijzingen en if toegestaan)",
    "MatMult": "operator '@'",
    "Starred": "uitpakken met *",
}

_BIN_OPS = (
    ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow,
    ast.LShift, ast.RShift, ast.BitOr, ast.BitXor, ast.BitAnd,
)
_UNARY_OPS = (ast.Not, ast.USub, ast.UAdd, ast.Invert)
_CMP_OPS = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn, ast.Is, ast.IsNot)
_FORMAT_SPEC_RE = re.compile(
    r"(?:.?[<>=^])?[+\- ]?z?#?0?(?P<width>\d{0,4})[,_]?(?:\.(?P<precision>\d{1,4}))?[bcdeEfFgGnosxX%]?"
)


class _Checker:
    """Walks a parsed expression or script and refuses anything not whitelisted."""

    def __init__(self, source: str, mode: str, allowed_calls: set[str]):
        self.source = source
        self.kind = "script" if mode == "exec" else "expressie"
        self.allowed_calls = allowed_calls
        self.reserved = allowed_calls | set(SAFE_BUILTINS)

    def refuse(self, node: ast.AST | None, what: str) -> UnsafeExpression:
        lineno = getattr(node, "lineno", None)
        col = getattr(node, "col_offset", None)
        where = f" (regel {lineno}, kolom {col + 1})" if lineno is not None and col is not None else ""
        return UnsafeExpression(
            f"Niet toegestaan in een {self.kind}: {what}{where}", self.source, lineno=lineno,
            col=None if col is None else col + 1,
        )

    def describe(self, node: ast.AST) -> str:
        name = type(node).__name__
        return _DESCRIPTIONS.get(name, f"'{name}'")

    # statements (mode="exec") ------------------------------------------------------------

    def statements(self, body: Iterable[ast.stmt]) -> None:
        for stmt in body:
            if isinstance(stmt, ast.Assign):
                for target in stmt.targets:
                    self.target(target)
                self.expr(stmt.value)
            elif isinstance(stmt, ast.AugAssign):
                self.target(stmt.target)
                self.operator(stmt, stmt.op)
                self.expr(stmt.value)
            elif isinstance(stmt, ast.If):
                self.expr(stmt.test)
                self.statements(stmt.body)
                self.statements(stmt.orelse)
            elif isinstance(stmt, ast.Delete):
                for target in stmt.targets:
                    self.target(target)
            elif isinstance(stmt, ast.Pass):
                pass
            else:
                raise self.refuse(stmt, self.describe(stmt))

    def target(self, node: ast.expr) -> None:
        if isinstance(node, ast.Name):
            self.name(node)
            if node.id in self.reserved:
                raise self.refuse(node, f"toewijzing aan '{node.id}' (naam van een functie)")
        elif isinstance(node, ast.Subscript):
            self.expr(node.value)
            self.expr(node.slice)
        elif isinstance(node, ast.Tuple | ast.List) and not isinstance(node.ctx, ast.Del):
            for element in node.elts:
                self.target(element)
        elif isinstance(node, ast.Attribute):
            raise self.refuse(node, f"toewijzing aan attribuut '{node.attr}'")
        else:
            raise self.refuse(node, f"toewijzing aan {self.describe(node)}")

    # expressions ---------------------------------------------------------------------------

    def name(self, node: ast.Name) -> None:
        if node.id.startswith("_"):
            raise self.refuse(node, f"naam '{node.id}' (namen mogen niet met _ beginnen)")

    def operator(self, node: ast.AST, op: ast.operator) -> None:
        if not isinstance(op, _BIN_OPS):
            raise self.refuse(node, self.describe(op))

    def expr(self, node: ast.AST | None) -> None:
        if node is None:
            return
        if isinstance(node, ast.Name):
            if not isinstance(node.ctx, ast.Load):
                raise self.refuse(node, f"toewijzing aan '{node.id}'")
            self.name(node)
        elif isinstance(node, ast.Constant):
            pass
        elif isinstance(node, ast.Compare):
            for op in node.ops:
                if not isinstance(op, _CMP_OPS):
                    raise self.refuse(node, self.describe(op))
            self.expr(node.left)
            for comparator in node.comparators:
                self.expr(comparator)
        elif isinstance(node, ast.BoolOp):
            for value in node.values:
                self.expr(value)
        elif isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, _UNARY_OPS):
                raise self.refuse(node, self.describe(node.op))
            self.expr(node.operand)
        elif isinstance(node, ast.BinOp):
            self.operator(node, node.op)
            self.expr(node.left)
            self.expr(node.right)
            self.constant_growth(node)
        elif isinstance(node, ast.IfExp):
            self.expr(node.test)
            self.expr(node.body)
            self.expr(node.orelse)
        elif isinstance(node, ast.List | ast.Tuple | ast.Set):
            if not isinstance(getattr(node, "ctx", ast.Load()), ast.Load):
                raise self.refuse(node, f"toewijzing aan {self.describe(node)}")
            for element in node.elts:
                self.element(element)
        elif isinstance(node, ast.Dict):
            for key in node.keys:
                self.expr(key)  # None for {**other}
            for value in node.values:
                self.expr(value)
        elif isinstance(node, ast.Subscript):
            if not isinstance(node.ctx, ast.Load):
                raise self.refuse(node, "toewijzing binnen een expressie")
            self.expr(node.value)
            self.expr(node.slice)
        elif isinstance(node, ast.Slice):
            self.expr(node.lower)
            self.expr(node.upper)
            self.expr(node.step)
        elif isinstance(node, ast.Attribute):
            self.expr(node.value)  # inner parts first: x.__class__.__base__ names __class__
            if node.attr.startswith("_"):
                raise self.refuse(node, f"attribuut '{node.attr}' (namen mogen niet met _ beginnen)")
            if not isinstance(node.ctx, ast.Load):
                raise self.refuse(node, f"toewijzing aan attribuut '{node.attr}'")
        elif isinstance(node, ast.Call):
            self.call(node)
        elif isinstance(node, ast.JoinedStr):
            for value in node.values:
                if isinstance(value, ast.FormattedValue):
                    self.formatted(value)
                elif not isinstance(value, ast.Constant):
                    raise self.refuse(value, self.describe(value))
        else:
            raise self.refuse(node, self.describe(node))

    def constant_growth(self, node: ast.BinOp) -> None:
        """What the runtime guards would stop anyway (``10**10**9``, ``'a' * 10**10``) is refused at
        validation already when it is written with constants only: the process owner hears it on save."""
        try:
            _fold(node)
        except UnsafeExpression as exc:
            raise self.refuse(node, exc.message.removeprefix("Niet toegestaan in een expressie: ")) from None
        except (_NotConstant, ArithmeticError, TypeError, ValueError):
            pass  # not all constants, or an error the expression itself reports at run time

    def element(self, node: ast.expr) -> None:
        if isinstance(node, ast.Starred):
            self.expr(node.value)
        else:
            self.expr(node)

    def call(self, node: ast.Call) -> None:
        func = node.func
        if not isinstance(func, ast.Name):
            self.expr(func)  # a refused inner part gives the clearer message
            raise self.refuse(
                node,
                f"aanroep van '{ast.unparse(func)}' (alleen functies bij naam, zoals len(x), "
                "mogen worden aangeroepen)",
            )
        if func.id not in self.reserved or func.id.startswith("_"):
            allowed = ", ".join(sorted(self.reserved))
            raise self.refuse(node, f"aanroep van '{func.id}' (toegestane functies: {allowed})")
        for arg in node.args:
            self.element(arg)
        for keyword in node.keywords:
            if keyword.arg is not None and keyword.arg.startswith("_"):
                raise self.refuse(node, f"argument '{keyword.arg}' (namen mogen niet met _ beginnen)")
            self.expr(keyword.value)

    def formatted(self, node: ast.FormattedValue) -> None:
        self.expr(node.value)
        spec = node.format_spec
        if spec is None:
            return
        if not (isinstance(spec, ast.JoinedStr) and all(isinstance(v, ast.Constant) for v in spec.values)):
            raise self.refuse(node, "berekende opmaak in een f-string ({x:{...}})")
        text = "".join(str(v.value) for v in spec.values)
        match = _FORMAT_SPEC_RE.fullmatch(text)
        if not match:
            raise self.refuse(node, f"opmaak '{text}' in een f-string")
        for number in (match.group("width"), match.group("precision")):
            if number and int(number) > MAX_FORMAT_WIDTH:
                raise self.refuse(
                    node, f"opmaak met een breedte of precisie groter dan {MAX_FORMAT_WIDTH}"
                )


class _NotConstant(Exception):
    pass


_PLAIN_OPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Sub: lambda a, b: a - b, ast.Div: lambda a, b: a / b, ast.FloorDiv: lambda a, b: a // b,
    ast.RShift: lambda a, b: a >> b, ast.BitOr: lambda a, b: a | b, ast.BitXor: lambda a, b: a ^ b,
    ast.BitAnd: lambda a, b: a & b,
}


def _fold(node: ast.AST) -> Any:
    """The value of an expression made of constants and operators only, computed through the same
    guards as at run time; raises _NotConstant for anything else."""
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float | str | bytes):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        value = _fold(node.operand)
        return -value if isinstance(node.op, ast.USub) else +value
    if isinstance(node, ast.BinOp):
        left, right = _fold(node.left), _fold(node.right)
        guard = _GUARDED_OPS.get(type(node.op))
        if guard is not None:
            return _GUARDS[_GUARD_PREFIX + guard](left, right)
        plain = _PLAIN_OPS.get(type(node.op))
        if plain is not None:
            return plain(left, right)
    raise _NotConstant


def _default_helpers() -> dict[str, Callable[..., Any]]:
    from handlers.registry import expression_helpers

    return expression_helpers()


def _prepare(source: str, mode: str) -> str:
    if mode == "eval":
        return source.strip()
    return textwrap.dedent(source)  # keep line numbers: SpiffWorkflow reports them


def check_expression(source: str, mode: str = "eval", allowed_calls: set[str] | None = None) -> ast.AST:
    """Parse ``source`` and check it against the whitelist; return the parsed tree.

    ``mode`` is ``"eval"`` for an expression (condition, timer) or ``"exec"`` for a script task.
    ``allowed_calls`` names the helpers that may be called besides ``SAFE_BUILTINS``; None means
    the helpers registered in ``handlers.registry``. Raises ``UnsafeExpression``.
    """
    if mode not in ("eval", "exec"):
        raise ValueError(f"mode must be 'eval' or 'exec', not {mode!r}")
    kind = "script" if mode == "exec" else "expressie"
    if not isinstance(source, str):
        raise UnsafeExpression(f"Een {kind} moet tekst zijn, geen {type(source).__name__}", "")
    if allowed_calls is None:
        allowed_calls = set(_default_helpers())
    text = _prepare(source, mode)
    if mode == "eval" and not text:
        raise UnsafeExpression("Lege expressie", source)
    juel = _juel_message(text) if mode == "eval" else None
    if juel and _JUEL_WHOLE.fullmatch(text):
        raise UnsafeExpression(juel, source)
    try:
        tree = ast.parse(text, mode=mode)
    except SyntaxError as exc:
        if juel:
            raise UnsafeExpression(juel, source) from None
        if _NAIVE_DATETIME_RE.fullmatch(text):
            raise UnsafeExpression(
                f"Ongeldige {kind}: '{text}' is een datum of tijd zonder tijdzone; schrijf een "
                "ISO 8601-tijdstip met tijdzone, zoals '2026-01-05T10:00:00+01:00'",
                source,
            ) from None
        where = f"regel {exc.lineno}, kolom {exc.offset}" if exc.lineno else "onbekende positie"
        raise UnsafeExpression(
            f"Ongeldige {kind} ({where}): {exc.msg}", source, lineno=exc.lineno, col=exc.offset
        ) from None
    checker = _Checker(source, mode, set(allowed_calls))
    if mode == "eval":
        checker.expr(tree.body)  # type: ignore[attr-defined]
    else:
        checker.statements(tree.body)  # type: ignore[attr-defined]
    return tree


# --------------------------------------------------------------------------------------------
# Rewriting and running
# --------------------------------------------------------------------------------------------


def _guard_call(name: str, *args: ast.expr) -> ast.Call:
    return ast.Call(func=ast.Name(id=_GUARD_PREFIX + name, ctx=ast.Load()), args=list(args), keywords=[])


_GUARDED_OPS: dict[type, str] = {
    ast.Pow: "pow",
    ast.Mult: "mul",
    ast.LShift: "lshift",
    ast.Add: "add",
    ast.Mod: "mod",
}


def _as_load(node: ast.expr) -> ast.expr:
    if isinstance(node, ast.Name):
        return ast.Name(id=node.id, ctx=ast.Load())
    assert isinstance(node, ast.Subscript)
    return ast.Subscript(value=copy.deepcopy(node.value), slice=copy.deepcopy(node.slice), ctx=ast.Load())


class _Rewriter(ast.NodeTransformer):
    """Routes the operations that can grow without bound through the guards."""

    def visit_BinOp(self, node: ast.BinOp) -> ast.expr:
        self.generic_visit(node)
        guard = _GUARDED_OPS.get(type(node.op))
        if guard is None:
            return node
        return ast.copy_location(_guard_call(guard, node.left, node.right), node)

    def visit_Attribute(self, node: ast.Attribute) -> ast.expr:
        self.generic_visit(node)
        return ast.copy_location(_guard_call("attr", node.value, ast.Constant(node.attr)), node)

    def visit_FormattedValue(self, node: ast.FormattedValue) -> ast.FormattedValue:
        self.generic_visit(node)
        node.value = _guard_call("val", node.value)
        return node

    def visit_Compare(self, node: ast.Compare) -> ast.Compare:
        self.generic_visit(node)
        node.left = _guard_call("val", node.left)
        node.comparators = [_guard_call("val", c) for c in node.comparators]
        return node

    def visit_Assign(self, node: ast.Assign) -> ast.Assign:
        self.generic_visit(node)
        node.value = _guard_call("val", node.value)
        return node

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.Assign:
        # x op= v  ->  x = x op v, so that the operator is guarded like any other.
        binop = ast.BinOp(left=_as_load(node.target), op=node.op, right=node.value)
        assign = ast.Assign(targets=[node.target], value=binop)
        return self.visit_Assign(ast.copy_location(assign, node))


@lru_cache(maxsize=2048)
def _compile(source: str, mode: str, allowed_calls: frozenset[str]) -> types.CodeType:
    tree = check_expression(source, mode, set(allowed_calls))
    tree = ast.fix_missing_locations(_Rewriter().visit(tree))
    filename = "<expressie>" if mode == "eval" else "<string>"  # Spiff looks for '<string>' in tracebacks
    return compile(tree, filename, mode)


def _namespace(names: dict, helpers: dict[str, Callable[..., Any]]) -> dict[str, Any]:
    namespace: dict[str, Any] = dict(names)
    namespace.update(SAFE_BUILTINS)
    namespace.update(helpers)
    namespace.update(_GUARDS)
    namespace["__builtins__"] = {}
    return namespace


def _run(source: str, mode: str, namespace: dict, helpers: dict) -> Any:
    code = _compile(source, mode, frozenset(helpers))
    try:
        if mode == "eval":
            return eval(code, namespace)  # noqa: S307 - checked and guarded AST
        exec(code, namespace)  # noqa: S102 - checked and guarded AST
        return None
    except UnsafeExpression as exc:
        if not exc.expression:  # refused by a runtime guard
            exc.expression = source
            if mode == "exec":
                lineno = _script_line(exc.__traceback__)
                where = f" (regel {lineno})" if lineno else ""
                message = exc.message.replace("in een expressie", "in een script", 1) + where
                exc.message, exc.lineno = message, lineno
                exc.args = (message,)
        raise


def _script_line(tb: types.TracebackType | None) -> int | None:
    lineno = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<string>":
            lineno = tb.tb_lineno
        tb = tb.tb_next
    return lineno


def evaluate(source: str, names: dict, helpers: dict[str, Callable[..., Any]] | None = None) -> Any:
    """Check and evaluate the expression ``source`` against ``names`` (the task data).

    ``helpers`` are the functions it may call besides ``SAFE_BUILTINS`` (None: the registered
    expression helpers). Helpers and builtins win over task data of the same name.
    Raises ``UnsafeExpression``; errors of the expression itself (NameError, TypeError,
    ZeroDivisionError, ...) propagate unchanged.
    """
    if helpers is None:
        helpers = _default_helpers()
    return _run(source, "eval", _namespace(names, helpers), helpers)


def execute(source: str, names: dict, helpers: dict[str, Callable[..., Any]] | None = None) -> None:
    """Check and run the script ``source``; its assignments and deletions go into ``names``.

    Values that are callable (e.g. ``f = len``) are not written back, as SpiffWorkflow's own
    environment drops them too. Task data named like a helper is left untouched.
    """
    if helpers is None:
        helpers = _default_helpers()
    namespace = _namespace(names, helpers)
    _run(source, "exec", namespace, helpers)
    reserved = set(SAFE_BUILTINS) | set(helpers) | set(_GUARDS) | {"__builtins__"}
    for key in [k for k in names if k not in reserved and k not in namespace]:
        del names[key]
    for key, value in namespace.items():
        if key in reserved:
            continue
        if callable(value):
            names.pop(key, None)
        elif key not in names or names[key] is not value:
            names[key] = value


# --------------------------------------------------------------------------------------------
# SpiffWorkflow
# --------------------------------------------------------------------------------------------


class SafeScriptEnvironment(BasePythonScriptEngineEnvironment):
    """SpiffWorkflow script environment that runs everything through the safe evaluator.

    SpiffWorkflow calls ``evaluate`` for gateway conditions, timer expressions, conditional
    events, multi-instance cardinalities and message payloads, and ``execute`` for script
    tasks, with ``context`` being the task data and ``external_context`` the workflow's data
    objects. ``helpers`` None means: the helpers in ``handlers.registry``, looked up at each
    call, so helpers registered after the engine was made are available too.
    """

    def __init__(self, helpers: dict[str, Callable[..., Any]] | None = None):
        super().__init__({})
        self.helpers = helpers

    def _helpers(self) -> dict[str, Callable[..., Any]]:
        return dict(self.helpers) if self.helpers is not None else _default_helpers()

    def evaluate(self, expression, context, external_context=None):
        names = dict(external_context or {})
        names.update(context)
        literal = iso_literal(expression)
        if literal is not None and literal not in names:
            return literal  # timer text written as a bare ISO 8601 literal (e.g. P5D)
        return evaluate(expression, names, self._helpers())

    def execute(self, script, context, external_context=None):
        external = dict(external_context or {})
        names = dict(external)
        names.update(context)
        execute(script, names, self._helpers())
        # Write back like TaskDataEnvironment: data objects (external context) are not copied
        # into the task data.
        for key in [k for k in context if k not in names]:
            del context[key]
        for key, value in names.items():
            if key in external and key not in context:
                continue
            context[key] = value
        return True

    def call_service(self, context, **kwargs):
        raise NotImplementedError("Service tasks are run from the handlers registry (design 8b).")


def make_script_engine(helpers: dict[str, Callable[..., Any]] | None = None) -> PythonScriptEngine:
    """A SpiffWorkflow script engine that evaluates everything safely."""
    return PythonScriptEngine(environment=SafeScriptEnvironment(helpers))
