"""The choices command lines offer, in a module that imports nothing: a parser (and
``--help``) is built without importing the generator (numpy, pandas) or the engines.

:data:`pipelines.data.generator.SCENARIOS` is ``SCENARIOS`` (the generator imports it).
"""

from __future__ import annotations

#: The demo generator's named scenarios (:func:`pipelines.data.generator.generate_batch`).
SCENARIOS: tuple[str, ...] = (
    "no_drift",
    "covariate_shift",
    "label_shift",
    "concept_drift",
    "data_quality",
)

#: ``--engine`` values; "" means the configuration's ``[engine] name``.
ENGINES: tuple[str, ...] = ("", "memory", "chunked", "spark")
