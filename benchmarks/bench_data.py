"""Seeded benchmark data: one reference and one current frame of equal size, drift injected.

Imported by the orchestrator (project environment) and by every worker, including those in the
peers' own virtual environments, so it needs numpy and pandas only (pyarrow to write Parquet).

Layout of ``n_features`` features: ``round(0.8 * n_features)`` numeric columns ``num_00``...
and the rest categorical ``cat_0``..., plus ``score`` (a model's P(churn), a deterministic
function of a few features) and the binary ``target`` drawn from it. Each column is drawn from
its own generator seeded with ``(seed, side, kind, index)``, so a column's values do not depend
on how many other columns there are (the 200-feature data start with the 25-feature columns).

Drift is injected in the current frame only, in exactly the features of
:func:`injected_features`; every other feature of the current frame is drawn from the same
distribution as the reference. Each injected shift is large enough to pass the project's effect
floors (PSI >= 0.1, numeric and categorical) at any size, so the "right answer" is the same at
2,000 and at 1,000,000 rows.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

DEFAULT_SEED = 20240605
TARGET = "target"
SCORE = "score"
#: Injected drift: feature -> what was done to it in the current frame.
INJECTED: dict[str, str] = {
    "num_01": "mean shift +0.6 sd (normal)",
    "num_07": "log-scale sigma 0.5 -> 0.8 (lognormal)",
    "num_13": "shift +25 on a 0-100 range (uniform)",
    "cat_2": "category shares reversed",
}
REFERENCE_FILE = "reference.parquet"
CURRENT_FILE = "current.parquet"
META_FILE = "meta.json"


def feature_names(n_features: int) -> tuple[list[str], list[str]]:
    """(numeric, categorical) feature names for ``n_features`` features (at least 25)."""
    if n_features < 25:
        raise ValueError(f"n_features must be >= 25 (the injected features need it), "
                         f"got {n_features}")
    n_numeric = round(0.8 * n_features)
    numeric = [f"num_{i:02d}" for i in range(n_numeric)]
    categorical = [f"cat_{j}" for j in range(n_features - n_numeric)]
    return numeric, categorical


def injected_features(n_features: int) -> list[str]:
    numeric, categorical = feature_names(n_features)
    present = set(numeric) | set(categorical)
    return [name for name in INJECTED if name in present]


def _rng(seed: int, side: int, kind: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, side, kind, index])


def _numeric(index: int, n: int, rng: np.random.Generator, drift: bool) -> np.ndarray:
    """Five families in turn: normal, lognormal, exponential, uniform, Poisson counts (ties)."""
    family = index % 5
    if family == 0:
        return rng.normal(loc=float(index), scale=1.0 + index % 3, size=n)
    if family == 1:
        scale = 1.0 + index % 3
        values = rng.normal(loc=10.0, scale=scale, size=n)
        return values + (0.6 * scale if drift else 0.0)
    if family == 2:
        sigma = 0.5 * (1.6 if drift else 1.0)
        return rng.lognormal(mean=1.0, sigma=sigma, size=n)
    if family == 3:
        values = rng.uniform(0.0, 100.0, size=n)
        return values + (25.0 if drift else 0.0)
    return rng.poisson(lam=3.0 + index % 4, size=n).astype(np.float64)


def _categorical(index: int, n: int, rng: np.random.Generator, drift: bool) -> np.ndarray:
    n_levels = 3 + index % 5
    weights = np.arange(1, n_levels + 1, dtype=np.float64)
    if drift:
        weights = weights[::-1]
    labels = np.array([f"c{index}_{k}" for k in range(n_levels)], dtype=object)
    return labels[rng.choice(n_levels, size=n, p=weights / weights.sum())]


def _family_check() -> None:
    """The injected features must fall on the family whose drift code path exists."""
    expected = {"num_01": 1, "num_07": 2, "num_13": 3}
    for name, family in expected.items():
        assert int(name[4:]) % 5 == family, name


_family_check()


def generate(n_rows: int, n_features: int = 25, *, current: bool,
             seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """The reference (``current=False``) or current frame: features, score, target."""
    numeric, categorical = feature_names(n_features)
    injected = set(injected_features(n_features))
    side = 1 if current else 0
    columns: dict[str, Any] = {}
    for i, name in enumerate(numeric):
        columns[name] = _numeric(i, n_rows, _rng(seed, side, 0, i), current and name in injected)
    for j, name in enumerate(categorical):
        columns[name] = _categorical(j, n_rows, _rng(seed, side, 1, j),
                                     current and name in injected)
    # A churn model's view: a few features, standardised with the reference's parameters.
    logit = (-1.0 + 0.8 * (columns["num_01"] - 11.0) / 2.0
             - 0.5 * (np.log(columns["num_02"]) - 1.0) / 0.5
             + 0.6 * (columns["cat_0"] == "c0_0"))
    score = 1.0 / (1.0 + np.exp(-logit))
    rng = _rng(seed, side, 2, 0)
    columns[SCORE] = score
    columns[TARGET] = (rng.random(n_rows) < score).astype(np.int64)
    return pd.DataFrame(columns)


def data_dir(root: Path, n_rows: int, n_features: int, seed: int) -> Path:
    return root / f"rows{n_rows}_features{n_features}_seed{seed}"


def write_dataset(root: Path, n_rows: int, n_features: int = 25,
                  seed: int = DEFAULT_SEED) -> Path:
    """Write reference/current Parquet files and meta.json once; reuse them if present."""
    folder = data_dir(root, n_rows, n_features, seed)
    meta_path = folder / META_FILE
    if meta_path.is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    numeric, categorical = feature_names(n_features)
    for current, name in ((False, REFERENCE_FILE), (True, CURRENT_FILE)):
        frame = generate(n_rows, n_features, current=current, seed=seed)
        frame.to_parquet(folder / name, index=False)
        del frame
    meta = {"n_rows": n_rows, "n_features": n_features, "seed": seed,
            "numeric": numeric, "categorical": categorical,
            "injected": injected_features(n_features), "score": SCORE, "target": TARGET}
    meta_path.write_text(json.dumps(meta, indent=2))
    return folder


def read_meta(folder: Path) -> dict[str, Any]:
    return json.loads((Path(folder) / META_FILE).read_text())


def read_frames(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    folder = Path(folder)
    return pd.read_parquet(folder / REFERENCE_FILE), pd.read_parquet(folder / CURRENT_FILE)
