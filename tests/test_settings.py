import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from streams.settings import Settings, load_settings


def test_defaults_run_the_embedded_setup():
    settings = Settings()
    assert settings.broker == "127.0.0.1:9092"
    assert settings.topic_prefix == "cargo."
    assert settings.web_host == "127.0.0.1"
    assert settings.store == "rocksdb"


def test_environment_and_file(tmp_path, monkeypatch):
    file = tmp_path / "cg.env"
    file.write_text("CARGOGUARD_PARTITIONS=8\nCARGOGUARD_TOPIC_PREFIX=test.\n")
    monkeypatch.setenv("CARGOGUARD_SETTINGS_FILE", str(file))
    monkeypatch.setenv("CARGOGUARD_PARTITIONS", "2")
    settings = load_settings(web_port=7000)
    assert settings.partitions == 2          # environment wins over the file
    assert settings.topic_prefix == "test."  # the file fills in the rest
    assert settings.web_port == 7000         # explicit overrides win over both


def test_missing_settings_file_is_an_error(monkeypatch):
    monkeypatch.setenv("CARGOGUARD_SETTINGS_FILE", "/nonexistent/cg.env")
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_settings()


def test_secrets_are_masked_and_passed_to_children(monkeypatch):
    settings = Settings(security_protocol="SASL_SSL", sasl_mechanism="PLAIN", sasl_username="u",
                        sasl_password="hunter2", data_dir=Path("/tmp/x"),
                        rule_precision_floors={"UNDERVALUATION": 0.2})
    assert settings.as_dict()["sasl_password"] == "********"
    assert "hunter2" not in repr(settings)
    env = settings.as_env()
    assert env["CARGOGUARD_SASL_PASSWORD"] == "hunter2"
    assert Settings(**{k.removeprefix("CARGOGUARD_").lower(): v for k, v in env.items()}) == settings
    monkeypatch.setattr(os, "environ", env)  # a child process reads the same values from its environment
    assert Settings() == settings
    assert settings.kafka_client_config()["sasl.password"] == "hunter2"


def test_bad_values_are_refused():
    with pytest.raises(ValidationError):
        Settings(topic_prefix="bad prefix/")
    with pytest.raises(ValidationError):
        Settings(store="redis")
    with pytest.raises(ValidationError):
        Settings(partitions=0)
