"""Live rule precision: of the declarations a rule alerted on that were inspected, how many had an infraction.

Pure. An inspection result counts for the rules it names (the control room's
dispositions name them) or else for the rules that alerted on its declaration,
whichever arrived first; the newest result per declaration counts. The window
is 30 days of inspection time back from the newest inspection seen, so a
replayed history is measured as it was, and a live one as it is.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DAY_MS = 86_400_000
WINDOW_MS = 30 * DAY_MS
# Declarations whose alerting rules are remembered, the longest unalerted forgotten first.
REMEMBERED_DECLARATIONS = 200_000


@dataclass(frozen=True, slots=True)
class RuleFigures:
    """One rule's inspected declarations and confirmed infractions within the window."""

    inspected: int
    confirmed: int

    @property
    def precision(self) -> float:
        """Confirmed over inspected (0 when none was inspected)."""
        return self.confirmed / self.inspected if self.inspected else 0.0


@dataclass(frozen=True, slots=True)
class _Result:
    inspected_at: int
    rule_ids: frozenset[str]
    infraction: bool


@dataclass
class RulePrecision:
    """Alerts and inspection results in; each rule's figures over the window out."""

    window_ms: int = WINDOW_MS
    remembered: int = REMEMBERED_DECLARATIONS
    _rules_of: OrderedDict[str, frozenset[str]] = field(default_factory=OrderedDict)
    _results: dict[str, _Result] = field(default_factory=dict)
    _newest_ms: int = 0

    def add_alert(self, alert: Mapping[str, Any]) -> None:
        """Remember which rule alerted on which declarations."""
        for declaration_id in alert.get("declaration_ids") or ():
            known = self._rules_of.pop(declaration_id, frozenset())
            self._rules_of[declaration_id] = known | {alert["rule_id"]}
        while len(self._rules_of) > self.remembered:
            self._rules_of.popitem(last=False)

    def add_result(self, result: Mapping[str, Any]) -> None:
        """Count an inspection result (the newest per declaration wins)."""
        held = self._results.get(result["declaration_id"])
        if held is not None and held.inspected_at > result["inspected_at"]:
            return
        self._results[result["declaration_id"]] = _Result(
            result["inspected_at"], frozenset(result.get("rule_ids") or ()), result["result"] == "INFRACTION")
        self._newest_ms = max(self._newest_ms, result["inspected_at"])

    def figures(self) -> dict[str, RuleFigures]:
        """Each rule with an inspected declaration in the window; results older than it are dropped."""
        since = self._newest_ms - self.window_ms
        for declaration_id in [d for d, r in self._results.items() if r.inspected_at < since]:
            del self._results[declaration_id]
        inspected: dict[str, int] = {}
        confirmed: dict[str, int] = {}
        for declaration_id, result in self._results.items():
            for rule_id in result.rule_ids or self._rules_of.get(declaration_id, frozenset()):
                inspected[rule_id] = inspected.get(rule_id, 0) + 1
                confirmed[rule_id] = confirmed.get(rule_id, 0) + result.infraction
        return {rule_id: RuleFigures(count, confirmed[rule_id]) for rule_id, count in sorted(inspected.items())}
