"""Typed, validated configuration: one frozen settings object with documented defaults.

Layers, lowest to highest precedence:

1. defaults declared below;
2. a TOML file (``monitoring.toml`` in the working directory, or the file named by
   ``CHURNMON_CONFIG`` or ``--config``);
3. environment variables ``CHURNMON_<SECTION>__<KEY>`` (e.g.
   ``CHURNMON_MONITORING__DRIFT_P_VALUE=0.01``), plus ``MLFLOW_TRACKING_URI`` for
   ``tracking.uri``;
4. explicit overrides (command line ``--set section.key=value`` and named options).

A bad value is rejected at start-up with a :class:`~pipelines.errors.ConfigError` naming the
key, the value, where it came from and what is allowed.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    ValidationError,
    field_validator,
)

from pipelines.constraints import (
    CORRECTIONS,
    DURATION,
    MARGIN,
    MARGIN_MODES,
    NON_NEGATIVE,
    OPEN_UNIT,
    POSITIVE_DURATION,
    UNIT,
    Interval,
    Options,
    Satisfies,
    message,
)
from pipelines.errors import ConfigError
from pipelines.problems import ProblemType

NON_NEGATIVE_INT = Interval(int, 0, None)
POSITIVE_INT = Interval(int, 1, None)
SPLIT_SHARE = Interval(float, 0, 0.5, closed="neither")
NonEmpty = Annotated[str, Satisfies(lambda v: bool(str(v).strip()), "a non-empty string")]

#: Characters a name must not hold: MLflow refuses '/' and ':' in registered model names, and
#: quotes (or a backslash) would break the filter strings searches quote names in.
_UNQUOTABLE = ("'", '"', "\\")


def _model_name_ok(value: object) -> bool:
    """MLflow's rule for registered model names (non-empty, no '/' or ':', not a path that
    normalises to another name), and nothing a search filter cannot quote."""
    name = str(value)
    norm = posixpath.normpath(name)
    return (bool(name.strip()) and not any(c in name for c in ("/", ":", *_UNQUOTABLE))
            and norm == name and norm != "." and not norm.startswith(".."))


def _experiment_prefix_ok(value: object) -> bool:
    """Experiment names (``<prefix>-Retraining`` the longest) within MLflow's 500 characters,
    and nothing a search filter cannot quote."""
    name = str(value)
    return (bool(name.strip()) and len(name) + len("-Retraining") <= 500
            and not any(c in name for c in _UNQUOTABLE))


def _alias_ok(value: object) -> bool:
    """MLflow's rule for aliases: letters, digits, '_' and '-', at most 255, not 'latest' and
    not a version alias such as 'v3'."""
    name = str(value)
    return (bool(re.fullmatch(r"[\w\-]{1,255}", name)) and name.lower() != "latest"
            and not re.fullmatch(r"[vV]\d+", name))


ModelName = Annotated[str, Satisfies(
    _model_name_ok, "a registered model name MLflow accepts and searches can quote (not empty; "
    "no /, :, quotes or backslash; not a path such as '..' or 'a/./b')")]
ExperimentPrefix = Annotated[str, Satisfies(
    _experiment_prefix_ok, "an experiment name prefix MLflow accepts and searches can quote "
    "(not empty, at most 489 characters, no quotes or backslash)")]
Alias = Annotated[str, Satisfies(
    _alias_ok, "a registry alias MLflow accepts (1-255 letters, digits, _ or -; not 'latest' "
    "or a version alias such as 'v3')")]

ENV_PREFIX = "CHURNMON_"
CONFIG_ENV_VAR = "CHURNMON_CONFIG"
DEFAULT_CONFIG_FILE = "monitoring.toml"


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


class TrackingSettings(_Section):
    """Where runs, models and artifacts go."""

    uri: NonEmpty = "sqlite:///mlflow.db"
    """Tracking + registry URI. Default: an embedded SQLite file in the working directory."""
    artifact_root: NonEmpty = "mlartifacts"
    """Artifact folder for experiments created on a local (SQLite) store, beside the DB; on a
    database server (PostgreSQL) relative to the working directory; or a URI such as
    ``s3://bucket/mlartifacts`` (any store but a tracking server)."""
    experiment_prefix: ExperimentPrefix = "ChurnPrediction"
    registered_model_name: ModelName = "churn-model"
    champion_alias: Alias = "champion"
    previous_alias: Alias = "previous-champion"
    request_timeout_seconds: Annotated[float, POSITIVE_DURATION] = 10.0
    sqlite_busy_timeout_seconds: Annotated[float, POSITIVE_DURATION] = 30.0
    """How long a SQLite store waits for another writer's lock before the step fails with
    one line (exit code 1: run again later)."""

    @property
    def pipeline_experiment(self) -> str:
        return f"{self.experiment_prefix}-Pipeline"

    @property
    def monitoring_experiment(self) -> str:
        return f"{self.experiment_prefix}-Monitoring"

    @property
    def retraining_experiment(self) -> str:
        return f"{self.experiment_prefix}-Retraining"

    @property
    def audit_experiment(self) -> str:
        """One run per alias move (promotion, approval, rejection, rollback): the audit trail."""
        return f"{self.experiment_prefix}-Audit"


class DataSettings(_Section):
    """The training data and its columns. ``path`` unset means: the bundled demo generator."""

    path: str | None = None
    target: NonEmpty = "churn"
    problem_type: ProblemType = "binary"
    """What the model predicts: ``binary`` (0/1 labels, P(class 1); the churn demo),
    ``multiclass`` (labels are class names; one probability per class) or ``regression``
    (a number). Recorded on every model version (tag ``problem_type``) and read back from the
    champion by every command, so a batch is always judged as its model's type."""
    id_column: str | None = "customer_id"
    timestamp_column: str | None = "event_timestamp"
    prediction_column: str | None = None
    """Column holding the serving system's scores in a batch, if it logged them."""
    numeric_features: tuple[str, ...] | None = None
    """None: inferred (numeric columns other than target, id, timestamp, prediction)."""
    categorical_features: tuple[str, ...] | None = None
    """None: inferred (non-numeric columns other than target, id, timestamp)."""
    max_categorical_integers: Annotated[int, NON_NEGATIVE_INT] = 20
    """Inference: an integer column with at most this many distinct values is categorical
    (codes such as 1..12), as is an integer column named like a code (``*_code``, ``*_type``,
    ``*_class``...) whatever its count; 0: integer columns are numeric unless so named.
    Columns named like ids or timestamps, and date-time columns, are never inferred features."""
    demo_rows: Annotated[int, Interval(int, 500, 10_000_000)] = 20_000
    seed: Annotated[int, NON_NEGATIVE_INT] = 42

    @field_validator("path", "id_column", "timestamp_column", "prediction_column", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        """An empty string (e.g. from an MLflow parameter or env var) means: not set."""
        return None if isinstance(value, str) and not value.strip() else value


class TrainingSettings(_Section):
    test_size: Annotated[float, SPLIT_SHARE] = 0.2
    validation_size: Annotated[float, SPLIT_SHARE] = 0.2
    candidates: Annotated[tuple[Literal["random_forest", "xgboost"], ...],
                          Satisfies(len, "a non-empty list of random_forest, xgboost")] = (
        "random_forest", "xgboost")
    rf_n_estimators: Annotated[int, POSITIVE_INT] = 200
    rf_max_depth: Annotated[int | None, POSITIVE_INT] = 12
    rf_min_samples_leaf: Annotated[int, POSITIVE_INT] = 5
    xgb_n_estimators: Annotated[int, POSITIVE_INT] = 300
    xgb_max_depth: Annotated[int, POSITIVE_INT] = 4
    xgb_learning_rate: Annotated[float, Interval(float, 0, 1, closed="right")] = 0.05
    n_jobs: Annotated[int, Interval(int, -1, None)] = 2
    random_state: Annotated[int, NON_NEGATIVE_INT] = 42
    decision_threshold: Annotated[float, OPEN_UNIT] = 0.5


class MonitoringSettings(_Section):
    """Alert thresholds. See MONITORING.md for why each default is what it is."""

    roc_auc_floor: Annotated[float, OPEN_UNIT] = 0.75
    """Binary models: ROC-AUC below this is critical."""
    macro_f1_floor: Annotated[float, OPEN_UNIT] = 0.5
    """Multiclass models: macro F1 below this is critical."""
    rmse_ceiling: Annotated[float | None, Interval(float, 0, None, closed="neither")] = None
    """Regression models: RMSE above this (in the target's units) is critical. None: the
    relative ceiling below decides."""
    rmse_ratio_ceiling: Annotated[float, Interval(float, 1, None, closed="neither")] = 1.25
    """Regression models without ``rmse_ceiling``: RMSE above this many times the
    reference's RMSE is critical."""
    drift_p_value: Annotated[float, OPEN_UNIT] = 0.05
    drift_share: Annotated[float, Interval(float, 0, 1, closed="right")] = 0.30
    correction: Annotated[str, Options(CORRECTIONS)] = "bh"
    min_psi: Annotated[float, NON_NEGATIVE] = 0.1
    """A numeric feature drifts only if its PSI (over the reference's quantile bins) is at
    least this as well as its KS test significant."""
    min_categorical_psi: Annotated[float, NON_NEGATIVE] = 0.1
    """A categorical feature drifts only if its PSI over the categories is at least this as
    well as its chi-square test significant (replaces ``min_cramers_v``)."""
    prediction_min_psi: Annotated[float, NON_NEGATIVE] = 0.1
    target_min_psi: Annotated[float, NON_NEGATIVE] = 0.01
    """Label drift needs chi-square p < drift_p_value and the labels' PSI >= this (0.01: the
    churn rate moving 27 % -> 31.5 %; replaces ``target_min_cramers_v``)."""
    min_rows_for_performance: Annotated[int, POSITIVE_INT] = 200
    """Below this many labelled rows performance is logged but not judged (a low_sample
    warning instead of a performance or concept-drift verdict)."""
    min_class_rows: Annotated[int, POSITIVE_INT] = 20
    """Likewise when either class has fewer rows than this."""
    label_coverage_min: Annotated[float, OPEN_UNIT] = 0.5
    """Labels registered later (``register_labels``): a batch gets realized metrics once at
    least this share of its rows has a label; below it only its coverage is recorded."""
    concept_drift_auc_drop: Annotated[float, OPEN_UNIT] = 0.05
    """ROC-AUC drop from baseline that, unexplained by feature drift, is concept drift."""
    concept_drift_accuracy_drop: Annotated[float, OPEN_UNIT] = 0.05
    """Multiclass: accuracy drop below the label-free estimate (relative to the reference's
    own gap) that is concept drift."""
    concept_drift_rmse_increase: Annotated[float, OPEN_UNIT] = 0.10
    """Regression: relative RMSE rise above the label-free (DLE) estimate, relative to the
    reference's own ratio, that is concept drift (0.10: realized RMSE 10 % above expected)."""
    max_missing_share_increase: Annotated[float, UNIT] = 0.05
    max_out_of_range_share: Annotated[float, UNIT] = 0.01
    max_unseen_category_share: Annotated[float, UNIT] = 0.01
    psi_bins: Annotated[int, Interval(int, 2, 1000)] = 10
    max_drift_plots: Annotated[int, NON_NEGATIVE_INT] = 10
    numeric_statistics: tuple[str, ...] = ("wasserstein",)
    """Further drift statistics per numeric feature, besides KS and PSI: registered names or
    ``module:Class`` (see pipelines.stats.methods and MONITORING.md)."""
    categorical_statistics: tuple[str, ...] = ("cramers_v",)
    """Further drift statistics per categorical feature, besides chi-square and PSI
    (Cramér's V by default, for information)."""
    store_batch: bool = True
    slices: tuple[str, ...] = ()
    """Segments judged on their own: a column name (one slice per value, the
    ``max_slice_values`` most frequent in the reference, the rest pooled as ``other``) or a
    comparison ``"tenure_months > 24"`` / ``"contract_type == 'monthly'"`` (== != < <= > >=,
    parsed, never evaluated). See MONITORING.md, "Slices"."""
    max_slice_values: Annotated[int, POSITIVE_INT] = 10
    """A column slice's values judged one by one; the rarer ones are pooled as ``other``."""
    min_slice_rows: Annotated[int, POSITIVE_INT] = 200
    """A slice with fewer rows in the batch or the reference is reported, not judged."""

    @field_validator("slices")
    @classmethod
    def _slice_syntax(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        """Every slice parses now (its column is checked against the model's features when
        the champion is loaded)."""
        from pipelines.monitoring.slice_specs import parse_slices

        try:
            parse_slices(value)
        except ConfigError as exc:
            raise ValueError(f"column names or comparisons ({exc})") from None
        return value

    @field_validator("numeric_statistics", "categorical_statistics")
    @classmethod
    def _registered(cls, value: tuple[str, ...], info: Any) -> tuple[str, ...]:
        """Every named statistic resolves now (importing ``module:Class`` entries), so a typo
        stops start-up instead of the first monitored batch."""
        from pipelines.stats.methods import get_statistic

        kind = "numeric" if info.field_name == "numeric_statistics" else "categorical"
        for ref in value:
            try:
                get_statistic(kind, ref)
            except ConfigError as exc:
                raise ValueError(f"must be registered {kind} drift statistics or module:Class "
                                 f"paths ({exc})") from None
        return value
    """Log each batch (ids, features, labels, scores) as a Parquet artifact of its run;
    retraining reads labelled batches back from there."""
    # drift that matters (issue 24): impact ranking, consecutive drift, importance stability
    impact_ranking: bool = True
    """Rank the drifted features by their impact on the model's output (quantile mapping on
    a sample; in-memory engine with a model that scores in-process; MONITORING.md, "Drift
    that matters")."""
    impact_max_rows: Annotated[int, Interval(int, 100, None)] = 20_000
    """Rows (a seeded sample of the batch) scored once per drifted feature for the ranking."""
    impact_harmless: Annotated[float, NON_NEGATIVE] = 0.005
    """Binary and multiclass: an impact below this (probability points; multiclass: total
    variation of the mean class probabilities) is called harmless."""
    impact_harmless_sd: Annotated[float, NON_NEGATIVE] = 0.02
    """Regression: an impact below this many standard deviations of the reference's
    predictions is called harmless."""
    impact_seed: Annotated[int, NON_NEGATIVE_INT] = 0
    consecutive_drift: bool = True
    """Compare each batch with the previous monitored batch too (report and metrics)."""
    consecutive_drift_alerts: bool = False
    """Raise a ``consecutive_drift`` warning for features that changed suddenly."""
    importance_on_batch: bool = False
    """With labels: permutation importance on the batch, compared with the champion's."""
    importance_top_k: Annotated[int, POSITIVE_INT] = 5
    """How many of the most important features the importance comparison lists."""


class RetrainingSettings(_Section):
    cooldown_days: Annotated[float, DURATION] = 7.0
    promotion_margin: Annotated[float, MARGIN] = 0.01
    margin_mode: Annotated[str, Options(MARGIN_MODES)] = "absolute"
    promotion_alpha: Annotated[float, OPEN_UNIT] = 0.05
    """The candidate must also beat the champion in a paired one-sided DeLong test on the
    holdout rows at this level, so a lucky split does not promote a model."""
    """absolute: candidate AUC > champion AUC + margin; relative: > champion AUC * (1 + margin)."""
    min_rows: Annotated[int, Interval(int, 10, None)] = 500
    max_missing_share: Annotated[float, UNIT] = 0.3
    window_days: Annotated[float, POSITIVE_DURATION] = 30.0
    """Labelled production batches monitored within this window join the training data."""
    holdout_fraction: Annotated[float, OPEN_UNIT] = 0.3
    """Share of the newest batch's rows (the most recent ones) held out to compare champion
    and candidates; the rest of that batch trains. Without labelled batches: of the reference."""
    holdout_batches: Annotated[int, POSITIVE_INT] = 1
    """How many of the newest labelled batches the holdout is drawn from (1: the batch that
    triggered retraining): never a share that mixes old and new regimes."""
    recency_half_life_batches: Annotated[float, DURATION] = 0.25
    """Training rows weigh 0.5 ** (age / half-life), age counted in batches (newest 0, the
    reference after the oldest batch). Short: the model learns the regime that triggered
    retraining (concept drift); long or inf: older data keep their weight (covariate shift).
    0 trains on the newest batch alone."""
    lock_timeout_seconds: Annotated[float, DURATION] = 0.0
    """How long a second orchestrator waits for the cycle lock before skipping."""
    lock_lease_seconds: Annotated[float, POSITIVE_DURATION] = 120.0
    """The cycle lock's lease, renewed every third of it while a cycle runs: a crashed or
    frozen holder's lock is free after this long (at once when its process is provably dead
    on the same host)."""


class PromotionSettings(_Section):
    mode: Annotated[str, Options(("auto", "approval"))] = "auto"
    """auto: a candidate that passes the gate becomes champion at once. approval: it gets
    the ``challenger`` alias and waits for ``python -m pipelines.approve`` (or ``reject``)."""
    challenger_alias: Alias = "challenger"
    actor: str = ""
    """Who the audit trail names for alias moves made by this process (default
    ``<user>@<host>``); the orchestrator's automatic moves say ``(auto)`` after it."""


class NotificationSettings(_Section):
    webhook_url: str = ""
    """POST every notification at or above ``min_severity`` here (empty: log only). Keep the
    URL out of files you commit: ``CHURNMON_NOTIFICATIONS__WEBHOOK_URL``."""
    format: Annotated[str, Options(("generic", "slack"))] = "generic"
    """generic: a JSON document with subject, severity, findings, links, event; slack: a
    Slack incoming-webhook message (``{"text": ...}``)."""
    min_severity: Annotated[str, Options(("info", "warning", "critical"))] = "warning"
    timeout_seconds: Annotated[float, POSITIVE_DURATION] = 5.0
    retries: Annotated[int, Interval(int, 0, 10)] = 2
    """Further attempts after a failed delivery (1 s, 2 s, ... apart); a delivery that still
    fails is logged and tagged on the run, never failing the cycle."""


class EngineSettings(_Section):
    """How the monitor reads a batch (``--engine`` on the command line wins).

    memory: the whole batch in pandas, exact KS; chunked: the file in chunks of
    ``chunk_rows`` reduced to counts (bounded memory, any size on one machine); spark: the
    batch read by PySpark at ``spark_master``, each partition reduced to counts (``pip
    install -e ".[spark]"``, Java 17). Counts engines compute KS from ``ks_bins``
    reference-quantile bins per feature (exact statistic at most about 1 / ks_bins above)."""

    name: Annotated[str, Options(("memory", "chunked", "spark"))] = "memory"
    chunk_rows: Annotated[int, Interval(int, 1_000, None)] = 500_000
    ks_bins: Annotated[int, Interval(int, 10, 100_000)] = 1000
    spark_master: NonEmpty = "local[*]"
    """Any Spark master URL: ``local[*]``, ``spark://host:7077``, ``yarn``, ..."""
    spark_conf: dict[str, str] = {}
    """Further Spark settings, e.g. ``{"spark.executor.memory" = "4g"}``."""


class ServiceSettings(_Section):
    """The read-only service (``python -m pipelines.serve``): REST API, dashboard and
    Prometheus ``/metrics`` over the tracking store, never writing to it."""

    host: NonEmpty = "127.0.0.1"
    """Interface to listen on (``0.0.0.0`` to be reachable from other machines)."""
    port: Annotated[int, Interval(int, 1, 65535)] = 8765
    token: str = ""
    """Bearer token every endpoint but ``/health`` requires (empty: none). Keep it out of files
    you commit: ``CHURNMON_SERVICE__TOKEN``."""
    refresh_seconds: Annotated[float, POSITIVE_DURATION] = 10.0
    """How often the service re-reads the store in the background; responses come from the
    latest read (their ``as_of``), so they stay fast however many batches there are."""
    store_timeout_seconds: Annotated[float, POSITIVE_DURATION] = 5.0
    """How long one read of the store may take before the service answers 503."""
    max_batches: Annotated[int, POSITIVE_INT] = 5000
    """The newest monitored batches kept in the service's view."""
    cors_origins: tuple[str, ...] = ()
    """Origins allowed to call the API from a browser page of another site (empty: CORS off)."""
    mlflow_ui_url: str = "http://127.0.0.1:5000"
    """Where the dashboard's links to runs and reports point (the MLflow UI's address)."""


class PathSettings(_Section):
    output_dir: NonEmpty = "monitoring"
    inbox_dir: NonEmpty = "monitoring/inbox"
    """The orchestrator's inbox: a folder, or ``s3://bucket/prefix/`` on S3-compatible object
    storage (MONITORING.md, "Object storage")."""

    @property
    def output(self) -> Path:
        return Path(self.output_dir)

    @property
    def inbox(self) -> Path:
        return Path(self.inbox_dir)


class Settings(_Section):
    """The whole configuration. Frozen: derive a changed copy with :func:`with_overrides`."""

    tracking: TrackingSettings = TrackingSettings()
    data: DataSettings = DataSettings()
    training: TrainingSettings = TrainingSettings()
    monitoring: MonitoringSettings = MonitoringSettings()
    retraining: RetrainingSettings = RetrainingSettings()
    promotion: PromotionSettings = PromotionSettings()
    notifications: NotificationSettings = NotificationSettings()
    engine: EngineSettings = EngineSettings()
    paths: PathSettings = PathSettings()
    service: ServiceSettings = ServiceSettings()


SECTIONS: tuple[str, ...] = tuple(Settings.model_fields)

#: Keys that no longer exist, and what to set instead (a file that still sets one is refused
#: with this message rather than read with a floor of another scale).
REPLACED_KEYS: dict[str, str] = {
    "monitoring.min_cramers_v": (
        "Cramér's V shrinks as the reference outgrows the batch, so its floor missed real "
        "shifts of small batches; set 'monitoring.min_categorical_psi' (PSI over the "
        "categories, default 0.1, the numeric features' scale) instead"),
    "monitoring.target_min_cramers_v": (
        "label drift is judged by PSI now; set 'monitoring.target_min_psi' (default 0.01, "
        "a churn rate moving 27 % -> 31.5 %) instead"),
}


def _parse_env_value(raw: str) -> Any:
    """Environment values are strings; JSON lists/null are decoded, the rest left to pydantic."""
    text = raw.strip()
    if text.startswith("[") or text == "null":
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return raw
    return raw


def _set_dotted(tree: dict[str, Any], key: str, value: Any, source: str,
                sources: dict[str, str]) -> None:
    parts = key.split(".")
    if len(parts) != 2 or parts[0] not in SECTIONS:
        raise ConfigError(
            f"Unknown configuration key {key!r} (from {source}): expected '<section>.<key>' "
            f"with section one of {', '.join(SECTIONS)}."
        )
    section, name = parts
    tree.setdefault(section, {})[name] = value
    sources[key] = source


def _env_overrides(env: Mapping[str, str], tree: dict[str, Any], sources: dict[str, str]) -> None:
    for var, raw in sorted(env.items()):
        if not var.startswith(ENV_PREFIX) or var == CONFIG_ENV_VAR:
            continue
        body = var[len(ENV_PREFIX):].lower()
        if "__" not in body:
            raise ConfigError(
                f"Environment variable {var} is not a configuration key: expected "
                f"{ENV_PREFIX}<SECTION>__<KEY>, e.g. {ENV_PREFIX}MONITORING__DRIFT_P_VALUE."
            )
        section, name = body.split("__", 1)
        _set_dotted(tree, f"{section}.{name}", _parse_env_value(raw), f"environment {var}", sources)
    if env.get("MLFLOW_TRACKING_URI"):
        _set_dotted(tree, "tracking.uri", env["MLFLOW_TRACKING_URI"],
                    "environment MLFLOW_TRACKING_URI", sources)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"Configuration file {path} does not exist.") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Configuration file {path} is not valid TOML: {exc}") from exc
    for section, body in data.items():
        if section not in SECTIONS or not isinstance(body, dict):
            raise ConfigError(
                f"Configuration file {path}: unknown section [{section}]; allowed sections: "
                f"{', '.join(SECTIONS)}."
            )
    return data


def _is_default(section: str, name: str, value: Any) -> bool:
    """Whether a file's ``section.name = value`` is the built-in default (unknown keys: no)."""
    field = Settings.model_fields.get(section)
    if field is None or field.annotation is None:
        return False
    declared = field.annotation.model_fields.get(name)  # type: ignore[union-attr]
    return declared is not None and value == declared.default


def _rule(err: Any) -> str:
    """What pydantic's error says is allowed, as a phrase for the one message template."""
    ctx = err.get("ctx") or {}
    if err["type"] == "value_error" and "error" in ctx:
        return str(ctx["error"]).removeprefix("must be ")
    if "expected" in ctx:
        return f"one of {ctx['expected']}"
    return str(err["msg"]).removeprefix("Input should be ")


#: Credentials are never configuration: a key named like one is refused with this hint.
CREDENTIALS_HINT = ("credentials are never read from the configuration; set "
                    "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or "
                    "MLFLOW_TRACKING_TOKEN) in the environment, as MLflow's client reads them")
_CREDENTIAL_WORDS = ("password", "passwd", "username", "user", "token", "secret",
                     "credential", "credentials", "api_key", "access_key")


def _is_credential_key(key: str) -> bool:
    name = key.rsplit(".", 1)[-1].lower()
    return any(name == w or name.endswith("_" + w) for w in _CREDENTIAL_WORDS)


def _format_validation_error(exc: ValidationError, sources: Mapping[str, str]) -> str:
    lines = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"] if not isinstance(p, int)]
        key = ".".join(loc[:2]) if loc else "<settings>"
        where = sources.get(key, "defaults")
        if err["type"] == "extra_forbidden" and _is_credential_key(key):
            lines.append(f"- key {key!r} (from {where}): {CREDENTIALS_HINT}")
            continue
        if err["type"] == "extra_forbidden" and key in REPLACED_KEYS:
            lines.append(f"- key {key!r} (from {where}) was removed: {REPLACED_KEYS[key]}.")
            continue
        if err["type"] == "extra_forbidden":
            section = loc[0] if loc else ""
            allowed = ", ".join(_section_fields(section)) or ", ".join(SECTIONS)
            lines.append(f"- unknown key {key!r} (from {where}); allowed keys: {allowed}")
            continue
        lines.append("- " + message(key, "Settings", _rule(err), err.get("input"), where))
    if len(lines) == 1:  # one problem: one line
        return "Invalid configuration: " + lines[0].removeprefix("- ")
    return "Invalid configuration:\n" + "\n".join(lines)


def _section_fields(section: str) -> list[str]:
    field = Settings.model_fields.get(section)
    if field is None or field.annotation is None:
        return []
    return list(field.annotation.model_fields)  # type: ignore[union-attr]


def load_settings(
    config_file: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Build the settings from defaults, file, environment and ``overrides`` (dotted keys).

    ``config_file`` None means ``$CHURNMON_CONFIG`` if set, else ``monitoring.toml`` in the
    working directory if it exists, else defaults only.
    """
    env = os.environ if env is None else env
    tree: dict[str, Any] = {}
    sources: dict[str, str] = {}
    path: Path | None = None
    if config_file is not None:
        path = Path(config_file)
    elif env.get(CONFIG_ENV_VAR):
        path = Path(env[CONFIG_ENV_VAR])
    elif Path(DEFAULT_CONFIG_FILE).is_file():
        path = Path(DEFAULT_CONFIG_FILE)
    if path is not None:
        for section, body in _read_toml(path).items():
            for name, value in body.items():
                if _is_default(section, name, value):  # a copy of the defaults pins nothing
                    continue  # (explicit_keys: what the model family remembers applies)
                _set_dotted(tree, f"{section}.{name}", value, f"file {path}", sources)
    _env_overrides(env, tree, sources)
    for key, value in (overrides or {}).items():
        _set_dotted(tree, key, value, "command line", sources)
    try:
        return Settings.model_validate(tree)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc, sources)) from None


def parse_set_options(items: list[str] | None) -> dict[str, Any]:
    """Turn repeated ``--set section.key=value`` options into an overrides mapping."""
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"--set expects section.key=value, got {item!r}.")
        key, value = item.split("=", 1)
        out[key.strip()] = _parse_env_value(value)
    return out


def with_overrides(settings: Settings, overrides: Mapping[str, Any]) -> Settings:
    """A validated copy of ``settings`` with dotted-key ``overrides`` applied."""
    tree = settings.model_dump(exclude_unset=True)  # what was set stays set (explicit_keys)
    sources: dict[str, str] = {}
    for key, value in overrides.items():
        _set_dotted(tree, key, value, "override", sources)
    try:
        return Settings.model_validate(tree)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc, sources)) from None


def explicit_keys(settings: Settings) -> set[str]:
    """The dotted keys given explicitly (file, environment, command line, overrides), as
    opposed to left at their defaults: what a remembered value must not replace."""
    return {f"{section}.{name}" for section in SECTIONS
            for name in getattr(settings, section).model_fields_set}
