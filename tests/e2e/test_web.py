"""The control-room page in a real browser, and /metrics scraped by a real Prometheus."""

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

from streams.kafka.embedded_broker import free_port
from tests.builders import declaration, gate_event, manifest, next_id

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PROMETHEUS = shutil.which("prometheus")


def chromium(*args, tmp_path):
    # The flags keep a headless Chromium off the (closed) network and out of the sandbox it
    # cannot have as root.
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'chromium'}", *args],
        capture_output=True, text=True, timeout=90)


def seal_and_mismatch(deployed):
    doc_seal, doc_mismatch = next_id("BL"), next_id("BL")
    deployed.publish([
        ("declaration", declaration(transport_doc_no=doc_seal, office_code="VNCLI01")),
        ("gate_event", gate_event("IN", transport_doc_no=doc_seal, seal_intact=False, office_code="VNCLI01",
                                  seal_no="SL-4711")),
        ("manifest", manifest(doc_mismatch, gross_weight_kg=1_000.0)),
        ("declaration", declaration(transport_doc_no=doc_mismatch, gross_weight_kg=1_500.0)),
    ])
    deployed.read_topic("alerts", "alert", until=lambda seen: len(seen) >= 2, timeout_s=60)
    return doc_seal, doc_mismatch


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (make test installs it)")
def test_control_room_page_shows_live_alerts_in_a_browser(deployment, tmp_path):
    deployed = deployment()
    worker = deployed.start_worker()
    doc_seal, doc_mismatch = seal_and_mismatch(deployed)
    url = worker.url + "/control-room/"
    # Time for the page's first polls; the board fills from the alerts topic.
    dom = chromium("--virtual-time-budget=8000", "--dump-dom", url, tmp_path=tmp_path).stdout
    assert "cargoguard · control room" in dom
    assert "seal SL-4711 broken" in dom, dom[-2000:]
    assert doc_mismatch in dom and "MANIFEST_MISMATCH" in dom
    assert 'class="sev HIGH"' in dom
    assert "No alerts yet." in dom  # the empty notice stays in the page, hidden
    shot = tmp_path / "control-room.png"
    chromium("--virtual-time-budget=8000", "--window-size=1400,500", f"--screenshot={shot}", url,
             tmp_path=tmp_path)
    assert shot.stat().st_size > 10_000


def test_alerts_api_filters(deployment):
    deployed = deployment()
    worker = deployed.start_worker()
    doc_seal, _ = seal_and_mismatch(deployed)
    deadline = time.monotonic() + 30
    while True:
        with urllib.request.urlopen(worker.url + "/control-room/api/alerts?since=0") as response:
            body = json.load(response)
        if len(body["alerts"]) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert len(body["alerts"]) == 2
    with urllib.request.urlopen(worker.url + "/control-room/api/alerts?office=VNCLI01") as response:
        (only,) = json.load(response)["alerts"]
    assert only["subject_id"] == doc_seal
    with urllib.request.urlopen(worker.url + f"/control-room/api/alerts?since={body['sequence']}") as response:
        assert json.load(response)["alerts"] == []


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
