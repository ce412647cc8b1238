"""The simulated file the scale-out and fault tests replay, and its one-worker reference run (once a session)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from streams.tools.replay import read_events
from streams.tools.simulate import FILE_START_MS, write_jsonl
from streams.tools.traffic import SimulationConfig, generate, watchlist_entries
from tests.conftest import Deployment
from tests.e2e.file_runs import run_file


@pytest.fixture(scope="session")
def traffic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A labelled file with every rule planted: the simulator's, an hour of stories at 1 event/s."""
    path = tmp_path_factory.mktemp("traffic") / "traffic.jsonl"
    config = SimulationConfig(seed=11, start_ms=FILE_START_MS, duration_s=1200, rate=1, pattern_rate=0.3)
    write_jsonl(itertools.chain(watchlist_entries(config), generate(config)), path)
    return path


@pytest.fixture(scope="session")
def one_worker(broker_address: str, traffic: Path,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, Any]]]:
    """The reference: the file through one worker."""
    deployed = Deployment(broker_address, tmp_path_factory.mktemp("one-worker"))
    try:
        alerts = run_file(deployed, traffic, 1)
    finally:
        deployed.close()
    planted = {(e.label["pattern"], e.label["subject_id"]) for e in read_events([traffic]) if e.label}
    found = {(a["rule_id"], a["subject_id"]) for a in alerts.values()}
    assert planted <= found, f"one worker missed {planted - found}"
    yield alerts
