"""``cargoguard up``: the embedded default, every process on one machine, stopped together.

Starts the embedded broker, creates the topics, starts a worker (and with
``demo`` a live simulator) as child processes, waits until the worker is
ready, prints the URLs and follows the alerts in the terminal. Ctrl-C stops
the children in reverse order: feed, worker, broker.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from pathlib import Path

from rich.console import Console

from streams.errors import UserError
from streams.kafka.alert_feed import AlertFilter, follow_alerts
from streams.kafka.embedded_broker import EmbeddedBroker
from streams.kafka.topics import create_topics
from streams.settings import Settings
from streams.tools.alert_view import show_live_table
from streams.tools.users import add_user, one_time_password

READY_TIMEOUT_S = 120.0
DEMO_USER = "supervisor"
# The demo plants more patterns than real traffic has, so alerts show early.
DEMO_PATTERN_RATE = 0.2
# ... and runs stories 300 times faster than life: an hour in port in 12 s.
DEMO_TIME_SCALE = 300.0


def cargoguard_command(*args: str) -> list[str]:
    """The command line of a cargoguard child process (same interpreter)."""
    return [sys.executable, "-m", "streams", *args]


def wait_until_ready(url: str, process: subprocess.Popen[bytes], timeout_s: float = READY_TIMEOUT_S) -> None:
    """Poll a worker's ``/ready`` until it answers 200."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise UserError(f"the worker exited with {process.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url, timeout=1.0) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    raise UserError(f"the worker was not ready within {timeout_s:.0f} s ({url})")


def stop_process(process: subprocess.Popen[bytes], timeout_s: float = 20.0) -> None:
    """SIGTERM, wait, then SIGKILL."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def run_up(settings: Settings, demo: bool, demo_rate: float, console: Console) -> None:
    """Run the embedded default until Ctrl-C."""
    # The embedded broker keeps nothing between runs, so neither may the worker.
    state_dir = Path(settings.data_dir) / "embedded"
    shutil.rmtree(state_dir, ignore_errors=True)
    state_dir.mkdir(parents=True, exist_ok=True)
    update: dict[str, object] = {"data_dir": state_dir}
    if settings.session_secret is None:
        update["session_secret"] = secrets.token_urlsafe(32)
    settings = settings.model_copy(update=update)
    env = {**os.environ, **settings.as_env()}

    with ExitStack() as stack:
        broker_log = stack.enter_context((state_dir / "broker.log").open("wb"))
        broker = stack.enter_context(EmbeddedBroker(settings.broker, settings.tansu_bin, log=broker_log))
        console.print(f"[green]broker[/] Kafka API on {broker.address} (Tansu, in memory)")
        create_topics(settings)
        # The broker keeps nothing, so each run has one user: a supervisor whose
        # password is made up now and shown only here.
        password = one_time_password()
        add_user(settings, DEMO_USER, "supervisor", (), password)
        worker_log = stack.enter_context((state_dir / "worker.log").open("wb"))
        worker = subprocess.Popen(cargoguard_command("worker"), env=env, stdout=worker_log,
                                  stderr=subprocess.STDOUT, start_new_session=True)
        stack.callback(stop_process, worker)
        base = f"http://{settings.web_host}:{settings.web_port}"
        console.print(f"[green]worker[/] starting (log: {state_dir / 'worker.log'})")
        wait_until_ready(f"{base}/ready", worker)
        console.print(f"[green]worker[/] ready: control room {base}/control-room/  metrics {base}/metrics")
        console.print(f"[green]sign in[/] as [bold]{DEMO_USER}[/] with the one-time password [bold]{password}[/] "
                      "(this run only; 'cargoguard users add' adds more)")
        if demo:
            feed = subprocess.Popen(cargoguard_command("simulate", "--rate", str(demo_rate),
                                                       "--pattern-rate", str(DEMO_PATTERN_RATE),
                                                       "--time-scale", str(DEMO_TIME_SCALE)),
                                    env=env, stdout=subprocess.DEVNULL,
                                    stderr=stack.enter_context((state_dir / "demo.log").open("wb")),
                                    start_new_session=True)
            stack.callback(stop_process, feed)
            console.print(f"[green]demo[/] simulated traffic at {demo_rate:g} events/s")
        console.print("Following alerts; Ctrl-C stops everything.")
        try:
            show_live_table(
                follow_alerts(settings, from_beginning=True,
                              should_stop=lambda: worker.poll() is not None),
                AlertFilter(), console)
        except KeyboardInterrupt:
            console.print("stopping...")
        if worker.poll() is not None and worker.returncode not in (0, -signal.SIGTERM):
            raise UserError(f"the worker exited with {worker.returncode}; see {state_dir / 'worker.log'}")
