"""The worker imports only what it runs: no tools, no plotting, no traffic generator."""

import json
import subprocess
import sys

# Loaded only by the command-line tools around the worker.
TOOLS_ONLY = ("streams.tools", "matplotlib", "hypothesis")


def modules_after_importing(module: str) -> set[str]:
    code = f"import json, sys, {module}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return set(json.loads(out))


def test_the_worker_entry_point_loads_no_tool_plotting_or_generator_module():
    loaded = modules_after_importing("streams.runtime.worker")
    assert "streams.runtime.app" in loaded, "the check must see the worker's own modules"
    unwanted = sorted(name for name in loaded if name.startswith(TOOLS_ONLY))
    assert unwanted == []


def test_the_command_line_loads_the_worker_and_tools_only_when_a_command_runs():
    loaded = modules_after_importing("streams.cli")
    assert sorted(name for name in loaded if name.startswith((*TOOLS_ONLY, "faust", "streams.runtime"))) == []
