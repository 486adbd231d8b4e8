"""Small synthetic data for regression and multiclass models (tests of the model types)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

#: The target column per type.
TARGETS = {"regression": "charges", "multiclass": "plan"}


def synthetic(task: str, n: int, seed: int, *, concept: bool = False, prefix: str = "c",
              noise: float = 3.0,
              classes: Sequence[str] = ("basic", "plus", "premium")) -> pd.DataFrame:
    """Three numeric features and one categorical, an id per row. ``charges`` (regression)
    is linear in them plus N(0, ``noise``); ``plan`` (multiclass) is the class whose noisy
    score is highest. ``concept``: the same inputs, another rule (x1's and x2's roles
    swapped), so only the relation between inputs and target moves."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"customer_id": [f"{prefix}{seed}-{i}" for i in range(n)],
                          "x1": rng.normal(size=n), "x2": rng.normal(size=n),
                          "x3": rng.uniform(size=n),
                          "segment": rng.choice(["a", "b", "c"], size=n)})
    x1, x2 = (frame["x2"], frame["x1"]) if concept else (frame["x1"], frame["x2"])
    if task == "regression":
        shift = frame["segment"].map({"a": 0.0, "b": 2.0, "c": -2.0}).to_numpy()
        frame["charges"] = 50 + 3 * x1 - 2 * x2 + shift + rng.normal(scale=noise, size=n)
    else:
        score = np.column_stack([-x1 - x2, x1, x2])
        noisy = score + rng.normal(scale=0.3, size=score.shape)
        frame["plan"] = np.asarray(classes)[np.argmax(noisy, axis=1)]
    return frame
