"""The pyfunc model registered for a model trained elsewhere ("models from code": nothing is
pickled). See :class:`pipelines.store.scoring.ExternalScores`."""

import mlflow

from pipelines.store.scoring import ExternalScores

mlflow.models.set_model(ExternalScores())
