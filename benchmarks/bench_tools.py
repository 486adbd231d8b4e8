"""The measured tools. Each runs in its own worker process (see worker.py).

A tool is three callables:

* ``setup(ctx)``: untimed preparation (imports, building the tool's objects, fitting what the
  tool fits once per reference). Its memory *is* counted: peak memory is measured from the
  moment after data load and imports.
* ``run(state, ctx, i)``: the timed part, called once per repeat. Returns the tool's raw output,
  optionally with a dict of sub-phase timings (``(output, {"fit": s, ...})``).
* ``verdict(state, output, ctx)``: untimed; which features the tool flags, and per-feature
  numbers when it has them.

Imports of the libraries under test are done inside the functions so that this module loads in
every environment (the project's, Evidently's, NannyML's) with numpy and pandas alone.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


@dataclass
class Context:
    """What a worker hands a tool: the frames, the column lists, folders, the repeat count."""

    data_dir: Path
    work_dir: Path
    reference: pd.DataFrame
    current: pd.DataFrame
    numeric: list[str]
    categorical: list[str]
    injected: list[str]
    score: str
    target: str
    champion_dir: Path | None = None

    @property
    def features(self) -> list[str]:
        return [*self.numeric, *self.categorical]


@dataclass(frozen=True)
class Tool:
    name: str
    label: str
    env: str  # "project", "evidently" or "nannyml"
    setup: Callable[[Context], Any]
    run: Callable[[Any, Context, int], Any]
    verdict: Callable[[Any, Any, Context], dict[str, Any]]
    covers: str = "all"  # "all" features, or "numeric" only
    note: str = ""
    imports: tuple[str, ...] = ()
    """Modules imported before the memory baseline is taken (imports are not measured)."""


# --------------------------------------------------------------------------- helpers


def bh_adjust(pvalues: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (as scipy.stats.false_discovery_control)."""
    p = np.asarray(pvalues, dtype=np.float64)
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p)
    scaled = p[order] * m / np.arange(1, m + 1)
    scaled = np.minimum.accumulate(scaled[::-1])[::-1]
    out = np.empty_like(p)
    out[order] = np.clip(scaled, 0.0, 1.0)
    return out


ALPHA = 0.05


def _pvalue_verdict(names: list[str], stats: list[float], pvalues: list[float]
                    ) -> dict[str, Any]:
    """The reference rule: BH-adjusted p-value < 0.05 across the tested features."""
    adjusted = bh_adjust(np.array(pvalues))
    return {
        "flagged": [n for n, p in zip(names, adjusted, strict=True) if p < ALPHA],
        "flagged_raw_p": [n for n, p in zip(names, pvalues, strict=True) if p < ALPHA],
        "tested": list(names),
        "stats": {n: [float(s), float(p)] for n, s, p in zip(names, stats, pvalues, strict=True)},
    }


# --------------------------------------------------------------------------- this project


def _project_import(ctx: Context) -> None:
    import pipelines.stats  # noqa: F401  (import outside the timed part)


def _scipy_import(ctx: Context) -> None:
    import scipy.stats  # noqa: F401  (import outside the timed part)


def _project_fit_run(state: Any, ctx: Context, i: int) -> Any:
    from pipelines.stats import fit_reference_profile

    return fit_reference_profile(ctx.reference, ctx.numeric, ctx.categorical)


def _project_fit_verdict(state: Any, output: Any, ctx: Context) -> dict[str, Any]:
    return {"flagged": None, "tested": []}


def _project_drift_setup(ctx: Context) -> Any:
    from pipelines.stats import fit_reference_profile

    return fit_reference_profile(ctx.reference, ctx.numeric, ctx.categorical)


def _project_drift_run(profile: Any, ctx: Context, i: int) -> Any:
    from pipelines.stats import DriftThresholds, compute_feature_drift

    return compute_feature_drift(profile, ctx.current, DriftThresholds())


def _project_drift_verdict(state: Any, output: Any, ctx: Context) -> dict[str, Any]:
    return {
        "flagged": [f.feature for f in output if f.drifted],
        "tested": [f.feature for f in output],
        "stats": {f.feature: [float(f.statistic), float(f.pvalue)] for f in output},
    }


def _project_counts_setup(ctx: Context) -> Any:
    """Fit once: the reference context (profile, scores, labels, calibration) and its bins."""
    from pipelines.data.schema import FeatureSchema
    from pipelines.monitoring.counts import CountsProfile
    from pipelines.monitoring.reference import ReferenceContext

    schema = FeatureSchema(target=ctx.target, numeric=tuple(ctx.numeric),
                           categorical=tuple(ctx.categorical), categories={})
    context = ReferenceContext.fit(ctx.reference, schema, ctx.reference[ctx.score].to_numpy(),
                                   n_bins=10, decision_threshold=0.5)
    return CountsProfile.from_context(context)


def _project_counts_run(profile: Any, ctx: Context, i: int) -> Any:
    from pipelines.monitoring.counts import count_features
    from pipelines.monitoring.engine import feature_drift_from_counts
    from pipelines.stats import DriftThresholds

    return feature_drift_from_counts(profile, count_features(profile, ctx.current),
                                     DriftThresholds())


# --------------------------------------------------------------------------- the full monitor


def champion_settings(champion_dir: Path) -> Any:
    """Settings of the benchmark's champion: its own SQLite store and data, the batch's score
    column used as the serving system's prediction, no id or timestamp column."""
    from pipelines.config import load_settings, with_overrides

    folder = Path(champion_dir).resolve()
    settings = load_settings(config_file=None, env={}, overrides={
        "tracking.uri": f"sqlite:///{folder / 'mlflow.db'}",
        "data.path": str(folder / "train.parquet"),
        "data.target": "target",
        "data.prediction_column": "score",
        "paths.output_dir": str(folder / "reports"),
        "paths.inbox_dir": str(folder / "inbox"),
        # Train one small model: the benchmark measures monitoring, not training.
        "training.candidates": ["xgboost"],
        "training.xgb_n_estimators": 50,
        # 90% of the training rows become the monitor's reference (validation + test).
        "training.test_size": 0.45,
        "training.validation_size": 0.45,
    })
    # The benchmark's data have no id or timestamp column: unset both explicitly.
    return with_overrides(settings, {"data.id_column": None, "data.timestamp_column": None})


#: Share of the training rows that train_baseline keeps as the reference (test + validation).
REFERENCE_SHARE = 0.9


def prepare_champion(data_dir: Path, champion_dir: Path, n_rows: int, n_features: int,
                     seed: int) -> dict[str, Any]:
    """Write a training file whose reference split has ~n_rows rows, then train_baseline."""
    import bench_data

    from pipelines.workflows.baseline import train_baseline

    champion_dir.mkdir(parents=True, exist_ok=True)
    reference = pd.read_parquet(Path(data_dir) / bench_data.REFERENCE_FILE)
    extra_rows = math.ceil(n_rows / REFERENCE_SHARE) - n_rows
    extra = bench_data.generate(extra_rows, n_features, current=False, seed=seed + 1)
    train = pd.concat([reference, extra], ignore_index=True)
    train.to_parquet(champion_dir / "train.parquet", index=False)
    del reference, extra, train
    started = time.perf_counter()
    result = train_baseline(champion_settings(champion_dir))
    return {"run_id": result.run_id, "model_version": result.model_version,
            "model_type": result.model_type, "train_seconds": time.perf_counter() - started,
            "test_roc_auc": result.test_metrics.get("roc_auc")}


def _monitor_setup(ctx: Context) -> Any:
    from pipelines.workflows.monitor import Monitor

    if ctx.champion_dir is None:
        raise RuntimeError("the monitor tools need --champion-dir (prepared by prepare_champion)")
    monitor = Monitor(champion_settings(ctx.champion_dir))
    return monitor


def _monitor_run(monitor: Any, ctx: Context, i: int) -> Any:
    from pipelines.data.batch import Batch

    outcome = monitor.run(Batch(ctx.current, f"bench-{i}", str(ctx.data_dir / "current.parquet")))
    return outcome, outcome.timings  # the breakdown of the cycle, phase by phase


def _monitor_scoring_run(monitor: Any, ctx: Context, i: int) -> Any:
    from pipelines.data.batch import Batch

    frame = ctx.current.drop(columns=[ctx.score])  # no prediction column: the champion scores
    outcome = monitor.run(Batch(frame, f"bench-scoring-{i}",
                                str(ctx.data_dir / "current.parquet")))
    return outcome, outcome.timings


def _monitor_verdict(monitor: Any, outcome: Any, ctx: Context) -> dict[str, Any]:
    report = outcome.report
    return {
        "flagged": list(report.drifted_features),
        "tested": [f.feature for f in report.feature_drift],
        "stats": {f.feature: [float(f.statistic), float(f.pvalue)] for f in report.feature_drift},
        "status": report.status,
        "alerts": sorted({a.rule for a in report.alerts}),
        "scored_by": report.context.get("scored_by"),
        "reference_rows": monitor.reference.profile.n_rows,
    }


# --------------------------------------------------------------------------- scipy loop


def _category_table(ref: pd.Series, cur: pd.Series) -> np.ndarray:
    counts = pd.concat([ref.value_counts(dropna=False), cur.value_counts(dropna=False)],
                       axis=1).fillna(0)
    return counts.to_numpy(dtype=np.float64).T


def _scipy_run(state: Any, ctx: Context, i: int) -> Any:
    from scipy import stats

    out: list[tuple[str, float, float]] = []
    for name in ctx.numeric:
        res = stats.ks_2samp(ctx.reference[name].to_numpy(), ctx.current[name].to_numpy())
        out.append((name, float(res.statistic), float(res.pvalue)))
    for name in ctx.categorical:
        table = _category_table(ctx.reference[name], ctx.current[name])
        res = stats.chi2_contingency(table, correction=False)
        out.append((name, float(res.statistic), float(res.pvalue)))
    return out


def _stats_verdict(state: Any, output: Any, ctx: Context) -> dict[str, Any]:
    names, stats, pvalues = (list(x) for x in zip(*output, strict=True))
    return _pvalue_verdict(names, stats, pvalues)


# --------------------------------------------------------------------------- numpy KS floor


def ks_statistic_presorted(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample KS statistic of sorted ``a`` (the reference) and sorted ``b`` (the batch).

    Between consecutive distinct batch values ``F_b`` is flat while ``F_a`` rises, so the
    supremum is reached at a batch value (``F_b - F_a``) or just before the next one
    (``F_a - F_b``): two ``searchsorted`` of the batch into the reference, no merge, exact
    with ties on either side.
    """
    n1, n2 = a.size, b.size
    left = np.searchsorted(a, b, side="left") / n1  # F_a just below each batch value
    right = np.searchsorted(a, b, side="right") / n1  # F_a at each batch value
    last = np.empty(n2, dtype=bool)  # the last of each run of equal batch values
    np.not_equal(b[1:], b[:-1], out=last[:-1])
    last[-1] = True
    f_b = np.arange(1, n2 + 1) / n2  # F_b at b[j], exact where last[j]
    above = np.max((f_b - right)[last])
    below = np.max((left[1:] - f_b[:-1])[last[:-1]], initial=left[0])
    return float(max(above, below))


def ks_statistic_scipy_formula(a: np.ndarray, b: np.ndarray) -> float:
    """scipy's formula without its overhead: sort both, both ECDFs at all 2n points."""
    a, b = np.sort(a), np.sort(b)
    both = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, both, side="right") / a.size
    cdf_b = np.searchsorted(b, both, side="right") / b.size
    return float(np.max(np.abs(cdf_a - cdf_b)))


def _floor_setup(ctx: Context) -> dict[str, np.ndarray]:
    _scipy_import(ctx)
    return {name: np.sort(ctx.reference[name].to_numpy(dtype=np.float64)) for name in ctx.numeric}


def _floor_sortboth_setup(ctx: Context) -> dict[str, np.ndarray]:
    _scipy_import(ctx)
    return {name: ctx.reference[name].to_numpy(dtype=np.float64) for name in ctx.numeric}


def _floor(refs: dict[str, np.ndarray], ctx: Context, presorted: bool) -> Any:
    from scipy.stats import kstwo

    def one(name: str) -> tuple[str, float, float]:
        a = refs[name]
        b = ctx.current[name].to_numpy(dtype=np.float64)
        if presorted:
            d = ks_statistic_presorted(a, np.sort(b))
        else:
            d = ks_statistic_scipy_formula(a, b)
        n1, n2 = a.size, b.size
        # scipy's asymptotic p-value (ks_2samp, method "asymp"), as this project uses
        p = float(np.clip(kstwo.sf(d, round(n1 * n2 / (n1 + n2))), 0.0, 1.0))
        return name, d, p

    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(one, ctx.numeric))


def _floor_run(refs: dict[str, np.ndarray], ctx: Context, i: int) -> Any:
    return _floor(refs, ctx, presorted=True)


def _floor_sortboth_run(refs: dict[str, np.ndarray], ctx: Context, i: int) -> Any:
    return _floor(refs, ctx, presorted=False)


# --------------------------------------------------------------------------- Evidently


def _evidently_setup(ctx: Context) -> Any:
    from evidently import DataDefinition, Dataset, Report  # noqa: F401
    from evidently.presets import DataDriftPreset  # noqa: F401

    return DataDefinition(numerical_columns=list(ctx.numeric),
                          categorical_columns=list(ctx.categorical))


def _evidently(definition: Any, ctx: Context, **preset: Any) -> Any:
    from evidently import Dataset, Report
    from evidently.presets import DataDriftPreset

    cols = ctx.features
    current = Dataset.from_pandas(ctx.current[cols], data_definition=definition)
    reference = Dataset.from_pandas(ctx.reference[cols], data_definition=definition)
    return Report([DataDriftPreset(**preset)]).run(current, reference)


def _evidently_default_run(definition: Any, ctx: Context, i: int) -> Any:
    return _evidently(definition, ctx)


def _evidently_ks_run(definition: Any, ctx: Context, i: int) -> Any:
    return _evidently(definition, ctx, num_method="ks", cat_method="chisquare")


#: Evidently's own rule per method (legacy/calculations/stattests): p-value tests flag a small
#: value (ks: <= threshold, others <), distances flag a large one (>= threshold).
def _evidently_drifted(method: str, value: float, threshold: float) -> bool:
    m = method.lower()
    if m == "ks" or "k-s" in m:
        return value <= threshold
    if m in ("chisquare", "z") or "p_value" in m or "chi-square" in m or "z-test" in m:
        return value < threshold
    return value >= threshold


def _evidently_verdict(definition: Any, snapshot: Any, ctx: Context) -> dict[str, Any]:
    flagged, tested, stats, methods = [], [], {}, {}
    for metric in snapshot.dict()["metrics"]:
        config = metric.get("config", {})
        if not str(config.get("type", "")).endswith("ValueDrift"):
            continue
        column, method = config["column"], str(config.get("method"))
        value, threshold = float(metric["value"]), float(config.get("threshold"))
        tested.append(column)
        stats[column] = [value, value]
        methods[column] = f"{method} (threshold {threshold:g})"
        if _evidently_drifted(method, value, threshold):
            flagged.append(column)
    return {"flagged": flagged, "tested": tested, "stats": stats,
            "methods": sorted(set(methods.values()))}


# --------------------------------------------------------------------------- NannyML


def _nannyml_run(ctx: Context, exact: bool) -> Any:
    import nannyml as nml

    # NannyML 0.13.1 reads calculation_method from the outer dict once the method's key is
    # present (methods.py, KolmogorovSmirnovStatistic.__init__): the documented
    # {"kolmogorov_smirnov": {"calculation_method": "exact"}} silently stays "auto" (binned).
    # Both spellings are given, so the exact row is exact; the verdict says what ran.
    params = ({"kolmogorov_smirnov": {"calculation_method": "exact"},
               "calculation_method": "exact"} if exact else None)
    started = time.perf_counter()
    calc = nml.UnivariateDriftCalculator(
        column_names=ctx.features, continuous_methods=["kolmogorov_smirnov"],
        categorical_methods=["chi2"], chunk_number=1, computation_params=params)
    calc.fit(ctx.reference[ctx.features])
    fitted = time.perf_counter()
    results = calc.calculate(ctx.current[ctx.features])
    done = time.perf_counter()
    results.bench_methods = sorted({  # what really ran, read off the fitted methods
        f"kolmogorov_smirnov={m.calculation_method}"
        for methods in calc._column_to_models_mapping.values() for m in methods
        if hasattr(m, "calculation_method")})
    return results, {"fit": fitted - started, "calculate": done - fitted}


def _nannyml_setup(ctx: Context) -> None:
    import warnings

    import nannyml  # noqa: F401  (import outside the timed part)

    warnings.filterwarnings("ignore", category=UserWarning)  # "number of chunks is too low"


def _nannyml_default_run(state: Any, ctx: Context, i: int) -> Any:
    return _nannyml_run(ctx, exact=False)


def _nannyml_exact_run(state: Any, ctx: Context, i: int) -> Any:
    return _nannyml_run(ctx, exact=True)


def _nannyml_verdict(state: Any, results: Any, ctx: Context) -> dict[str, Any]:
    frame = results.filter(period="analysis").to_df()
    flagged, tested, stats = [], [], {}
    for name in ctx.features:
        method = "kolmogorov_smirnov" if name in ctx.numeric else "chi2"
        alert = bool(frame[(name, method, "alert")].iloc[-1])
        value = float(frame[(name, method, "value")].iloc[-1])
        tested.append(name)
        stats[name] = [value, value]
        if alert:
            flagged.append(name)
    return {"flagged": flagged, "tested": tested, "stats": stats,
            "methods": getattr(results, "bench_methods", [])}


# --------------------------------------------------------------------------- registry

TOOLS: dict[str, Tool] = {t.name: t for t in [
    Tool("project_fit", "this project: fit reference profile (once per champion)", "project",
         _project_import, _project_fit_run, _project_fit_verdict,
         note="pipelines.stats.fit_reference_profile", imports=("pipelines.stats", "scipy.stats")),
    Tool("project_drift", "this project: drift per batch", "project",
         _project_drift_setup, _project_drift_run, _project_drift_verdict,
         note="pipelines.stats.compute_feature_drift on the fitted profile",
         imports=("pipelines.stats", "scipy.stats")),
    Tool("project_drift_counts", "this project: drift per batch, counts path", "project",
         _project_counts_setup, _project_counts_run, _project_drift_verdict,
         note="count_features + feature_drift_from_counts: KS from 1,000 reference-quantile "
              "bins (the chunked and Spark engines' statistics), PSI, chi-square",
         imports=("pipelines.monitoring.engine", "pipelines.stats", "scipy.stats")),
    Tool("project_monitor", "this project: full monitor (score column)", "project",
         _monitor_setup, _monitor_run, _monitor_verdict,
         note="Monitor.run: drift, prediction/target drift, performance, quality, alerts, "
              "MLflow run with metrics/artifacts/plots, JSON report",
         imports=("pipelines.workflows.monitor", "pipelines.stats", "scipy.stats", "mlflow",
                  "matplotlib.pyplot", "xgboost", "sklearn")),
    Tool("project_monitor_scoring", "this project: full monitor (champion scoring)", "project",
         _monitor_setup, _monitor_scoring_run, _monitor_verdict,
         note="as above, the batch without its score column so the champion scores it",
         imports=("pipelines.workflows.monitor", "pipelines.stats", "scipy.stats", "mlflow",
                  "matplotlib.pyplot", "xgboost", "sklearn")),
    Tool("scipy_loop", "scipy loop: ks_2samp + chi2_contingency (1 core)", "project",
         _scipy_import, _scipy_run, _stats_verdict,
         note="reference verdict: BH-adjusted p < 0.05", imports=("scipy.stats",)),
    Tool("numpy_floor", "numpy KS floor: ref pre-sorted, 2 threads", "project",
         _floor_setup, _floor_run, _stats_verdict, covers="numeric",
         note="numeric columns only; reference sorted once outside the timing",
         imports=("scipy.stats",)),
    Tool("numpy_floor_sortboth", "numpy KS floor: sorts both sides, 2 threads", "project",
         _floor_sortboth_setup, _floor_sortboth_run, _stats_verdict, covers="numeric",
         note="numeric columns only; both sides sorted inside the timing",
         imports=("scipy.stats",)),
    Tool("evidently_default", "Evidently 0.7.23 DataDriftPreset (default)", "evidently",
         _evidently_setup, _evidently_default_run, _evidently_verdict,
         imports=("evidently", "evidently.presets")),
    Tool("evidently_ks", "Evidently 0.7.23 DataDriftPreset (KS + chi-square)", "evidently",
         _evidently_setup, _evidently_ks_run, _evidently_verdict,
         imports=("evidently", "evidently.presets")),
    Tool("nannyml_default", "NannyML 0.13.1 univariate (KS auto + chi2, 1 chunk)", "nannyml",
         _nannyml_setup, _nannyml_default_run, _nannyml_verdict,
         note="fit + calculate; KS 'auto': above 10,000 reference rows, every row binned into "
              "10,000 equal-width bins; the statistic from histograms, no p-value",
         imports=("nannyml",)),
    Tool("nannyml_exact", "NannyML 0.13.1 univariate (KS exact + chi2, 1 chunk)", "nannyml",
         _nannyml_setup, _nannyml_exact_run, _nannyml_verdict,
         note="fit + calculate; KS 'exact' (scipy's ks_2samp on the full reference), set "
              "around NannyML 0.13.1's parameter bug", imports=("nannyml",)),
]}
