import json
import time

import pytest

from agents.rules.config import load_rule_book
from streams.codec import Codec
from streams.replay import parse_line
from streams.simulate import json_line, write_jsonl
from streams.topics import EVENT_KINDS, PUBLIC_TOPICS
from streams.traffic import SimulationConfig, generate
from streams.validation import validate
from tests.oracle import expected_alerts

START = 1_767_600_000_000  # a Monday, 08:00 UTC


def events(seed, hours=2.0, rate=5.0, **extra):
    return list(generate(SimulationConfig(seed=seed, start_ms=START, duration_s=hours * 3600, rate=rate,
                                          **extra)))


def test_same_seed_same_traffic_other_seed_other_traffic():
    assert [(e.kind, e.record, e.label) for e in events(1, hours=0.5)] == \
        [(e.kind, e.record, e.label) for e in events(1, hours=0.5)]
    assert [e.record for e in events(1, hours=0.5)] != [e.record for e in events(2, hours=0.5)]


def test_events_are_in_event_time_order_valid_and_unique():
    generated = events(3)
    times = [e.record["event_time"] for e in generated]
    assert times == sorted(times)
    assert len({e.record["event_id"] for e in generated}) == len(generated)
    assert {e.kind for e in generated} == {"declaration", "manifest", "gate_event"}
    codec = Codec()
    latest = int(time.time() * 1000) + 10**12
    for event in generated:
        schema = PUBLIC_TOPICS[EVENT_KINDS[event.kind]].schema
        assert codec.decode(schema, codec.encode(schema, event.record)) == event.record
        validate(event.kind, event.record, latest)


def test_rate_is_about_right_over_a_day():
    generated = events(4, hours=24, rate=2.0)
    assert 0.8 * 2.0 * 86_400 < len(generated) < 1.2 * 2.0 * 86_400


def test_time_scale_compresses_stories():
    slow = events(5, hours=1)
    fast = events(5, hours=1, time_scale=60.0)
    spread = {}
    for generated, name in ((slow, "slow"), (fast, "fast")):
        spread[name] = max(e.record["event_time"] for e in generated) - START
    assert spread["fast"] < spread["slow"] / 2


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_every_planted_pattern_is_caught_and_clean_traffic_raises_nothing(seed):
    generated = events(seed, hours=2, rate=5.0, pattern_rate=0.05)
    planted = {(e.label["pattern"], e.label["subject_type"], e.label["subject_id"])
               for e in generated if e.label}
    assert {p[0] for p in planted} == {"SPLIT_SHIPMENT", "MANIFEST_MISMATCH", "EXIT_WITHOUT_CLEARANCE",
                                       "SEAL_BROKEN"}
    alerts = expected_alerts([(e.kind, e.record) for e in generated], load_rule_book(),
                             flush_after_ms=3_600_000)
    raised = {(f.rule_id, f.subject_type, f.subject_id) for f in alerts.values()}
    assert planted - raised == set()
    assert raised - planted == set()


def test_json_lines_round_trip_through_replay(tmp_path):
    generated = events(6, hours=0.5)
    path = tmp_path / "traffic.jsonl"
    assert write_jsonl(generated, path) == len(generated)
    lines = path.read_text().splitlines()
    for number, (line, event) in enumerate(zip(lines, generated, strict=True), start=1):
        parsed = parse_line(line, f"traffic.jsonl:{number}")
        assert (parsed.kind, parsed.record) == (event.kind, event.record)
        assert json.loads(line).get("label") == event.label
    assert json_line(generated[0]).startswith('{"kind":')
