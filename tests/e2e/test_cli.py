"""The command line against the embedded broker, as a user types it."""

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from streams.kafka.embedded_broker import free_port, port_is_open
from streams.runtime.metrics import scrape_totals
from tests.builders import declaration, gate_event, next_id
from tests.conftest import REPO
from tests.web_client import ControlRoomClient

pytestmark = pytest.mark.e2e


def cargoguard(*args, settings=None, timeout=120):
    env = {**os.environ, **(settings.as_env() if settings else {})}
    return subprocess.run([sys.executable, "-m", "streams", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def processes_mentioning(text):
    """Pids of processes whose command line contains ``text``."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if text in (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    found.append(int(proc.name))
            except OSError:
                continue
    return found


def test_up_demo_runs_everything_and_ctrl_c_stops_everything(tmp_path):
    broker_port, web_port = free_port(), free_port()
    env = {**os.environ, "CARGOGUARD_BROKER": f"127.0.0.1:{broker_port}",
           "CARGOGUARD_WEB_PORT": str(web_port), "CARGOGUARD_DATA_DIR": str(tmp_path / "state"),
           "COLUMNS": "160"}
    up = subprocess.Popen([sys.executable, "-m", "streams", "up", "--demo", "--rate", "100"], cwd=REPO,
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = up.stdout.readline()
            assert line, "cargoguard up exited:\n" + "".join(lines)
            lines.append(line)
            if "Ctrl-C stops everything" in line:
                break
        output = "".join(lines)
        assert f"127.0.0.1:{broker_port}" in output
        assert f"http://127.0.0.1:{web_port}/control-room/" in output
        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/ready") as response:
            assert response.status == 200
        (password,) = re.findall(r"sign in as supervisor with the one-time password (\S+)", output)
        client = ControlRoomClient(f"http://127.0.0.1:{web_port}")
        assert client.get_json("/control-room/api/alerts")[0] == 401
        assert client.sign_in("supervisor", password) == 303
        assert client.get_json("/control-room/api/alerts")[0] == 200
        deadline = time.monotonic() + 60
        routed = 0.0
        metrics_url = f"http://127.0.0.1:{web_port}/metrics"
        while routed == 0.0 and time.monotonic() < deadline:
            routed = scrape_totals(metrics_url, ["cargoguard_events_total"])["cargoguard_events_total"]
            time.sleep(0.5)
        assert routed > 0, "the demo traffic never reached the worker"
        assert processes_mentioning(f"tcp://127.0.0.1:{broker_port}")
    finally:
        up.send_signal(signal.SIGINT)
        code = up.wait(timeout=60)
    assert code == 0, up.stdout.read()
    time.sleep(1)
    assert not port_is_open("127.0.0.1", broker_port), "the broker still listens"
    assert not port_is_open("127.0.0.1", web_port), "the worker still listens"
    assert processes_mentioning(f"tcp://127.0.0.1:{broker_port}") == []


def test_topics_create_is_idempotent(deployment):
    settings = deployment().settings.model_copy(update={"topic_prefix": f"t{next_id('x').lower()}."})
    first = cargoguard("topics", "create", settings=settings)
    assert first.returncode == 0, first.stderr
    assert f"created  {settings.topic_prefix}declarations" in first.stdout
    second = cargoguard("topics", "create", settings=settings)
    assert f"exists   {settings.topic_prefix}alerts" in second.stdout
    assert "created" not in second.stdout


def test_alerts_command_prints_json_lines_and_filters(deployment):
    deployed = deployment()
    deployed.start_worker()
    doc = next_id("BL")
    deployed.publish([("declaration", declaration(transport_doc_no=doc)),
                      ("gate_event", gate_event("IN", transport_doc_no=doc, seal_intact=False))])
    deployed.read_topic("alerts", "alert", until=lambda seen: len(seen) >= 1, timeout_s=60)
    shown = cargoguard("alerts", "--json", "--from-beginning", "--timeout", "3", settings=deployed.settings)
    assert shown.returncode == 0, shown.stderr
    (alert,) = [json.loads(line) for line in shown.stdout.splitlines()]
    assert (alert["rule_id"], alert["subject_id"], alert["severity"]) == ("SEAL_BROKEN", doc, "HIGH")
    assert alert["event_time"].endswith("Z")
    filtered = cargoguard("alerts", "--json", "--from-beginning", "--timeout", "3", "--severity", "critical",
                          settings=deployed.settings)
    assert filtered.stdout == ""
    other_office = cargoguard("alerts", "--json", "--from-beginning", "--timeout", "3", "--office", "XX",
                              settings=deployed.settings)
    assert other_office.stdout == ""


def test_replay_names_the_bad_line_and_field_without_a_traceback(deployment, tmp_path):
    deployed = deployment()
    good = json.dumps({"kind": "gate_event", "event_id": "g1", "event_time": "2026-01-05T00:00:00Z",
                       "office_code": "O", "gate_id": "G", "direction": "IN", "vehicle_plate": "P",
                       "scan_result": "CLEAR"})
    bad = good.replace('"IN"', '"SIDEWAYS"').replace("g1", "g2")
    path = tmp_path / "events.jsonl"
    path.write_text(good + "\n" + bad + "\n")
    result = cargoguard("replay", str(path), settings=deployed.settings)
    assert result.returncode == 1
    assert f"error: {path}:2: gate_event direction: 'SIDEWAYS' is not one of IN, OUT" in result.stderr
    assert "Traceback" not in result.stderr
    skipped = cargoguard("replay", "--skip-invalid", str(path), settings=deployed.settings)
    assert skipped.returncode == 0
    assert "published 1 events" in skipped.stdout and "skipped 1 bad lines" in skipped.stdout


def test_users_are_added_listed_given_a_new_password_and_removed(deployment):
    deployed = deployment()

    def users(*args, stdin=None):
        env = {**os.environ, **deployed.settings.as_env()}
        return subprocess.run([sys.executable, "-m", "streams", "users", *args], cwd=REPO, env=env, input=stdin,
                              capture_output=True, text=True, timeout=60)

    added = users("add", "ana", "--role", "officer", "--office", "vnhph01", "--password-stdin",
                  stdin="correct horse battery\n")
    assert added.returncode == 0 and "added ana (officer, VNHPH01)" in added.stdout, added.stderr
    assert "needs at least one --office" in users("add", "bob", "--role", "officer", "--password-stdin",
                                                  stdin="x" * 12).stderr
    assert "at least 10 characters" in users("add", "bob", "--role", "viewer", "--password-stdin",
                                             stdin="short\n").stderr
    assert "exists" in users("add", "ana", "--role", "viewer", "--password-stdin", stdin="x" * 12).stderr
    generated = users("add", "sam", "--role", "supervisor", "--generate")
    assert "one-time password: " in generated.stdout
    listed = users("list", "--json")
    assert [json.loads(line) for line in listed.stdout.splitlines()] == [
        {"offices": ["VNHPH01"], "role": "OFFICER", "username": "ana"},
        {"offices": [], "role": "SUPERVISOR", "username": "sam"}]
    assert "argon2" not in listed.stdout and "correct horse" not in listed.stdout
    assert users("passwd", "ana", "--password-stdin", stdin="another good one\n").returncode == 0
    assert users("remove", "ana").returncode == 0
    assert "no user 'ana'" in users("remove", "ana").stderr
    assert [json.loads(line)["username"] for line in users("list", "--json").stdout.splitlines()] == ["sam"]


def test_outcomes_import_publishes_one_result_per_labelled_kcs_row(deployment, tmp_path):
    deployed = deployment()
    header = ("Declaration ID,Date,Office ID,Process Type,Import Type,Import Use,Payment Type,Mode of Transport,"
              "Declarant ID,Importer ID,Seller ID,Courier ID,HS6 Code,Country of Departure,Country of Origin,"
              "Tax Rate,Tax Type,Country of Origin Indicator,Net Mass,Item Price,Fraud,Critical Fraud")
    rows = ["41256141,2021-04-01,40,B,11,21,11,40,LPA7LKZ,Y3OM027,FQKH1PD,,420231,IT,RO,8.0,A,G,1.0,1248.7,0,0",
            "41256142,2021-04-01,40,B,11,21,11,40,LPA7LKZ,Y3OM027,FQKH1PD,,420231,IT,RO,8.0,A,G,1.0,99.0,1,0",
            "41256143,2021-04-02,30,B,11,21,11,40,LPA7LKZ,Y3OM027,FQKH1PD,,420231,IT,RO,8.0,A,G,1.0,99.0,1,1"]
    path = tmp_path / "labelled.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    imported = cargoguard("outcomes", "import", str(path), "--mapping", "kcs", settings=deployed.settings)
    assert imported.returncode == 0, imported.stderr
    assert "published 3 outcomes: 2 infractions, 1 without" in imported.stdout
    results = deployed.read_all("inspection_results", "inspection_result")
    assert sorted((r["declaration_id"], r["result"], r["infraction_kind"], r["source"]) for r in results) == [
        ("41256141", "NO_INFRACTION", None, "import:kcs"), ("41256142", "INFRACTION", "FRAUD", "import:kcs"),
        ("41256143", "INFRACTION", "CRITICAL_FRAUD", "import:kcs")]


def test_capacities_are_set_shown_and_reset(deployment):
    deployed = deployment(lane_capacity={"VNHPH01": (2, 4)}, default_lane_capacity=(20, 40))

    def capacity(*args):
        return cargoguard("capacity", *args, settings=deployed.settings, timeout=60)

    def shown():
        listed = capacity("show", "--json")
        assert listed.returncode == 0, listed.stderr
        return {r["office_code"]: (r["red"], r["yellow"], r["window_seconds"])
                for r in map(json.loads, listed.stdout.splitlines())}

    assert shown() == {"VNHPH01": (2, 4, 3600.0), "*": (20, 40, 3600.0)}
    changed = capacity("set", "VNHPH01", "--red", "0", "--yellow", "1", "--window-hours", "8", "--by", "chief")
    assert changed.returncode == 0 and "office VNHPH01: red 0, yellow 1 per 8 h" in changed.stdout, changed.stderr
    assert capacity("set", "*", "--red", "5", "--yellow", "6").returncode == 0
    assert shown() == {"VNHPH01": (0, 1, 28800.0), "*": (5, 6, 3600.0)}
    refused = capacity("set", "VNSGN01", "--red", "-1", "--yellow", "0")
    assert refused.returncode != 0 and "-1" in refused.stderr
    assert capacity("reset", "VNHPH01").returncode == 0
    assert shown() == {"VNHPH01": (2, 4, 3600.0), "*": (5, 6, 3600.0)}
    assert "has no run-time capacity" in capacity("reset", "VNHPH01").stderr
