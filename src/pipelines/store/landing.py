"""What a reviewer meets first in ``mlflow ui``: each family experiment's description and the
links that open the classic machine-learning view (runs list, model registry).

Why links carry ``?workflowType=machine_learning``: MLflow 3.17.2's UI does not choose an
experiment's view from the experiment. Its ``useExperimentKind`` hook returns the kind of the
browser's *workflow type* (the sidebar's "GenAI / Model training" switch, kept in the browser's
local storage as ``mlflow.workflowType``, GenAI until a person switches), and the experiment
page's default tab follows it: GenAI opens the Overview (traces, tokens), Model training the
Runs tab with the model registry in the sidebar. The ``mlflow.experimentKind`` tag is read only
when that feature flag is off (older UIs; it also skips the "what kind of experiment" prompt
there), so the project still sets it. A store cannot write a browser's local storage; a URL's
``?workflowType=`` overrides it for the page it opens. So every link the project writes or
prints opens the Model-training view, and each experiment's description says to pick "Model
training" once in the sidebar (remembered by the browser) for the experiment list's own links.
"""

from __future__ import annotations

from pipelines.config import TrackingSettings
from pipelines.store.contract import UI_VIEW_QUERY as ML_VIEW

_SWITCH = ("MLflow 3.17 opens an experiment on the view chosen in the sidebar switch "
           "(**GenAI** / **Model training**, remembered by the browser): pick **Model training** "
           "once and every experiment opens on its runs with the model registry in the sidebar.")


def experiment_path(experiment_id: str) -> str:
    """The URL fragment of an experiment's runs list in the Model-training view."""
    return f"#/experiments/{experiment_id}/runs?{ML_VIEW}"


def models_path(model: str | None = None) -> str:
    """The URL fragment of the registry's model list (or one model's page)."""
    return f"#/models/{model}?{ML_VIEW}" if model else f"#/models?{ML_VIEW}"


def _roles(tracking: TrackingSettings) -> dict[str, tuple[str, str]]:
    """Experiment name -> (what its runs are, where to look first)."""
    model = tracking.registered_model_name
    return {
        tracking.monitoring_experiment: (
            "One run per monitored batch of the churn model in production, named "
            "`b<sequence> <STATUS> ...`; the dot's colour is the verdict (green ok, orange "
            "warning, red critical).",
            "the newest runs at the top of the list; a red run's description says why it "
            "alerted and its `report.html` artifact shows the evidence; the chart view compares "
            "the batches."),
        tracking.retraining_experiment: (
            "One parent run per retraining (named with its outcome: PROMOTED, REJECTED or "
            "awaiting approval) with a nested run per candidate model.",
            f"the parent run's description: why it ran, how the candidate was chosen and "
            f"whether the gate let it replace the champion; then the registered model "
            f"[{model}]({models_path(model)}) for which version serves."),
        tracking.pipeline_experiment: (
            "The baseline training run (the first champion, version 1) and, as experiment "
            "tags, the settings this family of experiments remembers (model name, columns).",
            f"the `baseline-training` run, then the registered model "
            f"[{model}]({models_path(model)})."),
        tracking.audit_experiment: (
            "The audit trail: one run per move of the champion / previous-champion aliases "
            "(promotion, approval, rollback) saying who moved which version and why.",
            "the newest run: what serves now and how it got there."),
    }


def experiment_description(tracking: TrackingSettings, name: str, experiment_id: str
                           ) -> str | None:
    """The Markdown description of family experiment ``name`` (None for other experiments)."""
    role = _roles(tracking).get(name)
    if role is None:
        return None
    what, first = role
    # the UI shows the first line collapsed (in the GenAI view too): the links go first
    return "\n\n".join([
        f"Open the [runs list]({experiment_path(experiment_id)}) · "
        f"[model registry]({models_path()}). {what}",
        f"**Look first at** {first}",
        _SWITCH,
    ])


def description_update(current: str | None, wanted: str) -> bool:
    """Whether to (re)write the description: none yet, or the project's own text (it ends with
    the view paragraph) that differs from ``wanted``. A description that does not end so is a
    person's: kept (no tag records authorship: the experiment list shows every tag)."""
    if current is None or not current.strip():
        return True
    return current != wanted and current.rstrip().endswith(_SWITCH)
