"""Subscription rule filters: a subset of Service Bus SQL filters, correlation filters, true/false.

SQL subset (the grammar of Service Bus's "SQL filter syntax" page, reduced to what a cluster
transport needs): ``=``, ``<>``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``[NOT] IN (...)``,
``AND``, ``OR``, ``NOT``, ``IS [NOT] NULL``, ``EXISTS(prop)``, parentheses, string literals in
single quotes (``''`` escapes a quote), integer and decimal literals, ``TRUE``/``FALSE``/``NULL``,
``1=1``-style constant predicates. Names are user properties unless prefixed ``sys.`` (a few
system properties) or ``user.``; ``[bracketed names]`` are accepted. Evaluation is SQL
three-valued: a comparison with a missing property is unknown, and a rule admits a message only
when its filter is true. Not modelled: ``LIKE``, arithmetic, functions, rule actions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

_MISSING = object()

Props = Mapping[str, Any]
Evaluator = Callable[[Props, Props], Any]  # (application props, system props) -> True/False/None


class FilterSyntaxError(ValueError):
    """A SQL filter expression outside the supported subset."""


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^']|'')*')
      | (?P<number>\d+(?:\.\d+)?)
      | (?P<op><>|!=|<=|>=|=|<|>|\(|\)|,)
      | (?P<bracket>\[[^\]]+\])
      | (?P<name>[A-Za-z_][A-Za-z0-9_.\-]*)
    )""",
    re.VERBOSE,
)

_KEYWORDS = {"AND", "OR", "NOT", "IS", "NULL", "EXISTS", "IN", "TRUE", "FALSE"}


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise FilterSyntaxError(f"unexpected text at {position}: {text[position:]!r}")
        position = match.end()
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "name" and value.upper() in _KEYWORDS:
            kind, value = "keyword", value.upper()
        elif kind == "bracket":
            kind, value = "name", value[1:-1]
        tokens.append((kind, value))
    return tokens


# System properties a filter may name with the ``sys.`` prefix, by their SQL names.
SYSTEM_PROPERTY_NAMES = {
    "messageid": "message_id",
    "correlationid": "correlation_id",
    "to": "to",
    "replyto": "reply_to",
    "label": "subject",
    "subject": "subject",
    "contenttype": "content_type",
    "sessionid": "session_id",
    "replytosessionid": "reply_to_session_id",
}


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.position = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise FilterSyntaxError("unexpected end of expression")
        self.position += 1
        return token

    def accept(self, kind: str, value: str | None = None) -> bool:
        token = self.peek()
        if token and token[0] == kind and (value is None or token[1] == value):
            self.position += 1
            return True
        return False

    def expect(self, kind: str, value: str) -> None:
        if not self.accept(kind, value):
            raise FilterSyntaxError(f"expected {value!r}, got {self.peek()!r}")

    def parse(self) -> Evaluator:
        result = self.disjunction()
        if self.peek() is not None:
            raise FilterSyntaxError(f"unexpected {self.peek()!r}")
        return result

    def disjunction(self) -> Evaluator:
        left = self.conjunction()
        while self.accept("keyword", "OR"):
            left = _or(left, self.conjunction())
        return left

    def conjunction(self) -> Evaluator:
        left = self.negation()
        while self.accept("keyword", "AND"):
            left = _and(left, self.negation())
        return left

    def negation(self) -> Evaluator:
        if self.accept("keyword", "NOT"):
            inner = self.negation()
            return lambda app, sys: None if (v := inner(app, sys)) is None else not v
        return self.predicate()

    def predicate(self) -> Evaluator:
        if self.accept("keyword", "EXISTS"):
            self.expect("op", "(")
            getter = self.property_getter(self.take())
            self.expect("op", ")")
            return lambda app, sys: getter(app, sys) is not _MISSING
        if self.accept("op", "("):
            # A parenthesised predicate; SQL allows parenthesised values too, not needed here.
            inner = self.disjunction()
            self.expect("op", ")")
            return inner
        left = self.operand()
        if self.accept("keyword", "IS"):
            negate = self.accept("keyword", "NOT")
            self.expect("keyword", "NULL")
            return lambda app, sys: (_value(left(app, sys)) is None) != negate
        negate = self.accept("keyword", "NOT")
        if self.accept("keyword", "IN"):
            self.expect("op", "(")
            options = [self.operand()]
            while self.accept("op", ","):
                options.append(self.operand())
            self.expect("op", ")")
            return _in(left, options, negate)
        if negate:
            raise FilterSyntaxError("NOT here must be followed by IN")
        kind, operator = self.take()
        if kind != "op" or operator not in ("=", "<>", "!=", "<", "<=", ">", ">="):
            raise FilterSyntaxError(f"expected a comparison, got {operator!r}")
        return _compare(left, operator, self.operand())

    def operand(self) -> Callable[[Props, Props], Any]:
        kind, value = self.take()
        if kind == "string":
            text = value[1:-1].replace("''", "'")
            return lambda app, sys: text
        if kind == "number":
            number: float | int = float(value) if "." in value else int(value)
            return lambda app, sys: number
        if kind == "keyword" and value in ("TRUE", "FALSE"):
            flag = value == "TRUE"
            return lambda app, sys: flag
        if kind == "keyword" and value == "NULL":
            return lambda app, sys: None
        if kind == "name":
            return self.property_getter((kind, value))
        raise FilterSyntaxError(f"expected a value, got {value!r}")

    def property_getter(self, token: tuple[str, str]) -> Callable[[Props, Props], Any]:
        kind, name = token
        if kind != "name":
            raise FilterSyntaxError(f"expected a property name, got {name!r}")
        scope, _, rest = name.partition(".")
        if rest and scope.lower() == "sys":
            key = SYSTEM_PROPERTY_NAMES.get(rest.lower())
            if key is None:
                raise FilterSyntaxError(f"unsupported system property {rest!r}")
            return lambda app, sys: sys.get(key, _MISSING)
        if rest and scope.lower() == "user":
            name = rest
        return lambda app, sys: app.get(name, _MISSING)


def _value(raw: Any) -> Any:
    return None if raw is _MISSING else raw


def _and(left: Evaluator, right: Evaluator) -> Evaluator:
    def evaluate(app: Props, sys: Props) -> Any:
        a, b = left(app, sys), right(app, sys)
        if a is False or b is False:
            return False
        return None if a is None or b is None else True

    return evaluate


def _or(left: Evaluator, right: Evaluator) -> Evaluator:
    def evaluate(app: Props, sys: Props) -> Any:
        a, b = left(app, sys), right(app, sys)
        if a is True or b is True:
            return True
        return None if a is None or b is None else False

    return evaluate


def _comparable(a: Any, b: Any) -> bool:
    numeric = (int, float)
    both_numbers = isinstance(a, numeric) and isinstance(b, numeric)
    return both_numbers or type(a) is type(b) or (isinstance(a, str) and isinstance(b, str))


def _compare(left: Callable[..., Any], operator: str, right: Callable[..., Any]) -> Evaluator:
    def evaluate(app: Props, sys: Props) -> Any:
        a, b = _value(left(app, sys)), _value(right(app, sys))
        if a is None or b is None or not _comparable(a, b):
            return None
        if operator == "=":
            return a == b
        if operator in ("<>", "!="):
            return a != b
        if operator == "<":
            return a < b
        if operator == "<=":
            return a <= b
        if operator == ">":
            return a > b
        return a >= b

    return evaluate


def _in(left: Callable[..., Any], options: list[Callable[..., Any]], negate: bool) -> Evaluator:
    def evaluate(app: Props, sys: Props) -> Any:
        a = _value(left(app, sys))
        if a is None:
            return None
        found = any(_value(option(app, sys)) == a for option in options)
        return found != negate

    return evaluate


def compile_sql(expression: str) -> Evaluator:
    """Parse a SQL filter expression; raise :class:`FilterSyntaxError` outside the subset."""
    return _Parser(expression).parse()


@dataclass
class SqlFilter:
    """A SQL filter rule."""

    expression: str
    evaluator: Evaluator = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.evaluator = compile_sql(self.expression)

    def matches(self, app: Props, sys: Props) -> bool:
        return self.evaluator(app, sys) is True


@dataclass
class CorrelationFilter:
    """A correlation filter: every set field must equal the message's value."""

    system: dict[str, Any] = field(default_factory=dict)  # keys of SYSTEM_PROPERTY_NAMES values
    properties: dict[str, Any] = field(default_factory=dict)

    def matches(self, app: Props, sys: Props) -> bool:
        for key, expected in self.system.items():
            if sys.get(key) != expected:
                return False
        return all(app.get(key, _MISSING) == value for key, value in self.properties.items())


@dataclass
class TrueFilter:
    """Admits every message (also the ``$Default`` rule's filter)."""

    def matches(self, app: Props, sys: Props) -> bool:
        return True


@dataclass
class FalseFilter:
    """Admits no message."""

    def matches(self, app: Props, sys: Props) -> bool:
        return False


RuleFilter = SqlFilter | CorrelationFilter | TrueFilter | FalseFilter
