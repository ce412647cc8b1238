"""The risk model: P(infraction) of a declaration, by gradient boosting (LightGBM), with its reasons.

``train`` learns from inspected declarations. A training row's outcome
features come from the other folds only (out-of-fold target statistics):
with its own outcome counted in, the learner would read the label off
the features, the leak that halves precision on the KCS test split. The
model keeps the outcome history it learned from and the event time of its
newest outcome (``knows_until``); ``score`` gives a declaration lodged no
later than that no outcome features at all, since the history then holds
outcomes from its future. A later one also counts the outcomes reported
since (``agents.risk.live_outcomes``) that were known before it.

Reasons are LightGBM's own feature contributions (``pred_contrib``, SHAP
values in log-odds): the features that pushed the score up most.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightgbm
import numpy as np

from agents.risk.features import CATEGORIES, FEATURES, OutcomeHistory, typical_value_per_kg
from agents.risk.live_outcomes import LiveOutcomes

MODEL_FORMAT = 1
FOLDS = 5
REASONS = 3
# Chosen on the KCS data by training on its train split and measuring on its
# valid split, never on the test split: deeper trees kept gaining (31 leaves:
# precision in the top 10 % 0.70; 63: 0.76; 127: 0.81; 255 leaves of 10: 0.85).
PARAMETERS: dict[str, Any] = {
    "objective": "binary", "learning_rate": 0.03, "num_leaves": 255, "min_data_in_leaf": 10,
    "bagging_fraction": 0.8, "bagging_freq": 1, "feature_fraction": 0.8, "seed": 1,
    "deterministic": True, "force_row_wise": True, "num_threads": 1, "verbose": -1,
}
ROUNDS = 800
OUTCOME_FEATURES = len(CATEGORIES) * 2  # the first features: a rate and a count per category


class ModelFileError(ValueError):
    """A model file that cannot be used, with the reason."""


@dataclass(frozen=True, slots=True)
class RiskScore:
    """A declaration's P(infraction) and the features that raised it most (name, log-odds contribution)."""

    score: float
    reasons: tuple[tuple[str, float], ...]


@dataclass
class RiskModel:
    """A trained booster with the outcome history its features read."""

    version: str
    knows_until: int
    history: OutcomeHistory
    booster: lightgbm.Booster

    def features_of(self, declaration: Mapping[str, Any], live: LiveOutcomes | None = None,
                    categories: Mapping[str, str] | None = None) -> list[float]:
        """The declaration's features, without outcome features when the history reaches past its event time.

        ``live``: the outcomes reported since the model learned; those
        inspected before the declaration's event time count with the history.
        ``categories``: its ``categories_of``, if the caller has them.
        """
        event_time = int(declaration["event_time"])
        if event_time <= self.knows_until:
            vector = self.history.features(declaration, categories=categories)
            vector[:OUTCOME_FEATURES] = [math.nan] * OUTCOME_FEATURES
            return vector
        later = live.history_between(self.knows_until, event_time) if live is not None else None
        return self.history.features(declaration, later if later is not None and later.total_inspected else None,
                                     categories)

    def vectors(self, declarations: Sequence[Mapping[str, Any]], live: LiveOutcomes | None = None,
                categories: Sequence[Mapping[str, str]] | None = None) -> np.ndarray[Any, np.dtype[np.float64]]:
        """The feature vectors of a batch of declarations, one row each (``FEATURES`` order).

        ``categories``: each declaration's ``categories_of``, if the caller has them.
        """
        each = categories if categories is not None else [None] * len(declarations)
        return np.array([self.features_of(d, live, c) for d, c in zip(declarations, each, strict=True)],
                        dtype=np.float64).reshape(-1, len(FEATURES))

    def score(self, declarations: Sequence[Mapping[str, Any]]) -> list[float]:
        """P(infraction) of each declaration of a batch (one booster call; some 60 us a declaration here)."""
        return self.score_vectors(self.vectors(declarations))

    def score_vectors(self, vectors: np.ndarray[Any, np.dtype[np.float64]]) -> list[float]:
        """P(infraction) of each row of ``vectors``."""
        if not len(vectors):
            return []
        return [float(p) for p in np.asarray(self.booster.predict(vectors))]

    def explain(self, declarations: Sequence[Mapping[str, Any]]) -> list[RiskScore]:
        """Scores with their reasons (LightGBM's TreeSHAP contributions)."""
        return self.explain_vectors(self.vectors(declarations))

    def explain_vectors(self, vectors: np.ndarray[Any, np.dtype[np.float64]]) -> list[RiskScore]:
        """Scores with their reasons for each row of ``vectors``.

        TreeSHAP walks every tree: some 45 ms a declaration with the KCS model
        (800 trees of 255 leaves), so for the few an officer reads, not for every one.
        """
        if not len(vectors):
            return []
        contributions = np.asarray(self.booster.predict(vectors, pred_contrib=True))
        scores = []
        for row in contributions:
            probability = 1.0 / (1.0 + math.exp(-float(row.sum())))
            top = np.argsort(-row[:-1])[:REASONS]  # the last column is the bias
            scores.append(RiskScore(probability, tuple((FEATURES[i], round(float(row[i]), 4))
                                                       for i in top if row[i] > 0)))
        return scores

    def save(self, path: Path) -> None:
        """Write the model file atomically (a worker watching it never reads half of one)."""
        document = {"format": MODEL_FORMAT, "version": self.version, "knows_until": self.knows_until,
                    "features": list(FEATURES), "history": self.history.to_doc(),
                    "booster": self.booster.model_to_string()}
        partial = path.with_name(path.name + ".partial")
        partial.write_text(json.dumps(document), encoding="utf-8")
        os.replace(partial, path)

    @classmethod
    def load(cls, path: Path) -> RiskModel:
        """Read a model file; ModelFileError says why one cannot be used."""
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelFileError(f"{path}: not a cargoguard risk model ({exc})") from exc
        if not isinstance(document, dict) or document.get("format") != MODEL_FORMAT:
            raise ModelFileError(f"{path}: not a cargoguard risk model of format {MODEL_FORMAT}")
        if document.get("features") != list(FEATURES):
            raise ModelFileError(f"{path}: learned from other features than this version computes; "
                                 "run 'cargoguard learn' again")
        return cls(document["version"], int(document["knows_until"]), OutcomeHistory.from_doc(document["history"]),
                   lightgbm.Booster(model_str=document["booster"]))


def fold_of(declaration: Mapping[str, Any], folds: int = FOLDS) -> int:
    """A declaration's fold: fixed by its id, so the same data gives the same model."""
    return zlib.crc32(str(declaration["declaration_id"]).encode()) % folds


def out_of_fold_features(labelled: Sequence[tuple[Mapping[str, Any], bool]], typical: Mapping[str, float],
                         folds: int = FOLDS) -> list[list[float]]:
    """Each row's features from the outcomes of the other folds only."""
    histories = [OutcomeHistory(hs6_value_per_kg=dict(typical)) for _ in range(folds)]
    fold = [fold_of(declaration, folds) for declaration, _ in labelled]
    for (declaration, infraction), own in zip(labelled, fold, strict=True):
        for index, history in enumerate(histories):
            if index != own:
                history.add(declaration, infraction)
    return [histories[own].features(declaration) for (declaration, _), own in zip(labelled, fold, strict=True)]


def train(labelled: Sequence[tuple[Mapping[str, Any], bool]], trained_at: str) -> RiskModel:
    """Learn P(infraction) from inspected declarations and their outcomes."""
    if len(labelled) < FOLDS * 10 or len({infraction for _, infraction in labelled}) < 2:
        raise ValueError("learning needs at least 50 inspected declarations, with infractions and without")
    typical = typical_value_per_kg(declaration for declaration, _ in labelled)
    matrix = np.array(out_of_fold_features(labelled, typical), dtype=np.float64)
    target = np.array([int(infraction) for _, infraction in labelled])
    booster = lightgbm.train(PARAMETERS, lightgbm.Dataset(matrix, target, feature_name=list(FEATURES)), ROUNDS)
    history = OutcomeHistory(hs6_value_per_kg=typical)
    for declaration, infraction in labelled:
        history.add(declaration, infraction)
    digest = hashlib.sha256(booster.model_to_string().encode()).hexdigest()[:8]
    knows_until = max(int(declaration["event_time"]) for declaration, _ in labelled)
    return RiskModel(f"{trained_at}-{digest}", knows_until, history, booster)
