"""The read-only service: a REST API, a dashboard and Prometheus metrics over the tracking
store (``python -m pipelines.serve``).

Layers: :mod:`pipelines.store.views` reads MLflow (the only module here that touches it);
:mod:`.snapshot` holds what was read, as plain data; :mod:`.state` re-reads the store in the
background and hands out the newest snapshot; :mod:`.queries` turns a snapshot into the JSON
bodies (pure); :mod:`.app` is the FastAPI app (routes, errors, token); :mod:`.dashboard` the
page at ``/``; :mod:`.prom` the ``/metrics`` exposition.
"""
