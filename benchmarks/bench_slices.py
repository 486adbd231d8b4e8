"""The cost of slices: one batch's statistics without and with 10 slices.

    python benchmarks/bench_slices.py [--rows 1000000] [--repeats 3]

The demo generator's churn customers (24 features), a logistic model fitted on a reference of
100,000 of them (its scores and labels are what a champion's would be); the slices are
``contract``, ``payment_method`` and ``internet_service``: 3 + 4 + 3 = 10 slices, each row in
three of them. Per size, best of ``--repeats``, in seconds:

* ``plain``: :func:`~pipelines.monitoring.engine.evaluate_batch` (drift, quality, performance,
  the estimate, alerts): what one monitoring cycle computes, MLflow's writes excluded;
* ``slices``: :func:`~pipelines.monitoring.slices.evaluate_slices` on top (the masks, each
  slice's drift, performance and estimate against its own reference, the corrections);
* ``counting`` / ``counting + slices``: the chunked engine's counting of the same rows in
  chunks of 250,000, without and with each slice's counts;
* ``fit``: the slices' reference contexts, fitted once when monitoring starts.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from pipelines.config import MonitoringSettings
from pipelines.data.batch import Batch, prepare_batch
from pipelines.data.generator import CATEGORICAL_FEATURES, NUMERIC_FEATURES, generate_batch
from pipelines.data.schema import FeatureSchema
from pipelines.monitoring.counts import CountsProfile, count_chunk
from pipelines.monitoring.engine import evaluate_batch
from pipelines.monitoring.policy import MonitoringPolicy
from pipelines.monitoring.reference import ReferenceContext, output_columns
from pipelines.monitoring.slice_specs import parse_slices
from pipelines.monitoring.slices import SliceSet, count_slices, evaluate_slices

SCHEMA = FeatureSchema(target="churn", numeric=NUMERIC_FEATURES,
                       categorical=CATEGORICAL_FEATURES)
SLICES = ("contract", "payment_method", "internet_service")
CHUNK_ROWS = 250_000


def _model(reference: pd.DataFrame) -> Callable[[pd.DataFrame], np.ndarray]:
    """A logistic regression on the numeric features (standardised): P(churn) per row."""
    from sklearn.linear_model import LogisticRegression

    x = reference[list(NUMERIC_FEATURES)].to_numpy(dtype=np.float64)
    mean, std = np.nanmean(x, axis=0), np.nanstd(x, axis=0) + 1e-9
    model = LogisticRegression(max_iter=500).fit(
        np.nan_to_num((x - mean) / std), reference["churn"].to_numpy())

    def score(frame: pd.DataFrame) -> np.ndarray:
        z = frame[list(NUMERIC_FEATURES)].to_numpy(dtype=np.float64)
        return model.predict_proba(np.nan_to_num((z - mean) / std))[:, 1]

    return score


def _best(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def run(rows: int, repeats: int, reference_rows: int = 100_000) -> dict[str, float]:
    """The seconds of each measured step (see the module's docstring) and the ratio."""
    reference = generate_batch("no_drift", reference_rows, seed=1)
    score = _model(reference)
    ref_scores = score(reference)
    context = ReferenceContext.fit(reference, SCHEMA, ref_scores, n_bins=10,
                                   decision_threshold=0.5)
    stored = reference.loc[:, [*SCHEMA.features, SCHEMA.target]].assign(
        **output_columns(SCHEMA, ref_scores))
    policy = MonitoringPolicy.from_settings(MonitoringSettings(), 0.5)
    fit, slice_set = _best(lambda: SliceSet.fit(parse_slices(SLICES), stored, context,
                                                max_values=10, min_rows=200), 1)
    warm = generate_batch("no_drift", 5_000, seed=3)  # imports and first calls, untimed
    warm_batch = prepare_batch(Batch(warm, "warm", "warm"), SCHEMA)
    evaluate_slices(warm_batch, score(warm), slice_set, policy,
                    evaluate_batch(warm_batch, score(warm), context, policy))
    frame = generate_batch("no_drift", rows, seed=2)
    batch = prepare_batch(Batch(frame, "bench", "bench"), SCHEMA)
    scores = score(frame)
    plain, whole = _best(lambda: evaluate_batch(batch, scores, context, policy), repeats)
    sliced, report = _best(lambda: evaluate_slices(batch, scores, slice_set, policy, whole),
                           repeats)
    profile = CountsProfile.from_context(context)
    profiles = {k: CountsProfile.from_context(c) for k, c in slice_set.contexts.items()
                if c is not None}
    chunks = [prepare_batch(Batch(frame.iloc[i:i + CHUNK_ROWS].reset_index(drop=True),
                                  "bench", "bench"), SCHEMA) for i in range(0, rows, CHUNK_ROWS)]
    starts = range(0, rows, CHUNK_ROWS)

    def counting(with_slices: bool) -> None:
        counts: dict[str, Any] = {}
        seen: dict[str, int] = {}
        for start, chunk in zip(starts, chunks, strict=True):
            part = scores[start:start + CHUNK_ROWS]
            count_chunk(profile, chunk, part)
            if with_slices:
                count_slices(slice_set, profiles, chunk, part, counts, seen)

    counted, _ = _best(lambda: counting(False), repeats)
    counted_slices, _ = _best(lambda: counting(True), repeats)
    return {"rows": rows, "slices": len(slice_set.slices), "fit": fit, "plain": plain,
            "slices_seconds": sliced, "ratio": (plain + sliced) / plain,
            "counting": counted, "counting_slices": counted_slices,
            "counting_ratio": counted_slices / counted,
            "slice_alerts": len(report.alerts)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--reference-rows", type=int, default=100_000)
    args = parser.parse_args(argv)
    r = run(args.rows, args.repeats, args.reference_rows)
    lines = [
        f"{r['rows']:,} rows, {r['slices']} slices (best of {args.repeats})",
        f"  plain statistics     {r['plain']:8.2f} s",
        f"  + {r['slices']} slices          {r['slices_seconds']:8.2f} s   "
        f"(total {r['ratio']:.2f} x plain)",
        f"  chunked counting     {r['counting']:8.2f} s",
        f"  counting + slices    {r['counting_slices']:8.2f} s   "
        f"({r['counting_ratio']:.2f} x)",
        f"  slice references fitted once in {r['fit']:.2f} s; "
        f"slice alerts on this stable batch: {r['slice_alerts']}",
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
