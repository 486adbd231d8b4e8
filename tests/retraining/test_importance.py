"""Feature-importance stability (issue 24): native importances through a pipeline,
permutation importance, and the comparison a retraining candidate logs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from pipelines.data.schema import FeatureSchema
from pipelines.retraining.importance import (
    Importances,
    compare_importances,
    model_importances,
    native_importances,
)

NUMERIC = ("x0", "x1", "x2", "x3")
SCHEMA = FeatureSchema(target="y", numeric=NUMERIC, categorical=("plan",))


def _data(seed: int = 0, n: int = 3000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({f: rng.normal(size=n) for f in NUMERIC})
    frame["plan"] = rng.choice(["a", "b", "c"], size=n)
    logit = 3 * frame["x0"] + 1.5 * frame["x1"] + 0.5 * frame["x2"] + (frame["plan"] == "c") * 1.0
    frame["y"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return frame


def _forest(frame: pd.DataFrame) -> Pipeline:
    pre = ColumnTransformer([("num", "passthrough", list(NUMERIC)),
                             ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan"])])
    model = Pipeline([("pre", pre), ("rf", RandomForestClassifier(
        n_estimators=40, max_depth=6, random_state=0))])
    return model.fit(frame[list(SCHEMA.features)], frame["y"])


def test_importance_stability_same_model_and_permuted_features() -> None:
    frame = _data()
    model = _forest(frame)
    native = native_importances(model, SCHEMA.features)
    assert native is not None
    assert set(native) == set(SCHEMA.features)
    mine = model_importances(model, lambda f: model.predict_proba(f)[:, 1], frame, SCHEMA)
    assert mine.method == "native"
    assert sum(mine.values.values()) == pytest.approx(1.0)
    assert mine.ranked()[:2] == ["x0", "x1"]
    same = compare_importances(mine, Importances.from_dict(mine.to_dict()), top_k=2)
    assert same.spearman == pytest.approx(1.0)
    assert same.top_k_overlap == 1.0
    assert same.entered == same.left == ()
    # a model trained with the features' columns permuted: x3's values where x0's were, ...
    permuted = frame.rename(columns={"x0": "x3", "x3": "x0", "x1": "x2", "x2": "x1"})
    other = _forest(permuted)
    theirs = model_importances(other, lambda f: other.predict_proba(f)[:, 1], permuted, SCHEMA)
    changed = compare_importances(mine, theirs, top_k=2)
    assert changed.spearman < 0.5  # 0.0 here: x0 and x1 fell to the bottom
    assert set(changed.entered) == {"x3", "x2"}
    assert set(changed.left) == {"x0", "x1"}
    assert changed.metrics() == {"importance/spearman": changed.spearman,
                                 "importance/top_k_overlap": 0.0}
    assert "entered the top 2" in changed.sentence()


def test_permutation_importance_without_native_importances() -> None:
    frame = _data(1)
    numeric_only = FeatureSchema(target="y", numeric=NUMERIC, categorical=())
    model = LogisticRegression().fit(frame[list(NUMERIC)], frame["y"])
    result = model_importances(model, lambda f: model.predict_proba(f[list(NUMERIC)])[:, 1],
                               frame, numeric_only, seed=3)
    assert result.method == "permutation"
    assert result.metric == "roc_auc"
    assert result.ranked()[:3] == ["x0", "x1", "x2"]
    assert result.values["x3"] < 0.02
