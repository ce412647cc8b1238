"""Outcomes reported since the model learned count in the next scores, and never in an earlier declaration's.

Two workers decide lanes; the declarations sent RED or YELLOW appear on
``cargo.inspected-declarations`` with their categories; inspection results
naming them by id alone are published. Declarations lodged after the
inspections are scored with the model's history plus those outcomes (the
same scores as joining them offline), one lodged before them as if they
had not come. Garbage on either feed is dead-lettered and read past.
"""

from __future__ import annotations

from typing import Any

import pytest

from agents.risk.features import categories_of
from agents.risk.live_outcomes import LiveOutcomes
from agents.risk.model import train
from tests.builders import HOUR, T0, inspected, millis
from tests.conftest import Deployment

pytestmark = pytest.mark.e2e

DAY_MS = 86_400_000
OFFICE = "VNSGN01"


def copies(records: list[dict[str, Any]], start_ms: int, tag: str) -> list[dict[str, Any]]:
    """The same declarations (same declarant, importer, goods) lodged again from ``start_ms``, a minute apart."""
    return [{**record, "declaration_id": f"{record['declaration_id']}-{tag}", "event_id": f"{record['event_id']}-{tag}",
             "event_time": start_ms + n * 60_000} for n, record in enumerate(records)]


def lanes_of(deployed: Deployment, ids: set[str]) -> dict[str, dict[str, Any]]:
    records = deployed.read_topic("selectivity", "selectivity", timeout_s=90,
                                  until=lambda seen: ids <= {r["declaration_id"] for r in seen})
    return {r["declaration_id"]: r for r in records if r["declaration_id"] in ids}


def publish_results(deployed: Deployment, results: list[dict[str, Any]]) -> None:
    topic = deployed.names.public("inspection_results")
    for result in results:
        deployed.publisher.publish_raw(topic, result["declaration_id"].encode(),
                                       deployed.publisher.codec.encode("inspection_result", result, topic=topic))
    deployed.publisher.flush()


def test_outcomes_reported_since_the_model_learned_count_in_later_scores_only(deployment, tmp_path):
    path = tmp_path / "model.lgb"
    model = train(inspected(600, T0 - 30 * DAY_MS, seed=1), trained_at="live-outcomes")
    model.save(path)
    deployed: Deployment = deployment(model_file=path, control_sample_rate=0.0, lane_capacity={OFFICE: (4, 8)})
    workers = deployed.start_workers(2)
    first = [record for record, _infraction in inspected(60, T0, seed=2)]
    deployed.publish([("declaration", record) for record in first])
    lanes = lanes_of(deployed, {record["declaration_id"] for record in first})

    # Every declaration sent RED or YELLOW is published with its categories, and no other.
    sent_for_inspection = {d for d, lane in lanes.items() if lane["lane"] != "GREEN"}
    records = deployed.read_topic("inspected_declarations", "inspected_declaration", timeout_s=30, settle_s=2,
                                  until=lambda seen: sent_for_inspection <= {r["declaration_id"] for r in seen})
    by_id = {record["declaration_id"]: record for record in first}
    assert {r["declaration_id"] for r in records} == sent_for_inspection
    assert all(r["categories"] == categories_of(by_id[r["declaration_id"]]) and r["lane"] == lanes[
        r["declaration_id"]]["lane"] for r in records)

    # Garbage on both feeds first: each worker dead-letters each once, and reads on past it.
    for feed in ("inspected_declarations", "inspection_results"):
        deployed.publisher.publish_raw(deployed.names.public(feed), b"GARBAGE", b"not a record")
    # All of them were infractions, found two hours after the first was lodged.
    inspected_at = T0 + 2 * HOUR
    publish_results(deployed, [{
        "result_id": f"R-{d}", "declaration_id": d, "office_code": OFFICE, "result": "INFRACTION",
        "infraction_kind": "FRAUD", "duty_recovered_usd": None, "inspected_at": inspected_at,
        "inspected_by": "test", "source": "test", "case_id": None, "rule_ids": [], "note": None,
    } for d in sorted(sent_for_inspection)])
    for worker in workers:
        worker.wait_metric("cargoguard_live_outcomes", lambda n: n == len(sent_for_inspection), state="counted")
    letters = deployed.read_topic("dead_letter", "dead_letter", timeout_s=30, settle_s=2,
                                  until=lambda seen: len(seen) >= 4)
    # The results topic is read once per worker, for rule precision and the history alike.
    assert sorted(letter["source_topic"] for letter in letters) == sorted(
        deployed.names.public(feed) for feed in ("inspected_declarations", "inspection_results") for _ in workers)

    # The same declarations lodged again before the inspections and after them.
    judged = [by_id[d] for d in sorted(sent_for_inspection)]
    before = copies(judged, inspected_at - 30 * 60_000, "before")
    after = copies(judged, inspected_at + HOUR, "after")
    deployed.publish([("declaration", record) for record in before + after])
    later = lanes_of(deployed, {record["declaration_id"] for record in before + after})

    live = LiveOutcomes(join_window_ms=30 * DAY_MS)
    for record in records:
        live.add_sent(record["declaration_id"], millis(record["event_time"]), record["categories"])
    for d in sent_for_inspection:
        live.add_result(d, inspected_at, infraction=True)
    expected = model.score_vectors(model.vectors(after, live))
    unaware = model.score(after)
    assert [later[r["declaration_id"]]["score"] for r in after] == expected
    # Each one's declarant and importer now have outcomes they lacked: every score moved.
    assert all(now != then for now, then in zip(expected, unaware, strict=True)), (expected, unaware)
    # Lodged before the inspections: the outcomes are in its future and change nothing.
    assert [later[r["declaration_id"]]["score"] for r in before] == model.score(before)
