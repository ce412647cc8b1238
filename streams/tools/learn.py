"""``cargoguard learn``: a risk model from labelled declarations (files with outcome labels, e.g. KCS)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from agents.risk import ranking
from agents.risk.model import RiskModel, train
from streams.errors import UserError
from streams.kafka.events_json import format_time
from streams.outcomes.results import result_of_labelled_row
from streams.runtime.stream_time import wall_ms
from streams.tools.csv_mapping import CsvMapping, events_from_csv
from streams.tools.outcomes import check_outcome_mapping


def labelled_declarations(paths: Sequence[Path], mapping: CsvMapping) -> list[tuple[dict[str, Any], bool]]:
    """Each row's declaration and whether its outcome was an infraction, read as ``outcomes import`` reads it."""
    check_outcome_mapping(mapping)
    return [(event.record, result_of_labelled_row(event.record, event.labels, "learn")["result"] == "INFRACTION")
            for path in paths for event in events_from_csv(path, mapping)]


def learn(paths: Sequence[Path], mapping: CsvMapping, out: Path, holdout: Path | None) -> dict[str, Any]:
    """Train on ``paths``, write the model to ``out``; with ``holdout``, measure it offline on that file."""
    labelled = labelled_declarations(paths, mapping)
    try:
        model = train(labelled, trained_at=format_time(wall_ms()).replace(":", "").replace("-", ""))
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    model.save(out)
    summary: dict[str, Any] = {
        "model": str(out), "version": model.version, "declarations": len(labelled),
        "infraction_rate": round(sum(infraction for _, infraction in labelled) / len(labelled), 4),
        "knows_until": format_time(model.knows_until),
    }
    if holdout is not None:
        summary["holdout"] = measure(model, labelled_declarations([holdout], mapping))
    return summary


def measure(model: RiskModel, labelled: Sequence[tuple[Mapping[str, Any], bool]]) -> dict[str, Any]:
    """AUC and precision at the top shares of the model's scores over ``labelled``."""
    scores = model.score([declaration for declaration, _ in labelled])
    infractions = [infraction for _, infraction in labelled]
    return {"declarations": len(labelled), "auc": round(ranking.auc(scores, infractions), 4),
            "precision_at": {k: round(v, 4) for k, v in ranking.precision_at(scores, infractions).items()}}
