"""Selectivity lanes in the stream: two workers score every LODGED declaration and give it a lane.

The lanes the workers write are the lanes ``agents.risk.lanes`` gives the
scores in event-time order, office by office: no hour holds more RED
lanes than the office's capacity, and the result does not depend on which
input partition was read first. A CRITICAL watchlist hit forces its
declaration's lane RED beyond the capacity. A newer model file and a
capacity changed at run time are taken without a restart.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from agents.risk.lanes import HOUR_MS, RED, Capacity, OfficeLanes
from agents.risk.model import RiskModel, train
from agents.rules.watchlist_hit import WatchEntry
from streams.runtime.capacity import set_capacity
from streams.runtime.control import add_watch_entry
from tests.builders import RISKY_IMPORTERS, T0, inspected, millis
from tests.conftest import Deployment

pytestmark = pytest.mark.e2e

DAY_MS = 86_400_000
CAPACITY = {"VNSGN01": Capacity(4, 8), "VNHPH01": Capacity(2, 4)}
CONTROL_RATE = 0.05


def learned(path: Path, seed: int, trained_at: str) -> RiskModel:
    model = train(inspected(600, T0 - 30 * DAY_MS, seed=seed), trained_at=trained_at)
    model.save(path)
    return model


def lodged(count: int, start_ms: int, seed: int) -> list[dict[str, Any]]:
    """LODGED declarations a minute apart at two offices."""
    records = [record for record, _infraction in inspected(count, start_ms, seed=seed)]
    for n, record in enumerate(records):
        record["office_code"] = "VNSGN01" if n % 3 else "VNHPH01"
    return records


def read_lanes(deployed: Deployment, ids: set[str], forced: frozenset[str] = frozenset()) -> dict[str, dict[str, Any]]:
    """The last selectivity record of each of ``ids``, once those in ``forced`` carry a CRITICAL alert.

    A redelivered copy must repeat its decision; a later record may only restate it RED for an alert.
    """
    def complete(seen: list[dict[str, Any]]) -> bool:
        return ids <= {r["declaration_id"] for r in seen} and \
            forced <= {r["declaration_id"] for r in seen if r["alert_ids"]}

    records = deployed.read_topic("selectivity", "selectivity", until=complete, timeout_s=90)
    by_id: dict[str, dict[str, Any]] = {}
    for record in records:
        first = by_id.setdefault(record["declaration_id"], record)
        assert first["score"] == record["score"], record
        assert first["lane"] == record["lane"] or (record["lane"] == RED and record["alert_ids"]), record
        by_id[record["declaration_id"]] = record
    return {d: r for d, r in by_id.items() if d in ids}


def test_two_workers_give_every_lodged_declaration_a_lane_within_capacity_and_take_a_new_model(
        deployment, tmp_path):
    path = tmp_path / "model.lgb"
    first = learned(path, seed=1, trained_at="first")
    deployed: Deployment = deployment(model_file=path, model_check_interval_s=0.5,
                                      control_sample_rate=CONTROL_RATE,
                                      lane_capacity={office: (c.red, c.yellow)
                                                     for office, c in CAPACITY.items()})
    workers = deployed.start_workers(2)
    declarations = lodged(360, T0, seed=2)
    # A CRITICAL watchlist entry on one importer forces its declarations RED, beyond the capacity.
    watched = declarations[5]["importer_id"]
    add_watch_entry(deployed.settings, WatchEntry(entry_id="W-1", subject_type="IMPORTER", value=watched,
                                                  severity="CRITICAL", reason="test", added_at=T0))
    for worker in workers:
        worker.wait_metric("cargoguard_watchlist_entries", lambda entries: entries == 1)
    forced = frozenset(r["declaration_id"] for r in declarations if r["importer_id"] == watched)
    amended = [{**record, "action": "AMENDED", "event_id": f"{record['event_id']}-a",
                "event_time": record["event_time"] + 30_000} for record in declarations[::10]]
    deployed.publish([("declaration", record)
                      for record in sorted(declarations + amended, key=lambda r: r["event_time"])])
    lanes = read_lanes(deployed, {record["declaration_id"] for record in declarations}, forced)

    assert len(lanes) == len(declarations)  # one lane per LODGED declaration, none for an amendment
    assert {lane["model_version"] for lane in lanes.values()} == {first.version}
    by_office: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for lane in lanes.values():
        by_office[lane["office_code"]].append(lane)
    overridden = 0  # forced lanes the risk alone would not have made RED
    for office, decided in by_office.items():
        decided.sort(key=lambda lane: (lane["event_time"], lane["declaration_id"]))
        # The same lanes as deciding the same scores in event-time order, one declaration after another.
        replayed = OfficeLanes()
        expected = [replayed.decide(lane["declaration_id"], millis(lane["event_time"]),
                                    lane["score"], CAPACITY[office], CONTROL_RATE) for lane in decided]
        # A forced lane is RED and inspected, whatever its risk lane; it takes none of the capacity.
        assert [(lane["lane"], lane["control_sample"], lane["inspected"]) for lane in decided] == \
            [(RED, lane.control_sample, True) if lane.declaration_id in forced
             else (lane.lane, lane.control_sample, lane.inspected) for lane in expected]
        assert all(bool(lane["alert_ids"]) == (lane["declaration_id"] in forced) for lane in decided)
        overridden += sum(lane.declaration_id in forced and lane.lane != RED for lane in expected)
        reds = sorted(millis(lane["event_time"]) for lane in decided if lane["lane"] == RED and not lane["alert_ids"])
        assert all(sum(start <= t < start + HOUR_MS for t in reds) <= CAPACITY[office].red
                   for start in reds)
        assert any(lane["lane"] == RED and not lane["control_sample"] for lane in decided)
    assert overridden > 0, sorted(forced)
    # A RED lane the risk chose says why (a control pick's score may have nothing that raised it); no other does.
    chosen = [lane for lane in lanes.values() if lane["lane"] == RED and not (lane["control_sample"]
                                                                              or lane["alert_ids"])]
    assert all(lane["reasons"] for lane in chosen), [lane for lane in chosen if not lane["reasons"]][:3]
    assert not any(lane["reasons"] for lane in lanes.values() if lane["lane"] != RED)
    importer = {record["declaration_id"]: record["importer_id"] for record in declarations}
    risky = [lane["score"] for d, lane in lanes.items() if importer[d] in RISKY_IMPORTERS]
    others = [lane["score"] for d, lane in lanes.items() if importer[d] not in RISKY_IMPORTERS]
    assert sum(risky) / len(risky) > 2 * sum(others) / len(others)

    # A newer model file is taken by both workers without a restart, and scores what comes next.
    pids = [worker.process.pid for worker in workers]
    second = learned(path, seed=3, trained_at="second")
    assert second.version != first.version
    for worker in workers:
        worker.wait_metric("cargoguard_risk_model_loaded", lambda v: v == 1, version=second.version)
    # So is a capacity changed at run time: an office that can inspect nothing sends everything GREEN.
    set_capacity(deployed.settings, "VNHPH01", red=0, yellow=0)
    for worker in workers:
        worker.wait_metric("cargoguard_lane_capacity", lambda v: v == 0, office_code="VNHPH01", lane="RED")
    later = lodged(30, T0 + 7 * HOUR_MS, seed=4)
    deployed.publish([("declaration", record) for record in later])
    newer = read_lanes(deployed, {record["declaration_id"] for record in later},
                       frozenset(r["declaration_id"] for r in later if r["importer_id"] == watched))
    assert {lane["model_version"] for lane in newer.values()} == {second.version}
    closed = [lane for lane in newer.values() if lane["office_code"] == "VNHPH01" and not lane["alert_ids"]]
    assert closed and {lane["lane"] for lane in closed} == {"GREEN"}
    assert any(lane["lane"] == RED and not lane["alert_ids"] for lane in newer.values()
               if lane["office_code"] == "VNSGN01")
    assert [worker.process.pid for worker in deployed.live_workers] == pids
