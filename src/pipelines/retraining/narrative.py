"""What a reviewer reads on a retraining run: its Markdown
description (why it ran, the data it used, how the candidate was chosen, the gate's verdict,
candidates against the champion), in the words of the champion's problem type (ROC-AUC for a
binary model, macro F1 for a multiclass one, RMSE and MAE for a regression one). Pure."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pandas as pd

from pipelines.data.io import readable
from pipelines.problems import problem
from pipelines.retraining.dataset import DataSpan
from pipelines.retraining.gate import GateDecision

#: Holdout metrics named in a comparison line per problem type, with the words a reviewer
#: reads (the primary metric first).
METRIC_WORDS: dict[str, tuple[tuple[str, str], ...]] = {
    "binary": (("roc_auc", "ROC-AUC"), ("accuracy", "accuracy"), ("f1", "F1")),
    "multiclass": (("macro_f1", "macro F1"), ("accuracy", "accuracy"),
                   ("weighted_f1", "weighted F1"), ("roc_auc", "macro ROC-AUC")),
    "regression": (("rmse", "RMSE"), ("mae", "MAE"), ("r2", "R²"), ("bias", "bias")),
}


def _number(value: object) -> str | None:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return readable(float(value))  # type: ignore[arg-type]


def comparison_lines(table: pd.DataFrame, problem_type: str = "binary") -> list[str]:
    """One Markdown list item per model (champion, candidates): its holdout metrics, then its
    validation primary metric (``val_<metric>``). A list, not a table: MLflow's run page
    renders Markdown tables without cell spacing (the cells run together)."""
    kind = problem(problem_type)
    lines = []
    for _, row in table.iterrows():
        role = str(row.get("role", ""))
        chosen = bool(row.get("selected", False))
        head = (f"**{row['model']}** ({role}, chosen)" if chosen
                else f"{row['model']} ({role})")
        facts = [f"{words} {shown}" for key, words in METRIC_WORDS[kind.name]
                 if (shown := _number(row.get(key))) is not None]
        val = _number(row.get(f"val_{kind.primary_metric}"))
        if val is not None:
            facts.append(f"validation {kind.label} {val}")
        lines.append(f"- {head}: " + (" · ".join(facts) or "no metrics"))
    return lines


def selection(n_candidates: int, decision: GateDecision | None,
              problem_type: str = "binary") -> str:
    """How the candidate the gate judged was chosen, in words: on the holdout, and what the
    Bonferroni factor corrects when the gate's paired test uses that same holdout."""
    if n_candidates <= 1:
        return ("one candidate type was trained: it goes to the gate as it is, nothing was "
                "chosen on the holdout, so no correction for the choice is needed.")
    label = problem(problem_type).label
    text = (f"each of the {n_candidates} candidate types was fitted on the training part "
            f"(validation {label} shown for reference); the one sent to the gate is the best "
            f"by **holdout** {label}, on the same rows the gate compares it with the champion.")
    if decision is not None and decision.alpha is not None:
        shown = ("not computed" if decision.pvalue is None
                 else f"p = {readable(decision.pvalue, 3)}")
        text += (f" Because that holdout both chose it and tests it, the paired test's "
                 f"p-value is multiplied by {n_candidates} (Bonferroni, one comparison per "
                 f"candidate): {shown} is the corrected value.")
    return text


def description(verdict: str, reason: str, decision: GateDecision | None,
                table: pd.DataFrame | None, links: Mapping[str, str] | None = None,
                problems: tuple[str, ...] = (),
                data: Sequence[tuple[str, DataSpan]] = (),
                problem_type: str = "binary") -> str:
    """Markdown: verdict, why retraining ran, the data (each part's source batches and time
    window), how the candidate was chosen, the gate message, the holdout comparison, in the
    words of ``problem_type``. Lists, no tables (see :func:`comparison_lines`)."""
    lines = [f"### {verdict.upper().replace('_', ' ')}", "",
             f"**Why it ran**: {reason[:1500]}", ""]
    if data:
        lines += ["**Data**", ""] + [f"- {name}: {span.text()}" for name, span in data] + [""]
    if problems:
        lines += ["**Training data refused**:", ""] + [f"- {p}" for p in problems] + [""]
    if table is not None and not table.empty:
        n_candidates = int((table["role"] == "candidate").sum()) if "role" in table else 0
        lines += ["**How the candidate was chosen**: "
                  f"{selection(n_candidates, decision, problem_type)}", ""]
    if decision is not None:
        lines += [f"**Gate**: {decision.message}", ""]
    if table is not None and not table.empty:
        lines += ["**Holdout comparison** (the same rows for every model)", ""]
        lines += comparison_lines(table, problem_type)
        lines.append("")
    if links:
        lines.append(" · ".join(f"{label}: {link}" for label, link in links.items()))
    return "\n".join(lines)
