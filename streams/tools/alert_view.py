"""Showing alerts in a terminal: a live table of the newest alerts, or JSON lines."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from streams.kafka.alert_feed import AlertFilter, NewestAlerts
from streams.kafka.events_json import format_time, to_json_document

SEVERITY_STYLE = {"LOW": "cyan", "MEDIUM": "yellow", "HIGH": "bold red", "CRITICAL": "bold white on red"}
TABLE_ROWS = 25
# Terminals at least this wide get the score and office columns too.
WIDE_TERMINAL = 140


def alert_table(alerts: Iterable[dict[str, Any]], width: int = 160) -> Table:
    """A table of alerts, newest first; narrow terminals drop the score and office."""
    wide = width >= WIDE_TERMINAL
    table = Table(title="cargoguard alerts", expand=True)
    table.add_column("event time (UTC)", style="dim", no_wrap=True)
    table.add_column("severity", no_wrap=True)
    if wide:
        table.add_column("score", no_wrap=True)
    table.add_column("rule", style="bold", no_wrap=True)
    if wide:
        table.add_column("office", no_wrap=True)
    table.add_column("subject", no_wrap=True)
    table.add_column("explanation", ratio=1, overflow="fold")
    for alert in alerts:
        severity = alert["severity"]
        cells = [format_time(alert["event_time"])[5:19].replace("T", " "),
                 f"[{SEVERITY_STYLE[severity]}]{severity}[/]"]
        if wide:
            cells.append(str(alert["score"]))
        cells.append(alert["rule_id"])
        if wide:
            cells.append(alert["office_code"])
        cells += [f"{alert['subject_type'].lower()} {alert['subject_id']}", alert["explanation"]]
        table.add_row(*cells)
    return table


def show_live_table(alerts: Iterable[dict[str, Any]], alert_filter: AlertFilter, console: Console) -> None:
    """Render a live table of the newest accepted alerts until the alert stream ends."""
    newest = NewestAlerts(TABLE_ROWS)
    with Live(alert_table([], console.width), console=console, refresh_per_second=4) as live:
        for alert in alerts:
            if alert_filter.accepts(alert) and newest.offer(alert):
                live.update(alert_table(reversed(newest.alerts.values()), console.width))


def print_json_lines(alerts: Iterable[dict[str, Any]], alert_filter: AlertFilter) -> None:
    """Print each accepted alert as one JSON line (ISO times)."""
    for alert in alerts:
        if alert_filter.accepts(alert):
            print(json.dumps(to_json_document("alert", alert), sort_keys=True), flush=True)
