"""How close the label-free performance estimate comes to the realized one, on the demo's
own champion (a baseline trained here), with labels withheld from the estimate.

    python benchmarks/bench_estimation.py [--batches 10] [--rows 5000]

Prints, per scenario, the mean |estimated - realized| ROC-AUC over the batches: the raw scores
taken as probabilities, the reference-calibrated estimate (what the monitor logs), and the
estimate calibrated on density-ratio-weighted reference rows.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from pipelines.config import load_settings
from pipelines.data.generator import NUMERIC_FEATURES, generate_batch
from pipelines.stats.estimation import (
    density_ratio_weights,
    estimate_performance,
    expected_auc,
    fit_calibration,
)
from pipelines.store import connect, load_champion, load_reference_frame
from pipelines.workflows.baseline import train_baseline


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--rows", type=int, default=5000)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
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
            for i in range(args.batches):
                batch = generate_batch(scenario, args.rows, seed=500 + i)
                scores = champion.score(batch)
                realized = roc_auc_score(batch[target], scores)
                weights = density_ratio_weights(reference[numeric].to_numpy(float),
                                                batch[numeric].to_numpy(float))
                weighted = fit_calibration(ref_scores, ref_labels, weights=weights)
                threshold = settings.training.decision_threshold
                errors["raw"].append(abs(expected_auc(scores, scores) - realized))
                errors["calibrated"].append(abs(estimate_performance(
                    scores, calibration.apply(scores), threshold)["roc_auc"].value - realized))
                errors["weighted"].append(abs(estimate_performance(
                    scores, weighted.apply(scores), threshold)["roc_auc"].value - realized))
            sys.stdout.write(f"| {scenario} | {args.batches} x {args.rows:,} | "
                             + " | ".join(f"{np.mean(errors[k]):.4f}"
                                          for k in ("raw", "calibrated", "weighted")) + " |\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
