"""Each step of the product as functions: baseline, monitor, retrain, orchestrate, rollback.

A workflow takes the settings and a :class:`~pipelines.store.Store`, joins the pure packages
(stats, monitoring, retraining, data) with the store, and returns a small result object. The
entry points (``pipelines.train_baseline`` etc.) only parse arguments and call one of these.
"""
