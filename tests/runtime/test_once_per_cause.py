from streams.runtime.once_per_cause import OncePerCause


def test_each_cause_is_logged_first_then_at_most_once_per_interval_with_the_count_held_back():
    now = [0.0]
    gate = OncePerCause(interval_s=60, clock=lambda: now[0])
    assert gate.admit(("declarations", "UNDECODABLE")) == 0
    assert [gate.admit(("declarations", "UNDECODABLE")) for _ in range(3)] == [None] * 3
    assert gate.admit(("declarations", "INVALID")) == 0  # another cause has its own first line
    now[0] = 59.9
    assert gate.admit(("declarations", "UNDECODABLE")) is None
    now[0] = 60.0
    assert gate.admit(("declarations", "UNDECODABLE")) == 4
    now[0] = 200.0
    assert gate.admit(("declarations", "UNDECODABLE")) == 0
