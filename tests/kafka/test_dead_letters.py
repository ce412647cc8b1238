from streams.errors import InvalidEvent, ProcessingFailed
from streams.kafka.dead_letters import KEPT_BYTES, MAX_REASON_CHARS, dead_letter_record


def test_bytes_within_the_limit_are_kept_untouched():
    record = dead_letter_record("t", 1, 7, b"k", b"v" * KEPT_BYTES, InvalidEvent("bad"), 5)
    assert (record["original_key"], record["original_value"], record["reason"]) == (b"k", b"v" * KEPT_BYTES, "bad")


def test_a_huge_value_is_cut_and_the_reason_says_where_the_whole_record_is():
    record = dead_letter_record("cargo.declarations", 2, 40, b"k", b"x" * (4 << 20), InvalidEvent("too big"), 5)
    assert record["original_value"] == b"x" * KEPT_BYTES
    assert record["reason"] == ("too big (the value of 4,194,304 bytes is cut to its first 262,144; "
                                "the whole record is at cargo.declarations[2]@40)")


def test_a_huge_reason_is_cut():
    record = dead_letter_record("t", 0, 0, None, None, ProcessingFailed("e" * 10_000), 5)
    assert record["reason"] == "e" * MAX_REASON_CHARS + "... (10,000 chars)"
