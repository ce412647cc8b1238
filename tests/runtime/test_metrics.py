"""Reading a worker's /metrics back: totals per metric, optionally for some labels only."""

import http.server
import threading

import pytest

from streams.runtime.metrics import Metrics, scrape_totals


@pytest.fixture
def served_metrics():
    metrics = Metrics()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = metrics.exposition()
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield metrics, f"http://127.0.0.1:{server.server_port}/metrics"
    server.shutdown()


def test_totals_sum_every_label_set_and_count_an_unused_metric_as_zero(served_metrics):
    metrics, url = served_metrics
    metrics.events.labels("declaration").inc(3)
    metrics.events.labels("manifest").inc(2)
    assert scrape_totals(url, ["cargoguard_events_total", "cargoguard_dead_letters_total"]) == {
        "cargoguard_events_total": 5.0, "cargoguard_dead_letters_total": 0.0}


def test_labels_keep_only_the_samples_that_have_them(served_metrics):
    metrics, url = served_metrics
    metrics.events.labels("declaration").inc(3)
    metrics.events.labels("manifest").inc(2)
    metrics.rule_version.labels("SPLIT_SHIPMENT").set(4)
    metrics.rule_version.labels("SEAL_BROKEN").set(1)
    assert scrape_totals(url, ["cargoguard_events_total"], labels={"feed": "manifest"}) == {
        "cargoguard_events_total": 2.0}
    assert scrape_totals(url, ["cargoguard_rule_version"], labels={"rule_id": "SPLIT_SHIPMENT"}) == {
        "cargoguard_rule_version": 4.0}
    assert scrape_totals(url, ["cargoguard_rule_version"], labels={"rule_id": "NO_SUCH_RULE"}) == {
        "cargoguard_rule_version": 0.0}
