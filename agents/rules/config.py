"""Rule configuration: the shipped defaults, overrides from ``cargo.rules``, and typed access.

A ``RuleBook`` is immutable; a change read from the rules topic produces a new
one, so an agent that holds a book for one batch sees one consistent version.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from agents.rules.findings import SEVERITIES

ParamValue = bool | float | str


class RuleConfigError(ValueError):
    """A rules file or rule change that cannot be applied, with the reason."""


@dataclass(frozen=True, slots=True)
class RuleConfig:
    """The configuration of one rule: on/off, severity, parameters and version."""

    rule_id: str
    enabled: bool
    severity: str
    params: Mapping[str, ParamValue] = field(default_factory=dict)
    version: int = 0
    # The numeric parameters as floats, checked once: rules read them for every
    # subject they judge (measured: 10 % of the importer's time went on checking).
    numbers: Mapping[str, float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "numbers", {
            name: float(value) for name, value in self.params.items()
            if isinstance(value, int | float) and not isinstance(value, bool)})

    def number(self, name: str) -> float:
        """A numeric parameter; raises ``RuleConfigError`` naming the rule if absent."""
        value = self.numbers.get(name)
        if value is None:
            raise RuleConfigError(
                f"{self.rule_id}: parameter {name} must be a number, not {self.params.get(name)!r}")
        return value

    def text(self, name: str) -> str:
        """A text parameter (e.g. a severity)."""
        value = self.params.get(name)
        if not isinstance(value, str):
            raise RuleConfigError(f"{self.rule_id}: parameter {name} must be text, not {value!r}")
        return value

    def severity_param(self, name: str) -> str:
        """A parameter that names a severity."""
        value = self.text(name).upper()
        if value not in SEVERITIES:
            raise RuleConfigError(f"{self.rule_id}: {name}={value!r} is not one of {SEVERITIES}")
        return value


@dataclass(frozen=True, slots=True)
class Scoring:
    """How an alert's score is made: a base per severity plus a history boost."""

    base: Mapping[str, int]
    history_days: float
    per_prior_alert: int
    max_history_boost: int


@dataclass(frozen=True, slots=True)
class RuleBook:
    """Every rule's configuration plus the scoring table."""

    rules: Mapping[str, RuleConfig]
    scoring: Scoring

    def __getitem__(self, rule_id: str) -> RuleConfig:
        return self.rules[rule_id]

    def enabled(self, rule_id: str) -> RuleConfig | None:
        """The rule's configuration if the rule is known and enabled, else None."""
        config = self.rules.get(rule_id)
        return config if config is not None and config.enabled else None

    def with_override(self, override: RuleConfig, base: RuleBook | None = None) -> RuleBook:
        """A new book where ``override`` replaces the rule of the same id.

        Parameters missing from the override keep their values in ``base``
        (default: this book), so a change can name just the threshold it changes.
        """
        current = (base or self).rules.get(override.rule_id)
        if current is None:
            raise RuleConfigError(f"unknown rule {override.rule_id!r}; known: {sorted(self.rules)}")
        merged = replace(override, params={**current.params, **override.params})
        validate(merged, template=current)
        return replace(self, rules={**self.rules, override.rule_id: merged})



def validate(config: RuleConfig, template: RuleConfig | None = None) -> None:
    """Check a rule configuration; with a template, each parameter keeps its type."""
    if config.severity not in SEVERITIES:
        raise RuleConfigError(f"{config.rule_id}: severity {config.severity!r} is not one of {SEVERITIES}")
    if template is None:
        return
    for name, value in config.params.items():
        if name not in template.params:
            raise RuleConfigError(
                f"{config.rule_id}: no parameter {name!r}; it has {sorted(template.params)}"
            )
        expected = template.params[name]
        if isinstance(expected, bool) != isinstance(value, bool) or (
            isinstance(expected, str) != isinstance(value, str)
        ):
            raise RuleConfigError(
                f"{config.rule_id}: {name} must be {type(expected).__name__}, not {value!r}"
            )
        if isinstance(value, float | int) and not isinstance(value, bool) and value < 0:
            raise RuleConfigError(f"{config.rule_id}: {name} must be >= 0, not {value}")
        if isinstance(value, str) and name.endswith("severity") and value.upper() not in SEVERITIES:
            raise RuleConfigError(f"{config.rule_id}: {name}={value!r} is not one of {SEVERITIES}")


def _book_from_document(document: Mapping[str, Any], source: str) -> RuleBook:
    rules: dict[str, RuleConfig] = {}
    scoring_doc = document.get("scoring")
    history_keys = ("history_days", "per_prior_alert", "max_history_boost")
    if not isinstance(scoring_doc, Mapping) or set(scoring_doc) != {*SEVERITIES, *history_keys}:
        raise RuleConfigError(
            f"{source}: [scoring] must give exactly a score for each of {SEVERITIES} and {history_keys}")
    scoring = Scoring(base={severity: int(scoring_doc[severity]) for severity in SEVERITIES},
                      history_days=float(scoring_doc["history_days"]),
                      per_prior_alert=int(scoring_doc["per_prior_alert"]),
                      max_history_boost=int(scoring_doc["max_history_boost"]))
    for rule_id, table in document.items():
        if rule_id == "scoring":
            continue
        if not isinstance(table, Mapping):
            raise RuleConfigError(f"{source}: {rule_id} must be a table")
        params = {k: (float(v) if isinstance(v, int) and not isinstance(v, bool) else v)
                  for k, v in table.items() if k not in ("enabled", "severity")}
        config = RuleConfig(
            rule_id=rule_id,
            enabled=bool(table.get("enabled", True)),
            severity=str(table.get("severity", "")).upper(),
            params=params,
        )
        try:
            validate(config)
        except RuleConfigError as exc:
            raise RuleConfigError(f"{source}: {exc}") from exc
        rules[rule_id] = config
    return RuleBook(rules=rules, scoring=scoring)


def load_rule_book(path: Path | None = None) -> RuleBook:
    """The rules file at ``path``, or the defaults shipped with cargoguard."""
    if path is None:
        text = resources.files("agents").joinpath("default_rules.toml").read_text(encoding="utf-8")
        source = "shipped default_rules.toml"
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise RuleConfigError(f"rules file {path}: {exc.strerror}") from exc
        source = str(path)
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RuleConfigError(f"{source}: {exc}") from exc
    return _book_from_document(document, source)
