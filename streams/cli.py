"""The ``cargoguard`` command line: commands only, each calling the module that does the work.

Heavy modules (Faust, the broker) are imported inside the commands that
need them, so ``cargoguard --help`` stays quick.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError
from rich.console import Console

from agents.rules.config import RuleConfigError
from agents.rules.findings import SEVERITIES
from streams.errors import CargoguardError
from streams.settings import Settings, load_settings

SEVERITY_CHOICE = click.Choice(SEVERITIES, case_sensitive=False)


def settings_from(ctx: click.Context, **overrides: Any) -> Settings:
    """The settings of this invocation: environment, settings file, then options."""
    try:
        return load_settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"CARGOGUARD_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors())
        raise click.UsageError(f"bad settings: {problems}") from exc
    except FileNotFoundError as exc:
        raise click.UsageError(str(exc)) from exc


def configure_logging(level: str) -> None:
    """Log lines carry time, level and logger; never payloads."""
    logging.basicConfig(
        level=getattr(logging, {"warn": "WARNING"}.get(level, level.upper())),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """cargoguard: real-time customs cargo control on Kafka.

    Configuration comes from CARGOGUARD_* environment variables and an optional
    settings file (CARGOGUARD_SETTINGS_FILE, default ./cargoguard.env).
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


@cli.command()
@click.option("--demo", is_flag=True, help="Also feed simulated traffic with planted smuggling patterns.")
@click.option("--rate", type=float, default=20.0, show_default=True, help="Demo events per second.")
@click.pass_context
def up(ctx: click.Context, demo: bool, rate: float) -> None:
    """Run everything on this machine: embedded broker, topics, a worker; follow alerts."""
    from streams.tools.up import run_up

    settings = settings_from(ctx)
    configure_logging("warn")
    run_up(settings, demo=demo, demo_rate=rate, console=Console())


@cli.command()
@click.pass_context
def broker(ctx: click.Context) -> None:
    """Run only the embedded Kafka-compatible broker on CARGOGUARD_BROKER (default 127.0.0.1:9092)."""
    from streams.kafka.embedded_broker import EmbeddedBroker

    settings = settings_from(ctx)
    console = Console(stderr=True)
    with EmbeddedBroker(settings.broker, settings.tansu_bin) as embedded:
        console.print(f"broker listening on {embedded.address} (Tansu, in memory); Ctrl-C stops it")
        try:
            embedded.wait()
        except KeyboardInterrupt:
            console.print("stopping broker")


@cli.command()
@click.option("--web-port", type=int, help="Override CARGOGUARD_WEB_PORT.")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Override CARGOGUARD_DATA_DIR.")
@click.option("--no-create-topics", is_flag=True, help="Do not create missing topics at start.")
@click.pass_context
def worker(ctx: click.Context, web_port: int | None, data_dir: Path | None, no_create_topics: bool) -> None:
    """Run one Faust worker against CARGOGUARD_BROKER (run several to scale out)."""
    from streams.runtime.worker import run_worker

    settings = settings_from(ctx, web_port=web_port, data_dir=data_dir)
    configure_logging(settings.log_level)
    run_worker(settings, ensure_topics=not no_create_topics)


@cli.group()
def topics() -> None:
    """Manage cargoguard's topics on any Kafka cluster."""


@topics.command("create")
@click.pass_context
def topics_create(ctx: click.Context) -> None:
    """Create every topic that does not exist yet, with CARGOGUARD_PARTITIONS partitions."""
    from streams.kafka.topics import create_topics, wait_for_broker

    settings = settings_from(ctx)
    wait_for_broker(settings)
    for topic, status in sorted(create_topics(settings).items()):
        click.echo(f"{status:8} {topic}")


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--rate", type=float, help="At most this many events per second.")
@click.option("--speedup", type=float, help="Keep event-time gaps, divided by this factor.")
@click.option("--skip-invalid", is_flag=True, help="Report bad lines and go on instead of stopping.")
@click.option("--mapping", help="How CSV files map to events: a shipped mapping (kcs) or a .toml file.")
@click.pass_context
def replay(ctx: click.Context, files: tuple[Path, ...], rate: float | None, speedup: float | None,
           skip_invalid: bool, mapping: str | None) -> None:
    """Publish events from JSON Lines FILES (or CSV with --mapping) in file order, with a progress bar."""
    from streams.kafka.publish import EventPublisher
    from streams.tools.csv_mapping import load_mapping
    from streams.tools.replay import replay as run_replay

    settings = settings_from(ctx)
    csv_mapping = load_mapping(mapping) if mapping else None
    with EventPublisher(settings) as publisher:
        summary = run_replay(list(files), publisher, rate=rate, speedup=speedup,
                             skip_invalid=skip_invalid, mapping=csv_mapping)
    for problem in summary.skipped:
        click.echo(f"skipped {problem}", err=True)
    click.echo(f"published {summary.published} events in {summary.seconds:.1f} s"
               + (f", skipped {len(summary.skipped)} bad lines" if summary.skipped else ""))


@cli.command()
@click.option("--seed", type=int, default=1, show_default=True, help="Same seed, same traffic.")
@click.option("--rate", type=float, default=20.0, show_default=True, help="Events per second.")
@click.option("--duration", type=float, help="Seconds of traffic (default: until Ctrl-C, or 1 h with --out).")
@click.option("--out", type=click.Path(path_type=Path), help="Write JSON Lines here instead of publishing.")
@click.option("--pattern-rate", type=click.FloatRange(0, 1), default=0.05, show_default=True,
              help="Share of stories that are planted smuggling patterns.")
@click.option("--time-scale", type=click.FloatRange(min=1), default=60.0, show_default=True,
              help="Live only: story gaps are divided by this (60: an hour in port passes in a minute).")
@click.pass_context
def simulate(ctx: click.Context, seed: int, rate: float, duration: float | None, out: Path | None,
             pattern_rate: float, time_scale: float) -> None:
    """Generate labelled synthetic traffic with planted smuggling patterns."""
    from streams.tools.simulate import run_simulate

    settings = settings_from(ctx)
    run_simulate(settings, seed=seed, rate=rate, duration_s=duration, out=out, pattern_rate=pattern_rate,
                 time_scale=time_scale)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line instead of a table.")
@click.option("--from-beginning", is_flag=True, help="Start at the oldest alert, not the next one.")
@click.option("--office", help="Only alerts of this office code.")
@click.option("--severity", type=SEVERITY_CHOICE, help="Only alerts at least this severe.")
@click.option("--timeout", type=float, help="Stop after this many seconds without a new alert.")
@click.pass_context
def alerts(ctx: click.Context, as_json: bool, from_beginning: bool, office: str | None,
           severity: str | None, timeout: float | None) -> None:
    """Follow the alerts topic: a live table, or JSON lines."""
    from streams.kafka.alert_feed import AlertFilter, follow_alerts
    from streams.tools.alert_view import print_json_lines, show_live_table

    settings = settings_from(ctx)
    alert_filter = AlertFilter(office=office, min_severity=severity.upper() if severity else None)
    feed = follow_alerts(settings, from_beginning=from_beginning, timeout_s=timeout)
    try:
        if as_json:
            print_json_lines(feed, alert_filter)
        else:
            show_live_table(feed, alert_filter, Console())
    except KeyboardInterrupt:
        pass


@cli.group()
def rules() -> None:
    """Show and change the rules at run time (the cargo.rules topic; workers apply changes live)."""


@rules.command("show")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per rule.")
@click.pass_context
def rules_show(ctx: click.Context, as_json: bool) -> None:
    """Every rule as the workers apply it: enabled, severity, version, parameters."""
    from streams.runtime.control import effective_rules

    book = effective_rules(settings_from(ctx))
    for rule_id, config in sorted(book.rules.items()):
        if as_json:
            click.echo(json.dumps({"rule_id": rule_id, "enabled": config.enabled, "severity": config.severity,
                                   "version": config.version, "params": dict(config.params)}, sort_keys=True))
        else:
            params = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                               for k, v in sorted(config.params.items()))
            state = "on " if config.enabled else "off"
            click.echo(f"{rule_id:24} {state} {config.severity:8} v{config.version:<3} {params}")


@rules.command("set")
@click.argument("rule_id")
@click.argument("assignments", nargs=-1, metavar="NAME=VALUE...")
@click.option("--severity", type=SEVERITY_CHOICE, help="The rule's severity.")
@click.option("--by", "updated_by", help="Who makes the change (recorded with it).")
@click.pass_context
def rules_set(ctx: click.Context, rule_id: str, assignments: tuple[str, ...], severity: str | None,
              updated_by: str | None) -> None:
    """Change thresholds, windows or severity, e.g. ``rules set SPLIT_SHIPMENT min_declarations=5``."""
    from streams.runtime.control import change_rule

    if not assignments and severity is None:
        raise click.UsageError("name nothing to change: give NAME=VALUE pairs and/or --severity")
    changed = change_rule(settings_from(ctx), rule_id.upper(), severity=severity, assignments=assignments,
                          updated_by=updated_by)
    click.echo(f"{changed.rule_id} is now version {changed.version}")


@rules.command("disable")
@click.argument("rule_id")
@click.option("--by", "updated_by", help="Who makes the change.")
@click.pass_context
def rules_disable(ctx: click.Context, rule_id: str, updated_by: str | None) -> None:
    """Stop a rule raising alerts."""
    from streams.runtime.control import change_rule

    changed = change_rule(settings_from(ctx), rule_id.upper(), enabled=False, updated_by=updated_by)
    click.echo(f"{changed.rule_id} disabled (version {changed.version})")


@rules.command("enable")
@click.argument("rule_id")
@click.option("--by", "updated_by", help="Who makes the change.")
@click.pass_context
def rules_enable(ctx: click.Context, rule_id: str, updated_by: str | None) -> None:
    """Let a rule raise alerts again."""
    from streams.runtime.control import change_rule

    changed = change_rule(settings_from(ctx), rule_id.upper(), enabled=True, updated_by=updated_by)
    click.echo(f"{changed.rule_id} enabled (version {changed.version})")


@rules.command("reset")
@click.argument("rule_id")
@click.pass_context
def rules_reset(ctx: click.Context, rule_id: str) -> None:
    """Drop every change to a rule: back to the shipped defaults."""
    from streams.runtime.control import reset_rule

    reset_rule(settings_from(ctx), rule_id.upper())
    click.echo(f"{rule_id.upper()} is back at its defaults")


@cli.group()
def watchlist() -> None:
    """Manage watched declarants, importers, vehicles, containers, HS prefixes and origins."""


@watchlist.command("add")
@click.option("--type", "subject_type", required=True,
              type=click.Choice(["DECLARANT", "IMPORTER", "VEHICLE", "CONTAINER", "HS_PREFIX", "ORIGIN_COUNTRY"],
                                case_sensitive=False), help="What kind of thing is watched.")
@click.option("--value", required=True, help="The id, plate, container number, HS prefix or country code.")
@click.option("--severity", type=SEVERITY_CHOICE, default="MEDIUM", show_default=True)
@click.option("--reason", required=True, help="Why it is watched (shown to officers).")
@click.option("--id", "entry_id", help="Entry id (default: TYPE:VALUE).")
@click.option("--expires", help="ISO-8601 time after which the entry no longer matches.")
@click.option("--by", "added_by", help="Who adds it.")
@click.pass_context
def watchlist_add(ctx: click.Context, subject_type: str, value: str, severity: str, reason: str,
                  entry_id: str | None, expires: str | None, added_by: str | None) -> None:
    """Put something on the watchlist; workers check every event against it from now on."""
    from agents.rules.watchlist_hit import WatchEntry
    from streams.kafka.events_json import ConversionError, parse_time
    from streams.runtime.control import add_watch_entry
    from streams.runtime.stream_time import wall_ms

    try:
        expires_at = parse_time(expires, "--expires") if expires else None
    except ConversionError as exc:
        raise click.UsageError(str(exc)) from exc
    kind = subject_type.upper()
    entry = WatchEntry(entry_id=entry_id or f"{kind}:{value}", subject_type=kind, value=value,
                       severity=severity.upper(), reason=reason, added_at=wall_ms(), added_by=added_by,
                       expires_at=expires_at)
    add_watch_entry(settings_from(ctx), entry)
    click.echo(f"watching {kind.lower()} {value} as {entry.entry_id}")


@watchlist.command("remove")
@click.argument("entry_id")
@click.pass_context
def watchlist_remove(ctx: click.Context, entry_id: str) -> None:
    """Take an entry off the watchlist."""
    from streams.runtime.control import remove_watch_entry

    remove_watch_entry(settings_from(ctx), entry_id)
    click.echo(f"removed {entry_id}")


@watchlist.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per entry.")
@click.pass_context
def watchlist_list(ctx: click.Context, as_json: bool) -> None:
    """Every entry on the watchlist."""
    from streams.kafka.events_json import format_time
    from streams.runtime.control import current_watchlist

    for entry in sorted(current_watchlist(settings_from(ctx)).entries.values(), key=lambda e: e.entry_id):
        if as_json:
            click.echo(json.dumps({name: getattr(entry, name) for name in entry.__slots__}, sort_keys=True))
        else:
            until = f" until {format_time(entry.expires_at)}" if entry.expires_at else ""
            click.echo(f"{entry.entry_id:30} {entry.subject_type:14} {entry.value:16} {entry.severity:8} "
                       f"{entry.reason}{until}")


@cli.group()
def capacity() -> None:
    """Show and change offices' inspection capacities at run time (cargo.lane-capacity; workers apply them live)."""


@capacity.command("show")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per office.")
@click.pass_context
def capacity_show(ctx: click.Context, as_json: bool) -> None:
    """Every office's capacity as the workers apply it ('*': the offices not named)."""
    from streams.runtime.capacity import EVERY_OFFICE, current_policy

    policy = current_policy(settings_from(ctx))
    for office_code, limit in [*sorted(policy.capacities.items()), (EVERY_OFFICE, policy.default)]:
        if as_json:
            click.echo(json.dumps({"office_code": office_code, "red": limit.red, "yellow": limit.yellow,
                                   "window_seconds": limit.window_ms / 1000}, sort_keys=True))
        else:
            click.echo(f"{office_code:12} red {limit.red:<5} yellow {limit.yellow:<5} "
                       f"per {limit.window_ms / 3_600_000:g} h")


@capacity.command("set")
@click.argument("office_code")
@click.option("--red", type=click.IntRange(min=0), required=True, help="Physical inspections per window.")
@click.option("--yellow", type=click.IntRange(min=0), required=True, help="Document checks per window.")
@click.option("--window-hours", type=click.FloatRange(min=0, min_open=True),
              help="The window of event time (default: CARGOGUARD_LANE_WINDOW_S).")
@click.option("--by", "updated_by", help="Who makes the change (recorded with it).")
@click.pass_context
def capacity_set(ctx: click.Context, office_code: str, red: int, yellow: int, window_hours: float | None,
                 updated_by: str | None) -> None:
    """Change what an office can inspect, e.g. ``capacity set 040 --red 30 --yellow 60`` ('*': the default)."""
    from streams.runtime.capacity import set_capacity

    window_s = None if window_hours is None else window_hours * 3600
    limit = set_capacity(settings_from(ctx), office_code, red, yellow, window_s, updated_by)
    click.echo(f"office {office_code}: red {limit.red}, yellow {limit.yellow} per {limit.window_ms / 3_600_000:g} h")


@capacity.command("reset")
@click.argument("office_code")
@click.pass_context
def capacity_reset(ctx: click.Context, office_code: str) -> None:
    """Drop an office's run-time capacity: the settings' applies again."""
    from streams.runtime.capacity import reset_capacity

    reset_capacity(settings_from(ctx), office_code)
    click.echo(f"office {office_code} is back at the settings' capacity")


@cli.group()
def outcomes() -> None:
    """Inspection outcomes on cargo.inspection-results (the control room's dispositions write them too)."""


@outcomes.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--mapping", default="kcs", show_default=True,
              help="The CSV's mapping (kcs, or a .toml) with 'fraud' (and 'critical_fraud') label columns.")
@click.pass_context
def outcomes_import(ctx: click.Context, file: Path, mapping: str) -> None:
    """Publish the outcome of every labelled row of FILE (history: KCS Fraud / Critical Fraud)."""
    from streams.tools.csv_mapping import load_mapping
    from streams.tools.outcomes import import_outcomes

    counts = import_outcomes(settings_from(ctx), file, load_mapping(mapping), Path(mapping).stem)
    click.echo(f"published {sum(counts.values())} outcomes: {counts['INFRACTION']} infractions, "
               f"{counts['NO_INFRACTION']} without")


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--mapping", default="kcs", show_default=True,
              help="The CSVs' mapping (kcs, or a .toml) with 'fraud' (and 'critical_fraud') label columns.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("model.lgb"), show_default=True,
              help="Where to write the model file (replaced atomically).")
@click.option("--holdout", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A labelled file to measure the model on offline (AUC, precision in the top 1/5/10/20 %).")
def learn(files: tuple[Path, ...], mapping: str, out: Path, holdout: Path | None) -> None:
    """Train the risk model on labelled declarations FILES (e.g. the KCS train and valid splits)."""
    from streams.tools.csv_mapping import load_mapping
    from streams.tools.learn import learn as learn_model

    click.echo(json.dumps(learn_model(list(files), load_mapping(mapping), out, holdout)))


@cli.group()
def users() -> None:
    """Control-room users: officers, supervisors, analysts and viewers (the cargo.users topic)."""


def _new_password(password_stdin: bool, generate: bool) -> tuple[str, bool]:
    """The password to set: read from stdin, made up (shown once), or typed twice at a prompt."""
    from streams.tools.users import one_time_password

    if password_stdin:
        return sys.stdin.readline().rstrip("\n"), False
    if generate:
        return one_time_password(), True
    return click.prompt("password", hide_input=True, confirmation_prompt=True), False


@users.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(["officer", "supervisor", "analyst", "viewer"], case_sensitive=False),
              required=True)
@click.option("--office", "offices", multiple=True, help="An office code the user works for (repeat for more).")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@click.option("--generate", is_flag=True, help="Make up a one-time password and print it once.")
@click.pass_context
def users_add(ctx: click.Context, username: str, role: str, offices: tuple[str, ...], password_stdin: bool,
              generate: bool) -> None:
    """Add a user; the password is asked for (twice) unless --password-stdin or --generate."""
    from streams.tools.users import add_user

    password, show = _new_password(password_stdin, generate)
    user = add_user(settings_from(ctx), username, role, offices, password)
    offices_text = ", ".join(sorted(user.offices)) or "all offices"
    click.echo(f"added {user.username} ({user.role.lower()}, {offices_text})")
    if show:
        click.echo(f"one-time password: {password}")


@users.command("passwd")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@click.option("--generate", is_flag=True, help="Make up a one-time password and print it once.")
@click.pass_context
def users_passwd(ctx: click.Context, username: str, password_stdin: bool, generate: bool) -> None:
    """Set a user's password; the user's open sessions end."""
    from streams.tools.users import change_password

    password, show = _new_password(password_stdin, generate)
    change_password(settings_from(ctx), username, password)
    click.echo(f"password of {username} changed")
    if show:
        click.echo(f"one-time password: {password}")


@users.command("remove")
@click.argument("username")
@click.pass_context
def users_remove(ctx: click.Context, username: str) -> None:
    """Remove a user; their open sessions end."""
    from streams.tools.users import remove_user

    remove_user(settings_from(ctx), username)
    click.echo(f"removed {username}")


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per user.")
@click.pass_context
def users_list(ctx: click.Context, as_json: bool) -> None:
    """Every user, their role and offices (never a password or its hash)."""
    from streams.tools.users import current_users

    for name, user in sorted(current_users(settings_from(ctx)).items()):
        if as_json:
            click.echo(json.dumps(user.public(), sort_keys=True))
        else:
            click.echo(f"{name:24} {user.role.lower():11} {', '.join(sorted(user.offices)) or 'all offices'}")


@cli.command()
@click.option("--events", type=int, default=200_000, show_default=True, help="Events in the workload.")
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--rules", "only_rules", metavar="RULE_ID,...",
              help="Enable only these rules for the run (default: the rules as configured).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes sharing the work in one group.")
@click.pass_context
def bench(ctx: click.Context, events: int, seed: int, as_json: bool, only_rules: str | None,
          workers: int) -> None:
    """Benchmark the full pipeline on the embedded broker: events/s, latency, memory."""
    from streams.tools.bench import run_bench

    settings = settings_from(ctx)
    rule_ids = None if only_rules is None else [r.strip().upper() for r in only_rules.split(",") if r.strip()]
    run_bench(settings, events=events, seed=seed, as_json=as_json, only_rules=rule_ids, workers=workers)


@cli.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@click.option("--plot", type=click.Path(path_type=Path), help="Also draw alerts per rule and latency to this PNG.")
@click.option("--timeout", "timeout_s", type=float, default=600.0, show_default=True,
              help="Stop waiting for alerts after this many seconds past the replay.")
@click.option("--mapping", help="For a CSV FILE: its mapping (kcs, or a .toml) with a 'fraud' label column.")
@click.option("--workers", type=click.IntRange(1, 16), default=1, show_default=True,
              help="Workers in the consumer group that processes the file.")
@click.option("--model", type=click.Path(path_type=Path),
              help="Load this risk model in the workers and measure the lanes they write (a labelled CSV).")
@click.option("--lane-window-days", type=click.FloatRange(min=0, min_open=True), default=7.0, show_default=True,
              help="With --model: the window each office's capacity (10 % of its declarations) counts over.")
@click.pass_context
def evaluate(ctx: click.Context, file: Path, as_json: bool, plot: Path | None, timeout_s: float,
             mapping: str | None, workers: int, model: Path | None, lane_window_days: float) -> None:
    """Replay a labelled FILE on a fresh embedded broker; precision, recall, latency per rule.

    FILE is JSON Lines from `simulate --out` (planted patterns), or a CSV with
    --mapping whose 'fraud' label column marks the true cases. With --model,
    each office may send 10 % of its declarations to RED, counted per window
    (a week by default), and the lanes and scores are measured against the
    labels (AUC, precision at the top, infractions caught).
    """
    from streams.tools.evaluate import evaluate_command

    evaluate_command(settings_from(ctx), file, as_json, plot, timeout_s, mapping, workers, model, lane_window_days)


def _stop_on_sigterm(signum: int, frame: Any) -> None:
    # SIGTERM unwinds like Ctrl-C, so context managers stop child processes.
    raise KeyboardInterrupt


def main() -> None:
    """Entry point: run the CLI; a user's mistake is one line, a traceback only with --debug."""
    debug = "--debug" in sys.argv[1:]
    if sys.argv[1:2] != ["worker"]:  # Faust's worker handles its own signals
        signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        cli(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (CargoguardError, RuleConfigError) as exc:
        if debug:
            raise
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
