"""``cargoguard outcomes import``: inspection results from history, one per labelled row, onto the results topic."""

from __future__ import annotations

from pathlib import Path

from streams.errors import UserError
from streams.kafka.publish import EventPublisher
from streams.kafka.topics import PUBLIC_TOPICS, TopicNames
from streams.outcomes.results import result_of_labelled_row
from streams.settings import Settings
from streams.tools.csv_mapping import CsvMapping, events_from_csv


def check_outcome_mapping(mapping: CsvMapping) -> None:
    """Refuse a mapping whose rows carry no outcome: one without a ``fraud`` label, or not of declarations."""
    if "fraud" not in mapping.labels:
        raise UserError(f"mapping {mapping.origin} names no 'fraud' label column, so rows carry no outcome")
    if mapping.kind != "declaration":
        raise UserError(f"mapping {mapping.origin} maps rows to {mapping.kind} events; outcomes need declarations")


def import_outcomes(settings: Settings, path: Path, mapping: CsvMapping, mapping_name: str) -> dict[str, int]:
    """Publish the result of every row of ``path`` (its mapping must name a ``fraud`` label); counts by result."""
    check_outcome_mapping(mapping)
    counts = {"INFRACTION": 0, "NO_INFRACTION": 0}
    spec = PUBLIC_TOPICS["inspection_results"]
    with EventPublisher(settings) as publisher:
        topic = TopicNames(settings).public("inspection_results")
        for event in events_from_csv(path, mapping):
            result = result_of_labelled_row(event.record, event.labels, f"import:{mapping_name}")
            value = publisher.codec.encode(spec.schema, result, topic=topic)
            publisher.publish_raw(topic, result["declaration_id"].encode(), value)
            counts[result["result"]] += 1
    return counts
