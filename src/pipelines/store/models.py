"""Models in the store: log a fitted candidate as a pyfunc scorer around its native model
(:mod:`pipelines.store.scoring`: ``predict`` gives P(class 1) for a binary model, never class
labels; the prediction for a regression model; class probabilities, one named column per
class, for a multiclass model), load a registered version back to its native estimator.

A version's problem type is read from the feature schema stored with the model; a schema
written before types existed falls back to the version tag ``problem_type``, then binary."""

from __future__ import annotations

import json
import logging
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.models.model import ModelInfo

from pipelines.data.schema import FeatureSchema, categorical_as_str
from pipelines.errors import ModelNotFoundError, TrackingError
from pipelines.problems import PROBLEM_TYPE_TAG, Problem
from pipelines.retraining.candidates import FittedCandidate, Flavor, model_outputs
from pipelines.store.client import Store
from pipelines.store.database import masked
from pipelines.store.family import remembered_settings
from pipelines.store.registry import alias_version
from pipelines.store.scoring import (
    NATIVE_ARTIFACT,
    SCHEMA_ARTIFACT,
    PositiveClassScorer,
    as_served,
    class_columns,
    external_outputs,
)

logger = logging.getLogger(__name__)

#: The flavor of a model trained elsewhere (its scores come with each batch).
EXTERNAL = "external"
EXTERNAL_COLUMN_KEY = "external_scores_column"

#: skops refuses unknown types on load; we trust only types from these packages.
_TRUSTED_PREFIXES = ("sklearn.", "numpy.", "builtins.", "collections.", "scipy.")


def _skops_trusted_types(estimator: Any) -> list[str]:
    """The types skops would refuse on load, after checking each comes from a trusted package."""
    import skops.io as sio

    untrusted = sio.get_untrusted_types(data=sio.dumps(estimator))
    foreign = [t for t in untrusted if not t.startswith(_TRUSTED_PREFIXES)]
    if foreign:
        raise TrackingError(
            f"Refusing to trust types outside scikit-learn/numpy for skops: {', '.join(foreign)}"
        )
    return sorted(untrusted)


def pip_requirements(flavor: Flavor) -> list[str]:
    """The model's requirements pinned to what is installed: stated, not inferred (MLflow's
    inference loads the model in a subprocess, seconds per model)."""
    from importlib.metadata import PackageNotFoundError, version

    names = ["mlflow", "numpy", "pandas", "scipy", "scikit-learn"]
    names += ["skops"] if flavor == "sklearn" else ["xgboost"]
    pins = []
    for name in names:
        try:
            pins.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            pins.append(name)
    return pins


def log_model(store: Store, candidate: FittedCandidate, schema: FeatureSchema,
              example: pd.DataFrame) -> ModelInfo:
    """Log ``candidate`` in the active run with signature, input example and its schema.

    scikit-learn models are saved with skops (MLflow's default, no pickle); the skops types
    they need (tree internals, numpy dtypes) are computed, checked to come from scikit-learn or
    numpy, and stored in the MLmodel file. XGBoost is saved natively (UBJSON).
    """
    store.use()
    raw = categorical_as_str(example, schema)
    outputs = as_served(model_outputs(candidate.estimator, candidate.flavor, example, schema),
                        schema.problem_type, schema.classes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "integer column" hint: ours are floats
        signature = infer_signature(raw, outputs)
    metadata = {"feature_schema": schema.to_dict(), "candidate": candidate.name,
                "flavor": candidate.flavor, "output": OUTPUT_TEXT[schema.problem_type],
                PROBLEM_TYPE_TAG: schema.problem_type}
    requirements = pip_requirements(candidate.flavor)
    with tempfile.TemporaryDirectory() as tmp:
        native = Path(tmp) / NATIVE_ARTIFACT
        if candidate.flavor == "sklearn":
            mlflow.sklearn.save_model(
                candidate.estimator, str(native), serialization_format="skops",
                skops_trusted_types=_skops_trusted_types(candidate.estimator),
                pip_requirements=requirements)
        else:
            mlflow.xgboost.save_model(candidate.estimator, str(native), model_format="ubj",
                                      pip_requirements=requirements)
        schema_file = Path(tmp) / f"{SCHEMA_ARTIFACT}.json"
        schema_file.write_text(schema.to_json())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return mlflow.pyfunc.log_model(
                name="model", python_model=str(Path(__file__).with_name("scorer_model.py")),
                artifacts={NATIVE_ARTIFACT: str(native), SCHEMA_ARTIFACT: str(schema_file)},
                signature=signature, input_example=raw.head(5), metadata=metadata,
                pip_requirements=requirements)


#: What a logged model's ``predict`` returns, per problem type (stored in its metadata).
OUTPUT_TEXT = {
    "binary": "P(positive class) per row",
    "regression": "the predicted value per row",
    "multiclass": "a DataFrame of class probabilities, one column per class named by its label",
}


#: Version tag of a multiclass model's class labels (JSON list, probability-column order).
CLASSES_TAG = "classes"


def type_tags(schema: FeatureSchema) -> dict[str, str]:
    """The version tags saying what kind of model it is: ``problem_type`` and, multiclass,
    ``classes``."""
    tags = {PROBLEM_TYPE_TAG: schema.problem_type}
    if schema.problem_type == "multiclass":
        tags[CLASSES_TAG] = json.dumps(list(schema.classes))
    return tags


def metric_text(kind: Problem, value: float) -> str:
    """The primary metric for a description: 4 decimals for scores in [0, 1], 4 significant
    digits for an RMSE (any scale)."""
    return f"{value:.4f}" if kind.classifier else f"{value:.4g}"


@dataclass
class Champion:
    """A registered model version, loaded through its native flavor, with its schema."""

    name: str
    version: str
    run_id: str
    model_uri: str
    flavor: Flavor
    schema: FeatureSchema
    estimator: Any

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        """The model's outputs for each row of ``frame`` (which must hold the schema's
        features; for a model scored elsewhere, its prediction column(s)): P(class 1)
        (binary), the predicted value (regression), both 1-D; multiclass: an (n, k) array of
        class probabilities in ``schema.classes`` order."""
        if self.flavor == EXTERNAL:
            return external_outputs(frame, self.estimator, self.schema.problem_type,
                                    self.schema.classes, "batch")
        return model_outputs(self.estimator, self.flavor, frame, self.schema)

    @property
    def problem_type(self) -> str:
        """``binary``, ``multiclass`` or ``regression``: how the model's outputs are read."""
        return self.schema.problem_type

    @property
    def external(self) -> bool:
        """Trained and served elsewhere: registered for monitoring only."""
        return self.flavor == EXTERNAL


def log_external_model(store: Store, schema: FeatureSchema, scores_column: str,
                       example: pd.DataFrame) -> ModelInfo:
    """Log, in the active run, the stand-in for a model trained elsewhere: its pyfunc
    returns the batch's own predictions (``scores_column``; multiclass: its
    ``<scores_column>_<class>`` columns)."""
    store.use()
    held = (f"{', '.join(class_columns(scores_column, schema.classes))} columns"
            if schema.problem_type == "multiclass" else f"{scores_column} column")
    metadata = {"feature_schema": schema.to_dict(), EXTERNAL_COLUMN_KEY: scores_column,
                PROBLEM_TYPE_TAG: schema.problem_type,
                "output": f"the batch's own {held} (scored elsewhere)"}
    config = {"scores_column": scores_column, "problem_type": schema.problem_type,
              "classes": list(schema.classes)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return mlflow.pyfunc.log_model(
            name="model", python_model=str(Path(__file__).with_name("external_model.py")),
            model_config=config, metadata=metadata,
            input_example=example.head(5), pip_requirements=["mlflow", "pandas", "numpy"])


def stored_schema(stored: dict[str, Any], tags: dict[str, str]) -> FeatureSchema:
    """The feature schema stored with a model; one written before problem types takes its
    type (and classes) from the version's tags, else it is binary."""
    if stored.get("problem_type"):
        return FeatureSchema.from_dict(stored)
    classes = json.loads(tags[CLASSES_TAG]) if tags.get(CLASSES_TAG) else []
    return FeatureSchema.from_dict({**stored,
                                    "problem_type": tags.get(PROBLEM_TYPE_TAG) or "binary",
                                    "classes": stored.get("classes") or classes})


def load_model_version(store: Store, version: ModelVersion) -> Champion:
    store.use()
    name = version.name
    uri = f"models:/{name}/{version.version}"
    info = mlflow.models.get_model_info(uri)
    metadata = info.metadata or {}
    if "feature_schema" not in metadata:
        raise TrackingError(f"{uri} has no feature_schema metadata; it was not logged by "
                            "this tool.")
    schema = stored_schema(metadata["feature_schema"], version.tags or {})
    if EXTERNAL_COLUMN_KEY in metadata:
        return Champion(name=name, version=str(version.version), run_id=version.run_id,
                        model_uri=uri, flavor=EXTERNAL,  # type: ignore[arg-type]
                        schema=schema, estimator=metadata[EXTERNAL_COLUMN_KEY])
    pyfunc = info.flavors.get("python_function", {})
    if "xgboost" not in info.flavors and "sklearn" not in info.flavors and pyfunc:
        # MLflow's own check of the model's requirements maps every installed distribution
        # to its modules first (0.6 s of each command's start); the same check, by name:
        warn_requirement_mismatches(uri)
        scorer = mlflow.pyfunc.load_model(uri, suppress_warnings=True).unwrap_python_model()
        if not isinstance(scorer, PositiveClassScorer):
            raise TrackingError(f"{uri} is a pyfunc model of another kind "
                                f"({type(scorer).__name__}); it was not logged by this tool.")
        return Champion(name=name, version=str(version.version), run_id=version.run_id,
                        model_uri=uri, flavor=scorer.flavor, schema=schema,
                        estimator=scorer.estimator)
    # versions logged before the pyfunc scorer: the native flavor at the top level
    if "xgboost" in info.flavors:
        flavor: Flavor = "xgboost"
        estimator = mlflow.xgboost.load_model(uri)
    elif "sklearn" in info.flavors:
        flavor = "sklearn"
        estimator = mlflow.sklearn.load_model(uri)
    else:
        raise TrackingError(f"{uri} has flavors {sorted(info.flavors)}; expected sklearn or "
                            "xgboost.")
    return Champion(name=name, version=str(version.version), run_id=version.run_id,
                    model_uri=uri, flavor=flavor, schema=schema, estimator=estimator)


def requirement_mismatches(requirements: list[str]) -> list[str]:
    """The model requirements (pip lines) this environment does not satisfy, as
    ``"name (current: X, required: LINE)"``; lines that are not a plain requirement (paths,
    URLs, options) and those whose marker does not apply are skipped, as MLflow does."""
    from importlib import metadata

    from packaging.requirements import InvalidRequirement, Requirement

    out = []
    for line in requirements:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        if req.marker is not None and not req.marker.evaluate():
            continue
        try:
            installed = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            out.append(f"{req.name} (current: uninstalled, required: {line})")
            continue
        if req.specifier and not req.specifier.contains(installed, prereleases=True):
            out.append(f"{req.name} (current: {installed}, required: {line})")
    return out


def warn_requirement_mismatches(uri: str) -> None:
    """Warn, as ``mlflow.pyfunc.load_model`` would, when the model at ``uri`` was logged with
    requirements this environment does not satisfy."""
    try:
        path = mlflow.artifacts.download_artifacts(f"{uri}/requirements.txt")
        lines = [ln.strip() for ln in Path(path).read_text().splitlines()]
    except (MlflowException, OSError) as exc:
        logger.debug("%s: requirements not checked (%s)", uri, exc)
        return
    mismatches = requirement_mismatches([ln for ln in lines if ln and not ln.startswith("#")])
    if mismatches:
        logger.warning("%s was logged with requirements this environment does not meet: %s. "
                       "mlflow.pyfunc.get_model_dependencies(%r) gives its environment.",
                       uri, "; ".join(mismatches), uri)


def load_champion(store: Store, alias: str | None = None) -> Champion:
    """Load ``models:/<name>@champion`` (or another alias). Raises :class:`ModelNotFoundError`
    advising what to do in the situation found (see :func:`missing_champion_advice`)."""
    alias = alias or store.tracking.champion_alias
    version = alias_version(store, alias)
    if version is None:
        raise ModelNotFoundError(missing_champion_advice(store, alias))
    return load_model_version(store, version)


def missing_champion_advice(store: Store, alias: str) -> str:
    """Why ``<name>@alias`` is missing and what to do: the family remembers another model
    name (use it), the model has versions but none under the alias (promote one), or nothing
    is registered at all (train the demo baseline or register your own model's reference)."""
    tracking = store.tracking
    name, family = tracking.registered_model_name, tracking.experiment_prefix
    where = f"No model behind {name}@{alias} in {masked(tracking.uri)}."
    remembered = remembered_settings(store).get("tracking.registered_model_name")
    if remembered and remembered != name:
        return (f"{where} Family {family} remembers the model {remembered!r} (registered "
                f"by register_reference or train_baseline): drop --model-name {name} (or "
                f"tracking.registered_model_name) if you set it, or pass --model-name "
                f"{remembered}.")
    try:
        versions = [v.version for v in store.client.search_model_versions(
            f"name = '{name}'", max_results=20)]
    except MlflowException:
        versions = []
    if versions:
        return (f"{where} {name} has version(s) {', '.join(map(str, sorted(versions)))} but "
                f"none is @{alias}: make one the {alias} (`python -m pipelines.rollback`, "
                "`python -m pipelines.approve`), or register a new one.")
    return (f"{where} Nothing is registered as {name!r} yet. Train the demo baseline "
            "(`python -m pipelines.train_baseline` or `python run_all.py`), or register your "
            "own model's reference: `python -m pipelines.register_reference --data REF "
            "--prediction-column COL --target COL [--model-name NAME]`.")
