"""A dataset's source text may be longer than a file name can be (issue 20: the retraining
parts name their batches and window): it is a description, not an error."""

from __future__ import annotations

from pipelines.store.client import _dataset_source


def test_a_long_source_description_is_not_taken_for_a_file() -> None:
    text = "retraining holdout part: " + ", ".join(f"production_batch_{i:040d}" for i in range(9))
    assert len(text) > 300
    source = _dataset_source(text)
    assert source.to_dict() == {"tags": {"source": text}}
