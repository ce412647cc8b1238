"""Every topic cargoguard reads or writes: its name, key, value schema and layout.

Public topic names are ``<prefix><name>`` (prefix ``cargo.`` by default).
Internal topics carry routed batches between the worker's agents; they are
named after the app id so two deployments on one cluster never share them.
"""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from agents.subjects.routes import SUBJECT_KINDS
from streams.errors import TransientError
from streams.settings import Settings


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """One public topic of the contract."""

    name: str
    key: str
    schema: str
    compacted: bool = False


# The contract's topics (SPEC.md), by the name cargoguard uses internally.
PUBLIC_TOPICS: dict[str, TopicSpec] = {
    "declarations": TopicSpec("declarations", "declaration_id", "declaration"),
    "manifests": TopicSpec("manifests", "transport_doc_no", "manifest"),
    "gate_events": TopicSpec("gate-events", "gate_id", "gate_event"),
    "watchlist": TopicSpec("watchlist", "entry_id", "watchlist_entry", compacted=True),
    "rules": TopicSpec("rules", "rule_id", "rule_config", compacted=True),
    "alerts": TopicSpec("alerts", "alert_id", "alert"),
    "dead_letter": TopicSpec("dead-letter", "original key", "dead_letter"),
    "users": TopicSpec("users", "username", "user", compacted=True),
    "cases": TopicSpec("cases", "case_id", "case"),
    "case_actions": TopicSpec("case-actions", "case_id", "case_action"),
    "inspection_results": TopicSpec("inspection-results", "declaration_id", "inspection_result"),
    "selectivity": TopicSpec("selectivity", "declaration_id", "selectivity"),
    "lane_capacity": TopicSpec("lane-capacity", "office_code", "lane_capacity", compacted=True),
    "inspected_declarations": TopicSpec("inspected-declarations", "declaration_id", "inspected_declaration"),
}

# The event feeds the router decodes, by topic key -> (schema, JSON "kind").
INPUT_FEEDS = {
    "declarations": "declaration",
    "manifests": "manifest",
    "gate_events": "gate_event",
}

# What a JSON Lines "kind" is published to: kind -> public topic key.
EVENT_KINDS = {
    "declaration": "declarations",
    "manifest": "manifests",
    "gate_event": "gate_events",
    "watchlist_entry": "watchlist",
    "rule_config": "rules",
}

# Internal topics: one per subject kind (one repartition per key kind).
INTERNAL_TOPICS = SUBJECT_KINDS


class TopicNames:
    """Resolved topic names for one deployment."""

    def __init__(self, settings: Settings) -> None:
        self.prefix = settings.topic_prefix
        self.app_id = settings.app_id

    def public(self, key: str) -> str:
        """The full name of a public topic, e.g. ``public('alerts') == 'cargo.alerts'``."""
        return self.prefix + PUBLIC_TOPICS[key].name

    def internal(self, key: str) -> str:
        """The full name of an internal (routed batch) topic."""
        if key not in INTERNAL_TOPICS:
            raise KeyError(key)
        return f"{self.app_id}-{key}-batches"


def admin_client(settings: Settings) -> AdminClient:
    """A confluent-kafka admin client with the configured security settings."""
    return AdminClient(settings.kafka_client_config())


def create_topics(settings: Settings, timeout_s: float = 30.0) -> dict[str, str]:
    """Create every public and internal topic that does not exist yet.

    Returns topic -> "created" | "exists". Idempotent: safe on every start.
    """
    names = TopicNames(settings)
    wanted: list[NewTopic] = []
    for key, spec in PUBLIC_TOPICS.items():
        config = {"cleanup.policy": "compact"} if spec.compacted else {}
        wanted.append(NewTopic(names.public(key), settings.partitions,
                               settings.replication_factor, config=config))
    for key in INTERNAL_TOPICS:
        wanted.append(NewTopic(names.internal(key), settings.partitions,
                               settings.replication_factor))
    admin = admin_client(settings)
    result: dict[str, str] = {}
    futures = admin.create_topics(wanted, request_timeout=timeout_s)
    for topic, future in futures.items():
        try:
            future.result(timeout=timeout_s)
            result[topic] = "created"
        except KafkaException as exc:
            error = exc.args[0]
            if isinstance(error, KafkaError) and error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                result[topic] = "exists"
            else:
                raise TransientError(f"creating topic {topic}: {error}") from exc
    return result


def wait_for_broker(settings: Settings, timeout_s: float = 30.0) -> None:
    """Block until the cluster answers a metadata request."""
    admin = admin_client(settings)
    try:
        admin.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        raise TransientError(
            f"no Kafka broker answers at {settings.broker} ({exc.args[0]}); start one with "
            "'cargoguard broker' or set CARGOGUARD_BROKER"
        ) from exc
