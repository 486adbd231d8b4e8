"""What a reviewer reads on a retraining run: a name that is the verdict and a Markdown
description (why it ran, the gate's verdict, candidates against the champion). Pure."""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd

from pipelines.retraining.gate import GateDecision


def run_name(verdict: str, decision: GateDecision | None, new_version: str | None) -> str:
    """``retrain PROMOTED v2 auc 0.803 vs 0.569`` / ``retrain REJECTED auc 0.801 vs 0.797``."""
    head = f"retrain {verdict.upper().replace('_', ' ')}"
    if new_version:
        head += f" v{new_version}"
    if decision is not None and math.isfinite(decision.candidate_auc):
        head += f" auc {decision.candidate_auc:.3f} vs {decision.champion_auc:.3f}"
    return head


def _cell(value: object) -> str:
    if isinstance(value, float):
        return "n/a" if not math.isfinite(value) else f"{value:.4f}"
    return str(value).replace("|", "\\|")


def description(verdict: str, reason: str, decision: GateDecision | None,
                table: pd.DataFrame | None, links: Mapping[str, str] | None = None,
                problems: tuple[str, ...] = ()) -> str:
    """Markdown: verdict, why retraining ran, the gate message, the holdout comparison."""
    lines = [f"### {verdict.upper().replace('_', ' ')}", "",
             f"**Why it ran**: {reason[:1500]}", ""]
    if decision is not None:
        lines += [f"**Gate**: {decision.message}", ""]
    if problems:
        lines += ["**Training data refused**:", ""] + [f"- {p}" for p in problems] + [""]
    if table is not None and not table.empty:
        columns = [c for c in ("model", "role", "val_roc_auc", "roc_auc", "accuracy", "f1",
                               "selected") if c in table.columns]
        lines += ["**Holdout comparison** (same rows for every model)", "",
                  "| " + " | ".join(columns) + " |",
                  "|" + "|".join("---" for _ in columns) + "|"]
        lines += ["| " + " | ".join(_cell(row[c]) for c in columns) + " |"
                  for _, row in table.iterrows()]
        lines.append("")
    if links:
        lines.append(" · ".join(f"{label}: {link}" for label, link in links.items()))
    return "\n".join(lines)
