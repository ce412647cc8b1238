"""A case's shipment events (declaration versions, manifest, gate passages), on either worker of the group."""

import time
from typing import Any

import pytest

from streams.runtime.routed_batches import partition_for
from tests.browser import needs_chromium
from tests.builders import declaration, gate_event, manifest, next_id
from tests.e2e.control_room.test_cases import case_of
from tests.web_client import PASSWORD, ControlRoomClient

pytestmark = pytest.mark.e2e


def shipment_with_broken_seal(office: str):
    """A lodged and an amended declaration, a manifest and a gate passage with a broken seal."""
    doc = next_id("BL")
    line = manifest(doc, gross_weight_kg=900.0, office_code=office)
    lodged = declaration(transport_doc_no=doc, gross_weight_kg=900.0, office_code=office,
                         event_time=line["event_time"] + 60_000)
    amended = {**lodged, "event_id": next_id("ev-d"), "action": "AMENDED",
               "event_time": lodged["event_time"] + 60_000}
    gate = gate_event("IN", transport_doc_no=doc, seal_intact=False, seal_no="SL-9", office_code=office,
                      event_time=amended["event_time"] + 60_000)
    return doc, [("manifest", line), ("declaration", lodged), ("declaration", amended), ("gate_event", gate)]


def shipments_on_every_partition(partitions: int, office: str):
    """Shipments whose states fall on every partition, so that each worker holds some of them."""
    shipments: dict[int, tuple[str, list]] = {}
    while len(shipments) < partitions:
        doc, events = shipment_with_broken_seal(office)
        shipments.setdefault(partition_for(doc, partitions), (doc, events))
    return list(shipments.values())


def events_when_complete(client: ControlRoomClient, case_id: str, expected: list[str],
                         timeout_s: float = 30.0) -> dict[str, Any]:
    """The case's events once the shipment holds as many as ``expected`` (or the last answer at the timeout).

    The case opens with the seal alert, which can come before the shipment has
    applied the declarations routed through another input partition.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        status, body = client.get_json(f"/control-room/api/cases/{case_id}/events")
        assert status == 200, body
        if len(body["events"]) >= len(expected) or time.monotonic() > deadline:
            return dict(body)
        time.sleep(0.2)


def test_either_worker_shows_a_case_its_shipment_events_in_event_time_order(two_workers):
    deployed, first, second = two_workers
    shipments = shipments_on_every_partition(deployed.settings.partitions, "VNHPH01")
    elsewhere, elsewhere_events = shipment_with_broken_seal("VNCLI01")
    deployed.publish([event for _doc, events in [*shipments, (elsewhere, elsewhere_events)] for event in events])
    ana, sam = ControlRoomClient(first.url), ControlRoomClient(second.url)
    assert ana.sign_in("ana", PASSWORD) == 303 and sam.sign_in("sam", PASSWORD) == 303
    for doc, events in shipments:
        case = case_of(ana, doc, timeout_s=60)
        expected = [record["event_id"] for _kind, record in events]
        # Half of these are held by the other worker: the request is passed on, with the session.
        for client in (ana, sam):
            # Each worker's board reads the alerts on its own: the other may see the case a moment later.
            assert case_of(client, doc, timeout_s=30)["case_id"] == case["case_id"]
            body = events_when_complete(client, case["case_id"], expected)
            assert [e["event_id"] for e in body["events"]] == expected
        kinds = [(e["kind"], e["facts"].get("action")) for e in body["events"]]
        assert kinds == [("manifest", None), ("declaration", "LODGED"), ("declaration", "AMENDED"), ("gate", None)]
        assert body["events"][3]["facts"]["seal_intact"] is False
    # The officer gets no other office's shipment, on either worker.
    other = case_of(sam, elsewhere, timeout_s=60)
    assert ana.get_json(f"/control-room/api/cases/{other['case_id']}/events")[0] == 404
    assert ControlRoomClient(second.url).get_json(f"/control-room/api/cases/{other['case_id']}/events")[0] == 401


@needs_chromium
def test_the_case_panel_shows_the_shipment_events_beside_the_alerts(two_workers, signed_in_page):
    deployed, first, _ = two_workers
    doc, events = shipment_with_broken_seal("VNHPH01")
    deployed.publish(events)
    page = signed_in_page(first.url, "ana", PASSWORD)
    page.wait_for_selector(f"tr.case:has-text('{doc}')", timeout=60_000)
    page.locator(f"tr.case:has-text('{doc}')").click()
    page.wait_for_selector("#timeline li.event:has-text('AMENDED')")
    lines = page.locator("#timeline li").all_inner_texts()
    assert [line.split(" · ")[1].split(" ")[0] for line in lines] == [
        "manifest", "declaration", "declaration", "gate", "SEAL_BROKEN"]
    assert "seal_intact false" in lines[3]
