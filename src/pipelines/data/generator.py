"""Seeded, deterministic synthetic churn data with named drift scenarios.

The generator produces telecom-style customer records (16 numeric + 8 categorical
features), a binary ``churn`` label drawn from a *known* logistic model, a unique
``customer_id`` and an increasing ``event_timestamp``. Named scenarios alter exactly
what they claim (see :func:`describe_scenario`) so that drift detectors and
performance monitors can be tested against a known ground truth.

Other tasks (``task=`` of :func:`generate_batch`), on the same customers and scenarios:

* ``"regression"``: target ``next_month_charges`` (float, 2 decimals), a known function
  of the features plus Gaussian noise (:func:`expected_charges`); no ``churn`` column.
* ``"multiclass"``: target ``next_plan``, one of ``PLANS`` drawn from a known softmax
  over the features (:func:`plan_probabilities`); no ``churn`` column.

How hard each scenario hits a model trained on a 20k reference (seed 42), measured on
5k-row batches (seeds 1001-1003, mean) with the training settings' candidates
(RandomForest 200 trees depth 12 leaf 5 / XGBoost 300 trees depth 4 lr 0.05):

==========================  ============  =============  ==============
metric (RF / XGBoost)        regression    multiclass     (binary: see
                             RMSE          macro F1       MONITORING.md)
==========================  ============  =============  ==============
no_drift                     3.32 / 3.11   0.76 / 0.79
covariate_shift (default)    5.88 / 5.70   0.73 / 0.79
covariate_shift (tenure,     -- / 3.14     --
support calls, contract)
concept_drift                23.0 / 22.9   0.26 / 0.27
broad covariate shift        6.12 / 5.72   0.71 / 0.77
(NUMERIC_FEATURES[:10])
retrained on 3.5k rows of    4.02 / 3.57   0.68 / 0.72
concept_drift, its holdout
(the reference model there)  23.0 / 22.9   0.26 / 0.27
==========================  ============  =============  ==============

Noise floor: regression RMSE 3.0 (``CHARGES_NOISE_STD``); multiclass macro F1 of the true
softmax's argmax 0.80 (base) / 0.76 (concept, whose data the base softmax scores at 0.27).
The default covariate shift pushes monthly charges beyond the reference's range (<= 120),
where trees cannot extrapolate: regression RMSE rises ~1.8x although P(y|x) is unchanged.

Determinism: every frame is a pure function of its arguments; all randomness comes
from a single ``np.random.default_rng(seed)``.

Dtypes: numeric features are ``float64`` (count-like features hold integral floats so
NaN injection never changes a dtype), categorical features use pandas' default string
dtype (``STRING_DTYPE``: ``"str"`` on pandas 3, ``object`` on pandas 2), ``churn`` is
``int64`` (``next_month_charges`` ``float64``, ``next_plan`` ``STRING_DTYPE``),
``customer_id`` is ``STRING_DTYPE`` and ``event_timestamp`` is ``datetime64[ns]``.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import special

from pipelines import choices
from pipelines.problems import PROBLEM_TYPES

logger = logging.getLogger(__name__)

__all__ = [
    "CATEGORICAL_FEATURES",
    "CATEGORY_LEVELS",
    "DEFAULT_PERIOD",
    "DEFAULT_QUALITY_FAULTS",
    "DEFAULT_SHIFT_FEATURES",
    "DEFAULT_START_TIME",
    "FAULT_KINDS",
    "FEATURES",
    "FEATURE_RANGES",
    "ID_COLUMN",
    "MISSING_FRACTION",
    "NUMERIC_FEATURES",
    "OUT_OF_RANGE_FRACTION",
    "SCENARIOS",
    "STRING_DTYPE",
    "TARGET",
    "TIMESTAMP_COLUMN",
    "UNSEEN_CATEGORIES",
    "UNSEEN_FRACTION",
    "ScenarioInfo",
    "MULTICLASS_TARGET",
    "PLANS",
    "REGRESSION_TARGET",
    "TASKS",
    "TASK_TARGETS",
    "churn_probability",
    "describe_scenario",
    "expected_charges",
    "generate_batch",
    "generate_reference",
    "plan_probabilities",
]

# --------------------------------------------------------------------------- schema

TARGET: str = "churn"
#: Target of ``task="regression"``: next month's bill (currency, 2 decimals).
REGRESSION_TARGET: str = "next_month_charges"
#: Target of ``task="multiclass"``: the plan the customer moves to (one of ``PLANS``).
MULTICLASS_TARGET: str = "next_plan"
#: The tasks the generator serves (the problem types of ``data.problem_type``).
TASKS: tuple[str, ...] = PROBLEM_TYPES
#: The target column of each task.
TASK_TARGETS: dict[str, str] = {
    "binary": TARGET,
    "regression": REGRESSION_TARGET,
    "multiclass": MULTICLASS_TARGET,
}
#: The classes of ``next_plan`` (a model's schema sorts them: basic, cancel, premium, standard).
PLANS: tuple[str, ...] = ("basic", "standard", "premium", "cancel")
ID_COLUMN: str = "customer_id"
TIMESTAMP_COLUMN: str = "event_timestamp"

NUMERIC_FEATURES: tuple[str, ...] = (
    "tenure_months",
    "monthly_charges",
    "total_charges",
    "support_calls",
    "avg_call_minutes",
    "data_usage_gb",
    "num_services",
    "late_payments",
    "days_since_last_contact",
    "age",
    "dependents",
    "streaming_hours",
    "dropped_calls",
    "satisfaction_score",
    "discount_pct",
    "num_devices",
)

CATEGORICAL_FEATURES: tuple[str, ...] = (
    "contract",
    "payment_method",
    "internet_service",
    "gender",
    "senior_citizen",
    "partner",
    "paperless_billing",
    "region",
)

FEATURES: tuple[str, ...] = NUMERIC_FEATURES + CATEGORICAL_FEATURES

#: Every value the generator can produce for each categorical feature (clean data).
CATEGORY_LEVELS: dict[str, tuple[str, ...]] = {
    "contract": ("month-to-month", "one-year", "two-year"),
    "payment_method": ("electronic_check", "mailed_check", "bank_transfer", "credit_card"),
    "internet_service": ("dsl", "fiber", "none"),
    "gender": ("female", "male"),
    "senior_citizen": ("no", "yes"),
    "partner": ("no", "yes"),
    "paperless_billing": ("no", "yes"),
    "region": ("north", "south", "east", "west", "central"),
}

#: Valid physical domain (inclusive) of each numeric feature. Clean data (all scenarios
#: except the out-of-range faults of ``data_quality``) always lies inside these bounds;
#: injected out-of-range values always lie outside. The reference distribution may use
#: only part of a domain (e.g. monthly charges stay <= 120 before a covariate shift).
FEATURE_RANGES: dict[str, tuple[float, float]] = {
    "tenure_months": (0.0, 72.0),
    "monthly_charges": (0.0, 150.0),
    "total_charges": (0.0, 15_000.0),
    "support_calls": (0.0, 30.0),
    "avg_call_minutes": (0.0, 120.0),
    "data_usage_gb": (0.0, 500.0),
    "num_services": (0.0, 8.0),
    "late_payments": (0.0, 24.0),
    "days_since_last_contact": (0.0, 365.0),
    "age": (18.0, 100.0),
    "dependents": (0.0, 10.0),
    "streaming_hours": (0.0, 168.0),
    "dropped_calls": (0.0, 60.0),
    "satisfaction_score": (1.0, 10.0),
    "discount_pct": (0.0, 50.0),
    "num_devices": (1.0, 12.0),
}

#: Numeric features holding integral values (rounded again after a covariate shift).
_INTEGER_FEATURES: frozenset[str] = frozenset(
    {
        "tenure_months",
        "support_calls",
        "num_services",
        "late_payments",
        "days_since_last_contact",
        "age",
        "dependents",
        "dropped_calls",
        "num_devices",
    }
)

#: Decimals kept by each numeric feature (integral features: 0; default 2).
_DECIMALS: dict[str, int] = {
    **{column: 0 for column in _INTEGER_FEATURES},
    "satisfaction_score": 1,
    "streaming_hours": 1,
    "discount_pct": 1,
}

#: The named scenarios, kept where a command line can list them without importing numpy.
SCENARIOS = choices.SCENARIOS

DEFAULT_SHIFT_FEATURES: tuple[str, ...] = ("monthly_charges", "support_calls", "contract")

DEFAULT_START_TIME: pd.Timestamp = pd.Timestamp("2026-01-01")
DEFAULT_PERIOD: pd.Timedelta = pd.Timedelta(days=1)

#: Dtype of string columns: the default string dtype of the installed pandas
#: (``"str"`` from pandas 3, ``object`` on pandas 2.x).
STRING_DTYPE: pd.api.extensions.ExtensionDtype | np.dtype = pd.Series(["a"]).dtype

# ----------------------------------------------------------------- data-quality faults

FAULT_KINDS: tuple[str, ...] = ("missing", "unseen_category", "out_of_range")

#: Share of rows set to NaN in a column with a ``missing`` fault (exact, rounded).
MISSING_FRACTION: float = 0.25
#: Share of rows given a never-generated category (``unseen_category`` fault).
UNSEEN_FRACTION: float = 0.10
#: Share of rows given a value outside ``FEATURE_RANGES`` (``out_of_range`` fault).
OUT_OF_RANGE_FRACTION: float = 0.10

#: Value injected by the ``unseen_category`` fault; never produced for clean data.
UNSEEN_CATEGORIES: dict[str, str] = {
    "contract": "weekly",
    "payment_method": "crypto",
    "internet_service": "satellite",
    "gender": "undisclosed",
    "senior_citizen": "unknown",
    "partner": "unknown",
    "paperless_billing": "unknown",
    "region": "offshore",
}

#: Faults of ``data_quality`` when ``quality_columns`` is None.
DEFAULT_QUALITY_FAULTS: dict[str, tuple[str, ...]] = {
    "satisfaction_score": ("missing",),
    "data_usage_gb": ("missing",),
    "paperless_billing": ("missing",),
    "payment_method": ("unseen_category",),
    "tenure_months": ("out_of_range",),
    "monthly_charges": ("out_of_range",),
}

#: How the ``out_of_range`` fault corrupts a column: ``negative`` -> ``-(x + 1)``,
#: ``times_ten`` -> ``10 * x + hi`` (unit error, always above the domain), ``both`` ->
#: half of the faulty rows each way. Columns not listed use ``both``.
_OUT_OF_RANGE_MODE: dict[str, str] = {
    "tenure_months": "negative",
    "monthly_charges": "times_ten",
}

# ------------------------------------------------------------------- label models

# A rule is: intercept, numeric terms {column: (coefficient, centre)} contributing
# coef * (x - centre), and indicator terms {(column, level): coefficient}.
_RuleTerms = tuple[
    float,
    dict[str, tuple[float, float]],
    dict[tuple[str, str], float],
]

_BASE_RULE: _RuleTerms = (
    -2.59,
    {
        "tenure_months": (-0.035, 24.0),
        "monthly_charges": (0.025, 65.0),
        "support_calls": (0.40, 1.5),
        "satisfaction_score": (-0.35, 6.0),
        "late_payments": (0.40, 0.5),
        "dropped_calls": (0.12, 1.3),
    },
    {
        ("contract", "month-to-month"): 1.30,
        ("contract", "two-year"): -0.60,
        ("internet_service", "fiber"): 0.50,
        ("payment_method", "electronic_check"): 0.50,
        ("senior_citizen", "yes"): 0.30,
        ("partner", "yes"): -0.25,
        ("paperless_billing", "yes"): 0.20,
    },
)

# Concept drift: the strongest base drivers (contract, tenure, satisfaction, fiber,
# electronic check) lose their effect; new drivers (DSL, data usage, discount, streaming,
# contact recency, devices, region, gender, credit card) take over; support calls, late
# payments, dropped calls and charges keep a (changed) effect so the two rules stay
# weakly correlated. The intercept keeps the churn rate within ~0.5 point of the base.
_CONCEPT_RULE: _RuleTerms = (
    -2.00,
    {
        "monthly_charges": (0.015, 65.0),
        "support_calls": (0.35, 1.5),
        "late_payments": (0.50, 0.5),
        "dropped_calls": (0.30, 1.3),
        "data_usage_gb": (-0.035, 15.0),
        "discount_pct": (-0.10, 7.0),
        "days_since_last_contact": (0.015, 45.0),
        "num_devices": (0.40, 2.5),
        "streaming_hours": (-0.030, 15.0),
    },
    {
        ("internet_service", "dsl"): 1.00,
        ("region", "west"): 0.80,
        ("region", "east"): -0.50,
        ("gender", "male"): 0.40,
        ("payment_method", "credit_card"): 0.60,
    },
)

_RULES: dict[str, _RuleTerms] = {"base": _BASE_RULE, "concept": _CONCEPT_RULE}

# Approximate share of positives under the base rule; only used to size the pool of
# the label_shift scenario (the pool grows if this guess is too optimistic).
_APPROX_BASE_RATE: float = 0.27


def _rule_columns(rule: _RuleTerms) -> set[str]:
    _, numeric, indicators = rule
    return set(numeric) | {column for column, _ in indicators}


def _logit(
    rule: _RuleTerms,
    numeric: Mapping[str, np.ndarray],
    indicator: _IndicatorFn,
    n: int,
) -> np.ndarray:
    intercept, numeric_terms, indicator_terms = rule
    z = np.full(n, intercept, dtype=np.float64)
    for column, (coef, centre) in numeric_terms.items():
        z += coef * (np.asarray(numeric[column], dtype=np.float64) - centre)
    for (column, level), coef in indicator_terms.items():
        z += coef * indicator(column, level)
    return z


class _IndicatorFn:
    """Callable ``(column, level) -> float array`` of 0/1 indicators."""

    def __init__(self, lookup: Mapping[str, np.ndarray], codes: bool) -> None:
        self._lookup = lookup
        self._codes = codes

    def __call__(self, column: str, level: str) -> np.ndarray:
        values = self._lookup[column]
        if self._codes:
            target = CATEGORY_LEVELS[column].index(level)
            return (values == target).astype(np.float64)
        return np.asarray(values == level, dtype=np.float64)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def churn_probability(
    features: pd.DataFrame, rule: Literal["base", "concept"] = "base"
) -> np.ndarray:
    """Return the true ``P(churn=1 | x)`` of the known logistic model, one per row.

    ``rule="base"`` is the model behind every scenario except ``concept_drift``,
    which draws its labels from ``rule="concept"``. Only the columns the rule uses
    must be present; extra columns are ignored. A categorical value that is not one
    of ``CATEGORY_LEVELS`` (or missing) simply matches no indicator; a missing
    numeric value yields NaN.
    """
    if rule not in _RULES:
        raise ValueError(f"unknown rule {rule!r}; expected one of {tuple(_RULES)}")
    terms = _RULES[rule]
    missing = sorted(_rule_columns(terms) - set(features.columns))
    if missing:
        raise ValueError(
            f"churn_probability(rule={rule!r}) needs columns missing from the frame: {missing}"
        )
    numeric = {c: features[c].to_numpy(dtype=np.float64, na_value=np.nan) for c in terms[1]}
    categorical = {column: features[column].to_numpy(dtype=object) for column, _ in terms[2]}
    z = _logit(terms, numeric, _IndicatorFn(categorical, codes=False), len(features))
    return _sigmoid(z)


# ------------------------------------------------------------- other tasks' models

#: Standard deviation of the Gaussian noise on ``next_month_charges`` (currency units).
CHARGES_NOISE_STD: float = 3.0

# Regression, base regime: the bill is this month's charges less the contract discount,
# plus usage charged above an allowance and a fee per extra device. Concept drift (new
# pricing): fiber costs 12 more, discounts are no longer applied, usage is charged from a
# lower allowance at a higher rate and streaming is billed; the inputs do not change.
_CHARGES_RULES: dict[str, dict[str, float]] = {
    "base": {"fiber_fee": 0.0, "discount_applied": 1.0, "allowance_gb": 25.0,
             "per_gb": 0.20, "per_device": 1.5, "per_streaming_hour": 0.0},
    "concept": {"fiber_fee": 12.0, "discount_applied": 0.0, "allowance_gb": 10.0,
                "per_gb": 0.60, "per_device": 1.5, "per_streaming_hour": 0.10},
}
_CHARGES_COLUMNS: tuple[str, ...] = ("monthly_charges", "discount_pct", "data_usage_gb",
                                     "num_devices", "streaming_hours", "internet_service")


def _charges_mean(
    rule: str, numeric: Mapping[str, np.ndarray], indicator: _IndicatorFn
) -> np.ndarray:
    c = _CHARGES_RULES[rule]
    monthly = np.asarray(numeric["monthly_charges"], dtype=np.float64)
    discount = np.asarray(numeric["discount_pct"], dtype=np.float64) / 100.0
    usage = np.asarray(numeric["data_usage_gb"], dtype=np.float64)
    devices = np.asarray(numeric["num_devices"], dtype=np.float64)
    streaming = np.asarray(numeric["streaming_hours"], dtype=np.float64)
    return (
        (monthly + c["fiber_fee"] * indicator("internet_service", "fiber"))
        * (1.0 - c["discount_applied"] * discount)
        + c["per_gb"] * np.maximum(usage - c["allowance_gb"], 0.0)
        + c["per_device"] * (devices - 1.0)
        + c["per_streaming_hour"] * streaming
    )


# Multiclass: one logit rule per plan (format of _RuleTerms), "standard" is the reference
# class (logit 0). Base regime: cancelling follows dissatisfaction and short contracts,
# premium follows usage, basic follows low charges. Concept drift: other drivers take over
# (network quality, household, payment habits) with class shares kept close to the base.
_ZERO_RULE: _RuleTerms = (0.0, {}, {})
_PLAN_RULES: dict[str, dict[str, _RuleTerms]] = {
    "base": {
        "basic": (
            -2.2,
            {"monthly_charges": (-0.15, 65.0), "discount_pct": (0.10, 7.0)},
            {("internet_service", "none"): 2.0, ("senior_citizen", "yes"): 1.5},
        ),
        "standard": _ZERO_RULE,
        "premium": (
            -3.2,
            {"num_services": (1.125, 2.5), "data_usage_gb": (0.0625, 15.0),
             "streaming_hours": (0.0625, 15.0), "num_devices": (0.875, 2.5)},
            {("internet_service", "fiber"): 2.0},
        ),
        "cancel": (
            -2.3,
            {"tenure_months": (-0.0875, 24.0), "support_calls": (1.0, 1.5),
             "satisfaction_score": (-0.875, 6.0), "late_payments": (0.875, 0.5)},
            {("contract", "month-to-month"): 2.75},
        ),
    },
    "concept": {
        "basic": (
            -2.0,
            {"age": (0.125, 44.0), "tenure_months": (0.075, 24.0)},
            {("payment_method", "mailed_check"): 3.0, ("contract", "two-year"): 2.0},
        ),
        "standard": _ZERO_RULE,
        "premium": (
            -2.5,
            {"dependents": (1.5, 0.7), "avg_call_minutes": (0.25, 6.0)},
            {("partner", "yes"): 2.5, ("region", "east"): 2.25, ("gender", "female"): 1.25},
        ),
        "cancel": (
            -2.5,
            {"dropped_calls": (1.25, 1.3), "days_since_last_contact": (0.05, 45.0)},
            {("region", "west"): 3.0, ("payment_method", "electronic_check"): 2.25},
        ),
    },
}


def _plan_probabilities(
    rule: str, numeric: Mapping[str, np.ndarray], indicator: _IndicatorFn, n: int
) -> np.ndarray:
    rules = _PLAN_RULES[rule]
    z = np.column_stack([_logit(rules[plan], numeric, indicator, n) for plan in PLANS])
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=np.float64)


def _plan_columns(rule: str) -> set[str]:
    return set().union(*(_rule_columns(r) for r in _PLAN_RULES[rule].values()))


def _frame_inputs(
    features: pd.DataFrame, columns: set[str], what: str
) -> tuple[dict[str, np.ndarray], _IndicatorFn]:
    missing = sorted(columns - set(features.columns))
    if missing:
        raise ValueError(f"{what} needs columns missing from the frame: {missing}")
    numeric = {c: features[c].to_numpy(dtype=np.float64, na_value=np.nan)
               for c in sorted(columns) if c in NUMERIC_FEATURES}
    categorical = {c: features[c].to_numpy(dtype=object)
                   for c in sorted(columns) if c in CATEGORICAL_FEATURES}
    return numeric, _IndicatorFn(categorical, codes=False)


def _check_rule(rule: str) -> None:
    if rule not in _RULES:
        raise ValueError(f"unknown rule {rule!r}; expected one of {tuple(_RULES)}")


def expected_charges(
    features: pd.DataFrame, rule: Literal["base", "concept"] = "base"
) -> np.ndarray:
    """Return the true ``E[next_month_charges | x]`` (before noise), one per row.

    ``rule="concept"`` is the pricing of the ``concept_drift`` scenario. The generated
    target is this plus ``N(0, CHARGES_NOISE_STD)`` noise, rounded to cents and clipped at 0.
    """
    _check_rule(rule)
    numeric, indicator = _frame_inputs(
        features, set(_CHARGES_COLUMNS), f"expected_charges(rule={rule!r})")
    return _charges_mean(rule, numeric, indicator)


def plan_probabilities(
    features: pd.DataFrame, rule: Literal["base", "concept"] = "base"
) -> np.ndarray:
    """Return the true ``P(next_plan = plan | x)``, shape ``(n, len(PLANS))``, columns in
    ``PLANS`` order (not sorted). ``rule="concept"`` drives the ``concept_drift`` scenario."""
    _check_rule(rule)
    numeric, indicator = _frame_inputs(
        features, _plan_columns(rule), f"plan_probabilities(rule={rule!r})")
    return _plan_probabilities(rule, numeric, indicator, len(features))


# ------------------------------------------------------------------- base sampling


@dataclass
class _Sample:
    """Raw arrays of one sample: numeric floats, categorical integer codes, uniforms."""

    numeric: dict[str, np.ndarray]
    codes: dict[str, np.ndarray]
    label_uniform: np.ndarray

    @property
    def n(self) -> int:
        return len(self.label_uniform)

    def probability(self, rule: str) -> np.ndarray:
        terms = _RULES[rule]
        z = _logit(terms, self.numeric, _IndicatorFn(self.codes, codes=True), self.n)
        return _sigmoid(z)

    def labels(self, rule: str) -> np.ndarray:
        return (self.label_uniform < self.probability(rule)).astype(np.int64)

    def target(self, task: str, rule: str) -> np.ndarray:
        """The task's target under ``rule``: churn labels (int64 0/1), charges (float64) or
        plan indices into ``PLANS`` (int64); a pure function of the sample."""
        if task == "binary":
            return self.labels(rule)
        indicator = _IndicatorFn(self.codes, codes=True)
        if task == "regression":
            mean = _charges_mean(rule, self.numeric, indicator)
            noise = special.ndtri(np.clip(self.label_uniform, 1e-12, 1.0 - 1e-12))
            return np.round(np.clip(mean + CHARGES_NOISE_STD * noise, 0.0, None), 2)
        proba = _plan_probabilities(rule, self.numeric, indicator, self.n)
        below = self.label_uniform[:, None] >= np.cumsum(proba, axis=1)
        return np.minimum(below.sum(axis=1), len(PLANS) - 1).astype(np.int64)

    def take(self, index: np.ndarray) -> _Sample:
        return _Sample(
            numeric={k: v[index] for k, v in self.numeric.items()},
            codes={k: v[index] for k, v in self.codes.items()},
            label_uniform=self.label_uniform[index],
        )


def _categorical(rng: np.random.Generator, n: int, p: Sequence[float]) -> np.ndarray:
    cdf = np.cumsum(np.asarray(p, dtype=np.float64))
    cdf /= cdf[-1]
    return np.searchsorted(cdf, rng.random(n), side="right").astype(np.int8)


def _sample_base(rng: np.random.Generator, n: int) -> _Sample:
    """Draw ``n`` i.i.d. rows from the reference distribution (fixed draw order)."""
    # categorical drivers
    contract = _categorical(rng, n, (0.55, 0.21, 0.24))
    internet = _categorical(rng, n, (0.34, 0.44, 0.22))  # dsl, fiber, none
    payment = _categorical(rng, n, (0.34, 0.23, 0.22, 0.21))
    gender = _categorical(rng, n, (0.5, 0.5))
    partner = (rng.random(n) < 0.48).astype(np.int8)
    paperless = (rng.random(n) < np.where(internet == 2, 0.35, 0.65)).astype(np.int8)
    region = _categorical(rng, n, (0.22, 0.20, 0.20, 0.18, 0.20))

    age = np.clip(np.round(rng.normal(44.0, 15.0, n)), 18.0, 90.0)
    senior = (age >= 65.0).astype(np.int8)

    # tenure: right-skewed, longer for longer contracts
    tenure_shape = np.array([1.0, 2.5, 4.0])[contract]
    tenure_scale = np.array([14.0, 12.0, 12.0])[contract]
    tenure = np.clip(np.ceil(rng.gamma(tenure_shape, tenure_scale)), 1.0, 72.0)

    services_rate = np.array([2.5, 3.5, 0.5])[internet]
    num_services = np.clip(rng.poisson(services_rate), 0, 8).astype(np.float64)
    charge_base = np.array([45.0, 75.0, 20.0])[internet]
    monthly = np.round(
        np.clip(charge_base + 6.0 * num_services + rng.normal(0.0, 5.0, n), 18.0, 120.0), 2
    )
    total = np.round(np.clip(tenure * monthly * np.exp(rng.normal(0.0, 0.05, n)), 0.0, 15_000.0), 2)

    fiber = (internet == 1).astype(np.float64)
    support_rate = 1.0 + 0.5 * fiber + 0.4 * (tenure < 12)
    support_calls = np.clip(rng.poisson(support_rate), 0, 30).astype(np.float64)
    avg_call_minutes = np.round(np.clip(rng.gamma(3.0, 2.0, n), 0.0, 120.0), 2)

    usage_log_mean = np.array([2.5, 3.2, 0.5])[internet]
    data_usage = np.round(np.clip(np.exp(rng.normal(usage_log_mean, 0.6)), 0.0, 500.0), 2)

    late_rate = 0.3 + 0.5 * (payment == 0) + 0.3 * (contract == 0)
    late_payments = np.clip(rng.poisson(late_rate), 0, 24).astype(np.float64)
    days_contact = np.clip(np.floor(rng.exponential(45.0, n)), 0.0, 365.0)
    dependents = np.clip(rng.poisson(np.where(partner == 1, 1.2, 0.3)), 0, 10).astype(np.float64)
    streaming_scale = np.array([8.0, 15.0, 1.0])[internet]
    streaming = np.round(np.clip(rng.gamma(2.0, streaming_scale), 0.0, 168.0), 1)
    drop_rate = np.array([1.0, 1.5, 0.8, 2.0, 1.2])[region]
    dropped_calls = np.clip(rng.poisson(drop_rate), 0, 60).astype(np.float64)
    satisfaction = np.round(
        np.clip(
            7.2 - 0.45 * support_calls - 0.15 * dropped_calls + rng.normal(0.0, 1.6, n),
            1.0,
            10.0,
        ),
        1,
    )
    discount_mean = np.array([2.0, 8.0, 15.0])[contract]
    discount = np.clip(np.round(2.0 * rng.normal(discount_mean, 4.0)) / 2.0, 0.0, 50.0)
    num_devices = np.clip(
        1.0 + rng.poisson(1.2 + 0.3 * partner + 0.3 * np.minimum(dependents, 3)), 1, 12
    ).astype(np.float64)

    label_uniform = rng.random(n)

    numeric = {
        "tenure_months": tenure,
        "monthly_charges": monthly,
        "total_charges": total,
        "support_calls": support_calls,
        "avg_call_minutes": avg_call_minutes,
        "data_usage_gb": data_usage,
        "num_services": num_services,
        "late_payments": late_payments,
        "days_since_last_contact": days_contact,
        "age": age,
        "dependents": dependents,
        "streaming_hours": streaming,
        "dropped_calls": dropped_calls,
        "satisfaction_score": satisfaction,
        "discount_pct": discount,
        "num_devices": num_devices,
    }
    codes = {
        "contract": contract,
        "payment_method": payment,
        "internet_service": internet,
        "gender": gender,
        "senior_citizen": senior,
        "partner": partner,
        "paperless_billing": paperless,
        "region": region,
    }
    numeric = {k: np.ascontiguousarray(v, dtype=np.float64) for k, v in numeric.items()}
    return _Sample(numeric=numeric, codes=codes, label_uniform=label_uniform)


@functools.lru_cache(maxsize=1)
def _reference_std() -> dict[str, float]:
    """Standard deviation of each numeric feature in a fixed 100k-row reference."""
    sample = _sample_base(np.random.default_rng(0), 100_000)
    return {k: float(np.std(v)) for k, v in sample.numeric.items()}


@functools.lru_cache(maxsize=1)
def _reference_targets() -> tuple[tuple[float, ...], float]:
    """Base-regime class shares of ``PLANS`` and median of ``next_month_charges`` in a fixed
    100k-row reference (what ``label_shift`` of the other tasks is defined against)."""
    sample = _sample_base(np.random.default_rng(0), 100_000)
    plans = np.bincount(sample.target("multiclass", "base"), minlength=len(PLANS))
    shares = tuple(float(c) for c in plans / plans.sum())
    return shares, float(np.median(sample.target("regression", "base")))


# ------------------------------------------------------------------- scenarios

#: Share of rows re-assigned to the target category per unit of ``shift_strength``.
_CATEGORICAL_SHIFT_RATE: float = 0.45
#: Location shift, in reference standard deviations, per unit of ``shift_strength``.
_NUMERIC_SHIFT_STD: float = 0.75
#: Category that a covariate shift moves probability mass towards.
_SHIFT_TARGET_LEVEL: dict[str, str] = {
    "contract": "month-to-month",
    "payment_method": "electronic_check",
    "internet_service": "fiber",
    "gender": "male",
    "senior_citizen": "yes",
    "partner": "no",
    "paperless_billing": "yes",
    "region": "west",
}


@dataclass(frozen=True)
class ScenarioInfo:
    """What a scenario claims to change.

    ``changed`` lists the columns whose distribution is altered: feature columns for
    ``covariate_shift`` / ``data_quality``, ``("churn",)`` for ``label_shift`` (P(y)
    changes) and ``concept_drift`` (P(y|x) changes, the churn rate does not).
    ``label_change`` is ``"none"``, ``"prior"`` or ``"concept"``; ``faults`` lists
    ``(column, fault_kind)`` pairs of ``data_quality``.
    """

    name: str
    description: str
    changed: tuple[str, ...]
    label_change: Literal["none", "prior", "concept"] = "none"
    faults: tuple[tuple[str, str], ...] = ()


def _check_scenario(scenario: str) -> None:
    if scenario not in SCENARIOS:
        allowed = ", ".join(SCENARIOS)
        raise ValueError(f"unknown scenario {scenario!r}; allowed scenarios: {allowed}")


def _resolve_shift_features(shift_features: Sequence[str] | None) -> tuple[str, ...]:
    if shift_features is None:
        return DEFAULT_SHIFT_FEATURES
    if isinstance(shift_features, str):
        shift_features = (shift_features,)
    resolved = tuple(dict.fromkeys(shift_features))
    if not resolved:
        raise ValueError("shift_features must name at least one feature")
    unknown = [c for c in resolved if c not in FEATURES]
    if unknown:
        raise ValueError(f"unknown shift_features {unknown}; expected names from FEATURES")
    return resolved


def _resolve_quality_faults(
    quality_columns: Sequence[str] | Mapping[str, str | Sequence[str]] | None,
) -> dict[str, tuple[str, ...]]:
    """Map each faulty column to its fault kinds (see :func:`generate_batch`)."""
    if quality_columns is None:
        return dict(DEFAULT_QUALITY_FAULTS)
    faults: dict[str, tuple[str, ...]] = {}
    if isinstance(quality_columns, Mapping):
        for column, kinds in quality_columns.items():
            kinds_t = (kinds,) if isinstance(kinds, str) else tuple(dict.fromkeys(kinds))
            faults[column] = kinds_t
    else:
        if isinstance(quality_columns, str):
            quality_columns = (quality_columns,)
        for column in dict.fromkeys(quality_columns):
            typed = "out_of_range" if column in NUMERIC_FEATURES else "unseen_category"
            faults[column] = ("missing", typed)
    if not faults:
        raise ValueError("quality_columns must name at least one feature")
    for column, kinds in faults.items():
        if column not in FEATURES:
            raise ValueError(f"unknown quality column {column!r}; expected names from FEATURES")
        if not kinds:
            raise ValueError(f"no fault kind given for quality column {column!r}")
        for kind in kinds:
            if kind not in FAULT_KINDS:
                raise ValueError(
                    f"unknown fault kind {kind!r} for column {column!r}; "
                    f"expected one of {FAULT_KINDS}"
                )
            if kind == "unseen_category" and column not in CATEGORICAL_FEATURES:
                raise ValueError(
                    f"fault 'unseen_category' needs a categorical column, got {column!r}"
                )
            if kind == "out_of_range" and column not in NUMERIC_FEATURES:
                raise ValueError(f"fault 'out_of_range' needs a numeric column, got {column!r}")
    return faults


def _check_task(task: str) -> str:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    return task


def _check_label_rate(label_rate: float) -> float:
    rate = float(label_rate)
    if not 0.0 < rate < 1.0:
        raise ValueError(f"label_rate must be strictly between 0 and 1, got {label_rate!r}")
    return rate


def describe_scenario(
    scenario: str,
    *,
    shift_features: Sequence[str] | None = None,
    shift_strength: float = 1.0,
    label_rate: float = 0.55,
    quality_columns: Sequence[str] | Mapping[str, str | Sequence[str]] | None = None,
    task: str = "binary",
) -> ScenarioInfo:
    """Return what ``generate_batch(scenario, ...)`` with the same options changes."""
    _check_scenario(scenario)
    target = TASK_TARGETS[_check_task(task)]
    if scenario == "no_drift":
        return ScenarioInfo(
            name=scenario,
            description="Independent sample from the reference distribution; nothing changes.",
            changed=(),
        )
    if scenario == "covariate_shift":
        columns = _resolve_shift_features(shift_features)
        if shift_strength == 0:
            columns = ()
        return ScenarioInfo(
            name=scenario,
            description=(
                f"P(x) changes on {list(columns)} (numeric: location shifted by "
                f"{_NUMERIC_SHIFT_STD * shift_strength:g} reference std; categorical: "
                f"{min(1.0, _CATEGORICAL_SHIFT_RATE * abs(shift_strength)):.0%} of rows moved "
                "to one category); every other feature keeps its sampling; labels follow the base "
                "rule on the shifted features, so P(y|x) is unchanged."
            ),
            changed=columns,
        )
    if scenario == "label_shift":
        rate = _check_label_rate(label_rate)
        prior = {
            "binary": f"churn rate set to {rate:.0%}",
            "multiclass": f"share of next_plan 'cancel' set to {rate:.0%} (the other plans "
            "keep their reference proportions)",
            "regression": f"share of next_month_charges above the reference median set to "
            f"{rate:.0%}",
        }[task]
        return ScenarioInfo(
            name=scenario,
            description=(
                f"Prior shift: {prior} while P(x|y) is unchanged; feature "
                "marginals move only through the new class mixture."
            ),
            changed=(target,),
            label_change="prior",
        )
    if scenario == "concept_drift" and task == "regression":
        return ScenarioInfo(
            name=scenario,
            description=(
                "Concept drift: features from the reference distribution, next_month_charges "
                "from the new pricing (fiber +12, no discounts, usage charged above 10 GB at "
                "0.60, streaming billed): E(y|x) changes, the inputs do not."
            ),
            changed=(target,),
            label_change="concept",
        )
    if scenario == "concept_drift" and task == "multiclass":
        return ScenarioInfo(
            name=scenario,
            description=(
                "Concept drift: features from the reference distribution, next_plan drawn "
                "from the 'concept' softmax (other drivers: network quality, household, "
                "payment habits); plan shares stay close to the reference ones."
            ),
            changed=(target,),
            label_change="concept",
        )
    if scenario == "concept_drift":
        return ScenarioInfo(
            name=scenario,
            description=(
                "Concept drift: features from the reference distribution, labels from the "
                "'concept' rule (P(y|x) changes); the churn rate stays close to the base rate."
            ),
            changed=(TARGET,),
            label_change="concept",
        )
    faults = _resolve_quality_faults(quality_columns)
    pairs = tuple((column, kind) for column, kinds in faults.items() for kind in kinds)
    return ScenarioInfo(
        name=scenario,
        description=(
            "Reference data and base labels, then faults: "
            + "; ".join(f"{c}: {k}" for c, k in pairs)
            + f" (missing {MISSING_FRACTION:.0%}, unseen category {UNSEEN_FRACTION:.0%}, "
            f"out of range {OUT_OF_RANGE_FRACTION:.0%} of rows)."
        ),
        changed=tuple(faults),
        faults=pairs,
    )


def _apply_covariate_shift(
    rng: np.random.Generator,
    sample: _Sample,
    columns: Sequence[str],
    strength: float,
) -> None:
    if strength == 0:
        return
    stds = _reference_std()
    for column in columns:
        if column in NUMERIC_FEATURES:
            lo, hi = FEATURE_RANGES[column]
            shifted = sample.numeric[column] + _NUMERIC_SHIFT_STD * strength * stds[column]
            shifted = np.round(shifted, _DECIMALS.get(column, 2))
            sample.numeric[column] = np.clip(shifted, lo, hi)
        else:
            target = CATEGORY_LEVELS[column].index(_SHIFT_TARGET_LEVEL[column])
            codes = sample.codes[column]
            rate = min(1.0, _CATEGORICAL_SHIFT_RATE * abs(strength))
            move = rng.random(sample.n) < rate
            if strength > 0:
                # move mass to the target category
                sample.codes[column] = np.where(move, target, codes).astype(np.int8)
            else:
                # move mass away from the target, uniformly to the other categories
                others = np.array(
                    [i for i in range(len(CATEGORY_LEVELS[column])) if i != target], dtype=np.int8
                )
                replacement = others[rng.integers(0, len(others), sample.n)]
                moved = np.where(move & (codes == target), replacement, codes)
                sample.codes[column] = moved.astype(np.int8)


def _label_shift_sample(
    rng: np.random.Generator, n_rows: int, rate: float
) -> tuple[_Sample, np.ndarray]:
    """First ``n_pos`` positives and ``n_neg`` negatives of an i.i.d. stream, shuffled.

    Rows of the stream are i.i.d., so the first k rows of a class are an i.i.d.
    sample of P(x | y=class): P(x|y) is exactly the reference one.
    """
    n_pos = int(round(rate * n_rows))
    n_neg = n_rows - n_pos
    pos_parts: list[_Sample] = []
    neg_parts: list[_Sample] = []
    got_pos = got_neg = 0
    while got_pos < n_pos or got_neg < n_neg:
        need = max(
            (n_pos - got_pos) / _APPROX_BASE_RATE, (n_neg - got_neg) / (1.0 - _APPROX_BASE_RATE)
        )
        chunk = _sample_base(rng, int(math.ceil(need * 1.1)) + 64)
        y = chunk.labels("base")
        pos_idx = np.flatnonzero(y == 1)[: n_pos - got_pos]
        neg_idx = np.flatnonzero(y == 0)[: n_neg - got_neg]
        pos_parts.append(chunk.take(pos_idx))
        neg_parts.append(chunk.take(neg_idx))
        got_pos += len(pos_idx)
        got_neg += len(neg_idx)
    parts = pos_parts + neg_parts
    merged = _Sample(
        numeric={k: np.concatenate([p.numeric[k] for p in parts]) for k in NUMERIC_FEATURES},
        codes={k: np.concatenate([p.codes[k] for p in parts]) for k in CATEGORICAL_FEATURES},
        label_uniform=np.concatenate([p.label_uniform for p in parts]),
    )
    labels = np.concatenate([np.ones(got_pos, dtype=np.int64), np.zeros(got_neg, dtype=np.int64)])
    order = rng.permutation(n_rows)
    return merged.take(order), labels[order]


def _stratified_label_shift(
    rng: np.random.Generator, n_rows: int, rate: float, task: str
) -> _Sample:
    """``label_shift`` of the regression and multiclass tasks: the first rows of each stratum
    (plan; or charges above / at most the reference median) of an i.i.d. stream, shuffled,
    so P(x|stratum) is exactly the reference one. Strata counts: ``rate`` for 'cancel' (the
    other plans share the rest in their reference proportions) or for charges above the
    median."""
    shares, median = _reference_targets()
    if task == "multiclass":
        cancel = PLANS.index("cancel")
        rest = np.array([0.0 if i == cancel else s for i, s in enumerate(shares)])
        ideal = rest / rest.sum() * (n_rows - int(round(rate * n_rows)))
        counts = np.floor(ideal).astype(np.int64)
        short = int(round(ideal.sum() - counts.sum()))  # largest remainders get one more
        counts[np.argsort(-(ideal - counts), kind="stable")[:short]] += 1
        counts[cancel] = int(round(rate * n_rows))
        base = np.asarray(shares)

        def strata(chunk: _Sample) -> np.ndarray:
            return chunk.target("multiclass", "base")
    else:
        counts = np.array([n_rows - int(round(rate * n_rows)), int(round(rate * n_rows))])
        base = np.array([0.5, 0.5])

        def strata(chunk: _Sample) -> np.ndarray:
            return (chunk.target("regression", "base") > median).astype(np.int64)

    got = np.zeros(len(counts), dtype=np.int64)
    parts: list[list[_Sample]] = [[] for _ in counts]
    while (got < counts).any():
        need = float(np.max((counts - got) / np.maximum(base, 1e-3)))
        chunk = _sample_base(rng, int(math.ceil(need * 1.1)) + 64)
        labels = strata(chunk)
        for k in range(len(counts)):
            index = np.flatnonzero(labels == k)[: counts[k] - got[k]]
            parts[k].append(chunk.take(index))
            got[k] += len(index)
    merged = [p for stratum in parts for p in stratum]
    sample = _Sample(
        numeric={k: np.concatenate([p.numeric[k] for p in merged]) for k in NUMERIC_FEATURES},
        codes={k: np.concatenate([p.codes[k] for p in merged]) for k in CATEGORICAL_FEATURES},
        label_uniform=np.concatenate([p.label_uniform for p in merged]),
    )
    return sample.take(rng.permutation(n_rows))


def _apply_quality_faults(
    rng: np.random.Generator,
    frame: pd.DataFrame,
    faults: Mapping[str, Sequence[str]],
) -> None:
    """Corrupt ``frame`` in place. Per column, faults hit disjoint random rows."""
    n = len(frame)
    for column, kinds in faults.items():
        order = rng.permutation(n)
        start = 0
        # type-specific faults first, missing values on other rows
        for kind in sorted(kinds, key=lambda k: k == "missing"):
            fraction = {
                "missing": MISSING_FRACTION,
                "unseen_category": UNSEEN_FRACTION,
                "out_of_range": OUT_OF_RANGE_FRACTION,
            }[kind]
            count = int(round(fraction * n))
            rows = np.sort(order[start : start + count])
            start += count
            if count == 0:
                continue
            position = frame.columns.get_loc(column)
            if kind == "missing":
                frame.iloc[rows, position] = np.nan
            elif kind == "unseen_category":
                frame.iloc[rows, position] = UNSEEN_CATEGORIES[column]
            else:
                values = frame[column].to_numpy(dtype=np.float64, copy=True)
                lo, hi = FEATURE_RANGES[column]
                mode = _OUT_OF_RANGE_MODE.get(column, "both")
                x = np.abs(values[rows])
                negative = -(x + 1.0) + min(lo, 0.0)
                high = 10.0 * x + hi + 1.0
                if mode == "negative":
                    corrupted = negative
                elif mode == "times_ten":
                    corrupted = high
                else:
                    corrupted = np.where(np.arange(count) % 2 == 0, negative, high)
                values[rows] = corrupted
                frame[column] = values


# --------------------------------------------------------------------- frame build


def _string_take(levels: Sequence[str], codes: np.ndarray) -> object:
    """``levels[codes]`` as an array of ``STRING_DTYPE``."""
    index = codes.astype(np.intp)
    if STRING_DTYPE == np.dtype(object):
        return np.asarray(levels, dtype=object)[index]
    return pd.array(list(levels), dtype=STRING_DTYPE).take(index)


def _build_frame(
    sample: _Sample,
    labels: np.ndarray,
    seed: int,
    start_time: pd.Timestamp,
    period: pd.Timedelta,
    task: str = "binary",
) -> pd.DataFrame:
    n = sample.n
    ids = f"C{seed:04d}-" + pd.Series(np.arange(n)).astype(str).str.zfill(7)
    period_ns = int(period / pd.Timedelta(1, unit="ns"))
    quotient, remainder = divmod(period_ns, n)
    index = np.arange(n, dtype=np.int64)
    if quotient >= 1:
        # i * period / n in exact integer arithmetic (no overflow, strictly increasing)
        offsets = index * quotient + (index * remainder) // n
    else:
        logger.warning("period %s is shorter than %d ns; using 1 ns steps", period, n)
        offsets = index
    timestamps = pd.DatetimeIndex(start_time + pd.to_timedelta(offsets, unit="ns")).as_unit("ns")
    data: dict[str, object] = {
        ID_COLUMN: ids.astype(STRING_DTYPE).array,
        TIMESTAMP_COLUMN: timestamps,
    }
    for column in NUMERIC_FEATURES:
        data[column] = sample.numeric[column]
    for column in CATEGORICAL_FEATURES:
        data[column] = _string_take(CATEGORY_LEVELS[column], sample.codes[column])
    if task == "binary":
        data[TARGET] = np.asarray(labels, dtype=np.int64)
    elif task == "multiclass":
        data[MULTICLASS_TARGET] = _string_take(PLANS, labels)
    else:
        data[REGRESSION_TARGET] = np.asarray(labels, dtype=np.float64)
    return pd.DataFrame(data)


def generate_batch(
    scenario: str,
    n_rows: int,
    seed: int,
    *,
    start_time: pd.Timestamp | None = None,
    shift_features: Sequence[str] | None = None,
    shift_strength: float = 1.0,
    label_rate: float = 0.55,
    quality_columns: Sequence[str] | Mapping[str, str | Sequence[str]] | None = None,
    period: pd.Timedelta | None = None,
    task: str = "binary",
) -> pd.DataFrame:
    """Generate ``n_rows`` labelled rows of the named drift ``scenario``.

    Columns: ``customer_id``, ``event_timestamp``, ``NUMERIC_FEATURES``,
    ``CATEGORICAL_FEATURES``, then the ``task``'s target (``TASK_TARGETS``): ``churn``
    (int64 0/1, ``"binary"``, the default), ``next_month_charges`` (float64,
    ``"regression"``) or ``next_plan`` (text, one of ``PLANS``, ``"multiclass"``). The
    features are the same for every task (same seed, same customers). The frame is a pure
    function of the arguments; ``customer_id`` is ``f"C{seed:04d}-{i:07d}"`` (unique within a frame,
    repeated across frames with the same seed); timestamps are evenly spaced over
    ``period`` (default one day) from ``start_time`` (default 2026-01-01).

    Scenario options (ignored by the other scenarios):

    * ``covariate_shift``: ``shift_features`` (default ``DEFAULT_SHIFT_FEATURES``) and
      ``shift_strength`` (numeric: location + 0.75 * strength reference std, clipped
      to ``FEATURE_RANGES``; categorical: 45% * strength of the rows moved to one
      category; a negative strength shifts the other way).
    * ``label_shift``: ``label_rate``, the churn share in the batch; multiclass: the share
      of ``cancel`` (the other plans keep their reference proportions); regression: the
      share of rows whose charges exceed the reference median (0.5 in the reference).
    * ``data_quality``: ``quality_columns``: a mapping ``column -> fault kind(s)``
      (``"missing"``, ``"unseen_category"``, ``"out_of_range"``), or a sequence of
      columns, each then getting ``missing`` plus ``out_of_range`` (numeric) or
      ``unseen_category`` (categorical); default ``DEFAULT_QUALITY_FAULTS``.
    """
    _check_scenario(scenario)
    if isinstance(n_rows, bool) or not isinstance(n_rows, (int, np.integer)):
        raise ValueError(f"n_rows must be an integer >= 1, got {n_rows!r}")
    if n_rows < 1:
        raise ValueError(f"n_rows must be >= 1, got {n_rows}")
    n_rows = int(n_rows)
    # validate options before any work (also yields the info for logging)
    info = describe_scenario(
        scenario,
        shift_features=shift_features,
        shift_strength=shift_strength,
        label_rate=label_rate,
        quality_columns=quality_columns,
        task=task,
    )
    start = DEFAULT_START_TIME if start_time is None else pd.Timestamp(start_time)
    span = DEFAULT_PERIOD if period is None else pd.Timedelta(period)
    if span <= pd.Timedelta(0):
        raise ValueError(f"period must be positive, got {span}")

    began = time.perf_counter()
    rng = np.random.default_rng(seed)
    rule = "concept" if scenario == "concept_drift" else "base"
    if scenario == "label_shift" and task == "binary":
        sample, labels = _label_shift_sample(rng, n_rows, _check_label_rate(label_rate))
    elif scenario == "label_shift":
        sample = _stratified_label_shift(rng, n_rows, _check_label_rate(label_rate), task)
        labels = sample.target(task, rule)
    else:
        sample = _sample_base(rng, n_rows)
        if scenario == "covariate_shift":
            _apply_covariate_shift(rng, sample, info.changed, float(shift_strength))
        labels = sample.target(task, rule)

    frame = _build_frame(sample, labels, seed, start, span, task)
    if scenario == "data_quality":
        _apply_quality_faults(rng, frame, dict(_resolve_quality_faults(quality_columns)))
    logger.debug(
        "generated %s rows of scenario %s, task %s (seed=%s, mean target %.3f) in %.3fs",
        n_rows,
        scenario,
        task,
        seed,
        float(labels.mean()),
        time.perf_counter() - began,
    )
    return frame


def generate_reference(
    n_rows: int,
    seed: int = 42,
    *,
    start_time: pd.Timestamp | None = None,
    period: pd.Timedelta | None = None,
    task: str = "binary",
) -> pd.DataFrame:
    """Reference (training) data: ``generate_batch("no_drift", n_rows, seed, ...)``."""
    return generate_batch("no_drift", n_rows, seed, start_time=start_time, period=period,
                          task=task)
