"""The deployment files name only real commands, settings and metrics (no Docker engine here)."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from streams.cli import cli
from streams.metrics import Metrics
from streams.settings import Settings

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
PROMTOOL = shutil.which("promtool")


def compose():
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def exported_metric_names():
    # Labelled metrics have no samples until first used: derive the names from the families.
    suffixes = {"counter": ("_total",), "histogram": ("", "_bucket", "_sum", "_count"), "gauge": ("",)}
    return {family.name + suffix for family in Metrics().registry.collect()
            for suffix in suffixes[family.type]}


def metric_names_in(text):
    return set(re.findall(r"\b(cargoguard_[a-z_]+)\b", text))


def assert_real_command(args):
    result = CliRunner().invoke(cli, [*args, "--help"])
    assert result.exit_code == 0, f"cargoguard {' '.join(args)}: {result.output}"


def assert_real_settings(env):
    fields = {}
    for name, value in env.items():
        if not name.startswith("CARGOGUARD_"):
            continue
        field = name.removeprefix("CARGOGUARD_").lower()
        assert field in Settings.model_fields, f"{name} is not a cargoguard setting"
        fields[field] = value
    Settings(**fields)  # every value is accepted


def test_compose_services_run_real_commands_with_real_settings():
    services = compose()["services"]
    assert {"kafka", "topics", "worker-1", "worker-2", "prometheus", "grafana"} <= set(services)
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert "controller" in services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]
    cargoguard_services = {name: s for name, s in services.items() if s.get("image") == "cargoguard:latest"}
    assert set(cargoguard_services) == {"topics", "worker-1", "worker-2"}
    for service in cargoguard_services.values():
        assert_real_command(service["command"])
        assert_real_settings(service["environment"])
        assert service["environment"]["CARGOGUARD_BROKER"] == "kafka:9092"
    assert services["topics"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert services["worker-1"]["environment"]["CARGOGUARD_WEB_HOST"] == "0.0.0.0"


def test_dockerfile_entrypoint_and_settings():
    dockerfile = (REPO / "Dockerfile").read_text()
    entry = json.loads(re.search(r"^ENTRYPOINT (.+)$", dockerfile, re.M).group(1))
    command = json.loads(re.search(r"^CMD (.+)$", dockerfile, re.M).group(1))
    assert entry == ["cargoguard"]
    assert_real_command(command)
    env = dict(re.findall(r"(CARGOGUARD_[A-Z_]+)=(\S+)", dockerfile))
    assert_real_settings(env)
    assert "/health" in dockerfile


def test_prometheus_scrapes_the_compose_workers():
    config = yaml.safe_load((DEPLOY / "prometheus/prometheus.yml").read_text())
    (job,) = config["scrape_configs"]
    targets = job["static_configs"][0]["targets"]
    workers = [name for name in compose()["services"] if name.startswith("worker-")]
    assert sorted(targets) == sorted(f"{w}:6066" for w in workers)
    assert job["metrics_path"] == "/metrics"


def test_alert_rules_and_dashboard_use_existing_metrics():
    exported = exported_metric_names()
    for path in (DEPLOY / "prometheus/alerts.yml", DEPLOY / "grafana/dashboards/cargoguard.json"):
        used = metric_names_in(path.read_text())
        assert used, path
        assert used <= exported, f"{path}: unknown metrics {sorted(used - exported)}"
    dashboard = json.loads((DEPLOY / "grafana/dashboards/cargoguard.json").read_text())
    assert len(dashboard["panels"]) >= 8


def test_kubernetes_manifests():
    documents = list(yaml.safe_load_all((DEPLOY / "kubernetes/cargoguard.yaml").read_text()))
    kinds = {d["kind"]: d for d in documents}
    assert {"Namespace", "ConfigMap", "Job", "Service", "StatefulSet"} <= set(kinds)
    assert_real_settings(kinds["ConfigMap"]["data"])
    worker = kinds["StatefulSet"]["spec"]["template"]["spec"]["containers"][0]
    assert_real_command(worker["args"])
    assert worker["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert worker["livenessProbe"]["httpGet"]["path"] == "/health"
    assert_real_command(kinds["Job"]["spec"]["template"]["spec"]["containers"][0]["args"])


@pytest.mark.skipif(PROMTOOL is None, reason="needs promtool (Debian's prometheus; make test installs it)")
def test_promtool_accepts_the_config_and_rules(tmp_path):
    rules = subprocess.run([PROMTOOL, "check", "rules", str(DEPLOY / "prometheus/alerts.yml")],
                           capture_output=True, text=True)
    assert rules.returncode == 0, rules.stdout + rules.stderr
    # The config names the rules file at its in-container path; check a copy pointing here.
    config = (DEPLOY / "prometheus/prometheus.yml").read_text().replace(
        "/etc/prometheus/alerts.yml", str(DEPLOY / "prometheus/alerts.yml"))
    (tmp_path / "prometheus.yml").write_text(config)
    checked = subprocess.run([PROMTOOL, "check", "config", str(tmp_path / "prometheus.yml")],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
