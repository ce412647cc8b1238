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


def sample(metrics, name, feed):
    return metrics.registry.get_sample_value(name, {"feed": feed})


def test_a_routing_step_counts_its_feeds_and_stamps_only_those_it_routed():
    metrics = Metrics()
    metrics.feeds_routed({"declaration": 3, "gate_event": 1},
                         [("declaration", 5_000), ("gate_event", 7_000)], now_ms=100_000)
    # The gate OCR falls silent: later steps route declarations only.
    metrics.feeds_routed({"declaration": 2},
                         [("declaration", 9_000), ("gate_event", 7_500)], now_ms=160_500)
    assert sample(metrics, "cargoguard_events_total", "declaration") == 5
    assert sample(metrics, "cargoguard_events_total", "gate_event") == 1
    assert sample(metrics, "cargoguard_feed_last_event_seconds", "declaration") == 160.5
    assert sample(metrics, "cargoguard_feed_last_event_seconds", "gate_event") == 100.0
    assert sample(metrics, "cargoguard_feed_newest_event_time_seconds", "declaration") == 9.0
    assert sample(metrics, "cargoguard_feed_newest_event_time_seconds", "gate_event") == 7.0
    assert sample(metrics, "cargoguard_feed_last_event_seconds", "manifest") is None


def test_a_feeds_newest_event_time_is_its_newest_partition_not_the_last_one_read():
    metrics = Metrics()
    metrics.feeds_routed({"manifest": 4}, [("manifest", 8_000), ("manifest", 3_000), ("declaration", 9_000)],
                         now_ms=10_000)
    assert sample(metrics, "cargoguard_feed_newest_event_time_seconds", "manifest") == 8.0
