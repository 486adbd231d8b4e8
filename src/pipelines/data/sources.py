"""Where training data comes from: the user's file, or the bundled demo generator."""

from __future__ import annotations

import pandas as pd

from pipelines.config import DataSettings
from pipelines.data.io import read_table


def load_training_data(data: DataSettings) -> tuple[pd.DataFrame, str]:
    """The training frame and a description of its source (file path or generator call)."""
    if data.path:
        parse = tuple(c for c in (data.timestamp_column,) if c)
        return read_table(data.path, parse_dates=parse), str(data.path)
    from pipelines.data.generator import generate_reference

    frame = generate_reference(data.demo_rows, seed=data.seed)
    return frame, f"generated:churn-demo(rows={data.demo_rows},seed={data.seed})"
