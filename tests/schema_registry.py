"""A schema registry for the end-to-end tests: the part of Confluent's REST API cargoguard uses.

Confluent's registry (Java) and Karapace need a JVM or a Kafka they were
not built against here, so this answers the two calls a client makes,
``POST /subjects/<subject>/versions`` and ``GET /schemas/ids/<id>``, as the
API reference defines them: an id per distinct schema, the same id when a
schema is registered again. Compatibility is not checked here; the
schemas' own compatibility test (tests/kafka/test_schema_compatibility.py)
does that.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class _Answering(http.server.BaseHTTPRequestHandler):
    server: _RegistryServer

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        parts = self.path.strip("/").split("/")
        if len(parts) != 3 or parts[0] != "subjects" or parts[2] != "versions":
            self._reply(404, {"error_code": 404, "message": "not found"})
            return
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self._reply(200, {"id": self.server.register(parts[1], json.loads(body["schema"]))})

    def do_GET(self) -> None:
        parts = self.path.strip("/").split("/")
        if len(parts) == 3 and parts[:2] == ["schemas", "ids"] and parts[2].isdigit():
            schema = self.server.schemas.get(int(parts[2]))
            if schema is not None:
                self._reply(200, {"schema": json.dumps(schema)})
                return
            self._reply(404, {"error_code": 40403, "message": "Schema not found"})
            return
        self._reply(404, {"error_code": 404, "message": "not found"})

    def log_message(self, *args: Any) -> None:
        pass


class _RegistryServer(http.server.ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Answering)
        self.schemas: dict[int, dict[str, Any]] = {}
        self.subjects: dict[str, list[int]] = {}
        self._lock = threading.Lock()

    def register(self, subject: str, schema: dict[str, Any]) -> int:
        with self._lock:
            schema_id = next((known for known, held in self.schemas.items() if held == schema),
                             len(self.schemas) + 1)
            self.schemas[schema_id] = schema
            versions = self.subjects.setdefault(subject, [])
            if schema_id not in versions:
                versions.append(schema_id)
            return schema_id


@contextmanager
def schema_registry() -> Iterator[_RegistryServer]:
    """A registry on a free loopback port; its URL is ``f"http://127.0.0.1:{server.server_port}"``."""
    server = _RegistryServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
