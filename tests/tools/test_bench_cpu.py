"""The bench's reading of a process's CPU time from /proc."""

import os
import time

from streams.tools.bench import cpu_seconds


def test_cpu_seconds_follow_the_process_own_clock():
    before, clock_before = cpu_seconds(os.getpid()), time.process_time()
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:
        pass
    spent = cpu_seconds(os.getpid()) - before
    assert abs(spent - (time.process_time() - clock_before)) < 0.05
    assert spent >= 0.25
