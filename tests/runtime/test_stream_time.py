import orjson

from streams.runtime.stream_time import ProgressBoard, SourceTracker, tp_name

SOURCES = {"d": 2, "g": 1}
IDLE_AFTER = 1_000


def report(tps, sources=SOURCES):
    return {"sources": sources, "tps": tps}


def test_no_stream_time_until_every_partition_has_reported():
    board = ProgressBoard(IDLE_AFTER)
    assert board.watermark(0) is None
    board.update(report({"d:0": [100, 0, False], "d:1": [200, 0, False]}))
    assert board.watermark(0) is None
    board.update(report({"g:0": [150, 0, False]}))
    assert board.watermark(0) == 100


def test_stream_time_is_the_slowest_active_partition_and_never_goes_back():
    board = ProgressBoard(IDLE_AFTER)
    board.update(report({"d:0": [100, 0, False], "d:1": [300, 0, False], "g:0": [200, 0, False]}))
    assert board.watermark(0) == 100
    board.update({"tps": {"d:0": [400, 1, False]}})
    assert board.watermark(0) == 200
    board.update({"tps": {"d:0": [50, 2, False]}})  # an old report: newest time only grows
    assert board.watermark(0) == 200


def test_an_idle_partition_holds_stream_time_to_its_last_event_plus_the_wall_time_since():
    board = ProgressBoard(IDLE_AFTER)
    board.update(report({"d:0": [100, 0, True], "d:1": [300, 0, False], "g:0": [400, 0, False]}))
    assert board.watermark(0) == 100
    assert board.watermark(150) == 250
    assert board.watermark(10_000) == 300  # then the slowest active partition


def test_a_partition_that_never_delivered_holds_stream_time_to_what_was_delivered_an_idle_period_ago():
    # As in CI: the gate events' batch landed, the declarations' batch with earlier events not yet.
    board = ProgressBoard(IDLE_AFTER)
    board.update(report({"d:0": [None, None, True], "d:1": [None, None, True], "g:0": [100, 0, False]}))
    assert board.watermark(0) is None            # d's first events may be on their way
    assert board.watermark(999) is None
    board.update({"tps": {"g:0": [5_000, 1_500, False]}})
    assert board.watermark(1_500) == 100         # delivered by 500 ms: its first events would have come
    assert board.watermark(2_499) == 100
    assert board.watermark(2_500) == 5_000


def test_a_partition_that_never_delivered_stops_holding_once_it_delivers():
    board = ProgressBoard(IDLE_AFTER)
    board.update(report({"d:0": [None, None, True], "d:1": [300, 0, False], "g:0": [400, 0, False]}))
    assert board.watermark(0) is None
    board.update({"tps": {"d:0": [350, 10, False]}})
    assert board.watermark(10) == 300


def test_a_board_stored_and_read_back_decides_the_same():
    board = ProgressBoard(IDLE_AFTER)
    board.update(report({"d:0": [100, 0, True], "d:1": [300, 0, False], "g:0": [400, 0, False]}))
    assert board.watermark(50) == 150
    restored = ProgressBoard.from_doc(orjson.loads(orjson.dumps(board.to_doc())), IDLE_AFTER)
    assert restored == board
    assert restored.watermark(0) == 150  # never back, even on a clock read earlier
    assert restored.watermark(120) == 220


def test_a_partition_with_backlog_but_nothing_read_holds_back():
    board = ProgressBoard(IDLE_AFTER)
    board.update(report({"d:0": [None, None, False], "d:1": [300, 0, False], "g:0": [400, 0, False]}))
    assert board.watermark(0) is None


def test_all_idle_follows_the_wall_clock_from_the_newest_event():
    board = ProgressBoard(IDLE_AFTER)
    board.update(report({"d:0": [1_000, 10_000, True], "d:1": [5_000, 12_000, True],
                         "g:0": [None, None, True]}))
    assert board.watermark(12_000) is None  # g:0 has delivered nothing: wait an idle period
    assert board.watermark(13_000) == 6_000
    assert board.watermark(72_000) == 65_000


def test_tracker_reports():
    tracker = SourceTracker(idle_after_ms=1_000)
    tracker.saw(tp_name("d", 0), 500, offset=7, now_ms=10_000)
    tracker.saw(tp_name("d", 0), 400, offset=8, now_ms=10_100)
    assert tracker.next_offset("d:0") == 9
    assert tracker.step_report({"d:0"}) == {"tps": {"d:0": [500, 10_100, False]}}
    full = tracker.full_report({"d:0": 0, "d:1": 3, "g:0": 0}, SOURCES, now_ms=10_500)
    assert full["tps"]["d:0"] == [500, 10_100, False]  # no backlog but not quiet long enough
    assert full["tps"]["d:1"] == [None, None, False]   # backlog
    assert full["tps"]["g:0"] == [None, None, True]    # nothing read, nothing to read
    full = tracker.full_report({"d:0": 0}, SOURCES, now_ms=11_200)
    assert full["tps"]["d:0"][2] is True


def test_start_positions_count_until_an_event_is_read():
    tracker = SourceTracker(idle_after_ms=1_000)
    tracker.note_start_position("d:0", 42)
    assert tracker.next_offset("d:0") == 42
    tracker.saw("d:0", 1, offset=42, now_ms=0)
    assert tracker.next_offset("d:0") == 43
    tracker.forget_start_positions()
    assert tracker.next_offset("d:0") == 43
