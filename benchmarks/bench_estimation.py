"""How close the label-free performance estimate comes to the realized metric, per model type,
with labels withheld from the estimate.

    python benchmarks/bench_estimation.py [--batches 10] [--rows 5000] [--task regression]
    python benchmarks/bench_estimation.py --data demo       # the demo generator's three types
    python benchmarks/bench_estimation.py --demo-champion   # the demo's binary champion

Per type, a model is trained on labelled data and the estimator fitted on a labelled reference;
then, over ``--batches`` unlabelled batches of a stable and a covariate-shifted regime, it
prints the mean and max |estimated - realized| of the type's primary metrics and the time to
fit the estimator and to estimate one batch:

* binary: the confidence-based estimate (``pipelines.stats.estimation``, CBPE-like) of
  ROC-AUC and accuracy;
* regression: direct loss estimation (``pipelines.stats.loss_estimation``) of RMSE and MAE,
  its error also as a share of the realized value;
* multiclass: the one-vs-rest calibrated estimate (``pipelines.stats.multiclass_estimation``)
  of accuracy, macro F1 and macro ROC-AUC.

The data come from :func:`make_data` alone (a synthetic generator here: a known model over
three numeric and one categorical feature with noise that grows with one feature, so a
covariate shift moves the realized metric); switch it to ``pipelines.data.generator`` there.

``--demo-champion`` instead trains the demo's binary baseline in a temporary MLflow store and
compares the raw, calibrated and density-ratio-weighted ROC-AUC estimates (MONITORING.md's
table).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipelines.data.schema import FeatureSchema, prepare_features
from pipelines.stats.classification import classification_metrics
from pipelines.stats.estimation import estimate_from_scores, fit_calibration
from pipelines.stats.loss_estimation import fit_loss_estimator
from pipelines.stats.multiclass import multiclass_metrics
from pipelines.stats.multiclass_estimation import estimate_multiclass, fit_multiclass_calibration
from pipelines.stats.regression import regression_metrics

TASKS = ("binary", "regression", "multiclass")
SCENARIOS = ("stable", "covariate_shift", "extrapolation")
PRIMARY = {"binary": ("roc_auc", "accuracy"), "regression": ("rmse", "mae"),
           "multiclass": ("accuracy", "macro_f1", "roc_auc")}
SCHEMA = FeatureSchema(target="target", numeric=("x1", "x2", "x3"), categorical=("plan",),
                       categories={"plan": ("basic", "plus", "pro")})
CLASSES = ("stay", "downgrade", "upgrade", "cancel")
_PLAN_EFFECT = {"basic": -0.5, "plus": 0.0, "pro": 0.7}


def make_data(task: str, scenario: str, n: int, seed: int) -> pd.DataFrame:
    """``n`` labelled rows of ``task`` under ``scenario``, P(y | x) the same in all three:
    ``stable`` (the training regime), ``covariate_shift`` (x1's mean moved by 0.6 sd, x3
    skewed towards the top of its range, the plan shares reversed) and ``extrapolation``
    (the same, but x3 reaching half as far again beyond the range the reference covers).
    The one place the benchmark's data come from."""
    if scenario not in SCENARIOS:
        raise ValueError(f"scenario must be one of {SCENARIOS}; got {scenario!r}")
    rng = np.random.default_rng(seed)
    shifted = scenario != "stable"
    x1 = rng.normal(0.6 if shifted else 0.0, 1.0, n)
    x2 = rng.normal(0.0, 1.0, n)
    if scenario == "extrapolation":
        x3 = rng.uniform(0.0, 3.0, n)
    else:  # the stable range [0, 2]; shifted: more rows near its top
        x3 = 2.0 * (rng.beta(2.0, 1.0, n) if shifted else rng.random(n))
    shares = [0.2, 0.3, 0.5] if shifted else [0.5, 0.3, 0.2]
    plan = rng.choice(SCHEMA.categories["plan"], size=n, p=shares)
    effect = np.vectorize(_PLAN_EFFECT.get)(plan)
    signal = 1.2 * x1 - 0.8 * x2 + 0.6 * np.sin(2 * x2) + effect
    if task == "regression":
        noise = rng.normal(0.0, 1.0, n) * (0.3 + 0.5 * x3)  # heteroscedastic: grows with x3
        target: np.ndarray = 50 + 10 * (signal + 0.3 * x1 * x3 + noise)
    elif task == "binary":
        logit = signal - 0.5 * x3 + 0.3
        target = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    elif task == "multiclass":
        logits = np.column_stack([np.zeros(n), signal - x3, -signal + 0.5 * x3 - 0.5,
                                  0.8 * x2 + x3 - 1.5 + effect])
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        target = (rng.random(n)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
    else:
        raise ValueError(f"task must be one of {TASKS}; got {task!r}")
    return pd.DataFrame({"x1": x1, "x2": x2, "x3": x3, "plan": plan, "target": target})


def train_model(task: str, frame: pd.DataFrame, seed: int) -> Callable[[pd.DataFrame], Any]:
    """An XGBoost model of ``task`` on ``frame``; returns its scoring function (prediction,
    P(class 1) or the class probabilities)."""
    import xgboost

    x = prepare_features(frame, SCHEMA)
    y = frame[SCHEMA.target].to_numpy()
    params: dict[str, Any] = {"n_estimators": 200, "max_depth": 4, "learning_rate": 0.1,
                              "tree_method": "hist", "enable_categorical": True,
                              "random_state": seed, "n_jobs": 2}
    if task == "regression":
        reg = xgboost.XGBRegressor(**params).fit(x, y)
        return lambda f: reg.predict(prepare_features(f, SCHEMA)).astype(np.float64)
    clf = xgboost.XGBClassifier(**params).fit(x, y)
    if task == "binary":
        return lambda f: clf.predict_proba(prepare_features(f, SCHEMA))[:, 1]
    return lambda f: clf.predict_proba(prepare_features(f, SCHEMA))


@dataclass
class Estimator:
    fit_seconds: float
    estimate: Callable[[pd.DataFrame, Any], dict[str, float]]


def fit_estimator(task: str, reference: pd.DataFrame, scores: Any) -> Estimator:
    y = reference[SCHEMA.target].to_numpy()
    start = time.perf_counter()
    if task == "binary":
        calibration = fit_calibration(scores, y)

        def binary(_: pd.DataFrame, s: Any) -> dict[str, float]:
            return {k: v.value for k, v in estimate_from_scores(s, calibration, 0.5).items()}
        return Estimator(time.perf_counter() - start, binary)
    if task == "regression":
        loss = fit_loss_estimator(reference, scores, y, SCHEMA)

        def regression(f: pd.DataFrame, s: Any) -> dict[str, float]:
            return {k: v.value for k, v in loss.estimate(f, s).items()}
        return Estimator(time.perf_counter() - start, regression)
    calibration_mc = fit_multiclass_calibration(scores, y)

    def multiclass(_: pd.DataFrame, s: Any) -> dict[str, float]:
        return {k: v.value for k, v in estimate_multiclass(s, calibration_mc).items()}
    return Estimator(time.perf_counter() - start, multiclass)


def realized(task: str, frame: pd.DataFrame, scores: Any) -> dict[str, float]:
    y = frame[SCHEMA.target].to_numpy()
    if task == "binary":
        return classification_metrics(y, scores, 0.5)
    if task == "regression":
        return regression_metrics(y, scores)
    return multiclass_metrics(y, scores, CLASSES)


def _cells(task: str, errors: dict[str, list[float]],
           relative: dict[str, list[float]]) -> list[str]:
    """Mean / max error per metric (regression: also as a share of the realized value)."""
    cells = []
    for m in PRIMARY[task]:
        cell = f"{m} {np.mean(errors[m]):.4f} / {np.max(errors[m]):.4f}"
        if task == "regression":
            cell += f" ({100 * np.mean(relative[m]):.1f} % / {100 * np.max(relative[m]):.1f} %)"
        cells.append(cell)
    return cells


def bench_task(task: str, batches: int, rows: int) -> list[str]:
    model = train_model(task, make_data(task, "stable", 20_000, seed=1), seed=0)
    reference = make_data(task, "stable", rows, seed=2)
    estimator = fit_estimator(task, reference, model(reference))
    lines = []
    for scenario in SCENARIOS:
        errors: dict[str, list[float]] = {m: [] for m in PRIMARY[task]}
        relative: dict[str, list[float]] = {m: [] for m in PRIMARY[task]}
        seconds = []
        for i in range(batches):
            batch = make_data(task, scenario, rows, seed=100 + i)
            scores = model(batch)
            start = time.perf_counter()
            estimate = estimator.estimate(batch.drop(columns=SCHEMA.target), scores)
            seconds.append(time.perf_counter() - start)
            truth = realized(task, batch, scores)
            for m in PRIMARY[task]:
                errors[m].append(abs(estimate[m] - truth[m]))
                relative[m].append(abs(estimate[m] - truth[m]) / abs(truth[m]))
        cells = _cells(task, errors, relative)
        lines.append(f"| {task} | {scenario} | {batches} x {rows:,} | " + "; ".join(cells)
                     + f" | {estimator.fit_seconds:.2f} | {np.mean(seconds):.3f} |")
    return lines


#: The demo generator's scenarios the ``--data demo`` run uses (its covariate shift moves
#: monthly charges beyond the reference's range: the extrapolation case).
DEMO_SCENARIOS = {"stable": ("no_drift", {}),
                  "covariate_shift": ("covariate_shift",
                                      {"shift_features": ("tenure_months", "support_calls",
                                                          "contract")}),
                  "extrapolation": ("covariate_shift", {})}


def bench_demo_task(task: str, batches: int, rows: int) -> list[str]:
    """:func:`bench_task` on the demo generator's data with the project's own parts: the
    schema inferred as training infers it, the XGBoost candidate, the reference's estimator
    as the reference context fits it, the metrics as the monitor computes them."""
    from pipelines.config import DataSettings, TrainingSettings
    from pipelines.data.generator import TASK_TARGETS, generate_batch, generate_reference
    from pipelines.data.schema import infer_schema, target_array
    from pipelines.retraining.candidates import fit_candidate, model_outputs
    from pipelines.stats.evaluation import performance_metrics

    data = DataSettings(problem_type=task, target=TASK_TARGETS[task])  # type: ignore[arg-type]
    train = generate_reference(20_000, seed=1, task=task)
    schema = infer_schema(train, data, "bench")
    candidate = fit_candidate("xgboost", train, target_array(train, schema, "bench"), schema,
                              TrainingSettings())

    def outputs(frame: pd.DataFrame) -> Any:
        return model_outputs(candidate.estimator, candidate.flavor, frame, schema)

    reference = generate_batch("no_drift", rows, seed=2, task=task)
    y_ref, ref_out = target_array(reference, schema, "reference"), outputs(reference)
    start = time.perf_counter()
    if task == "regression":
        loss = fit_loss_estimator(reference, ref_out, y_ref, schema)
        estimate: Callable[[pd.DataFrame, Any], dict[str, Any]] = loss.estimate
    elif task == "multiclass":
        calibration_mc = fit_multiclass_calibration(ref_out, y_ref)
        estimate = lambda _f, s: estimate_multiclass(s, calibration_mc)  # noqa: E731
    else:
        calibration = fit_calibration(ref_out, y_ref)
        estimate = lambda _f, s: estimate_from_scores(s, calibration, 0.5)  # noqa: E731
    fit_seconds = time.perf_counter() - start
    lines = []
    for label, (scenario, options) in DEMO_SCENARIOS.items():
        errors: dict[str, list[float]] = {m: [] for m in PRIMARY[task]}
        relative: dict[str, list[float]] = {m: [] for m in PRIMARY[task]}
        seconds = []
        for i in range(batches):
            batch = generate_batch(scenario, rows, seed=100 + i, task=task, **options)
            scores = outputs(batch)
            start = time.perf_counter()
            guess = estimate(batch, scores)
            seconds.append(time.perf_counter() - start)
            truth = performance_metrics(task, target_array(batch, schema, "batch"), scores,
                                        classes=schema.classes)
            for m in PRIMARY[task]:
                errors[m].append(abs(guess[m].value - truth[m]))
                relative[m].append(abs(guess[m].value - truth[m]) / abs(truth[m]))
        cells = _cells(task, errors, relative)
        lines.append(f"| {task} (demo) | {label} | {batches} x {rows:,} | " + "; ".join(cells)
                     + f" | {fit_seconds:.2f} | {np.mean(seconds):.3f} |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--task", choices=TASKS, action="append",
                        help="one type (repeatable); all three by default")
    parser.add_argument("--data", choices=("synthetic", "demo"), default="synthetic",
                        help="synthetic: make_data's known model; demo: the demo generator's "
                             "customers per type (churn, next_month_charges, next_plan), the "
                             "project's XGBoost candidate, schema inferred as in training")
    parser.add_argument("--demo-champion", action="store_true",
                        help="the demo's binary champion instead (trained in a temporary store)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    if args.demo_champion:
        return demo_champion(args.batches, args.rows)
    sys.stdout.write("mean / max |estimated - realized| over the batches (regression: also as a "
                     "share of the realized value)\n\n"
                     "| type | scenario | batches x rows | error per metric | fit s | "
                     "estimate s/batch |\n|---|---|---|---|---:|---:|\n")
    bench = bench_demo_task if args.data == "demo" else bench_task
    for task in args.task or TASKS:
        for line in bench(task, args.batches, args.rows):
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
    return 0


def demo_champion(batches: int, rows: int) -> int:
    """The raw, calibrated and density-ratio-weighted ROC-AUC estimates of the demo's binary
    champion (a baseline trained in a temporary store), per scenario."""
    import tempfile
    from pathlib import Path

    from sklearn.metrics import roc_auc_score

    from pipelines.config import load_settings
    from pipelines.data.generator import NUMERIC_FEATURES, generate_batch
    from pipelines.stats.estimation import (
        density_ratio_weights,
        estimate_performance,
        expected_auc,
    )
    from pipelines.store import connect, load_champion, load_reference_frame
    from pipelines.workflows.baseline import train_baseline

    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(env={}, overrides={
            "tracking.uri": f"sqlite:///{Path(tmp) / 'mlflow.db'}",
            "paths.output_dir": str(Path(tmp) / "out")})
        train_baseline(settings)
        store = connect(settings.tracking)
        champion = load_champion(store)
        reference = load_reference_frame(store, champion.run_id)
        target = champion.schema.target
        ref_scores = champion.score(reference)
        ref_labels = reference[target].to_numpy()
        calibration = fit_calibration(ref_scores, ref_labels)
        numeric = list(NUMERIC_FEATURES)
        sys.stdout.write(f"champion v{champion.version}; reference {len(reference):,} rows; "
                         f"calibration kept: {calibration.kept} (Brier raw "
                         f"{calibration.brier_raw:.4f}, calibrated "
                         f"{calibration.brier_calibrated:.4f})\n")
        sys.stdout.write("| scenario | batches x rows | raw scores | calibrated | weighted |\n"
                         "|---|---|---:|---:|---:|\n")
        for scenario in ("no_drift", "covariate_shift"):
            errors: dict[str, list[float]] = {"raw": [], "calibrated": [], "weighted": []}
            for i in range(batches):
                batch = generate_batch(scenario, rows, seed=500 + i)
                scores = champion.score(batch)
                truth = roc_auc_score(batch[target], scores)
                weights = density_ratio_weights(reference[numeric].to_numpy(float),
                                                batch[numeric].to_numpy(float))
                weighted = fit_calibration(ref_scores, ref_labels, weights=weights)
                threshold = settings.training.decision_threshold
                errors["raw"].append(abs(expected_auc(scores, scores) - truth))
                errors["calibrated"].append(abs(estimate_performance(
                    scores, calibration.apply(scores), threshold)["roc_auc"].value - truth))
                errors["weighted"].append(abs(estimate_performance(
                    scores, weighted.apply(scores), threshold)["roc_auc"].value - truth))
            sys.stdout.write(f"| {scenario} | {batches} x {rows:,} | "
                             + " | ".join(f"{np.mean(errors[k]):.4f}"
                                          for k in ("raw", "calibrated", "weighted")) + " |\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
