"""The pyfunc model logged with every candidate ("models from code": MLflow runs this file to
build the model object when it loads it, nothing is pickled). See
:mod:`pipelines.store.scoring`."""

import mlflow

from pipelines.store.scoring import PositiveClassScorer

mlflow.models.set_model(PositiveClassScorer())
