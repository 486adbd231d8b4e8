"""Candidates, splits and model selection per problem type (regression, multiclass), on small
synthetic frames with a known rule: no store, no MLflow.

The helpers here (:func:`synthetic`, :func:`type_settings`) are
shared with tests/foundation/test_model_types.py and tests/test_serving.py.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from pipelines.config import Settings, load_settings
from pipelines.data.schema import FeatureSchema, infer_schema, target_array
from pipelines.errors import DataError
from pipelines.retraining.candidates import (
    build_estimator,
    class_probabilities,
    fit_candidate,
    model_outputs,
)
from pipelines.retraining.training import fit_and_select, split_frame, train_baseline_models
from pipelines.store.scoring import class_columns, external_outputs

CLASSES = ("bronze", "gold", "silver")  # sorted: the probability columns' order
TARGETS = {"regression": "charges", "multiclass": "plan"}
SMALL: dict[str, Any] = {"training.rf_n_estimators": 20, "training.xgb_n_estimators": 30,
                         "training.n_jobs": 1}


def synthetic(task: str, n: int = 900, seed: int = 0) -> pd.DataFrame:
    """Three numeric features and one categorical; ``charges`` (regression) is linear in
    them plus noise, ``plan`` (multiclass) the class whose score is highest: gold when x1
    dominates, silver when x2 does, bronze when both are low."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n),
                          "x3": rng.uniform(size=n),
                          "segment": rng.choice(["a", "b", "c"], size=n)})
    if task == "regression":
        shift = frame["segment"].map({"a": 0.0, "b": 2.0, "c": -2.0}).to_numpy()
        frame["charges"] = (50 + 3 * frame["x1"] - 2 * frame["x2"] + shift
                            + rng.normal(scale=0.5, size=n))
    else:
        score = np.column_stack([-frame["x1"] - frame["x2"], frame["x1"], frame["x2"]])
        noisy = score + rng.normal(scale=0.3, size=score.shape)
        frame["plan"] = np.asarray(CLASSES)[np.argmax(noisy, axis=1)]
    return frame


def type_settings(task: str, **overrides: Any) -> Settings:
    """Settings for ``task`` on the synthetic frame (no id or timestamp column)."""
    return load_settings(env={}, overrides={
        "data.problem_type": task, "data.target": TARGETS[task], "data.id_column": None,
        "data.timestamp_column": None, **SMALL, **overrides})


def _schema(task: str, frame: pd.DataFrame) -> tuple[Settings, FeatureSchema]:
    settings = type_settings(task)
    return settings, infer_schema(frame, settings.data, "synthetic")


def test_estimators_are_regressors_or_classifiers_per_type() -> None:
    from sklearn.base import is_classifier, is_regressor

    for task, check in (("regression", is_regressor), ("multiclass", is_classifier)):
        settings, schema = _schema(task, synthetic(task, 60))
        for name in ("random_forest", "xgboost"):
            estimator, params = build_estimator(name, schema, settings.training)
            final = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
            assert check(final), (task, name, type(final))
            assert params["model_type"] == name


def test_regression_candidates_ranked_by_lowest_validation_rmse() -> None:
    frame = synthetic("regression")
    settings, schema = _schema("regression", frame)
    outcome = train_baseline_models(frame, schema, settings.training, "synthetic")
    rmses = [c.metrics["val_rmse"] for c in outcome.candidates]
    assert rmses == sorted(rmses)  # lower is better: best first
    assert {c.name for c in outcome.candidates} == {"random_forest", "xgboost"}
    assert outcome.test_scores.shape == (len(outcome.split.test),)
    assert outcome.test_scores.dtype == np.float64
    y = outcome.split.test["charges"].to_numpy()
    # the rule is learnt: far below the spread of the target (about 3.9), near the noise
    assert outcome.test_metrics["rmse"] < 0.4 * float(np.std(y))
    np.testing.assert_allclose(outcome.test_metrics["rmse"],
                               np.sqrt(np.mean((outcome.test_scores - y) ** 2)))


def test_multiclass_candidates_give_probabilities_in_schema_class_order() -> None:
    frame = synthetic("multiclass")
    settings, schema = _schema("multiclass", frame)
    assert schema.classes == CLASSES
    outcome = train_baseline_models(frame, schema, settings.training, "synthetic")
    f1s = [c.metrics["val_macro_f1"] for c in outcome.candidates]
    assert f1s == sorted(f1s, reverse=True)  # higher is better: best first
    test = outcome.split.test
    for cand in outcome.candidates:
        proba = model_outputs(cand.estimator, cand.flavor, test, schema)
        assert proba.shape == (len(test), 3)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
        # column j is the probability of schema.classes[j]: the argmax names the true class
        predicted = np.asarray(CLASSES)[np.argmax(proba, axis=1)]
        assert np.mean(predicted == test["plan"].to_numpy()) > 0.8, cand.name
    assert outcome.test_metrics["macro_f1"] > 0.8


def test_multiclass_split_is_stratified_regression_split_is_not() -> None:
    frame = synthetic("multiclass", 1000, seed=2)
    settings, schema = _schema("multiclass", frame)
    split = split_frame(frame, schema, settings.training, "synthetic")
    overall = frame["plan"].value_counts(normalize=True)
    for part in (split.train, split.validation, split.test):
        shares = part["plan"].value_counts(normalize=True)
        assert (shares - overall).abs().max() < 0.01  # stratified on the class
    reg = synthetic("regression", 1000, seed=2)
    rsettings, rschema = _schema("regression", reg)
    rsplit = split_frame(reg, rschema, rsettings.training, "synthetic")
    sizes = [len(rsplit.train), len(rsplit.validation), len(rsplit.test)]
    assert sum(sizes) == 1000
    assert min(sizes) > 100  # continuous target: a plain split


def test_a_class_absent_from_training_rows_gets_probability_zero() -> None:
    frame = synthetic("multiclass", 600, seed=3)
    settings, schema = _schema("multiclass", frame)
    rows = frame[frame["plan"] != "gold"]  # the model knows 3 classes, sees 2
    y = target_array(rows, schema, "rows")
    forest = fit_candidate("random_forest", rows, y, schema, settings.training)
    assert list(forest.estimator.classes_) == [0, 2]
    proba = class_probabilities(forest.estimator, forest.flavor, frame, schema)
    assert proba.shape == (len(frame), 3)
    assert np.all(proba[:, CLASSES.index("gold")] == 0.0)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    # the padded column keeps the others in place: bronze rows still score bronze highest
    bronze = (frame["plan"] == "bronze").to_numpy()
    assert np.mean(np.argmax(proba[bronze], axis=1) == 0) > 0.8
    with pytest.raises(DataError, match=r"no row of class\(es\) 'gold'.*random_forest"):
        fit_candidate("xgboost", rows, y, schema, settings.training)


def test_weighted_selection_records_the_type_metric() -> None:
    frame = synthetic("regression", 600, seed=4).assign(w=1.0)
    settings = type_settings("regression")
    schema = infer_schema(frame.drop(columns=["w"]), settings.data, "synthetic")
    split = split_frame(frame, schema, settings.training, "synthetic")
    fitted = fit_and_select(split.train, split.validation, schema, settings.training,
                            names=["xgboost"], weight_column="w")
    unweighted = fit_and_select(split.train, split.validation, schema, settings.training,
                                names=["xgboost"])
    assert set(fitted[0].metrics) == {"val_rmse"}
    assert fitted[0].metrics["val_rmse"] == pytest.approx(unweighted[0].metrics["val_rmse"])


@pytest.mark.parametrize(
    ("task", "change", "match"),
    [
        ("regression", lambda f: f.assign(charges=f["charges"].astype(object).where(
            f.index != 5, "n/a")), r"must be numeric.*'n/a'"),
        ("regression", lambda f: f.assign(charges=f["charges"].where(f.index != 7, np.inf)),
         r"1 infinite value"),
        ("regression", lambda f: f.head(20), r"only 20 row\(s\); at least 30"),
        ("multiclass", lambda f: pd.concat([f[f["plan"] != "gold"],
                                            f[f["plan"] == "gold"].head(4)]),
         r"too few rows of class\(es\) 'gold' \(4\)"),
    ],
)
def test_bad_targets_are_clear_data_errors(task: str, change: Any, match: str) -> None:
    frame = change(synthetic(task, 400, seed=5))
    settings = type_settings(task)
    schema = infer_schema(frame, settings.data, "bad.csv")
    with pytest.raises(DataError, match=match):
        split_frame(frame, schema, settings.training, "bad.csv")


def test_multiclass_with_one_class_is_refused() -> None:
    frame = synthetic("multiclass", 100).assign(plan="gold")
    with pytest.raises(DataError, match="one class only"):
        infer_schema(frame, type_settings("multiclass").data, "one.csv")


def test_unseen_label_in_validation_rows_is_named() -> None:
    frame = synthetic("multiclass", 400, seed=6)
    settings, schema = _schema("multiclass", frame)
    split = split_frame(frame, schema, settings.training, "synthetic")
    validation = split.validation.copy()
    validation.iloc[0, validation.columns.get_loc("plan")] = "platinum"
    with pytest.raises(DataError, match=r"validation rows: .*'platinum'"):
        fit_and_select(split.train, validation, schema, settings.training, names=["xgboost"])


def test_external_outputs_per_type() -> None:
    frame = pd.DataFrame({"pred": [1.5, -2.0, 30.0], "pred_a": [0.2, 0.5, 1.0],
                          "pred_b": [0.8, 0.5, 0.0]})
    np.testing.assert_array_equal(external_outputs(frame, "pred", "regression", (), "b"),
                                  [1.5, -2.0, 30.0])
    proba = external_outputs(frame, "pred", "multiclass", ("a", "b"), "b")
    assert proba.shape == (3, 2)
    np.testing.assert_array_equal(proba[:, 0], [0.2, 0.5, 1.0])
    assert class_columns("pred", ("a", "b")) == ["pred_a", "pred_b"]
    with pytest.raises(DataError, match=r"prediction column 'pred' has 1 value.*finite"):
        external_outputs(frame.assign(pred=[1.0, np.inf, 2.0]), "pred", "regression", (), "b")
    with pytest.raises(DataError, match=r"prediction column 'pred' has 1 .*1 text"):
        external_outputs(frame.assign(pred=["1", "x", "2"]), "pred", "regression", (), "b")
    with pytest.raises(DataError, match=r"probability column\(s\) missing: pred_c"):
        external_outputs(frame, "pred", "multiclass", ("a", "b", "c"), "b")
    with pytest.raises(DataError, match=r"pred_a hold 1 value.*outside \[0, 1\]"):
        external_outputs(frame.assign(pred_a=[0.2, 0.5, 1.2]), "pred", "multiclass",
                         ("a", "b"), "b")
    with pytest.raises(DataError, match=r"1 row\(s\) of pred_a, pred_b do not sum to 1"):
        external_outputs(frame.assign(pred_b=[0.8, 0.4, 0.0]), "pred", "multiclass",
                         ("a", "b"), "b")
    # binary: unchanged, the score column in [0, 1]
    with pytest.raises(DataError, match=r"score column 'pred' has 3 value"):
        external_outputs(frame, "pred", "binary", (), "b")


def test_a_schema_from_before_problem_types_reads_the_version_tags() -> None:
    from pipelines.store.models import stored_schema, type_tags

    old = {"target": "plan", "numeric": ["x1"], "categorical": [], "categories": {}}
    assert stored_schema(old, {}).problem_type == "binary"
    schema = stored_schema(old, {"problem_type": "multiclass",
                                 "classes": '["bronze", "gold"]'})
    assert schema.problem_type == "multiclass"
    assert schema.classes == ("bronze", "gold")
    assert type_tags(schema) == {"problem_type": "multiclass", "classes": '["bronze", "gold"]'}
    # the stored schema wins over the tags
    new = {**old, "problem_type": "regression"}
    assert stored_schema(new, {"problem_type": "binary"}).problem_type == "regression"
