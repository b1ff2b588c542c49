"""What a PromQL expression reads: the metric names it selects, the labels each selector
matches on, and the labels it groups or joins by. Enough of PromQL's grammar for that, not a
parser: `promtool check rules` is the judge of syntax, this only says which names an
expression depends on, so a test can hold them against what the apps really expose.

Grafana's variables (`$service`, `$__rate_interval`) are replaced by `grafana_to_promql` first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

AGGREGATIONS = frozenset(
    [
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
    ]
)
# Words that take a parenthesised list of label names.
LABEL_LISTS = frozenset(["by", "without", "on", "ignoring", "group_left", "group_right"])
KEYWORDS = frozenset(["and", "or", "unless", "bool", "offset", "atan2"])

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<range>\[[^\]]*\])
  | (?P<duration>(?:\d+(?:ms|s|m|h|d|w|y))+\b)
  | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<punct>[(){},]|=~|!~|!=|==|<=|>=|[-+*/%^<>=])
    """,
    re.VERBOSE,
)


@dataclass
class Reads:
    """Selectors (metric name -> labels its matchers name) and the labels grouped/joined by."""

    selectors: dict[str, set[str]] = field(default_factory=dict)
    grouping: set[str] = field(default_factory=set)


def _tokens(expr: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    at = 0
    while at < len(expr):
        match = _TOKEN.match(expr, at)
        if match is None:
            raise ValueError(f"cannot read {expr[at:]!r} in {expr!r}")
        kind = match.lastgroup
        assert kind is not None
        if kind != "space":
            found.append((kind, match.group()))
        at = match.end()
    return found


def _label_names(tokens: list[tuple[str, str]], at: int) -> tuple[set[str], int]:
    """The identifiers of the list opening at `tokens[at]` ("(" or "{"), and where it ends."""
    closing = ")" if tokens[at][1] == "(" else "}"
    names: set[str] = set()
    at += 1
    expecting_name = True
    while tokens[at][1] != closing:
        kind, text = tokens[at]
        if kind in ("ident", "string") and expecting_name:
            names.add(text.strip("\"'`"))
            expecting_name = False
        elif text == ",":
            expecting_name = True
        at += 1
    return names, at + 1


def reads(expr: str) -> Reads:
    tokens = _tokens(expr)
    found = Reads()
    at = 0
    while at < len(tokens):
        kind, text = tokens[at]
        following = tokens[at + 1][1] if at + 1 < len(tokens) else ""
        if kind != "ident":
            if text == "{":  # a selector with no name: its matchers only
                _, at = _label_names(tokens, at)
                continue
            at += 1
            continue
        if text in LABEL_LISTS and following == "(":
            names, at = _label_names(tokens, at + 1)
            found.grouping |= names
            continue
        if text in AGGREGATIONS or text in KEYWORDS or following == "(":
            at += 1
            continue
        labels: set[str] = set()
        at += 1
        if following == "{":
            labels, at = _label_names(tokens, at)
        found.selectors.setdefault(text, set()).update(labels)
    return found


def grafana_to_promql(expr: str) -> str:
    """A panel's query as Prometheus would receive it from Grafana (variables filled in)."""
    expr = expr.replace("$__rate_interval", "5m").replace("$__interval", "1m")
    return re.sub(r"\$\{?\w+\}?", ".*", expr)


_LABEL_VALUES = re.compile(r"^label_values\((?:(?P<metric>.+),\s*)?(?P<label>\w+)\)$")


def template_reads(query: str) -> Reads:
    """A dashboard variable's `label_values(metric, label)` as the same kind of reads."""
    match = _LABEL_VALUES.match(query.strip())
    if match is None:
        raise ValueError(f"not a label_values query: {query!r}")
    found = reads(match["metric"]) if match["metric"] else Reads()
    found.grouping.add(match["label"])
    return found
