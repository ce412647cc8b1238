"""The real KCS customs declarations, replayed through their shipped mapping into a worker."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.e2e

DATA = REPO.parent / "shared" / "data" / "kcs-synthetic-declarations"
ROWS = 2000


@pytest.mark.skipif(not DATA.is_dir(), reason=f"KCS data not present at {DATA} (see ../shared/data/README.md)")
def test_kcs_rows_replay_through_the_shipped_mapping_and_are_all_routed(deployment, tmp_path: Path):
    lines = (DATA / "df_syn_test_eng.csv").read_text().splitlines()[: ROWS + 1]
    sample = tmp_path / "kcs-sample.csv"
    sample.write_text("\n".join(lines) + "\n")
    deployed = deployment()
    worker = deployed.start_worker()
    env = {"PATH": "", **deployed.settings.as_env()}
    result = subprocess.run([sys.executable, "-m", "streams", "replay", str(sample), "--mapping", "kcs"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert f"published {ROWS} events" in result.stdout
    worker.wait_metric("cargoguard_events_total", lambda routed: routed >= ROWS, feed="declaration")
    # None dead-lettered: every mapped row passed validation.
    assert worker.metric("cargoguard_events_total", feed="declaration") == ROWS
