"""Parameter constraints, declared once and checked with one message template.

Modelled on scikit-learn's ``_parameter_constraints``: a parameter is declared with the
constraints it must satisfy (an :class:`Interval`, :class:`Options`, ...); a value passes when
it satisfies any of them. The configuration (:mod:`pipelines.config`, through pydantic), the
drift thresholds and the promotion gate all use these objects, so every bad value gets the
same message::

    The 'p_value' parameter of DriftThresholds must be a float in the range (0, 1). Got 1.5 instead.

Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, Literal

from pipelines.errors import ConfigError

Closed = Literal["left", "right", "both", "neither"]


class Constraint:
    """A condition a parameter value must satisfy, with a phrase that describes it."""

    def is_satisfied_by(self, value: object) -> bool:  # pragma: no cover - interface
        raise NotImplementedError

    def __str__(self) -> str:  # pragma: no cover - interface
        raise NotImplementedError

    # pydantic integration: ``Annotated[float, Interval(...)]`` validates with this constraint
    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        def check(value: Any) -> Any:
            if value is None or self.is_satisfied_by(value):
                return value
            raise ValueError(f"must be {self}")

        return core_schema.no_info_after_validator_function(check, handler(source))


def _is_real(value: object) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


@dataclass(frozen=True)
class Interval(Constraint):
    """A real (``kind=float``) or integer (``kind=int``) number in an interval; ``None`` for
    an unbounded side. Floats must be finite."""

    kind: type
    left: float | None
    right: float | None
    closed: Closed = "both"
    allow_inf: bool = False
    """Accept +inf (for "never" limits: an infinite cooldown or timeout)."""

    def is_satisfied_by(self, value: object) -> bool:
        if self.kind is int:
            if not isinstance(value, Integral) or isinstance(value, bool):
                return False
        elif not _is_real(value) or math.isnan(float(value)):  # type: ignore[arg-type]
            return False
        elif math.isinf(float(value)):  # type: ignore[arg-type]
            return self.allow_inf and float(value) > 0 and self.right is None  # type: ignore[arg-type]
        x = float(value)  # type: ignore[arg-type]
        if self.left is not None:
            if x < self.left or (x == self.left and self.closed in ("right", "neither")):
                return False
        if self.right is not None:
            if x > self.right or (x == self.right and self.closed in ("left", "neither")):
                return False
        return True

    def __str__(self) -> str:
        noun = "an int" if self.kind is int else ("a float (inf allowed)" if self.allow_inf
                                                  else "a float")
        if self.left is not None and self.right is None:
            op = ">=" if self.closed in ("left", "both") else ">"
            return f"{noun} {op} {self.left:g}"
        if self.right is not None and self.left is None:
            op = "<=" if self.closed in ("right", "both") else "<"
            return f"{noun} {op} {self.right:g}"
        if self.left is None and self.right is None:
            return noun
        lb = "[" if self.closed in ("left", "both") else "("
        rb = "]" if self.closed in ("right", "both") else ")"
        return f"{noun} in the range {lb}{self.left:g}, {self.right:g}{rb}"


@dataclass(frozen=True)
class Options(Constraint):
    """One of a fixed set of values."""

    options: tuple[object, ...]

    def is_satisfied_by(self, value: object) -> bool:
        try:
            return value in self.options
        except TypeError:
            return False

    def __str__(self) -> str:
        return "one of " + ", ".join(repr(o) for o in self.options)


@dataclass(frozen=True)
class Satisfies(Constraint):
    """Any predicate, with the phrase that describes what it accepts."""

    predicate: Callable[[object], bool]
    description: str

    def is_satisfied_by(self, value: object) -> bool:
        try:
            return bool(self.predicate(value))
        except (TypeError, ValueError):
            return False

    def __str__(self) -> str:
        return self.description


def describe(constraints: Sequence[Constraint]) -> str:
    """``"a float in the range (0, 1)"`` or ``"a float >= 0 or one of 'auto'"``."""
    return " or ".join(str(c) for c in constraints)


def message(param: str, owner: str, constraints: Sequence[Constraint] | str,
            value: object, where: str | None = None) -> str:
    """The one template every rejected parameter is reported with."""
    rule = constraints if isinstance(constraints, str) else describe(constraints)
    origin = f" (from {where})" if where else ""
    return f"The {param!r} parameter of {owner} must be {rule}. Got {value!r} instead{origin}."


def validate_params(owner: str, constraints: Mapping[str, Sequence[Constraint]],
                    values: Mapping[str, object]) -> None:
    """Raise :class:`ConfigError` for the first value of ``values`` that satisfies none of its
    declared constraints (parameters without a declaration are not checked)."""
    for name, value in values.items():
        declared = constraints.get(name)
        if declared and not any(c.is_satisfied_by(value) for c in declared):
            raise ConfigError(message(name, owner, declared, value))


def validate_object(obj: object, constraints: Mapping[str, Sequence[Constraint]],
                    names: Iterable[str] | None = None) -> None:
    """:func:`validate_params` over attributes of ``obj`` (a dataclass, say)."""
    keys = list(names) if names is not None else list(constraints)
    validate_params(type(obj).__name__, constraints, {k: getattr(obj, k) for k in keys})


# ----------------------------------------------------------------------------- shared declarations

#: Probability-like levels strictly inside (0, 1): p-value levels, sizes, fractions.
OPEN_UNIT = Interval(float, 0.0, 1.0, closed="neither")
#: Shares in [0, 1].
UNIT = Interval(float, 0.0, 1.0, closed="both")
#: Non-negative finite numbers.
NON_NEGATIVE = Interval(float, 0.0, None, closed="left")
#: Strictly positive finite numbers.
POSITIVE = Interval(float, 0.0, None, closed="neither")
#: Durations where +inf means "never": cooldowns, timeouts, windows.
DURATION = Interval(float, 0.0, None, closed="left", allow_inf=True)
POSITIVE_DURATION = Interval(float, 0.0, None, closed="neither", allow_inf=True)
#: The promotion margin: [0, 1).
MARGIN = Interval(float, 0.0, 1.0, closed="left")
#: p-value corrections across the features of one batch.
CORRECTIONS: tuple[str, ...] = ("none", "bonferroni", "bh")
#: Promotion-margin modes.
MARGIN_MODES: tuple[str, ...] = ("absolute", "relative")
