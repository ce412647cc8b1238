"""The command-line tools around the worker: up, bench, evaluate, simulate, replay, the alert tail."""
