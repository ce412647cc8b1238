"""The control-room page in a real browser, and /metrics scraped by a real Prometheus."""

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

from streams.kafka.embedded_broker import free_port
from streams.tools.users import add_user
from tests.browser import needs_chromium
from tests.builders import declaration, gate_event, manifest, next_id
from tests.conftest import read_avro
from tests.web_client import PASSWORD, ControlRoomClient

pytestmark = pytest.mark.e2e

PROMETHEUS = shutil.which("prometheus")
def seal_and_mismatch(deployed):
    doc_seal, doc_mismatch = next_id("BL"), next_id("BL")
    deployed.publish([
        ("declaration", declaration(transport_doc_no=doc_seal, office_code="VNCLI01")),
        ("gate_event", gate_event("IN", transport_doc_no=doc_seal, seal_intact=False, office_code="VNCLI01",
                                  seal_no="SL-4711")),
        ("manifest", manifest(doc_mismatch, gross_weight_kg=1_000.0)),
        ("declaration", declaration(transport_doc_no=doc_mismatch, gross_weight_kg=1_500.0)),
    ])
    # Counts alerts only: a test may have put garbage on the topic as well.
    deployed.read_topic("alerts", "alert", until=lambda seen: sum("alert_id" in r for r in seen) >= 2,
                        timeout_s=60, reader=alert_or_garbage)
    return doc_seal, doc_mismatch


def alert_or_garbage(value: bytes) -> dict:
    return read_avro("alert", value) if value[:2] == b"\xc3\x01" else {"garbage": value}


@needs_chromium
def test_control_room_page_shows_live_cases_in_a_browser(deployment, signed_in_page, tmp_path):
    deployed = deployment()
    add_user(deployed.settings, "sam", "supervisor", [], PASSWORD)
    worker = deployed.start_worker()
    doc_seal, doc_mismatch = seal_and_mismatch(deployed)
    page = signed_in_page(worker.url, "sam", PASSWORD)
    page.wait_for_selector(f"tr.case:has-text('{doc_mismatch}')")
    assert "MANIFEST_MISMATCH" in page.locator(f"tr.case:has-text('{doc_mismatch}')").inner_text()
    assert page.locator("tr.case .sev.HIGH").count() == 2
    assert page.locator("#user").inner_text().startswith("sam · supervisor")
    page.click(f"tr.case:has-text('{doc_seal}')")
    page.wait_for_selector("#alerts .alert")
    assert "seal SL-4711 broken" in page.locator("#alerts").inner_text()
    shot = tmp_path / "control-room.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
    page.click("#sign-out")
    page.wait_for_url("**/sign-in?next=*")
    page.goto(worker.url + "/control-room/")
    assert "/sign-in" in page.url


def test_alerts_api_filters(deployment):
    deployed = deployment()
    add_user(deployed.settings, "sam", "supervisor", [], PASSWORD)
    worker = deployed.start_worker()
    doc_seal, _ = seal_and_mismatch(deployed)
    client = ControlRoomClient(worker.url)
    assert client.sign_in("sam", PASSWORD) == 303
    body = client.wait_json("/control-room/api/alerts?since=0", lambda d: len(d["alerts"]) >= 2)
    assert len(body["alerts"]) == 2
    (only,) = client.get_json("/control-room/api/alerts?office=VNCLI01")[1]["alerts"]
    assert only["subject_id"] == doc_seal
    assert client.get_json(f"/control-room/api/alerts?since={body['sequence']}")[1]["alerts"] == []


@pytest.mark.skipif(PROMETHEUS is None, reason="needs Debian's prometheus (make test installs it)")
def test_prometheus_scrapes_the_worker(deployment, tmp_path):
    deployed = deployment()
    worker = deployed.start_worker()
    seal_and_mismatch(deployed)
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: cargoguard\n    static_configs: [{{targets: ['127.0.0.1:{deployed.settings.web_port}']}}]\n")
    server = subprocess.Popen([PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                               f"--web.listen-address=127.0.0.1:{port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        query = urllib.parse.quote('sum by (rule_id) (cargoguard_alerts_total)')
        deadline = time.monotonic() + 60
        result = []
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/query?query={query}") as response:
                    result = json.load(response)["data"]["result"]
            except OSError:
                result = []
            if len(result) == 2:
                break
            time.sleep(0.5)
        assert {r["metric"]["rule_id"]: float(r["value"][1]) for r in result} == {
            "SEAL_BROKEN": 1.0, "MANIFEST_MISMATCH": 1.0}, worker.tail()
    finally:
        server.terminate()
        server.wait(timeout=30)
