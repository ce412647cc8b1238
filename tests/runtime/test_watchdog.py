from streams.runtime.watchdog import PartitionWatch


def test_a_partition_with_events_waiting_and_no_commit_for_long_enough_is_stuck_until_it_moves():
    watch = PartitionWatch(stuck_after_s=60)
    assert watch.observe("t[0]", 10, 15, now=0) is None
    assert watch.observe("t[0]", 10, 15, now=59) is None
    assert watch.observe("t[0]", 10, 15, now=60) == "stuck"
    assert watch.stuck() == ["t[0]"]
    assert watch.observe("t[0]", 10, 16, now=70) is None  # said once
    assert watch.observe("t[0]", 11, 16, now=80) == "moving"
    assert watch.stuck() == []


def test_a_quiet_partition_with_nothing_waiting_is_never_stuck():
    watch = PartitionWatch(stuck_after_s=60)
    for now in range(0, 600, 10):
        assert watch.observe("t[0]", 15, 15, now=now) is None
    assert watch.observe("t[1]", None, 0, now=0) is None
    assert watch.observe("t[1]", None, 0, now=600) is None
    assert watch.stuck() == []


def test_a_stuck_partition_whose_backlog_disappears_moves_and_a_rebalance_starts_every_clock_again():
    watch = PartitionWatch(stuck_after_s=10)
    watch.observe("t[0]", None, 5, now=0)
    assert watch.observe("t[0]", None, 5, now=10) == "stuck"
    assert watch.observe("t[0]", None, 0, now=11) == "moving"  # the topic was truncated, say
    watch.observe("t[1]", 3, 9, now=0)
    watch.forget()
    assert watch.observe("t[1]", 3, 9, now=10) is None
    assert watch.stuck() == []
