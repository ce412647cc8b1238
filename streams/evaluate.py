"""``cargoguard evaluate``: replay a labelled file through the full pipeline and score the alerts.

A fresh embedded broker, fresh topics and one worker, as in the benchmark.
The file is replayed at full speed with a progress bar; each event's publish
time is noted. After the replay the worker is given time for the decisions
that wait for stream time: once every input partition is idle, stream time
follows the wall clock, so waiting the idle delay plus the longest wait of
the rules (the exit rule's feed skew) decides every exit of the file's tail.
Then alerts are read until none has come for a quiet period.

Latency is the time from publishing an alert's newest trigger event to
reading the alert back, for a file published at full speed: it includes the
backlog the worker works through, so it is an upper bound of live latency.
Exit and transit decisions wait for stream time by design and are reported
apart. The scoring itself is ``streams.evaluation``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from agents.rules.config import load_rule_book
from agents.rules.exit_without_clearance import RULE_ID as EXIT_RULE
from agents.rules.exit_without_clearance import skew_ms
from agents.rules.transit import OVERDUE
from streams.bench import AlertClock
from streams.broker import EmbeddedBroker, free_port
from streams.errors import UserError
from streams.evaluation import LatencySample, Quality, alerted_findings, latencies, percentile, score
from streams.publish import EventPublisher
from streams.replay import JsonEvent, read_events, replay
from streams.settings import Settings
from streams.supervisor import cargoguard_command, stop_process, wait_until_ready
from streams.topics import create_topics

# Rules whose decisions wait for stream time, by design: their delays are reported apart.
WAITING_RULES = (EXIT_RULE, OVERDUE)
# The worker under evaluation lets an input partition go idle this soon, so the
# decisions of the file's tail come a few seconds after the replay, not minutes.
IDLE_AFTER_S = 1.0
# After those decisions: no new alert for this long and the run is over.
QUIET_S = 3.0
POLL_S = 0.2


@dataclass(frozen=True, slots=True)
class Evaluation:
    """What one evaluation found."""

    events: int
    quality: Quality
    latency: LatencySample
    alerts: int


def planted_findings(path: Path) -> tuple[set[tuple[str, str, str]], int]:
    """The labels of a file (rule, subject type, subject id) and its number of events."""
    planted: set[tuple[str, str, str]] = set()
    events = 0
    for event in read_events([path]):
        events += 1
        if event.label:
            try:
                planted.add((event.label["pattern"], event.label["subject_type"], event.label["subject_id"]))
            except KeyError as exc:
                raise UserError(f"{event.where}: label without {exc.args[0]!r}") from exc
    return planted, events


def run_evaluation(settings: Settings, path: Path, timeout_s: float, console: Console) -> Evaluation:
    """Replay ``path`` through a fresh embedded broker and worker; score the alerts."""
    planted, events = planted_findings(path)
    if not planted:
        raise UserError(f"{path}: no labelled events; write one with `cargoguard simulate --out`")
    workdir = Path(tempfile.mkdtemp(prefix="cargoguard-evaluate-"))
    address = f"127.0.0.1:{free_port()}"
    run_settings = settings.model_copy(update={
        "broker": address, "app_id": f"evaluate-{uuid.uuid4().hex[:8]}", "data_dir": workdir / "data",
        "web_host": "127.0.0.1", "web_port": free_port(), "log_level": "warn", "schema_registry_url": None,
        "idle_partition_after_s": IDLE_AFTER_S,
    })
    published: dict[str, float] = {}

    def note(event: JsonEvent) -> None:
        published[event.record["event_id"]] = time.monotonic()

    try:
        with (workdir / "broker.log").open("wb") as broker_log, \
                EmbeddedBroker(address, settings.tansu_bin, log=broker_log):
            create_topics(run_settings)
            worker = subprocess.Popen(cargoguard_command("worker"), env={**os.environ, **run_settings.as_env()},
                                      stdout=(workdir / "worker.log").open("wb"), stderr=subprocess.STDOUT)
            try:
                wait_until_ready(f"http://{run_settings.web_host}:{run_settings.web_port}/ready", worker)
                clock = AlertClock(run_settings)
                clock.thread.start()
                publish_file(run_settings, path, console, note)
                wait_for_decisions(run_settings, clock, worker, timeout_s, console)
                clock.stop.set()
                clock.thread.join()
            finally:
                stop_process(worker)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    quality = score(planted, alerted_findings(clock.newest.values()))
    return Evaluation(events=events, quality=quality,
                      latency=latencies(clock.seen, published, WAITING_RULES), alerts=len(clock.newest))


def publish_file(settings: Settings, path: Path, console: Console, note: Callable[[JsonEvent], None]) -> None:
    """Replay the file at full speed; the producer is gone when this returns (no idle-connection noise)."""
    with EventPublisher(settings) as publisher:
        replay([path], publisher, console=console, on_published=note)


def wait_for_decisions(settings: Settings, clock: AlertClock, worker: subprocess.Popen[bytes],
                       timeout_s: float, console: Console) -> None:
    """Wait out the stream-time decisions of the file's tail, then until alerts stop coming."""
    started = time.monotonic()
    longest_wait_s = skew_ms(load_rule_book(settings.rules_file)) / 1000
    decided_at = started + settings.idle_partition_after_s + settings.progress_interval_s + longest_wait_s
    console.print(f"replayed; waiting {decided_at - started:.0f} s for the decisions that wait for stream time")
    while True:
        if worker.poll() is not None:
            raise UserError(f"the worker exited with {worker.returncode}")
        now = time.monotonic()
        if now - started > timeout_s:
            console.print(f"[yellow]stopped waiting after {timeout_s:.0f} s[/]")
            return
        if now >= decided_at and now - clock.last_read >= QUIET_S:
            return
        time.sleep(POLL_S)


def as_dict(evaluation: Evaluation) -> dict[str, Any]:
    """The evaluation as plain data (``--json``)."""
    def row(r: Any) -> dict[str, Any]:
        return {"rule_id": r.rule_id, "planted": r.planted, "caught": r.caught, "missed": r.missed,
                "false_alerts": r.false, "precision": r.precision, "recall": r.recall,
                "missed_subjects": list(r.missed_subjects), "false_subjects": list(r.false_subjects)}

    prompt, waiting = evaluation.latency.prompt_ms, evaluation.latency.waiting_ms
    return {
        "events": evaluation.events,
        "alerts": evaluation.alerts,
        "rules": [row(r) for r in evaluation.quality.rules],
        "overall": row(evaluation.quality.overall),
        "latency_ms": {"alerts": len(prompt), "p50": percentile(prompt, 0.5), "p95": percentile(prompt, 0.95),
                       "p99": percentile(prompt, 0.99), "max": max(prompt, default=None)},
        "stream_time_decisions_ms": {"alerts": len(waiting), "p50": percentile(waiting, 0.5),
                                     "max": max(waiting, default=None)},
    }


def print_evaluation(evaluation: Evaluation, console: Console) -> None:
    """Per-rule table and latency, for people."""
    def ratio(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:,.0f} ms"

    table = Table(title=f"cargoguard evaluate: {evaluation.events:,} events, {evaluation.alerts:,} alerts")
    table.add_column("rule", no_wrap=True)
    for column in ("planted", "caught", "missed", "false alerts", "precision", "recall"):
        table.add_column(column, justify="right")
    for r in (*evaluation.quality.rules, evaluation.quality.overall):
        table.add_row(r.rule_id, str(r.planted), str(r.caught), str(r.missed), str(r.false),
                      ratio(r.precision), ratio(r.recall), style="bold" if r.rule_id == "ALL" else None)
    console.print(table)
    prompt, waiting = evaluation.latency.prompt_ms, evaluation.latency.waiting_ms
    console.print(f"event-to-alert latency ({len(prompt)} alerts): p50 {ms(percentile(prompt, 0.5))}, "
                  f"p95 {ms(percentile(prompt, 0.95))}, p99 {ms(percentile(prompt, 0.99))}, "
                  f"max {ms(max(prompt, default=None))}")
    console.print(f"decisions on stream time ({', '.join(WAITING_RULES)}; {len(waiting)} alerts): "
                  f"p50 {ms(percentile(waiting, 0.5))}")


def plot_evaluation(evaluation: Evaluation, out: Path) -> None:
    """A PNG: alerts per rule (caught, false, missed) and the latency distribution."""
    import matplotlib  # only here: the worker never needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = evaluation.quality.rules
    names = [r.rule_id for r in rows]
    figure, (bars, histogram) = plt.subplots(1, 2, figsize=(13, 5))
    positions = range(len(rows))
    bars.barh(positions, [r.caught for r in rows], color="#2e7d32", label="caught")
    bars.barh(positions, [r.false for r in rows], left=[r.caught for r in rows], color="#c62828", label="false")
    bars.barh(positions, [r.missed for r in rows], left=[r.caught + r.false for r in rows], color="#9e9e9e",
              label="missed")
    bars.set_yticks(list(positions), names, fontsize=8)
    bars.set_xlabel("findings")
    bars.set_title("Alerts per rule")
    bars.legend(loc="lower right")
    prompt = evaluation.latency.prompt_ms
    histogram.hist([v / 1000 for v in prompt], bins=40, color="#1565c0")
    histogram.set_xlabel("event-to-alert latency (s)")
    histogram.set_ylabel("alerts")
    histogram.set_title(f"Latency ({len(prompt)} alerts, file replayed at full speed)")
    figure.tight_layout()
    try:
        figure.savefig(out, format="png")
    except OSError as exc:
        raise UserError(f"{out}: {exc.strerror}") from exc
    finally:
        plt.close(figure)


def evaluate_command(settings: Settings, path: Path, as_json: bool, plot: Path | None, timeout_s: float) -> None:
    """The command: run, then print (table or JSON) and plot."""
    console = Console(stderr=True)
    evaluation = run_evaluation(settings, path, timeout_s, console)
    if as_json:
        print(json.dumps(as_dict(evaluation)))
    else:
        print_evaluation(evaluation, Console())
    if plot is not None:
        plot_evaluation(evaluation, plot)
