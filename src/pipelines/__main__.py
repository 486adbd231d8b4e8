"""``python -m pipelines ...`` is the ``churnmon`` command (:mod:`pipelines.churnmon`)."""

from pipelines.churnmon import run

if __name__ == "__main__":
    run()
