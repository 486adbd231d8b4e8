"""The counts engines: a batch of any size reduced to counts, then monitored like any batch.

``chunked``: the file (CSV, Parquet, a folder of Parquet parts) read in chunks of
``engine.chunk_rows`` rows on this machine; each chunk validated, scored and counted, only
the counts kept (memory bounded by one chunk). ``spark``: the batch read by PySpark (a path
or a table name), scored by ``mlflow.pyfunc.spark_udf`` (or taken from its score column),
each partition counted on the executors; only counts reach the driver. Both end in
:meth:`~pipelines.workflows.monitor.Monitor.run_counts`: the same statistics, verdict,
MLflow run and reports as the in-memory path (KS from bins, see
:mod:`pipelines.stats.binned`).
"""

from __future__ import annotations

import logging
import os
import re
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from pipelines.config import EngineSettings, Settings
from pipelines.data.batch import Batch, prepare_batch
from pipelines.data.chunks import batch_files, files_digest, iter_chunks
from pipelines.data.objects import ObjectUri, fetched, is_object_uri
from pipelines.data.schema import SCORE_COLUMN, FeatureSchema
from pipelines.errors import ConfigError, DataError, SchemaError
from pipelines.monitoring.counts import BatchCounts, CountsProfile, count_chunk, total
from pipelines.monitoring.slices import SliceSet, count_slices
from pipelines.monitoring.timing import Stopwatch
from pipelines.store import Store, connect
from pipelines.store.scoring import external_scores
from pipelines.workflows.family import resolve_settings
from pipelines.workflows.monitor import BatchInfo, Monitor, MonitorOutcome, batch_scores
from pipelines.workflows.slices import SliceCounts

logger = logging.getLogger(__name__)

ENGINES = ("memory", "chunked", "spark")
_TABLE_NAME = re.compile(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*){0,2}")


def count_file(monitor: Monitor, path: Path, chunk_rows: int, batch_id: str,
               timer: Stopwatch | None = None,
               slices: SliceCounts | None = None) -> tuple[BatchCounts, str]:
    """The counts of a batch file read chunk by chunk, and what scored it; ``timer`` is told
    the time of each phase (read, convert, scoring, counting), added up over the chunks.
    ``slices``: filled with each slice's counts when the monitor has slices."""
    timer = timer or Stopwatch()
    profile = monitor.counts_profile
    counts, scored_by, start = profile.empty(), "", 0
    chunks = iter_chunks(path, chunk_rows)
    while True:
        with timer("read"):
            frame = next(chunks, None)
        if frame is None:
            break
        if frame.empty:
            continue
        end = start + len(frame)
        part = Batch(frame, batch_id, f"{path} (rows {start + 1:,}-{end:,})")
        with timer("convert"):
            prepared = prepare_batch(part, monitor.champion.schema)
        with timer("scoring"):
            scores, scored_by = batch_scores(prepared, monitor.champion,
                                             monitor.settings.data.prediction_column)
        with timer("counting"):
            counts = counts + count_chunk(profile, prepared, scores)
        if slices is not None and monitor.slice_set is not None:
            with timer("slices"):
                count_slices(monitor.slice_set, monitor.slice_counts_profiles, prepared,
                             scores, slices.counts, slices.rows)
        logger.debug("counted rows %d-%d of %s", start + 1, end, path)
        start = end
    return counts, scored_by


# --------------------------------------------------------------------------- Spark


def spark_session(engine: EngineSettings) -> Any:
    """A Spark session at ``engine.spark_master`` whose Python workers run this interpreter."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise ConfigError('The spark engine needs PySpark: pip install -e ".[spark]" '
                          "(and Java 17).") from exc
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    # PySpark 4.x warns that pandas 3 is not fully supported; what this engine uses
    # (mapInPandas, Arrow transfer, spark_udf) is tested on it
    os.environ.setdefault("PYTHONWARNINGS", "ignore::FutureWarning")
    warnings.filterwarnings("ignore", category=FutureWarning, module="pyspark")
    builder = (SparkSession.builder.master(engine.spark_master).appName("churn-monitoring")
               .config("spark.ui.showConsoleProgress", "false")
               # pandas writes nanosecond timestamps, which Spark refuses unless read as long
               .config("spark.sql.legacy.parquet.nanosAsLong", "true"))
    for key, value in engine.spark_conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def read_spark_batch(spark: Any, source: str) -> Any:
    """A Spark DataFrame of the batch: a local path (CSV, Parquet, folder), a URL Spark reads
    (``s3a://``, ``hdfs://``, ...) or a table name."""
    if "://" in source:
        return (spark.read.csv(source, header=True, inferSchema=True)
                if source.lower().endswith(".csv") else spark.read.parquet(source))
    path = Path(source)
    if path.exists():
        files = batch_files(path)
        if files[0].suffix.lower() == ".csv":
            return spark.read.csv(str(path), header=True, inferSchema=True)
        return spark.read.parquet(str(path))
    if _TABLE_NAME.fullmatch(source):
        try:
            return spark.table(source)
        except Exception as exc:  # AnalysisException: no such table
            raise DataError(f"{source} is neither a file nor a table Spark knows: "
                            f"{str(exc).splitlines()[0]}") from exc
    raise DataError(f"Data file {source} does not exist.")


def _partition_counter(profile: CountsProfile, schema: FeatureSchema, score_column: str,
                       source: str, drop: tuple[str, ...],
                       slices: tuple[SliceSet, dict[str, CountsProfile]] | None = None,
                       ) -> Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]]:
    """The function each Spark partition runs: its rows to one row of counts (JSON), or the
    bad-input message that refuses the batch; with ``slices`` (the slices without their
    reference contexts, and each slice's bins), each slice's counts and rows as well."""

    def count(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        part, error = profile.empty(), ""
        by_slice = SliceCounts()
        for frame in frames:
            if frame.empty:
                continue
            try:
                scores = external_scores(frame, score_column, source)
                batch = Batch(frame.drop(columns=list(drop)), "partition", source)
                prepared = prepare_batch(batch, schema)
                part = part + count_chunk(profile, prepared, scores)
                if slices is not None:
                    count_slices(slices[0], slices[1], prepared, scores, by_slice.counts,
                                 by_slice.rows)
            except DataError as exc:
                error = str(exc)
                break
        yield pd.DataFrame({"counts": [part.to_json()], "error": [error],
                            "slices": [by_slice.to_json()]})

    return count


def count_spark(monitor: Monitor, store: Store, source: str,
                slices: SliceCounts | None = None) -> tuple[BatchCounts, str]:
    """The counts of a batch read and scored by Spark, and what scored it; ``slices``:
    filled with each slice's counts (summed over the partitions) when the monitor has
    slices."""
    from pipelines.store.spark import positive_class_column

    schema = monitor.champion.schema
    spark = spark_session(monitor.settings.engine)
    frame = read_spark_batch(spark, source)
    missing = [c for c in schema.features if c not in frame.columns]
    if missing:
        raise SchemaError(f"{source}: required column(s) missing: {', '.join(missing)}")
    prediction = monitor.settings.data.prediction_column
    if prediction and prediction in frame.columns:
        score_column, scored_by, drop = prediction, f"column {prediction}", ()
    elif monitor.champion.external:
        score_column = str(monitor.champion.estimator)
        scored_by, drop = f"column {score_column}", ()
    else:
        sample = frame.select(*schema.features).limit(20).toPandas()
        frame = frame.withColumn(SCORE_COLUMN, positive_class_column(
            store, spark, monitor.champion.model_uri, schema.features, sample))
        score_column, drop = SCORE_COLUMN, (SCORE_COLUMN,)
        scored_by = f"champion v{monitor.champion.version} (spark_udf)"
    shipped = None
    if slices is not None and monitor.slice_set is not None:  # the contexts stay here
        shipped = (replace(monitor.slice_set, contexts={}), monitor.slice_counts_profiles)
    counter = _partition_counter(monitor.counts_profile, schema, score_column, source, drop,
                                 shipped)
    rows = frame.mapInPandas(counter, "counts string, error string, slices string").collect()
    errors = [r["error"] for r in rows if r["error"]]
    if errors:
        raise DataError(errors[0])
    logger.info("Spark: %d partition(s) of %s counted", len(rows), source)
    if shipped is not None and slices is not None:
        for r in rows:
            slices.add(SliceCounts.from_json(r["slices"]))
    return total(monitor.counts_profile, [BatchCounts.from_json(r["counts"]) for r in rows]), \
        scored_by


# --------------------------------------------------------------------------- entry


def check_counts_engine(engine: str, problem_type: str) -> None:
    """The chunked and spark engines reduce a batch to counts of scores in [0, 1]: a binary
    model's only. Any other type is refused before a run is created."""
    if problem_type != "binary":
        raise ConfigError(
            f"The {engine} engine judges binary models only; the champion is a {problem_type} "
            "model. Use engine.name = memory (or --engine memory) for this model.")


def monitor_counted(settings: Settings, source: str, engine: str, *,
                    batch_id: str | None = None, experiment: str | None = None,
                    store: Store | None = None, origin: str | None = None) -> MonitorOutcome:
    """Monitor the batch at ``source`` with the ``chunked`` or ``spark`` engine. An
    ``s3://`` object (or a prefix ending with ``/`` of Parquet parts) is downloaded into a
    temporary folder first and monitored from there (``origin``: where it came from)."""
    if engine not in ("chunked", "spark"):
        raise ConfigError(f"engine must be chunked or spark here, got {engine!r}")
    if is_object_uri(source):
        with fetched(source) as local:
            name = ObjectUri.parse(source).name
            return monitor_counted(settings, str(local), engine,
                                   batch_id=batch_id or Path(name).stem or name,
                                   experiment=experiment, store=store, origin=source)
    store = store or connect(settings.tracking)
    settings = resolve_settings(settings, store)  # the model and columns the family knows
    name = store.experiment_name(experiment) if experiment else None
    monitor = Monitor(settings, store=store, experiment=name)
    check_counts_engine(engine, monitor.problem_type)
    path = Path(source)
    local = path.exists()
    info = BatchInfo(batch_id=batch_id or (path.stem if local else source.rsplit("/", 1)[-1]),
                     source=origin or source, digest=files_digest(path) if local else None,
                     file_name=(ObjectUri.parse(origin).name if origin else path.name)
                     if local and path.is_file() else None)
    timer = Stopwatch()  # the run's ops/ metrics: the counting's phases and the cycle's total
    slices = SliceCounts() if monitor.slice_set is not None else None
    if engine == "chunked":
        if not local:
            raise DataError(f"Data file {source} does not exist (the chunked engine reads "
                            "local files; use the spark engine for tables and URLs).")
        counts, scored_by = count_file(monitor, path, settings.engine.chunk_rows,
                                       info.batch_id, timer, slices)
    else:
        with timer("spark"):  # read, scored and counted by Spark: one phase
            counts, scored_by = count_spark(monitor, store, source, slices)
    return monitor.run_counts(counts, info, engine=engine, scored_by=scored_by, timer=timer,
                              slices=slices)
