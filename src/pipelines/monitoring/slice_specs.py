"""Slice specifications (``monitoring.slices``) parsed without evaluating anything: a column
name, or ``<column> <op> <literal>``. Light on imports: the configuration checks the syntax
at start-up (:mod:`pipelines.monitoring.slices` judges the slices)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pipelines.errors import ConfigError

if TYPE_CHECKING:
    from pipelines.data.schema import FeatureSchema

OPERATORS = ("==", "!=", "<=", ">=", "<", ">")
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_COLUMN = re.compile(rf"^\s*({_NAME})\s*$")
_COMPARISON = re.compile(
    rf"""^\s*({_NAME})\s*(==|!=|<=|>=|<|>)\s*
    (?:"([^"]*)"|'([^']*)'|([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?))\s*$""", re.VERBOSE)


@dataclass(frozen=True)
class SliceSpec:
    """One parsed entry of ``monitoring.slices``: a column (``op`` None: one slice per value)
    or a comparison of a column with a number or a string."""

    text: str
    column: str
    op: str | None = None
    literal: float | str | None = None


def parse_slice(text: str) -> SliceSpec:
    """``text`` parsed, or a :class:`ConfigError` saying what a slice may be."""
    if not isinstance(text, str):
        raise ConfigError(f"a slice must be a string, got {text!r}")
    match = _COLUMN.match(text)
    if match:
        return SliceSpec(text=match.group(1), column=match.group(1))
    match = _COMPARISON.match(text)
    if match is None:
        raise ConfigError(
            f"slice {text!r} is neither a column name nor '<column> <op> <literal>' with op "
            f"one of {' '.join(OPERATORS)} and a number or a quoted string, e.g. "
            "\"tenure_months > 24\" or \"contract_type == 'monthly'\"")
    column, op, dq, sq, number = match.groups()
    literal: float | str = float(number) if number is not None else (dq if dq is not None
                                                                     else sq)
    shown = f"{literal:g}" if isinstance(literal, float) else repr(literal)
    return SliceSpec(text=f"{column} {op} {shown}", column=column, op=op, literal=literal)


def parse_slices(texts: Sequence[str]) -> tuple[SliceSpec, ...]:
    """Every entry parsed; the same slice listed twice is refused."""
    specs = tuple(parse_slice(t) for t in texts)
    seen = [s.text for s in specs]
    twice = sorted({t for t in seen if seen.count(t) > 1})
    if twice:
        raise ConfigError(f"slice(s) listed twice in monitoring.slices: {', '.join(twice)}")
    return specs


def check_slices(specs: Sequence[SliceSpec], schema: FeatureSchema) -> None:
    """Each slice's column is a feature of the model and its literal of the feature's kind."""
    for spec in specs:
        if spec.column not in schema.features:
            raise ConfigError(
                f"slice {spec.text!r}: column {spec.column!r} is not a feature of the model "
                f"(its features: {', '.join(schema.features)})")
        if spec.op is None:
            continue
        numeric = spec.column in schema.numeric
        if numeric and not isinstance(spec.literal, float):
            raise ConfigError(f"slice {spec.text!r}: {spec.column!r} is numeric; compare it "
                              "with a number")
        if not numeric and (isinstance(spec.literal, float) or spec.op not in ("==", "!=")):
            raise ConfigError(f"slice {spec.text!r}: {spec.column!r} is categorical; use == "
                              "or != with a quoted string, e.g. "
                              f"\"{spec.column} == 'value'\"")
