"""A worker, ``replay`` and ``alerts`` talking Kafka over TLS, verified against a CA made in the test.

The embedded broker cannot serve TLS itself (README, "Faults and hostile
input"), so it advertises a TLS-terminating proxy (``tests/tls_proxy.py``):
what is exercised is cargoguard's TLS settings in both Kafka clients (aiokafka
in the worker, confluent-kafka in the tools), end to end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from streams.kafka.embedded_broker import EmbeddedBroker, free_port
from streams.settings import Settings
from tests.builders import declaration, gate_event, next_id
from tests.conftest import REPO, Deployment
from tests.scenarios import Scenario
from tests.tls_proxy import make_certificates, tls_proxy

pytestmark = pytest.mark.e2e


def cargoguard(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "streams", *args], cwd=REPO,
                          env={**os.environ, **settings.as_env()}, capture_output=True, text=True, timeout=120)


def test_a_worker_replay_and_alerts_work_over_tls_and_plaintext_is_refused(tmp_path):
    certificates = make_certificates(tmp_path)
    proxy_port, broker_port = free_port(), free_port()
    with (tmp_path / "tansu.log").open("wb") as log, \
            EmbeddedBroker(f"127.0.0.1:{broker_port}", log=log, advertised=f"127.0.0.1:{proxy_port}"), \
            tls_proxy(("127.0.0.1", proxy_port), ("127.0.0.1", broker_port), certificates) as proxy:
        deployed = Deployment(f"127.0.0.1:{proxy_port}", tmp_path, security_protocol="SSL",
                              ssl_cafile=certificates.ca)
        try:
            deployed.start_worker()
            doc = next_id("BL")
            scenario = Scenario()
            scenario.add("declaration", declaration(transport_doc_no=doc))
            scenario.add("gate_event", gate_event("IN", transport_doc_no=doc, seal_intact=False))
            replayed = cargoguard(deployed.settings, "replay", str(scenario.write_jsonl(tmp_path / "seal.jsonl")))
            assert replayed.returncode == 0, replayed.stderr

            deployed.workers[0].wait_metric("cargoguard_alerts_total", lambda raised: raised >= 1)
            shown = cargoguard(deployed.settings, "alerts", "--json", "--from-beginning", "--timeout", "3")
            assert shown.returncode == 0, shown.stderr
            alerts = [json.loads(line) for line in shown.stdout.splitlines()]
            assert [(a["rule_id"], a["subject_id"]) for a in alerts] == [("SEAL_BROKEN", doc)], \
                deployed.workers[0].tail()
            assert proxy.handshakes > 0

            refused_before = proxy.refused
            plaintext = AdminClient({"bootstrap.servers": f"127.0.0.1:{proxy_port}", "security.protocol": "PLAINTEXT"})
            with pytest.raises(KafkaException):
                plaintext.list_topics(timeout=3)
            assert proxy.refused > refused_before
        finally:
            deployed.close()
