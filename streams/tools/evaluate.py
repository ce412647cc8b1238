"""``cargoguard evaluate``: replay a labelled file through the full pipeline and score the alerts.

A fresh embedded broker, fresh topics and one worker (``--workers N``: N
workers in one consumer group, each with its own web port and state), as in
the benchmark.
The file is replayed at full speed with a progress bar; each event's publish
time is noted. Then a second bar follows the worker, by its own counters,
until it has read every event and made the decisions that wait for stream
time: the run ends once it has applied nothing and sent no alert for a
quiet period and no subject waits for stream time, counted over every
worker (once the input
partitions are idle, stream time follows the wall clock, so a pending exit
decision is made a feed skew later). A subject that waits beyond the file
(a transit deadline hours ahead) cannot hold the run longer than the idle
delay plus the longest wait of the rules. The broker, the worker and the
alert reader are stopped on every way out, Ctrl-C too.

Latency is the time from publishing an alert's newest trigger event to
reading the first version of the alert back (both on this machine's
monotonic clock, so no clock skew enters). For a file published at full
speed it includes the backlog the worker works through, so it is an upper
bound of live latency; ``cargoguard bench`` measures live traffic. Exit
and transit-deadline decisions wait for stream time by design and are
reported apart. The scoring itself is ``streams.tools.detection_quality``.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from agents.risk.lanes import HOUR_MS
from agents.rules.config import load_rule_book
from agents.rules.exit_without_clearance import skew_ms
from streams.errors import UserError
from streams.kafka.alert_feed import follow_records
from streams.kafka.embedded_broker import EmbeddedBroker, free_port
from streams.kafka.publish import EventPublisher
from streams.kafka.topics import create_topics
from streams.runtime.metrics import scrape_totals
from streams.settings import Settings
from streams.tools.alert_clock import AlertClock
from streams.tools.csv_mapping import CsvMapping, events_from_csv, load_mapping
from streams.tools.detection_quality import (
    WAITING_RULES,
    LabelQuality,
    LabelReport,
    LatencySample,
    Quality,
    RuleQuality,
    alerted_findings,
    latencies,
    percentile,
    score,
    score_against_labels,
)
from streams.tools.lane_quality import lane_report
from streams.tools.replay import JsonEvent, read_events, replay
from streams.tools.up import cargoguard_command, stop_process, wait_until_ready

# The worker under evaluation lets an input partition go idle this soon, so the
# decisions of the file's tail come a few seconds after the replay, not minutes.
IDLE_AFTER_S = 1.0
# No alert and nothing applied for a checkpoint interval plus a progress report
# (so the count of waiting subjects is fresh) plus this, and the worker is done.
QUIET_MARGIN_S = 1.0
# How long the worker may take to read the file's watchlist before the replay starts.
CONTROL_WAIT_S = 30.0
# The label column of a CSV mapping that marks a declaration as a true case, and its negative values.
POSITIVE_LABEL = "fraud"
# The label column that marks the gravest of them, when the mapping has one.
CRITICAL_LABEL = "critical_fraud"
# With --model, each office may inspect (RED) this share of the declarations it receives, counted
# per window of event time (--lane-window-days, a week by default). The KCS offices get a few
# declarations an hour, too few to express 10 % in whole checks an hour, and a day's volume swings
# sixtyfold from one day to the next: with a day's window most REDs go to the quiet days' mediocre
# scores (precision 0.47 against 0.70 with a week, at the same 10 %; docs/performance-notes.md,
# "Lane capacity window").
RED_SHARE = 0.10
LANE_WINDOW_DAYS = 7.0
DAY_S = 86_400.0
# How long to keep reading cargo.selectivity once no new lane comes (a RED lane waits for its reasons).
LANES_QUIET_S = 30.0
NEGATIVE_VALUES = ("", "0")
POLL_S = 0.2
REPORT_WIDTH = 160
# The worker's counters that tell how far it is: input events read (routed or
# dead-lettered), routed events applied, subjects waiting for stream time.
WORKER_COUNTERS = ("cargoguard_events_total", "cargoguard_dead_letters_total", "cargoguard_subject_events_total",
                   "cargoguard_pending_timers")
# A worker that dies is explained by the end of its log.
LOG_TAIL_LINES = 20


@dataclass(frozen=True, slots=True)
class Evaluation:
    """What one evaluation found: quality against planted findings or against labels."""

    events: int
    alerts: int
    latency: LatencySample
    quality: Quality | None = None
    labels: LabelReport | None = None
    # False when --timeout cut the wait short: alerts may be missing.
    complete: bool = True
    # Workers in the consumer group that processed the file.
    workers: int = 1
    # Each alert id's newest version: two runs decided alike when these are equal.
    alert_versions: dict[str, int] = field(default_factory=dict)
    # With --model: the lanes the workers wrote, measured against the labels (``lane_report``).
    risk: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Truth:
    """What a file says should be found: planted findings (simulated) or labelled declarations (CSV)."""

    events: int
    planted: set[tuple[str, str, str]]
    positive_declarations: set[str]
    declarations: int
    critical_declarations: set[str] = field(default_factory=set)
    # Per office, LODGED declarations per hour of event time over the file.
    hourly_declarations: dict[str, float] = field(default_factory=dict)


def read_truth(path: Path, mapping: CsvMapping | None) -> Truth:
    """A labelled file's ground truth: ``label`` objects of JSON Lines, or the mapping's ``fraud`` label column."""
    if path.suffix.lower() == ".csv":
        if mapping is None:
            raise UserError(f"{path}: a CSV file needs --mapping")
        if POSITIVE_LABEL not in mapping.labels:
            raise UserError(f"{mapping.origin}: [labels] has no {POSITIVE_LABEL!r} column to evaluate against")
        rows = list(events_from_csv(path, mapping))
        positive = {r.record["declaration_id"] for r in rows if r.labels[POSITIVE_LABEL] not in NEGATIVE_VALUES}
        critical = {r.record["declaration_id"] for r in rows
                    if r.labels.get(CRITICAL_LABEL, "") not in NEGATIVE_VALUES}
        return Truth(len(rows), set(), positive, len({r.record["declaration_id"] for r in rows}), critical,
                     hourly_declarations([r.record for r in rows if r.kind == "declaration"]))
    planted: set[tuple[str, str, str]] = set()
    events = 0
    for event in read_events([path]):
        events += 1
        if event.label:
            try:
                planted.add((event.label["pattern"], event.label["subject_type"], event.label["subject_id"]))
            except KeyError as exc:
                raise UserError(f"{event.where}: label without {exc.args[0]!r}") from exc
    if not planted:
        raise UserError(f"{path}: no labelled events; write one with `cargoguard simulate --out`")
    return Truth(events, planted, set(), 0)


def hourly_declarations(records: list[dict[str, Any]]) -> dict[str, float]:
    """Per office, LODGED declarations per hour of event time (over the span of the whole file)."""
    lodged = [r for r in records if r.get("action") == "LODGED"]
    if not lodged:
        return {}
    times = [int(r["event_time"]) for r in lodged]
    hours = max(1.0, (max(times) - min(times)) / HOUR_MS)
    counts: dict[str, int] = {}
    for record in lodged:
        counts[record["office_code"]] = counts.get(record["office_code"], 0) + 1
    return {office: count / hours for office, count in counts.items()}


def red_capacity(hourly: dict[str, float], window_s: float,
                 share: float = RED_SHARE) -> dict[str, tuple[int, int]]:
    """Each office's capacity per window for ``share`` of its declarations in RED (at least one), none in YELLOW."""
    return {office: (max(1, math.ceil(rate * window_s / 3600 * share)), 0) for office, rate in hourly.items()}


def read_lanes(settings: Settings, expected: int, timeout_s: float) -> dict[str, dict[str, Any]]:
    """Every lane on cargo.selectivity (declaration id -> record), read until ``expected`` or a quiet spell."""
    lanes: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout_s

    def done() -> bool:
        return len(lanes) >= expected or time.monotonic() >= deadline

    for record in follow_records(settings, "selectivity", from_beginning=True, timeout_s=LANES_QUIET_S,
                                 should_stop=done):
        lanes[record["declaration_id"]] = record  # the last: a lane restated RED replaces its first
    return lanes


def run_evaluation(settings: Settings, path: Path, timeout_s: float, console: Console,
                   mapping: CsvMapping | None = None, workers: int = 1, model: Path | None = None,
                   lane_window_days: float = LANE_WINDOW_DAYS) -> Evaluation:
    """Replay ``path`` through a fresh embedded broker and ``workers`` workers; score the alerts (and lanes)."""
    truth = read_truth(path, mapping)
    if model is not None and not truth.positive_declarations and not truth.declarations:
        raise UserError("--model needs a labelled CSV file (--mapping) to measure the lanes against")
    window_s = lane_window_days * DAY_S
    workdir = Path(tempfile.mkdtemp(prefix="cargoguard-evaluate-"))
    address = f"127.0.0.1:{free_port()}"
    run_settings = settings.model_copy(update={
        "broker": address, "app_id": f"evaluate-{uuid.uuid4().hex[:8]}", "data_dir": workdir / "data",
        "web_host": "127.0.0.1", "web_port": free_port(), "log_level": "warn", "schema_registry_url": None,
        "idle_partition_after_s": IDLE_AFTER_S,
        "model_file": model,
        "lane_capacity": red_capacity(truth.hourly_declarations, window_s) if model else {},
        "lane_window_s": window_s,
    })
    group = [run_settings] + [run_settings.model_copy(update={"web_port": free_port(),
                                                              "data_dir": workdir / f"data-{n}"})
                              for n in range(1, workers)]
    published: dict[str, float] = {}
    input_events = 0

    def note(event: JsonEvent) -> None:
        nonlocal input_events
        if "event_id" in event.record:  # watchlist entries and rule changes have none
            published[event.record["event_id"]] = time.monotonic()
            input_events += 1

    with ExitStack() as stack:
        # Unwound in reverse, also on Ctrl-C: alert reader, worker, broker, then their files.
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        broker_log = stack.enter_context((workdir / "broker.log").open("wb"))
        stack.enter_context(EmbeddedBroker(address, settings.tansu_bin, log=broker_log))
        create_topics(run_settings)
        processes: list[tuple[subprocess.Popen[bytes], Path]] = []
        for n, worker_settings in enumerate(group):
            log_path = workdir / f"worker-{n}.log"
            log_file = stack.enter_context(log_path.open("wb"))
            process = subprocess.Popen(cargoguard_command("worker"), env={**os.environ, **worker_settings.as_env()},
                                       stdout=log_file, stderr=subprocess.STDOUT)
            stack.callback(stop_process, process)
            processes.append((process, log_path))
        urls = [f"http://{s.web_host}:{s.web_port}" for s in group]
        try:
            for url, (process, _log) in zip(urls, processes, strict=True):
                wait_until_ready(f"{url}/ready", process)
            # Fresh topics: reading from the start, no alert can come before the reader.
            with AlertClock(run_settings, group_id="evaluate", from_beginning=True) as clock:
                publish_file(run_settings, urls, path, console, note, mapping)
                complete = wait_for_decisions(run_settings, urls, clock, [p for p, _ in processes], input_events,
                                              timeout_s, console)
            lanes = read_lanes(run_settings, truth.declarations, timeout_s) if model is not None else {}
        except UserError as exc:
            dead = [(process, log) for process, log in processes if process.poll() is not None]
            if not dead:
                raise
            raise UserError(f"{exc}; the worker's last words:\n{log_tail(dead[0][1])}") from exc
    alerts = list(clock.newest.alerts.values())
    latency = latencies(clock.seen, published, WAITING_RULES)
    versions = {alert_id: int(alert["version"]) for alert_id, alert in sorted(clock.newest.alerts.items())}
    if truth.planted:
        return Evaluation(truth.events, len(alerts), latency, complete=complete, workers=workers,
                          alert_versions=versions, quality=score(truth.planted, alerted_findings(alerts)))
    risk = None
    if model is not None:
        alerted = {d for alert in alerts for d in alert["declaration_ids"]}
        try:
            risk = {"capacity": {"red_share": RED_SHARE, "window_days": lane_window_days},
                    **lane_report(lanes, truth.positive_declarations, truth.critical_declarations, alerted)}
        except ValueError as exc:
            raise UserError(f"{exc}; is {model} a model file `cargoguard learn` wrote?") from exc
    return Evaluation(truth.events, len(alerts), latency, complete=complete, workers=workers,
                      alert_versions=versions, risk=risk,
                      labels=score_against_labels(truth.positive_declarations, truth.declarations, alerts))


def publish_file(settings: Settings, workers: list[str], path: Path, console: Console,
                 note: Callable[[JsonEvent], None], mapping: CsvMapping | None) -> None:
    """Replay the file at full speed; the producer is gone when this returns (no idle-connection noise).

    The file's watchlist entries go out first, and the replay starts once
    every worker (web base URLs ``workers``) holds them: at full speed the first watched truck could otherwise
    pass before the worker has read the watchlist, which a live run never sees.
    """
    entries = [] if mapping is not None else [e for e in read_events([path]) if e.kind == "watchlist_entry"]
    with EventPublisher(settings) as publisher:
        if entries:
            for entry in entries:
                publisher.publish(entry.kind, entry.record)
            publisher.flush()
            for worker in workers:
                wait_for_gauge(f"{worker}/metrics", "cargoguard_watchlist_entries",
                               len({e.record["entry_id"] for e in entries}))
        replay([path], publisher, console=console, on_published=note, mapping=mapping)


def wait_for_gauge(url: str, name: str, at_least: float, timeout_s: float = CONTROL_WAIT_S) -> None:
    """Poll a worker's metric until it reaches ``at_least``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if scrape_totals(url, [name])[name] >= at_least:
                return
        except OSError:  # a busy or dying worker: the deadline decides
            pass
        time.sleep(POLL_S)
    raise UserError(f"the worker did not report {name} >= {at_least:g} within {timeout_s:.0f} s")


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a log file, for an error message."""
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"({path}: {exc.strerror})"
    return "\n".join(text.splitlines()[-lines:])


def wait_for_decisions(settings: Settings, workers: list[str], clock: AlertClock,
                       processes: list[subprocess.Popen[bytes]], published: int, timeout_s: float,
                       console: Console) -> bool:
    """Follow the workers through the file and their decisions that wait for stream time; False on timeout.

    The workers (web base URLs ``workers``) have read the file once they have
    routed or dead-lettered ``published`` input events (their counters summed). It is done when it has
    applied nothing new and sent no alert for a quiet period and no subject
    waits for stream time any more. A subject may wait beyond the file (a
    transit deadline hours ahead): then the wait ends at the latest when
    every decision the file's tail can bring is made. From the moment the
    worker has read everything its partitions go idle and stream time
    follows the wall clock, so that is after the idle delay, a progress
    report and the longest wait of the rules (the exit rule's feed skew).
    """
    tail_wait_s = (settings.idle_partition_after_s + settings.progress_interval_s
                   + skew_ms(load_rule_book(settings.rules_file)) / 1000)
    quiet_s = settings.checkpoint_interval_s + settings.progress_interval_s + QUIET_MARGIN_S
    started = time.monotonic()
    read_all_at: float | None = None
    applied, applied_at = -1.0, started
    columns = (TextColumn("[bold]{task.description}[/]"), BarColumn(), TextColumn("{task.fields[detail]}"),
               TimeRemainingColumn())
    with Progress(*columns, console=console) as progress:
        reading = progress.add_task("worker", total=published, detail="")
        deciding = progress.add_task("stream time", total=tail_wait_s, detail="", visible=False)
        while True:
            time.sleep(POLL_S)
            for process in processes:
                if process.poll() is not None:
                    raise UserError(f"a worker exited with {process.returncode}")
            now = time.monotonic()
            if now - started > timeout_s:
                console.print(f"[yellow]stopped waiting after {timeout_s:.0f} s: alerts may be missing[/]")
                return False
            try:
                each = [scrape_totals(f"{worker}/metrics", WORKER_COUNTERS) for worker in workers]
            except OSError:  # busy for a moment; a dead worker is caught above
                continue
            totals = {name: sum(t[name] for t in each) for name in WORKER_COUNTERS}
            if totals["cargoguard_subject_events_total"] != applied:
                applied, applied_at = totals["cargoguard_subject_events_total"], now
            alerts = f"{len(clock.seen):,} alerts"
            if read_all_at is None:
                handled = totals["cargoguard_events_total"] + totals["cargoguard_dead_letters_total"]
                progress.update(reading, completed=min(handled, published),
                                detail=f"{handled:,.0f}/{published:,} events read, {alerts}")
                if handled >= published:
                    read_all_at = now
                    progress.update(deciding, visible=True)
                continue
            waiting = totals["cargoguard_pending_timers"]
            waited_s = now - read_all_at
            progress.update(deciding, completed=min(waited_s, tail_wait_s),
                            detail=f"{waiting:,.0f} subjects wait for stream time, {alerts}")
            quiet = now - max(applied_at, clock.last_read) >= quiet_s
            if quiet and (waiting == 0 or waited_s >= tail_wait_s):
                progress.update(deciding, completed=tail_wait_s)
                return True


def as_dict(evaluation: Evaluation) -> dict[str, Any]:
    """The evaluation as plain data (``--json``)."""
    prompt, waiting = evaluation.latency.prompt_ms, evaluation.latency.waiting_ms
    result: dict[str, Any] = {
        "complete": evaluation.complete,
        "workers": evaluation.workers,
        "events": evaluation.events,
        "alerts": evaluation.alerts,
        "alert_versions": evaluation.alert_versions,
        "latency_ms": {"alerts": len(prompt), "p50": percentile(prompt, 0.5), "p95": percentile(prompt, 0.95),
                       "p99": percentile(prompt, 0.99), "max": max(prompt, default=None)},
        "stream_time_decisions_ms": {"alerts": len(waiting), "p50": percentile(waiting, 0.5),
                                     "max": max(waiting, default=None)},
        "latency_ms_by_rule": {rule: {"alerts": len(values), "p50": percentile(values, 0.5), "max": max(values)}
                               for rule, values in sorted(evaluation.latency.by_rule_ms.items())},
    }
    if evaluation.quality is not None:
        def row(r: RuleQuality) -> dict[str, Any]:
            return {"rule_id": r.rule_id, "planted": r.planted, "caught": r.caught, "missed": r.missed,
                    "false_alerts": r.false, "precision": r.precision, "recall": r.recall,
                    "missed_subjects": list(r.missed_subjects), "false_subjects": list(r.false_subjects)}

        result["rules"] = [row(r) for r in evaluation.quality.rules]
        result["overall"] = row(evaluation.quality.overall)
    if evaluation.labels is not None:
        labels = evaluation.labels

        def label_row(r: LabelQuality) -> dict[str, Any]:
            return {"rule_id": r.rule_id, "alerts": r.alerts, "declarations": r.declarations,
                    "labelled_positive": r.positive, "precision": r.precision}

        result["against_labels"] = {
            "declarations": labels.declarations, "labelled_positive": labels.positives,
            "base_rate": labels.base_rate, "recall": labels.recall,
            "rules": [label_row(r) for r in labels.rules], "overall": label_row(labels.overall),
        }
    if evaluation.risk is not None:
        result["risk"] = evaluation.risk
    return result


def ratio(value: float | None) -> str:
    """A share with two decimals, or a dash."""
    return "-" if value is None else f"{value:.2f}"


def print_evaluation(evaluation: Evaluation, console: Console) -> None:
    """Per-rule table and latency, for people."""
    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:,.0f} ms"

    def rule_p50(rule_id: str) -> str:
        # The overall row has no latency of its own: the lines under the table give it.
        return ms(percentile(evaluation.latency.by_rule_ms.get(rule_id, []), 0.5)) if rule_id != "ALL" else ""

    title = (f"cargoguard evaluate: {evaluation.events:,} events, {evaluation.alerts:,} alerts, "
             f"{evaluation.workers} worker{'s' if evaluation.workers > 1 else ''}")
    if evaluation.quality is not None:
        table = Table(title=title)
        table.add_column("rule", no_wrap=True)
        for column in ("planted", "caught", "missed", "false alerts", "precision", "recall", "latency p50"):
            table.add_column(column, justify="right")
        for r in (*evaluation.quality.rules, evaluation.quality.overall):
            table.add_row(r.rule_id, f"{r.planted:,}", f"{r.caught:,}", f"{r.missed:,}", f"{r.false:,}",
                          ratio(r.precision), ratio(r.recall), rule_p50(r.rule_id),
                          style="bold" if r.rule_id == "ALL" else None)
        console.print(table)
    if evaluation.labels is not None:
        labels = evaluation.labels
        table = Table(title=title)
        table.add_column("rule", no_wrap=True)
        for column in ("alerts", "declarations", f"labelled {POSITIVE_LABEL}", "precision", "latency p50"):
            table.add_column(column, justify="right")
        for label_row in (*labels.rules, labels.overall):
            table.add_row(label_row.rule_id, f"{label_row.alerts:,}", f"{label_row.declarations:,}",
                          f"{label_row.positive:,}", ratio(label_row.precision), rule_p50(label_row.rule_id),
                          style="bold" if label_row.rule_id == "ALL" else None)
        console.print(table)
        console.print(f"{labels.positives:,} of {labels.declarations:,} declarations labelled {POSITIVE_LABEL} "
                      f"(base rate {ratio(labels.base_rate)}); recall of the labelled: {ratio(labels.recall)}")
    prompt, waiting = evaluation.latency.prompt_ms, evaluation.latency.waiting_ms
    console.print(f"event-to-alert latency ({len(prompt):,} alerts): p50 {ms(percentile(prompt, 0.5))}, "
                  f"p95 {ms(percentile(prompt, 0.95))}, p99 {ms(percentile(prompt, 0.99))}, "
                  f"max {ms(max(prompt, default=None))}")
    console.print(f"decisions on stream time ({', '.join(WAITING_RULES)}; {len(waiting):,} alerts): "
                  f"p50 {ms(percentile(waiting, 0.5))}, max {ms(max(waiting, default=None))} (waits by design)")
    if evaluation.risk is not None:
        print_risk(evaluation.risk, console)
    if not evaluation.complete:
        console.print("[yellow]incomplete: --timeout ended the wait for the worker; alerts may be missing[/]")


def print_risk(risk: dict[str, Any], console: Console) -> None:
    """The lanes' figures, for people."""
    shares = ", ".join(f"top {k} % {ratio(v)}" for k, v in risk["precision_at"].items())
    console.print(f"lanes of {risk['declarations']:,} declarations, scored by the workers: "
                  f"AUC {risk['auc']:.3f}; precision {shares}")
    lanes, caught, capacity = risk["lanes"], risk["caught"], risk["capacity"]
    console.print(f"capacity: {capacity['red_share']:.0%} of each office's declarations per "
                  f"{capacity['window_days']:g} days in RED")
    console.print(f"RED {lanes['RED']:,} (precision {ratio(risk['red_precision'])}, "
                  f"{ratio(risk['red_precision_by_score'])} of those the score chose), YELLOW {lanes['YELLOW']:,}, "
                  f"GREEN {lanes['GREEN']:,}; infractions caught by the lanes {caught['by_lanes']:,}, "
                  f"by as many random inspections {caught['by_random_on_average']:,} on average, "
                  f"named by the rules {caught['by_rules']:,}")
    control, missed = risk["control_sample"], risk["missed_infraction_rate"]
    low, high = missed["ci95"]
    console.print(f"control sample {control['declarations']:,} ({control['infractions']:,} infractions): "
                  f"missed-infraction rate estimated {ratio(missed['estimated'])} (95 % {low:.2f}-{high:.2f}), "
                  f"true {ratio(missed['true'])}")


def plot_evaluation(evaluation: Evaluation, out: Path) -> None:
    """A PNG: alerts per rule (caught, false, missed) and the latency distribution."""
    import matplotlib  # only here: the worker never needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (bars, histogram) = plt.subplots(1, 2, figsize=(13, 5))
    if evaluation.quality is not None:
        rows = evaluation.quality.rules
        names = [r.rule_id for r in rows]
        stacks = [("caught", [r.caught for r in rows], "#2e7d32"), ("false", [r.false for r in rows], "#c62828"),
                  ("missed", [r.missed for r in rows], "#9e9e9e")]
    else:
        assert evaluation.labels is not None
        label_rows = evaluation.labels.rules
        names = [r.rule_id for r in label_rows]
        stacks = [(f"labelled {POSITIVE_LABEL}", [r.positive for r in label_rows], "#2e7d32"),
                  ("not labelled", [r.declarations - r.positive for r in label_rows], "#c62828")]
    positions = range(len(names))
    left = [0] * len(names)
    for label, values, color in stacks:
        bars.barh(positions, values, left=left, color=color, label=label)
        left = [a + b for a, b in zip(left, values, strict=True)]
    bars.set_yticks(list(positions), names, fontsize=8)
    bars.set_xlabel("findings" if evaluation.quality is not None else "declarations alerted")
    bars.set_title("Alerts per rule")
    # Under the axis, so the legend never hides the longest bar.
    bars.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=len(stacks), frameon=False)
    prompt = evaluation.latency.prompt_ms
    histogram.hist([v / 1000 for v in prompt], bins=40, color="#1565c0")
    histogram.set_xlabel("event-to-alert latency (s)")
    histogram.set_ylabel("alerts")
    histogram.set_title(f"Latency ({len(prompt):,} alerts, file replayed at full speed)")
    figure.tight_layout()
    try:
        figure.savefig(out, format="png")
    except OSError as exc:
        raise UserError(f"{out}: {exc.strerror}") from exc
    finally:
        plt.close(figure)


def evaluate_command(settings: Settings, path: Path, as_json: bool, plot: Path | None, timeout_s: float,
                     mapping: str | None = None, workers: int = 1, model: Path | None = None,
                     lane_window_days: float = LANE_WINDOW_DAYS) -> None:
    """The command: run, then print (table or JSON) and plot."""
    if plot is not None and not plot.parent.is_dir():
        raise UserError(f"{plot}: no folder {plot.parent} to write the plot in")
    console = Console(stderr=True)
    if model is not None and not model.is_file():
        raise UserError(f"{model}: no such model file; write one with `cargoguard learn`")
    evaluation = run_evaluation(settings, path, timeout_s, console, load_mapping(mapping) if mapping else None,
                                workers, model, lane_window_days)
    if as_json:
        print(json.dumps(as_dict(evaluation)))
    else:
        # Piped into a file, rich would fold the table into 80 columns.
        out = Console() if sys.stdout.isatty() else Console(width=REPORT_WIDTH)
        print_evaluation(evaluation, out)
    if plot is not None:
        plot_evaluation(evaluation, plot)
