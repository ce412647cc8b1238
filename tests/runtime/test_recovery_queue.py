"""The queue of changelog records waiting to be restored has its own size, not the streams' buffer's."""

import json
import subprocess
import sys

from tests.conftest import REPO

CODE = """
import json
from streams.runtime.app import create_app
from streams.settings import load_settings
app, _runtime = create_app(load_settings())
print(json.dumps([app.conf.stream_buffer_maxsize, app.tables.changelog_queue.maxsize]))
"""


def test_a_small_stream_buffer_leaves_the_changelog_queue_its_own_size(deployment):
    deployed = deployment(stream_buffer_maxsize=64, changelog_buffer_maxsize=5000)
    # In a process of its own, as a worker: an app sets process-wide things (RocksDB's memory budget).
    out = subprocess.run([sys.executable, "-c", CODE], cwd=REPO, env={"PATH": "", **deployed.settings.as_env()},
                         check=True, capture_output=True, text=True, timeout=60).stdout
    assert json.loads(out.splitlines()[-1]) == [64, 5000]
