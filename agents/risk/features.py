"""What the risk model sees of a declaration: its categories with their outcome history, and its figures.

Each category (office, channel, declarant, importer, seller, HS code at
three levels, origin, departure, tax type) contributes the smoothed share of
inspected declarations in that category found to be infractions, and how
many were inspected: target statistics, as the references on the KCS data
use. Which outcomes a declaration's features may use is the caller's
business (``OutcomeHistory`` holds what it is given): the learner gives
each training row the outcomes of the other folds only, the scorer the
outcomes known before the declaration was lodged.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

CATEGORIES = ("office_code", "procedure", "channel", "declarant_id", "importer_id", "seller_id", "hs6", "hs4",
              "hs2", "origin_country", "departure_country", "tax_type")
FIGURES = ("log_value_usd", "log_weight_kg", "log_value_per_kg", "value_per_kg_against_hs6", "items")
FEATURES = tuple(name for c in CATEGORIES for name in (f"{c}_infraction_rate", f"{c}_inspected")) + FIGURES
# Pseudo-count of the prior in a category's smoothed rate: a category with few
# outcomes stays near the overall rate instead of at 0 or 1.
SMOOTHING = 2.0


def categories_of(declaration: Mapping[str, Any]) -> dict[str, str]:
    """The declaration's value of each category that it has (the first item's HS code and origin)."""
    items = declaration.get("items") or ()
    first = items[0] if items else {}
    hs = "".join(ch for ch in str(first.get("hs_code") or "") if ch.isdigit())
    values = {
        "office_code": declaration.get("office_code"),
        "procedure": declaration.get("procedure"),
        "channel": declaration.get("channel"),
        "declarant_id": declaration.get("declarant_id"),
        "importer_id": declaration.get("importer_id"),
        "seller_id": declaration.get("seller_id"),
        "hs6": hs[:6] if len(hs) >= 6 else None,
        "hs4": hs[:4] if len(hs) >= 4 else None,
        "hs2": hs[:2] if len(hs) >= 2 else None,
        "origin_country": first.get("origin_country"),
        "departure_country": declaration.get("departure_country"),
        "tax_type": declaration.get("tax_type"),
    }
    return {name: str(value) for name, value in values.items() if value not in (None, "")}


def log_value_per_kg(declaration: Mapping[str, Any]) -> float:
    """log(1 + USD per kg of gross weight)."""
    return math.log1p(float(declaration["total_value_usd"]) / max(float(declaration["gross_weight_kg"]), 1e-3))


@dataclass
class OutcomeHistory:
    """Inspection outcomes counted per category value, and the typical value per kg of each HS code."""

    inspected: dict[str, dict[str, int]] = field(default_factory=lambda: {c: {} for c in CATEGORIES})
    infractions: dict[str, dict[str, int]] = field(default_factory=lambda: {c: {} for c in CATEGORIES})
    total_inspected: int = 0
    total_infractions: int = 0
    # Mean log value per kg by HS6 over the declarations the model learned from (no outcome involved).
    hs6_value_per_kg: dict[str, float] = field(default_factory=dict)

    def add(self, declaration: Mapping[str, Any], infraction: bool) -> None:
        """Count one inspected declaration."""
        self.count(categories_of(declaration), infraction)

    def count(self, categories: Mapping[str, str], infraction: bool, weight: int = 1) -> None:
        """Count (``weight`` -1: take back) the outcome of a declaration of ``categories``."""
        self.total_inspected += weight
        self.total_infractions += weight * infraction
        for name, value in categories.items():
            if name not in self.inspected:
                continue  # a category this version does not use
            self.inspected[name][value] = self.inspected[name].get(value, 0) + weight
            if infraction:
                self.infractions[name][value] = self.infractions[name].get(value, 0) + weight

    def features(self, declaration: Mapping[str, Any], later: OutcomeHistory | None = None,
                 categories: Mapping[str, str] | None = None) -> list[float]:
        """The feature vector of ``declaration`` (in ``FEATURES`` order); NaN where nothing is known.

        ``later``: outcomes known besides this history's (reported since the
        model learned), counted with it. ``categories``: the declaration's
        ``categories_of``, when the caller needs them too and has them already.
        """
        inspected = self.total_inspected + (later.total_inspected if later else 0)
        infractions = self.total_infractions + (later.total_infractions if later else 0)
        prior = infractions / inspected if inspected else 0.5  # the share found infractions
        if categories is None:
            categories = categories_of(declaration)
        vector: list[float] = []
        for name in CATEGORIES:
            value = categories.get(name)
            if value is None:
                vector += [math.nan, math.nan]
                continue
            seen = self.inspected[name].get(value, 0)
            bad = self.infractions[name].get(value, 0)
            if later is not None:
                seen += later.inspected[name].get(value, 0)
                bad += later.infractions[name].get(value, 0)
            vector += [(bad + prior * SMOOTHING) / (seen + SMOOTHING), float(seen)]
        per_kg = log_value_per_kg(declaration)
        typical = self.hs6_value_per_kg.get(categories.get("hs6", ""))
        vector += [math.log1p(max(float(declaration["total_value_usd"]), 0.0)),
                   math.log1p(max(float(declaration["gross_weight_kg"]), 0.0)),
                   per_kg,
                   math.nan if typical is None else per_kg - typical,
                   float(len(declaration.get("items") or ()))]
        return vector

    def to_doc(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {"inspected": self.inspected, "infractions": self.infractions, "total_inspected": self.total_inspected,
                "total_infractions": self.total_infractions, "hs6_value_per_kg": self.hs6_value_per_kg}

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> OutcomeHistory:
        """Rebuild from ``to_doc``'s form."""
        return cls(inspected={c: dict(doc["inspected"].get(c, {})) for c in CATEGORIES},
                   infractions={c: dict(doc["infractions"].get(c, {})) for c in CATEGORIES},
                   total_inspected=int(doc["total_inspected"]), total_infractions=int(doc["total_infractions"]),
                   hs6_value_per_kg={k: float(v) for k, v in doc["hs6_value_per_kg"].items()})


def typical_value_per_kg(declarations: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """The mean log value per kg of each HS6 over ``declarations``."""
    sums: dict[str, list[float]] = {}
    for declaration in declarations:
        hs6 = categories_of(declaration).get("hs6")
        if hs6 is not None:
            entry = sums.setdefault(hs6, [0.0, 0.0])
            entry[0] += log_value_per_kg(declaration)
            entry[1] += 1
    return {hs6: total / count for hs6, (total, count) in sums.items()}
