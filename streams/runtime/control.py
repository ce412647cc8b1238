"""The control topics: rule changes (``cargo.rules``) and the watchlist (``cargo.watchlist``).

Both are compacted: the latest record per key is the truth; a tombstone
(null value) restores a rule's defaults or removes a watchlist entry. Every
worker reads both topics whole before it processes anything, then follows
them, so a change applies to the events a worker processes after reading it,
and survives restarts. The CLI writes them through the same functions.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiokafka
from aiokafka.structs import ConsumerRecord
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from agents.rules.config import RuleBook, RuleConfig, RuleConfigError, load_rule_book
from agents.rules.watchlist_hit import WATCH_TYPES, WatchEntry, Watchlist
from streams.errors import PoisonEvent, TransientError, UserError
from streams.kafka.codec import Codec
from streams.kafka.publish import EventPublisher
from streams.kafka.topics import PUBLIC_TOPICS, TopicNames
from streams.runtime.stream_time import wall_ms
from streams.runtime.topic_follower import RefusedHandler, follow_topic
from streams.settings import Settings

log = logging.getLogger(__name__)

READ_TIMEOUT_S = 30.0


@dataclass(slots=True)
class CompactedState:
    """The latest record per key of a compacted topic, and where reading stopped."""

    records: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    next_offsets: dict[int, int] = field(default_factory=dict)
    # Records that could not be decoded: skipped, for the worker to dead-letter.
    refused: list[RefusedRecord] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RefusedRecord:
    """A control record that cannot be read, with where it is and why (a dead letter's makings)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    error: PoisonEvent


def read_compacted(settings: Settings, key: str, codec: Codec | None = None) -> CompactedState:
    """Read a compacted public topic (``rules`` or ``watchlist``) from the start to its end."""
    codec = codec or Codec.for_settings(settings)
    names = TopicNames(settings)
    topic = names.public(key)
    schema = PUBLIC_TOPICS[key].schema
    consumer = Consumer({**settings.kafka_client_config(), "group.id": f"cargoguard-control-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False, "enable.partition.eof": True})
    state = CompactedState()
    try:
        metadata = consumer.list_topics(topic, timeout=10)
        if topic not in metadata.topics or metadata.topics[topic].error is not None:
            raise TransientError(f"topic {topic} does not exist; run 'cargoguard topics create'")
        partitions = sorted(metadata.topics[topic].partitions)
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        state.next_offsets = {p: 0 for p in partitions}
        at_end: set[int] = set()
        until = time.monotonic() + READ_TIMEOUT_S
        while len(at_end) < len(partitions):
            if time.monotonic() > until:
                raise TransientError(f"could not read {topic} to its end within {READ_TIMEOUT_S:.0f} s")
            message = consumer.poll(0.5)
            if message is None:
                continue
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    at_end.add(int(message.partition() or 0))
                    continue
                raise TransientError(f"reading {topic}: {error.str()}")
            partition, offset = int(message.partition() or 0), int(message.offset() or 0)
            state.next_offsets[partition] = offset + 1
            value = message.value()
            try:
                state.records[(message.key() or b"").decode(errors="replace")] = (
                    codec.decode(schema, value) if value else None)
            except PoisonEvent as exc:  # one bad record must not keep a worker from starting
                log.error("%s[%d]@%d skipped: %s", topic, partition, offset, exc.reason)
                state.refused.append(RefusedRecord(topic, partition, offset, message.key(), value, exc))
    finally:
        consumer.close()
    return state


def rule_book_from(defaults: RuleBook, records: Mapping[str, dict[str, Any] | None]) -> RuleBook:
    """The defaults with every rule record applied (each record is a rule's whole configuration)."""
    book = defaults
    for rule_id, record in sorted(records.items()):
        if record is None:
            continue
        try:
            book = book.with_override(rule_config_from(record), base=defaults)
        except RuleConfigError as exc:
            log.error("ignoring rule record %s: %s", rule_id, exc)
    return book


def rule_config_from(record: Mapping[str, Any]) -> RuleConfig:
    """A ``rule_config.avsc`` record as a RuleConfig."""
    return RuleConfig(rule_id=record["rule_id"], enabled=record["enabled"], severity=record["severity"],
                      params=dict(record.get("params") or {}), version=record["version"])


def watchlist_from(records: Mapping[str, dict[str, Any] | None]) -> Watchlist:
    """The watchlist made of every live entry."""
    watchlist = Watchlist()
    for record in records.values():
        if record is not None:
            watchlist.put(WatchEntry.from_record(record))
    return watchlist


def publish_control(settings: Settings, key: str, record_key: str, record: Mapping[str, Any] | None) -> None:
    """Write a record (or a tombstone) to a control topic and wait for it."""
    with EventPublisher(settings) as publisher:
        topic = TopicNames(settings).public(key)
        value = None if record is None else publisher.codec.encode(PUBLIC_TOPICS[key].schema, record, topic=topic)
        publisher.publish_raw(topic, record_key.encode(), value)


class ControlFollower:
    """Follows a control topic from where the start-up read stopped and applies each record."""

    def __init__(self, settings: Settings, key: str, start: Mapping[int, int], codec: Codec,
                 credentials: Mapping[str, Any], apply: Callable[[str, dict[str, Any] | None], None],
                 refuse: RefusedHandler) -> None:
        self.settings = settings
        self.topic = TopicNames(settings).public(key)
        self.schema = PUBLIC_TOPICS[key].schema
        self.next_offsets = dict(start)
        self.codec = codec
        self.credentials = credentials
        self.apply = apply
        self.refuse = refuse

    async def run(self) -> None:
        """Follow until cancelled; after a broker hiccup, resume where it stopped."""
        await follow_topic(self.settings, self.credentials, self.topic, self._resume, self._apply, self.refuse)

    async def _resume(self, consumer: aiokafka.AIOKafkaConsumer) -> dict[int, int]:
        return dict(self.next_offsets)

    def _apply(self, message: ConsumerRecord[bytes, bytes]) -> None:
        # Moved on first: a record refused (it raises) is not read again after a reconnection.
        self.next_offsets[message.partition] = message.offset + 1
        record_key = (message.key or b"").decode(errors="replace")
        record = self.codec.decode(self.schema, message.value) if message.value else None
        self.apply(record_key, record)


def effective_rules(settings: Settings) -> RuleBook:
    """The rules in force: the defaults (or the rules file) with the rules topic applied."""
    return rule_book_from(load_rule_book(settings.rules_file), read_compacted(settings, "rules").records)


def parse_param(rule: RuleConfig, assignment: str) -> tuple[str, bool | float | str]:
    """``name=value`` as a typed parameter of ``rule`` (the type of its current value)."""
    name, sep, text = assignment.partition("=")
    name = name.strip()
    if not sep or not name:
        raise RuleConfigError(f"{assignment!r} is not name=value")
    if name not in rule.params:
        raise RuleConfigError(f"{rule.rule_id} has no parameter {name!r}; it has {', '.join(sorted(rule.params))}")
    current = rule.params[name]
    text = text.strip()
    if isinstance(current, bool):
        if text.lower() not in ("true", "false"):
            raise RuleConfigError(f"{rule.rule_id}: {name} must be true or false, not {text!r}")
        return name, text.lower() == "true"
    if isinstance(current, float | int):
        try:
            return name, float(text)
        except ValueError as exc:
            raise RuleConfigError(f"{rule.rule_id}: {name} must be a number, not {text!r}") from exc
    return name, text


def change_rule(settings: Settings, rule_id: str, *, enabled: bool | None = None, severity: str | None = None,
                assignments: Sequence[str] = (), updated_by: str | None = None) -> RuleConfig:
    """Write a rule's new whole configuration (next version) to the rules topic; return it."""
    book = effective_rules(settings)
    current = book.rules.get(rule_id)
    if current is None:
        raise RuleConfigError(f"unknown rule {rule_id!r}; rules: {', '.join(sorted(book.rules))}")
    params = dict(current.params)
    for assignment in assignments:
        name, value = parse_param(current, assignment)
        params[name] = value
    changed = RuleConfig(rule_id=rule_id, enabled=current.enabled if enabled is None else enabled,
                         severity=(severity or current.severity).upper(), params=params,
                         version=current.version + 1)
    book.with_override(changed)  # validates, or raises RuleConfigError
    publish_control(settings, "rules", rule_id, {
        "rule_id": rule_id, "enabled": changed.enabled, "severity": changed.severity, "params": params,
        "version": changed.version, "updated_by": updated_by, "updated_at": wall_ms()})
    return changed


def reset_rule(settings: Settings, rule_id: str) -> None:
    """Remove a rule's override (a tombstone): it is back at its defaults."""
    if rule_id not in load_rule_book(settings.rules_file).rules:
        raise RuleConfigError(f"unknown rule {rule_id!r}")
    publish_control(settings, "rules", rule_id, None)


def add_watch_entry(settings: Settings, entry: WatchEntry) -> None:
    """Put an entry on the watchlist (replacing one with the same id)."""
    if entry.subject_type not in WATCH_TYPES:
        raise UserError(f"watch type {entry.subject_type!r} is not one of {', '.join(WATCH_TYPES)}")
    if not entry.value.strip():
        raise UserError("the watched value is empty")
    if entry.subject_type == "ORIGIN_COUNTRY" and not (len(entry.value) == 2 and entry.value.isalpha()
                                                      and entry.value.isupper()):
        raise UserError(f"origin {entry.value!r} is not an ISO 3166 alpha-2 code (e.g. CN)")
    if entry.subject_type == "HS_PREFIX" and not (entry.value.isdigit() and 2 <= len(entry.value) <= 10):
        raise UserError(f"HS prefix {entry.value!r} must be 2 to 10 digits")
    publish_control(settings, "watchlist", entry.entry_id, {
        "entry_id": entry.entry_id, "subject_type": entry.subject_type, "value": entry.value,
        "severity": entry.severity, "reason": entry.reason, "added_by": entry.added_by,
        "added_at": entry.added_at, "expires_at": entry.expires_at})


def remove_watch_entry(settings: Settings, entry_id: str) -> None:
    """Remove an entry (a tombstone); an unknown id is a mistake worth saying."""
    if entry_id not in current_watchlist(settings).entries:
        raise UserError(f"no watchlist entry {entry_id!r}")
    publish_control(settings, "watchlist", entry_id, None)


def current_watchlist(settings: Settings) -> Watchlist:
    """The watchlist as the topic holds it now."""
    return watchlist_from(read_compacted(settings, "watchlist").records)
