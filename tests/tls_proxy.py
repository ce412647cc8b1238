"""TLS in front of the embedded broker, for the tests of cargoguard's Kafka TLS settings.

Tansu 0.6.0 serves plaintext whatever its ``--cert``/``--key`` flags say (see
the README), so the tests put a TLS-terminating proxy before it and have the
broker advertise the proxy: every client connection, bootstrap and
per-broker, is TLS from the client to the proxy, verified against a CA the
test makes. The proxy only unwraps and copies bytes.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TestCertificates:
    ca: Path
    server_cert: Path
    server_key: Path


def make_certificates(folder: Path) -> TestCertificates:
    """A throw-away CA and a server certificate for 127.0.0.1 it signed (openssl, one day)."""
    ca_key, ca = folder / "ca.key", folder / "ca.pem"
    key, request, cert = folder / "server.key", folder / "server.csr", folder / "server.pem"
    extensions = folder / "server.ext"
    extensions.write_text("subjectAltName=IP:127.0.0.1\n")
    for command in (
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca,
         "-subj", "/CN=cargoguard test CA", "-days", "1"],
        ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", request, "-subj", "/CN=127.0.0.1"],
        ["x509", "-req", "-in", request, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert,
         "-days", "1", "-extfile", extensions],
    ):
        subprocess.run(["openssl", *map(str, command)], check=True, capture_output=True)
    return TestCertificates(ca, cert, key)


class TlsProxy:
    """Accepts TLS on ``listen`` and copies each connection's bytes to and from ``upstream``."""

    def __init__(self, listen: tuple[str, int], upstream: tuple[str, int], certificates: TestCertificates) -> None:
        self.upstream = upstream
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(certificates.server_cert, certificates.server_key)
        self.server = socket.create_server(listen)
        self.handshakes = 0
        self.refused = 0
        self._stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            secure = self.context.wrap_socket(client, server_side=True)
        except (ssl.SSLError, OSError):
            self.refused += 1
            client.close()
            return
        self.handshakes += 1
        try:
            broker = socket.create_connection(self.upstream)
        except OSError:
            secure.close()
            return
        threading.Thread(target=self._copy, args=(broker, secure), daemon=True).start()
        self._copy(secure, broker)

    @staticmethod
    def _copy(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, target):
                with suppress(OSError):
                    end.close()

    def close(self) -> None:
        self._stopped.set()
        self.server.close()


@contextmanager
def tls_proxy(listen: tuple[str, int], upstream: tuple[str, int],
              certificates: TestCertificates) -> Iterator[TlsProxy]:
    proxy = TlsProxy(listen, upstream, certificates)
    try:
        yield proxy
    finally:
        proxy.close()
