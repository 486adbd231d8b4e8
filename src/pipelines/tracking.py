"""Everything that talks to MLflow: tracking URI, experiments, runs, models, registry, reference.

Other modules compute; this one records and reads back. State (the champion, the reference a
champion was trained with, the last retraining) lives in MLflow, never in local files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
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
from mlflow.tracking import MlflowClient

from pipelines.config import TrackingSettings
from pipelines.data.schema import SCORE_COLUMN, FeatureSchema, categorical_as_str
from pipelines.errors import ModelNotFoundError, TrackingError
from pipelines.models import FittedCandidate, Flavor, positive_scores

logger = logging.getLogger(__name__)

REFERENCE_DIR = "reference"
REFERENCE_FILE = "reference.parquet"
SCHEMA_FILE = "feature_schema.json"
#: skops refuses unknown types on load; we trust only types from these packages.
_TRUSTED_PREFIXES = ("sklearn.", "numpy.", "builtins.", "collections.", "scipy.")


def _sqlite_path(uri: str) -> Path | None:
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri[len("sqlite:///"):])


def configure_tracking(tracking: TrackingSettings) -> MlflowClient:
    """Point MLflow (tracking and registry) at ``tracking.uri`` and check it answers.

    Raises :class:`TrackingError` naming the URI when the server cannot be reached.
    """
    uri = tracking.uri
    db = _sqlite_path(uri)
    if db is not None and db.parent and not db.parent.exists():
        db.parent.mkdir(parents=True, exist_ok=True)
    if uri.startswith(("http://", "https://")):
        _probe_server(uri, tracking.request_timeout_seconds)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    try:
        client.search_experiments(max_results=1)
    except Exception as exc:  # any failure here means the store is unusable
        raise TrackingError(f"MLflow tracking store {uri} cannot be used: {exc}") from exc
    return client


def _probe_server(uri: str, timeout: float) -> None:
    url = uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (http only)
            if resp.status != 200:
                raise TrackingError(f"MLflow server {uri} answered {resp.status} on /health.")
    except (urllib.error.URLError, OSError) as exc:
        raise TrackingError(
            f"MLflow tracking server {uri} is unreachable ({exc}). Start it, or unset "
            "MLFLOW_TRACKING_URI / tracking.uri to use the embedded sqlite:///mlflow.db store."
        ) from exc


def artifact_location(tracking: TrackingSettings) -> str | None:
    """Artifact root for new experiments: beside the SQLite file; the server's own otherwise."""
    db = _sqlite_path(tracking.uri)
    if db is None:
        return None
    root = Path(tracking.artifact_root)
    if not root.is_absolute():
        root = db.resolve().parent / root
    return root.resolve().as_uri()


def ensure_experiment(client: MlflowClient, name: str, tracking: TrackingSettings) -> str:
    """The id of experiment ``name``, created (artifacts beside the DB) if it does not exist."""
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        if exp.lifecycle_stage == "deleted":
            client.restore_experiment(exp.experiment_id)
        return exp.experiment_id
    try:
        return client.create_experiment(name, artifact_location=artifact_location(tracking))
    except MlflowException:
        exp = client.get_experiment_by_name(name)  # created concurrently by another process
        if exp is None:
            raise
        return exp.experiment_id


@contextmanager
def start_run(
    client: MlflowClient,
    tracking: TrackingSettings,
    experiment: str,
    *,
    run_name: str | None = None,
    tags: Mapping[str, str] | None = None,
    nested: bool = False,
) -> Iterator[mlflow.ActiveRun]:
    """Start (or, inside ``mlflow run``, resume) a run. A failure marks the run FAILED.

    Inside ``mlflow run`` the run is handed over through ``MLFLOW_RUN_ID`` and its experiment
    is fixed by the project run, so the experiment is not switched there.
    """
    handed_over = os.environ.get("MLFLOW_RUN_ID")
    if nested:
        # in the parent's experiment: start_run(nested=True) alone would use the default one
        parent = mlflow.active_run()
        if parent is None:
            raise TrackingError("a nested run needs an active parent run")
        with mlflow.start_run(run_name=run_name, nested=True, tags=dict(tags or {}),
                              experiment_id=parent.info.experiment_id) as run:
            yield run
        return
    if handed_over and mlflow.active_run() is None:
        with mlflow.start_run(run_id=handed_over) as run:
            if tags:
                mlflow.set_tags(dict(tags))
            # start_run() without run_id reads MLFLOW_RUN_ID: while the handed-over run is
            # active, hide it so nested runs are new children, not the parent resumed again.
            os.environ.pop("MLFLOW_RUN_ID", None)
            try:
                yield run
            finally:
                os.environ["MLFLOW_RUN_ID"] = handed_over
        return
    experiment_id = ensure_experiment(client, experiment, tracking)
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name,
                          tags=dict(tags or {})) as run:
        yield run


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


def log_model(candidate: FittedCandidate, schema: FeatureSchema,
              example: pd.DataFrame) -> ModelInfo:
    """Log ``candidate`` in the active run with signature, input example and its schema.

    scikit-learn models are saved with skops (MLflow's default, no pickle); the skops types
    they need (tree internals, numpy dtypes) are computed, checked to come from scikit-learn or
    numpy, and stored in the MLmodel file. XGBoost is saved natively (UBJSON).
    """
    raw = categorical_as_str(example, schema)
    scores = positive_scores(candidate.estimator, candidate.flavor, example, schema)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "integer column" hint: ours are floats
        signature = infer_signature(raw, scores)
    metadata = {"feature_schema": schema.to_dict(), "candidate": candidate.name,
                "flavor": candidate.flavor}
    if candidate.flavor == "sklearn":
        return mlflow.sklearn.log_model(
            candidate.estimator, name="model", signature=signature, input_example=raw.head(5),
            metadata=metadata, skops_trusted_types=_skops_trusted_types(candidate.estimator),
            pip_requirements=pip_requirements("sklearn"),
        )
    # The pyfunc flavor of an XGBoost model needs categorical dtypes; we score through the
    # native flavor and prepare_features, so no input example is validated through pyfunc.
    return mlflow.xgboost.log_model(
        candidate.estimator, name="model", signature=signature, metadata=metadata,
        model_format="ubj", pip_requirements=pip_requirements("xgboost"),
    )


def log_reference(frame: pd.DataFrame, schema: FeatureSchema, scores: np.ndarray,
                  profile_writer: Any | None = None) -> None:
    """Store the reference set (features, labels, model scores) and schema in the active run."""
    columns = list(schema.features) + [schema.target]
    ref = frame.loc[:, columns].reset_index(drop=True).copy()
    ref[SCORE_COLUMN] = scores
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / REFERENCE_FILE
        ref.to_parquet(path, index=False)
        (Path(tmp) / SCHEMA_FILE).write_text(schema.to_json())
        if profile_writer is not None:
            profile_writer(ref, Path(tmp))
        mlflow.log_artifacts(tmp, artifact_path=REFERENCE_DIR)


def dataset_source(source: str) -> Any:
    """An MLflow data set source: the file's resolved path when ``source`` is a file, else a
    code source carrying the description (generator call, in-memory frame)."""
    if Path(source).is_file():
        return str(Path(source).resolve())
    from mlflow.data.code_dataset_source import CodeDatasetSource

    return CodeDatasetSource(tags={"source": source})


#: Rows hashed for a logged data set's digest (as MLflow does) and read for its schema
#: (MLflow's inference checks every value in Python).
DATASET_DIGEST_ROWS = 10_000
DATASET_SCHEMA_ROWS = 1_000


def _dataset_digest(frame: pd.DataFrame) -> str:
    """What MLflow's pandas digest means to hash (the first rows, the length, the columns),
    without its pass over every cell of the whole frame (a minute at 1M rows)."""
    h = hashlib.md5(usedforsecurity=False)
    h.update(pd.util.hash_pandas_object(frame.head(DATASET_DIGEST_ROWS), index=False).values)
    h.update(np.int64(len(frame)).tobytes())
    for column in frame.columns:
        h.update(str(column).encode())
    return h.hexdigest()[:8]


def log_dataset(frame: pd.DataFrame, source: str, name: str, target: str | None,
                *, context: str) -> None:
    """Record ``frame`` as an input of the active run (digest, schema, row count; not the data).

    The schema is inferred from the first :data:`DATASET_SCHEMA_ROWS` rows: MLflow's own
    inference checks every value in Python and dominated a 1M-row monitoring cycle.
    """
    from mlflow.data.pandas_dataset import PandasDataset

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # int-column and source-ambiguity hints
        dataset = mlflow.data.from_pandas(frame, source=dataset_source(source), name=name,
                                          targets=target, digest=_dataset_digest(frame))
        sample = PandasDataset(frame.head(DATASET_SCHEMA_ROWS), source=dataset.source,
                               name=name, targets=target, digest=dataset.digest)
        dataset.__dict__["schema"] = sample.schema  # fills MLflow's cached property
        mlflow.log_input(dataset, context=context)


def register_model(client: MlflowClient, model_uri: str, name: str,
                   tags: Mapping[str, Any] | None = None) -> ModelVersion:
    version = mlflow.register_model(model_uri, name,
                                    tags={k: str(v) for k, v in (tags or {}).items()})
    logger.info("Registered %s version %s from %s", name, version.version, model_uri)
    return version


def alias_version(client: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    """The version behind ``name@alias``, or None if the model or alias does not exist."""
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            return None
        raise TrackingError(f"Cannot read alias {name}@{alias}: {exc}") from exc


def promote(client: MlflowClient, tracking: TrackingSettings, version: str) -> str | None:
    """Point ``champion`` at ``version``, keeping the old champion as ``previous-champion``.

    Order matters: the backup alias is written first, then ``champion`` moves in one call,
    so a crash at any point leaves ``champion`` on a working version. Returns the old version.
    """
    name = tracking.registered_model_name
    old = alias_version(client, name, tracking.champion_alias)
    if old is not None and str(old.version) != str(version):
        client.set_registered_model_alias(name, tracking.previous_alias, str(old.version))
    client.set_registered_model_alias(name, tracking.champion_alias, str(version))
    logger.info("%s@%s -> version %s (previous: %s)", name, tracking.champion_alias, version,
                old.version if old else None)
    return str(old.version) if old else None


@dataclass
class Champion:
    """The production model, loaded through its native flavor, with what it was trained on."""

    name: str
    version: str
    run_id: str
    model_uri: str
    flavor: Flavor
    schema: FeatureSchema
    estimator: Any

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        """P(class 1) for each row of ``frame`` (which must hold the schema's features)."""
        return positive_scores(self.estimator, self.flavor, frame, self.schema)


def load_model_version(client: MlflowClient, name: str, version: ModelVersion) -> Champion:
    uri = f"models:/{name}/{version.version}"
    info = mlflow.models.get_model_info(uri)
    metadata = info.metadata or {}
    if "feature_schema" not in metadata:
        raise TrackingError(f"{uri} has no feature_schema metadata; it was not logged by this tool.")
    schema = FeatureSchema.from_dict(metadata["feature_schema"])
    if "xgboost" in info.flavors:
        flavor: Flavor = "xgboost"
        estimator = mlflow.xgboost.load_model(uri)
    elif "sklearn" in info.flavors:
        flavor = "sklearn"
        estimator = mlflow.sklearn.load_model(uri)
    else:
        raise TrackingError(f"{uri} has flavors {sorted(info.flavors)}; expected sklearn or xgboost.")
    return Champion(name=name, version=str(version.version), run_id=version.run_id,
                    model_uri=uri, flavor=flavor, schema=schema, estimator=estimator)


def load_champion(client: MlflowClient, tracking: TrackingSettings,
                  alias: str | None = None) -> Champion:
    """Load ``models:/<name>@champion`` (or another alias). Raises :class:`ModelNotFoundError`."""
    alias = alias or tracking.champion_alias
    name = tracking.registered_model_name
    version = alias_version(client, name, alias)
    if version is None:
        raise ModelNotFoundError(
            f"No model behind {name}@{alias} in {tracking.uri}. Train a baseline first: "
            "`python -m pipelines.train_baseline` (or `python run_all.py`)."
        )
    return load_model_version(client, name, version)


def load_reference(run_id: str, dst: str | Path | None = None) -> pd.DataFrame:
    """The reference set (features, target, ``__score__``) stored with run ``run_id``."""
    try:
        local = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=f"{REFERENCE_DIR}/{REFERENCE_FILE}",
            dst_path=str(dst) if dst else None,
        )
    except MlflowException as exc:
        raise TrackingError(f"Run {run_id} has no reference set: {exc}") from exc
    return pd.read_parquet(local)


def download_run_artifact(run_id: str, artifact_path: str, dst: str | Path | None = None) -> Path:
    try:
        return Path(mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=artifact_path, dst_path=str(dst) if dst else None))
    except (MlflowException, OSError) as exc:
        raise TrackingError(f"Run {run_id} has no artifact {artifact_path}: {exc}") from exc


def log_json(data: Mapping[str, Any], artifact_file: str) -> None:
    mlflow.log_text(json.dumps(data, indent=2, default=str), artifact_file)
