"""The deployment files agree with the code and with each other.

No Docker engine or Kubernetes cluster runs here, so nothing is built or
started: these tests read the Dockerfile, docker-compose.yml and deploy/ and
check that every command is a real ``cargoguard`` command, every
``CARGOGUARD_*`` variable a real setting with an accepted value, every metric
and label one a worker exports, and that the files point at each other
(ports, paths, volumes, job names, datasource ids) correctly. With promtool
installed, Prometheus itself checks the config, the rules and every dashboard
query, and unit-tests when each alert fires.
"""

import base64
import fnmatch
import json
import re
import shlex
import shutil
import subprocess
import sys
import threading
import tomllib
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from prometheus_client.metrics import MetricWrapperBase

from streams.cli import cli
from streams.kafka.topics import INPUT_FEEDS
from streams.runtime.metrics import Metrics
from streams.settings import Settings

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
ALERTS = DEPLOY / "prometheus/alerts.yml"
PROMETHEUS_CONFIG = DEPLOY / "prometheus/prometheus.yml"
DASHBOARD = DEPLOY / "grafana/dashboards/cargoguard.json"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (Debian package 'prometheus'; `make test` installs it)")

# Labels Prometheus attaches to every scraped series.
TARGET_LABELS = {"instance", "job"}
# Read by load_settings to find the settings file; not a Settings field.
NON_FIELD_VARIABLES = {"CARGOGUARD_SETTINGS_FILE"}
CARGOGUARD_VARIABLE = re.compile(r"\bCARGOGUARD_[A-Z0-9_]+\b")
METRIC_NAME = re.compile(r"\b(cargoguard_[a-z0-9_]+|up)\b(?!\s*\()")
GROUPING = re.compile(r"\b(by|without|on|ignoring)\s*\(([^)]*)\)")
MATCHER = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)\s*\"")
GRAFANA_BUILTINS = {"$__rate_interval": "1m", "$__interval": "1m", "$__range": "1h"}


# --- loading ---------------------------------------------------------------------


@cache
def compose():
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def services():
    return compose()["services"]


def runs_cargoguard(service):
    return "build" in service or str(service.get("image", "")).startswith("cargoguard")


def cargoguard_services():
    return {name: s for name, s in services().items() if runs_cargoguard(s)}


def worker_services():
    return {name: s for name, s in cargoguard_services().items() if command_of(s)[:1] == ["worker"]}


def command_of(service):
    command = service.get("command", dockerfile_json("CMD"))
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def environment_of(service):
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {name: str(value) for name, value in environment.items()}


def container_environment(service):
    """What the process in the container sees: the image's ENV, then the service's."""
    return {**dockerfile_env(), **environment_of(service)}


def settings_of(name, service):
    """The settings the service's process runs with: environment, then command-line overrides."""
    env = container_environment(service)
    command = command_of(service)
    click_command = cli.commands.get(command[0])
    if click_command is not None:
        # Options documented as "Override CARGOGUARD_X" (worker --web-port, --data-dir) win over X.
        parsed = click_command.make_context(command[0], command[1:], resilient_parsing=True).params
        for param in click_command.params:
            overridden = re.search(r"Override (CARGOGUARD_\w+)", getattr(param, "help", None) or "")
            if overridden and parsed.get(param.name) is not None:
                env[overridden.group(1)] = str(parsed[param.name])
    return assert_real_settings(env, f"docker-compose {name}")


def mounts_of(service):
    """Container path -> source (named volume or host path) of each volume."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target, *_ = volume.split(":")
        mounts[target] = source
    return mounts


@cache
def dockerfile_instructions():
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    instructions, current = [], ""
    for line in (REPO / "Dockerfile").read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        keyword, _, rest = (current + stripped).partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
        current = ""
    return tuple(instructions)


def runtime_stage():
    """The instructions of the last stage: the image that runs."""
    instructions = dockerfile_instructions()
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def dockerfile_values(keyword):
    return [rest for kw, rest in runtime_stage() if kw == keyword]


def dockerfile_json(keyword):
    (value,) = dockerfile_values(keyword)
    return json.loads(value)


def dockerfile_env():
    env = {}
    for rest in dockerfile_values("ENV"):
        for token in shlex.split(rest):
            name, _, value = token.partition("=")
            env[name] = value
    return env


def healthcheck_command():
    (rest,) = dockerfile_values("HEALTHCHECK")
    return json.loads(rest[rest.index("CMD ") + len("CMD "):])


@cache
def kubernetes_documents():
    documents = []
    for path in sorted((DEPLOY / "kubernetes").glob("*.y*ml")):
        documents += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return documents


def kubernetes_object(kind):
    (found,) = [d for d in kubernetes_documents() if d["kind"] == kind]
    return found


def kubernetes_config():
    return {name: str(value) for name, value in kubernetes_object("ConfigMap")["data"].items()}


def alert_rules():
    return {rule["alert"]: rule for group in yaml.safe_load(ALERTS.read_text())["groups"]
            for rule in group["rules"]}


def dashboard():
    return json.loads(DASHBOARD.read_text())


def dashboard_targets():
    return [(panel, target) for panel in dashboard()["panels"] for target in panel.get("targets", [])]


@cache
def exported_samples():
    """Sample name -> label names, as a worker's /metrics shows them once every metric is used.

    Labelled metrics export nothing until a label set is first used, so every
    one is touched once with placeholder values (the label names come from
    prometheus_client's wrapper, the only place that holds them).
    """
    metrics = Metrics()
    for metric in vars(metrics).values():
        if isinstance(metric, MetricWrapperBase) and metric._labelnames:
            metric.labels(*["x"] * len(metric._labelnames))
    return {sample.name: set(sample.labels) for family in metrics.registry.collect()
            for sample in family.samples}


# --- checks shared by several tests --------------------------------------------


def assert_real_command(args):
    result = CliRunner().invoke(cli, [*args, "--help"])
    assert result.exit_code == 0, f"`cargoguard {' '.join(args)}` is not a command: {result.output}"


def assert_real_settings(env, where):
    """Each CARGOGUARD_* variable is a Settings field whose value is accepted, alone and together."""
    fields = {}
    for name, value in env.items():
        if not name.startswith("CARGOGUARD_"):
            continue
        field = name.removeprefix("CARGOGUARD_").lower()
        assert field in Settings.model_fields, f"{where}: {name} is not a cargoguard setting"
        # Environment variables are strings; pydantic must accept the string form.
        Settings(**{field: str(value)})
        fields[field] = str(value)
    return Settings(**fields)


def metrics_in(expr):
    return set(METRIC_NAME.findall(expr))


def labels_in(expr):
    """Label names an expression groups or matches on."""
    labels = set(MATCHER.findall(expr))
    for _, names in GROUPING.findall(expr):
        labels |= {name.strip() for name in names.split(",") if name.strip()}
    return labels


def available_labels(expr):
    """Labels the series an expression selects can carry."""
    labels = set(TARGET_LABELS)
    for name in metrics_in(expr):
        labels |= exported_samples().get(name, set())
    return labels


def output_labels(expr):
    """Labels the result of an expression keeps: its `by` labels, else those of its series."""
    by = [names for keyword, names in GROUPING.findall(expr) if keyword == "by"]
    if by:
        return {name.strip() for names in by for name in names.split(",")}
    return available_labels(expr)


def assert_metrics_and_labels_exist(expr, where):
    unknown = {name for name in metrics_in(expr) if name != "up"} - set(exported_samples())
    assert not unknown, f"{where}: no worker exports {sorted(unknown)} (exported: {sorted(exported_samples())})"
    missing = labels_in(expr) - available_labels(expr)
    assert not missing, f"{where}: labels {sorted(missing)} are not on the series of `{expr}`"


def expected_alert(name, **labels):
    """The promtool expectation of a firing alert: its labels and its annotations rendered."""
    rule = alert_rules()[name]
    annotations = {key: re.sub(r"\{\{\s*\$labels\.(\w+)\s*\}\}", lambda m: labels[m.group(1)], text)
                   for key, text in rule.get("annotations", {}).items()}
    return {"exp_labels": {**rule.get("labels", {}), **labels}, "exp_annotations": annotations}


def run_promtool(*args):
    result = subprocess.run([PROMTOOL, *map(str, args)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


# --- docker-compose ----------------------------------------------------------------


def test_compose_has_kafka_topics_two_workers_prometheus_and_grafana():
    assert {"kafka", "topics", "worker-1", "worker-2", "prometheus", "grafana"} <= set(services())
    assert set(cargoguard_services()) == {"topics", "worker-1", "worker-2"}
    images = {name: s["image"] for name, s in services().items() if not runs_cargoguard(s)}
    assert re.fullmatch(r"apache/kafka:(3\.9|4\.\d+)\.\d+", images["kafka"]), images["kafka"]
    assert images["prometheus"].startswith("prom/prometheus:")
    assert images["grafana"].startswith("grafana/grafana-oss:")
    for name, image in images.items():
        assert ":" in image and not image.endswith(":latest"), f"{name}: pin the image tag ({image})"


@pytest.mark.parametrize("name", sorted(cargoguard_services()))
def test_compose_cargoguard_service_runs_a_real_command_with_real_settings(name):
    service = cargoguard_services()[name]
    assert_real_command(command_of(service))
    assert_real_settings(environment_of(service), f"docker-compose {name}")
    assert_real_settings(container_environment(service), f"docker-compose {name} with the image's ENV")


def test_compose_kafka_is_a_single_kraft_node_the_services_can_reach():
    kafka = services()["kafka"]
    env = environment_of(kafka)
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    # KRaft formats storage with CLUSTER_ID, which must be a base64url UUID.
    assert len(base64.urlsafe_b64decode(env["CLUSTER_ID"] + "==")) == 16
    # The log directory must be the mounted volume, not the image's /tmp default.
    assert env["KAFKA_LOG_DIRS"] in mounts_of(kafka)
    assert mounts_of(kafka)[env["KAFKA_LOG_DIRS"]] in compose()["volumes"]
    advertised = dict(reversed(listener.split("://")) for listener in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    listener_names = {listener.split("://")[0] for listener in env["KAFKA_LISTENERS"].split(",")}
    assert set(advertised.values()) <= listener_names
    for name, service in cargoguard_services().items():
        broker = container_environment(service)["CARGOGUARD_BROKER"]
        assert broker in advertised, f"{name}: {broker} is not an address Kafka advertises ({sorted(advertised)})"
    # A host client connects to the advertised localhost port: it must lead to that listener.
    published = dict(str(port).rsplit(":", 1) for port in kafka.get("ports", []))
    listener_ports = {listener.split("://")[0]: listener.rsplit(":", 1)[1]
                      for listener in env["KAFKA_LISTENERS"].split(",")}
    for address, name in advertised.items():
        host, port = address.rsplit(":", 1)
        if host == "localhost":
            assert published.get(port) == listener_ports[name], f"{address} does not reach listener {name}"
    test = kafka["healthcheck"]["test"]
    assert test[0] == "CMD" and test[1] == "/opt/kafka/bin/kafka-topics.sh" and "--list" in test
    assert test[test.index("--bootstrap-server") + 1] in advertised


def test_compose_topics_run_once_kafka_is_healthy_and_workers_after_them():
    assert command_of(services()["topics"]) == ["topics", "create"]
    assert services()["topics"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    workers = worker_services()
    assert len(workers) >= 2, "two workers show the scale-out"
    for name, worker in workers.items():
        assert worker["depends_on"]["topics"]["condition"] == "service_completed_successfully", name


def test_compose_workers_share_a_group_and_each_keeps_its_own_state():
    workers = worker_services()
    settings = {name: settings_of(name, w) for name, w in workers.items()}
    # One consumer group, or the workers would each read every partition.
    assert len({s.app_id for s in settings.values()}) == 1
    state_volumes = []
    for name, worker in workers.items():
        data_dir = str(settings[name].data_dir)
        volume = mounts_of(worker).get(data_dir)
        assert volume, f"{name}: nothing mounted at its data dir {data_dir}"
        assert volume in compose()["volumes"], f"{name}: {volume} is not a named volume"
        state_volumes.append(volume)
        # Bound to loopback, the worker could be neither scraped nor published.
        assert settings[name].web_host == "0.0.0.0", name
        # ... so each tells the other where it answers (the control room passes requests on).
        assert settings[name].web_url == f"http://{name}:{settings[name].web_port}", name
    assert len(set(state_volumes)) == len(state_volumes), "workers must not share a RocksDB directory"


def test_prometheus_scrapes_every_worker_on_its_web_port():
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    (job,) = config["scrape_configs"]
    assert job.get("metrics_path", "/metrics") == "/metrics"
    targets = [target for static in job["static_configs"] for target in static["targets"]]
    expected = [f"{name}:{settings_of(name, w).web_port}" for name, w in worker_services().items()]
    assert sorted(targets) == sorted(expected)


def test_prometheus_container_finds_its_config_and_rules():
    prometheus = services()["prometheus"]
    mounts = {target: source for target, source in mounts_of(prometheus).items() if source.startswith(".")}

    def host_path(container_path):
        for target, source in mounts.items():
            if container_path.startswith(target + "/"):
                return REPO / source / container_path.removeprefix(target + "/")
        raise AssertionError(f"prometheus: {container_path} is not in a mounted directory")

    (config_flag,) = [arg for arg in command_of(prometheus) if arg.startswith("--config.file=")]
    assert host_path(config_flag.split("=", 1)[1]) == PROMETHEUS_CONFIG
    rule_files = yaml.safe_load(PROMETHEUS_CONFIG.read_text())["rule_files"]
    assert [host_path(path) for path in rule_files] == [ALERTS]


def test_grafana_provisions_the_datasource_and_dashboard_it_mounts():
    grafana = services()["grafana"]
    mounts = {target: REPO / source for target, source in mounts_of(grafana).items()}
    provisioning = mounts["/etc/grafana/provisioning"]
    (provider,) = yaml.safe_load((provisioning / "dashboards/cargoguard.yml").read_text())["providers"]
    assert (mounts[provider["options"]["path"]] / DASHBOARD.name).samefile(DASHBOARD)
    (datasource,) = yaml.safe_load((provisioning / "datasources/prometheus.yml").read_text())["datasources"]
    host, port = datasource["url"].removeprefix("http://").split(":")
    assert host in services() and services()[host]["image"].startswith("prom/prometheus:")
    assert any(str(p).endswith(f":{port}") for p in services()[host]["ports"])
    used = {panel["datasource"]["uid"] for panel in dashboard()["panels"]}
    used |= {target["datasource"]["uid"] for _, target in dashboard_targets() if "datasource" in target}
    used |= {var["datasource"]["uid"] for var in dashboard()["templating"]["list"] if "datasource" in var}
    assert used == {datasource["uid"]}


# --- Dockerfile ------------------------------------------------------------------


def test_dockerfile_runs_the_cargoguard_worker_as_non_root():
    bases = {rest.split()[0] for keyword, rest in dockerfile_instructions() if keyword == "FROM"}
    assert bases == {"python:3.11-slim"}
    assert dockerfile_json("ENTRYPOINT") == ["cargoguard"]
    assert "cargoguard" in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert_real_command(dockerfile_json("CMD"))
    (user,) = dockerfile_values("USER")
    uid = user.split(":")[0]
    # Numeric, so Kubernetes' runAsNonRoot can verify it.
    assert uid.isdigit() and int(uid) > 0


def test_dockerfile_settings_volume_and_port_agree():
    settings = assert_real_settings(dockerfile_env(), "Dockerfile ENV")
    assert settings.web_host == "0.0.0.0"
    assert dockerfile_values("VOLUME") == [str(settings.data_dir)]
    assert dockerfile_values("EXPOSE") == [str(settings.web_port)]


def test_dockerfile_copies_everything_the_package_build_needs():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    needed = {"pyproject.toml", project["project"]["readme"]}
    needed |= {pattern.rstrip("*.") for pattern in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = set()
    for keyword, rest in dockerfile_instructions():
        if keyword == "COPY" and "--from" not in rest:
            sources = [token for token in shlex.split(rest) if not token.startswith("--")][:-1]
            copied |= set(sources)
    assert needed <= copied, f"the image build misses {sorted(needed - copied)}"
    for source in copied:
        assert (REPO / source).exists(), source
    ignored = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    for source in copied:
        assert not any(fnmatch.fnmatch(source, pattern) for pattern in ignored), f".dockerignore drops {source}"
    # A local settings file may hold Kafka passwords: keep it out of the build context.
    assert any(fnmatch.fnmatch("cargoguard.env", pattern) for pattern in ignored)
    assert {".git", ".venv"} <= set(ignored)


class _HealthServer(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):
        self.send_response(self.status if self.path == "/health" else 404)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False)])
def test_dockerfile_healthcheck_asks_health_on_the_web_port(status, healthy):
    command = healthcheck_command()
    assert command[0] == "python"  # slim has no curl
    assert f"'{Settings.model_fields['web_port'].default}'" in command[-1], "default port"
    handler = type("Handler", (_HealthServer,), {"status": status})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = {"CARGOGUARD_WEB_PORT": str(server.server_address[1])}
        result = subprocess.run([sys.executable, *command[1:]], env=env, capture_output=True, timeout=30)
    finally:
        server.shutdown()
        server.server_close()
    assert (result.returncode == 0) == healthy, result.stderr


# --- every file --------------------------------------------------------------------


def test_every_cargoguard_variable_named_anywhere_is_a_setting():
    files = [REPO / "Dockerfile", REPO / "docker-compose.yml", DEPLOY / "README.md",
             *sorted((DEPLOY / "kubernetes").glob("*.y*ml"))]
    for path in files:
        for name in set(CARGOGUARD_VARIABLE.findall(path.read_text())) - NON_FIELD_VARIABLES:
            field = name.removeprefix("CARGOGUARD_").lower()
            assert field in Settings.model_fields, f"{path.relative_to(REPO)}: {name} is not a setting"


# --- alert rules and dashboard ------------------------------------------------------


def test_alert_rules_cover_the_operational_failures():
    rules = alert_rules()
    used = {name: metrics_in(rule["expr"]) for name, rule in rules.items()}
    assert {"up"} <= used["CargoguardWorkerDown"]
    assert "cargoguard_dead_letters_total" in used["CargoguardDeadLettersRising"]
    assert "cargoguard_processing_errors_total" in used["CargoguardProcessingErrors"]
    assert "cargoguard_stream_time_lag_seconds" in used["CargoguardStreamTimeLagging"]
    assert "> 300" in rules["CargoguardStreamTimeLagging"]["expr"]
    assert rules["CargoguardStreamTimeLagging"]["for"] == "5m"
    assert "cargoguard_partition_stuck" in used["CargoguardPartitionStuck"]
    assert {"cargoguard_events_total", "up"} <= used["CargoguardNoInput"]
    assert "cargoguard_feed_last_event_seconds" in used["CargoguardFeedSilent"]
    assert "> 600" in rules["CargoguardFeedSilent"]["expr"]
    for rule in rules.values():
        assert rule["labels"]["severity"] in {"page", "ticket"}
        assert rule["annotations"]["summary"]


@pytest.mark.parametrize("name", sorted(alert_rules()))
def test_alert_rule_names_real_metrics_labels_and_job(name):
    rule = alert_rules()[name]
    expr = rule["expr"]
    assert_metrics_and_labels_exist(expr, f"alert {name}")
    for text in rule.get("annotations", {}).values():
        templated = set(re.findall(r"\$labels\.(\w+)", text))
        assert templated <= output_labels(expr), f"alert {name}: {templated - output_labels(expr)} not in result"
    job_name = yaml.safe_load(PROMETHEUS_CONFIG.read_text())["scrape_configs"][0]["job_name"]
    assert set(re.findall(r'job="([^"]*)"', expr)) <= {job_name}


def test_dashboard_shows_what_the_control_room_ops_need():
    exprs = " ".join(target["expr"] for _, target in dashboard_targets())
    for metric in ("cargoguard_events_total", "cargoguard_alerts_total", "cargoguard_dead_letters_total",
                   "cargoguard_step_seconds_bucket", "cargoguard_stream_time_lag_seconds",
                   "cargoguard_pending_timers", "cargoguard_processing_errors_total",
                   "cargoguard_partition_stuck", "cargoguard_consumer_lag",
                   "cargoguard_feed_last_event_seconds", "cargoguard_feed_newest_event_time_seconds"):
        assert metric in metrics_in(exprs), f"the dashboard shows no {metric}"
    step_quantiles = {re.search(r"histogram_quantile\(([\d.]+)", target["expr"]).group(1)
                      for _, target in dashboard_targets() if "cargoguard_step_seconds_bucket" in target["expr"]}
    assert {"0.5", "0.95", "0.99"} <= step_quantiles
    assert "sum by (rule_id, severity)" in exprs
    ids = [panel["id"] for panel in dashboard()["panels"]]
    assert len(ids) == len(set(ids)), "Grafana needs unique panel ids"


def test_dashboard_queries_name_real_metrics_labels_and_variables():
    variables = {f"${var['name']}" for var in dashboard()["templating"]["list"]}
    job_name = yaml.safe_load(PROMETHEUS_CONFIG.read_text())["scrape_configs"][0]["job_name"]
    for panel, target in dashboard_targets():
        where = f"panel {panel['title']!r} {target['refId']}"
        expr = target["expr"]
        assert_metrics_and_labels_exist(expr, where)
        unknown = set(re.findall(r"\$\w+", expr)) - variables - set(GRAFANA_BUILTINS)
        assert not unknown, f"{where}: undefined variables {unknown}"
        legend = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", target.get("legendFormat", "")))
        assert legend <= output_labels(expr), f"{where}: legend labels {legend - output_labels(expr)} not in result"
        assert set(re.findall(r'job="([^"]*)"', expr)) <= {job_name}, where


# --- Kubernetes ------------------------------------------------------------------


def test_kubernetes_objects_are_all_there_in_one_namespace():
    kinds = [d["kind"] for d in kubernetes_documents()]
    assert {"Namespace", "ConfigMap", "Job", "Service", "StatefulSet"} <= set(kinds)
    namespace = kubernetes_object("Namespace")["metadata"]["name"]
    for document in kubernetes_documents():
        if document["kind"] != "Namespace":
            assert document["metadata"]["namespace"] == namespace, document["metadata"]["name"]


def test_kubernetes_config_map_holds_real_settings():
    settings = assert_real_settings(kubernetes_config(), "Kubernetes ConfigMap")
    assert settings.web_host == "0.0.0.0"
    assert_real_settings({**dockerfile_env(), **kubernetes_config()}, "ConfigMap over the image's ENV")
    # Passwords belong in a Secret, not a ConfigMap.
    assert "CARGOGUARD_SASL_PASSWORD" not in kubernetes_config()


@pytest.mark.parametrize("kind", ["Job", "StatefulSet"])
def test_kubernetes_pods_run_real_commands_with_the_settings_as_the_image_user(kind):
    pod = kubernetes_object(kind)["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert_real_command(container.get("args", dockerfile_json("CMD")))
    config_maps = [ref["configMapRef"]["name"] for ref in container["envFrom"] if "configMapRef" in ref]
    assert config_maps == [kubernetes_object("ConfigMap")["metadata"]["name"]]
    # Kafka credentials are optional; the workers' session secret is required (every worker signs
    # sessions with the same one), and the manifest's comment says how to make it.
    required = [ref["secretRef"]["name"] for ref in container["envFrom"]
                if "secretRef" in ref and not ref["secretRef"].get("optional")]
    assert required == (["cargoguard-web"] if kind == "StatefulSet" else [])
    assert "create secret generic cargoguard-web" in (REPO / "deploy/kubernetes/cargoguard.yaml").read_text()
    # Service links would inject CARGOGUARD_*-named variables for a Service called cargoguard-*.
    assert pod["enableServiceLinks"] is False
    uid = int(dockerfile_values("USER")[0].split(":")[0])
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == uid


def test_kubernetes_workers_probe_ready_and_health_and_keep_state_on_a_volume():
    statefulset = kubernetes_object("StatefulSet")
    pod = statefulset["spec"]["template"]["spec"]
    (worker,) = pod["containers"]
    assert worker.get("args") == ["worker"]
    settings = assert_real_settings({**dockerfile_env(), **kubernetes_config()}, "worker environment")
    ports = {port["name"]: port["containerPort"] for port in worker["ports"]}
    # Each pod tells the group where the other workers reach it: its own address.
    env = {item["name"]: item for item in worker["env"]}
    assert env["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    assert env["CARGOGUARD_WEB_URL"]["value"] == f"http://$(POD_IP):{ports['web']}"

    def probe_port(probe):
        port = probe["httpGet"]["port"]
        return ports[port] if isinstance(port, str) else port

    assert worker["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert worker["livenessProbe"]["httpGet"]["path"] == "/health"
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        if probe in worker:
            assert probe_port(worker[probe]) == settings.web_port, probe
    annotations = statefulset["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(settings.web_port)
    (claim,) = statefulset["spec"]["volumeClaimTemplates"]
    mounts = {mount["name"]: mount["mountPath"] for mount in worker["volumeMounts"]}
    assert mounts[claim["metadata"]["name"]] == str(settings.data_dir)
    # fsGroup makes the claimed volume writable by the image's non-root user.
    assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsUser"]


def test_kubernetes_headless_service_and_selectors_match_the_workers():
    statefulset = kubernetes_object("StatefulSet")
    service = kubernetes_object("Service")
    pod_labels = statefulset["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["clusterIP"] == "None"
    assert statefulset["spec"]["serviceName"] == service["metadata"]["name"]
    for document in kubernetes_documents():
        selector = document.get("spec", {}).get("selector")
        if selector:
            match = selector.get("matchLabels", selector)
            assert match.items() <= pod_labels.items(), document["metadata"]["name"]


# --- promtool --------------------------------------------------------------------


@needs_promtool
def test_promtool_accepts_the_config_and_the_rules(tmp_path):
    run_promtool("check", "rules", ALERTS)
    # The config names the rules file at its path in the container; check a copy pointing here.
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    config["rule_files"] = [str(ALERTS)]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    run_promtool("check", "config", tmp_path / "prometheus.yml")


@needs_promtool
def test_promtool_parses_every_dashboard_query(tmp_path):
    # promtool has no offline query check, but it parses recording rules:
    # each dashboard query, with Grafana's variables filled in, becomes one.
    fill = {**GRAFANA_BUILTINS, **{f"${var['name']}": var.get("allValue", ".*")
                                   for var in dashboard()["templating"]["list"]}}
    rules = []
    for panel, target in dashboard_targets():
        expr = target["expr"]
        for variable in sorted(fill, key=len, reverse=True):
            expr = expr.replace(variable, fill[variable])
        rules.append({"record": f"dashboard:panel_{panel['id']}:{target['refId']}", "expr": expr})
    (tmp_path / "dashboard_rules.yml").write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    run_promtool("check", "rules", tmp_path / "dashboard_rules.yml")


WORKER = {"job": "cargoguard", "instance": "worker-1:6066"}
OTHER_WORKER = "worker-2:6066"
# The router labels each feed's metrics with these (its schema's name), not the topic name.
DECLARATION, MANIFEST, GATE_EVENT = (INPUT_FEEDS[key] for key in ("declarations", "manifests", "gate_events"))


def series(name, values, **labels):
    selector = ", ".join(f'{key}="{value}"' for key, value in {**WORKER, **labels}.items())
    return {"series": f"{name}{{{selector}}}", "values": values}


def alert_test(name, eval_time, *firing):
    return {"alertname": name, "eval_time": eval_time, "exp_alerts": list(firing)}


@needs_promtool
def test_promtool_alerts_fire_when_they_should_and_only_then(tmp_path):
    lag_labels = {"instance": WORKER["instance"], "subject_kind": "shipment", "partition": "2"}
    stuck_labels = {"instance": WORKER["instance"], "topic": "cargo.gate-events", "partition": "1"}
    tests = [
        {   # A worker stops answering scrapes; it dead-letters and fails a bit first; one partition's time stalls.
            "interval": "1m",
            "input_series": [
                series("up", "1 1 0x10"),
                series("cargoguard_dead_letters_total", "0x2 1x20", feed=DECLARATION, kind="UNDECODABLE"),
                series("cargoguard_processing_errors_total", "0x2 1x20", stage="router"),
                series("cargoguard_stream_time_lag_seconds", "400x10", subject_kind="shipment", partition="2"),
                series("cargoguard_stream_time_lag_seconds", "100x10", subject_kind="shipment", partition="0"),
                series("cargoguard_stream_time_lag_seconds", "100x10", subject_kind="importer", partition="2"),
                series("cargoguard_partition_stuck", "0x2 1x10", topic="cargo.gate-events", partition="1"),
                series("cargoguard_partition_stuck", "0x12", topic="cargo.gate-events", partition="0"),
            ],
            "alert_rule_test": [
                alert_test("CargoguardWorkerDown", "3m"),  # down for 1 of the 2 minutes
                alert_test("CargoguardWorkerDown", "5m", expected_alert("CargoguardWorkerDown", **WORKER)),
                alert_test("CargoguardDeadLettersRising", "2m"),
                alert_test("CargoguardDeadLettersRising", "5m", expected_alert(
                    "CargoguardDeadLettersRising", feed=DECLARATION, kind="UNDECODABLE")),
                alert_test("CargoguardDeadLettersRising", "20m"),  # ten quiet minutes resolve it
                alert_test("CargoguardProcessingErrors", "5m",
                           expected_alert("CargoguardProcessingErrors", stage="router")),
                alert_test("CargoguardProcessingErrors", "20m"),
                alert_test("CargoguardStreamTimeLagging", "4m"),
                alert_test("CargoguardStreamTimeLagging", "6m",
                           expected_alert("CargoguardStreamTimeLagging", **lag_labels)),
                alert_test("CargoguardPartitionStuck", "4m"),  # stuck for 1 of the 2 minutes
                alert_test("CargoguardPartitionStuck", "6m",
                           expected_alert("CargoguardPartitionStuck", **stuck_labels)),
            ],
        },
        {   # Events flow for ten minutes, then stop.
            "interval": "1m",
            "input_series": [series("up", "1x40"),
                             series("cargoguard_events_total", "0+10x10 100x30", feed=DECLARATION)],
            "alert_rule_test": [alert_test("CargoguardNoInput", "12m"),
                                alert_test("CargoguardNoInput", "21m", expected_alert("CargoguardNoInput"))],
        },
        {   # A worker that never received an event exports no cargoguard_events_total at all.
            "interval": "1m",
            "input_series": [series("up", "1x20")],
            "alert_rule_test": [alert_test("CargoguardNoInput", "11m", expected_alert("CargoguardNoInput"))],
        },
        {   # Every worker down: that is CargoguardWorkerDown's page, not a quiet feed.
            "interval": "1m",
            "input_series": [series("up", "0x20")],
            "alert_rule_test": [alert_test("CargoguardNoInput", "15m")],
        },
        {   # The gate OCR stops at 5m (worker-2's gate partitions at 3m); worker-1 restarts at 8m and
            # exports no gate series after; declarations and manifests flow on.
            "interval": "1m",
            "input_series": [
                series("cargoguard_feed_last_event_seconds", "0+60x30", feed=DECLARATION),
                series("cargoguard_feed_last_event_seconds", "0+60x5 300x2 _x22", feed=GATE_EVENT),
                series("cargoguard_feed_last_event_seconds", "0+60x30", feed=MANIFEST, instance=OTHER_WORKER),
                series("cargoguard_feed_last_event_seconds", "0+60x3 180x27", feed=GATE_EVENT, instance=OTHER_WORKER),
            ],
            "alert_rule_test": [
                alert_test("CargoguardFeedSilent", "15m"),  # exactly 10 minutes since the newest gate event
                alert_test("CargoguardFeedSilent", "16m", expected_alert("CargoguardFeedSilent", feed=GATE_EVENT)),
                alert_test("CargoguardFeedSilent", "30m", expected_alert("CargoguardFeedSilent", feed=GATE_EVENT)),
            ],
        },
        {   # Every feed flows, though worker-1's gate partitions went quiet at 5m: worker-2 routes gate events.
            "interval": "1m",
            "input_series": [
                series("cargoguard_feed_last_event_seconds", "0+60x30", feed=DECLARATION),
                series("cargoguard_feed_last_event_seconds", "0+60x30", feed=MANIFEST),
                series("cargoguard_feed_last_event_seconds", "0+60x5 300x25", feed=GATE_EVENT),
                series("cargoguard_feed_last_event_seconds", "0+60x30", feed=GATE_EVENT, instance=OTHER_WORKER),
            ],
            "alert_rule_test": [alert_test("CargoguardFeedSilent", "20m"), alert_test("CargoguardFeedSilent", "30m")],
        },
        {   # SEAL_BROKEN's alerts are mostly refuted by 25 inspections; UNDERVALUATION's too, but by only 5;
            # WATCHLIST_HIT stays over its floor.
            "interval": "5m",
            "input_series": [
                *[series("cargoguard_rule_precision_floor", "0.3x30", rule_id=rule)
                  for rule in ("SEAL_BROKEN", "UNDERVALUATION", "WATCHLIST_HIT")],
                series("cargoguard_rule_precision_30d", "0.1x30", rule_id="SEAL_BROKEN"),
                series("cargoguard_rule_inspected_30d", "25x30", rule_id="SEAL_BROKEN"),
                series("cargoguard_rule_precision_30d", "0.1x30", rule_id="UNDERVALUATION"),
                series("cargoguard_rule_inspected_30d", "5x30", rule_id="UNDERVALUATION"),
                series("cargoguard_rule_precision_30d", "0.5x30", rule_id="WATCHLIST_HIT"),
                series("cargoguard_rule_inspected_30d", "40x30", rule_id="WATCHLIST_HIT"),
            ],
            "alert_rule_test": [
                alert_test("CargoguardRulePrecisionLow", "55m"),
                alert_test("CargoguardRulePrecisionLow", "65m",
                           expected_alert("CargoguardRulePrecisionLow", rule_id="SEAL_BROKEN")),
            ],
        },
        {   # Every feed stops at 5m: CargoguardNoInput's ticket, not one per feed.
            "interval": "1m",
            "input_series": [
                series("up", "1x30"),
                series("cargoguard_events_total", "0+10x5 50x25", feed=DECLARATION),
                *[series("cargoguard_feed_last_event_seconds", "0+60x5 300x25", feed=feed)
                  for feed in (DECLARATION, MANIFEST, GATE_EVENT)],
            ],
            "alert_rule_test": [alert_test("CargoguardFeedSilent", "16m"), alert_test("CargoguardFeedSilent", "25m"),
                                alert_test("CargoguardNoInput", "25m", expected_alert("CargoguardNoInput"))],
        },
    ]
    spec = {"rule_files": [str(ALERTS)], "evaluation_interval": "1m", "tests": tests}
    (tmp_path / "alerts_test.yml").write_text(yaml.safe_dump(spec, sort_keys=False))
    run_promtool("test", "rules", tmp_path / "alerts_test.yml")
