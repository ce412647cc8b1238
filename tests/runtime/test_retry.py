import logging

import pytest
from aiokafka.errors import KafkaTimeoutError, RequestTimedOutError

from streams.errors import TransientError, UndecodableEvent
from streams.runtime.retry import BACKOFF_CAP_S, CauseLog, backoff_s, cause_of, is_transient


@pytest.mark.parametrize("exc", [TransientError("registry away"), KafkaTimeoutError(), RequestTimedOutError(),
                                 TimeoutError(), ConnectionRefusedError()])
def test_faults_of_the_world_around_the_worker_are_transient(exc):
    assert is_transient(exc)


@pytest.mark.parametrize("exc", [KeyError("office_code"), ValueError("bad"), UndecodableEvent("not avro")])
def test_faults_of_the_event_or_the_code_are_not(exc):
    assert not is_transient(exc)


def test_back_off_doubles_up_to_its_cap():
    pauses = [backoff_s(attempt) for attempt in range(1, 10)]
    assert pauses[:3] == [0.2, 0.4, 0.8]
    assert pauses == sorted(pauses)
    assert max(pauses) == BACKOFF_CAP_S


def test_a_cause_is_its_type_and_first_line():
    assert cause_of(ValueError("price is -3\nat line 2")) == "ValueError: price is -3"
    assert cause_of(KeyError()) == "KeyError: "


def test_each_cause_is_logged_once_with_its_traceback(caplog):
    causes = CauseLog(logging.getLogger("test"))
    with caplog.at_level(logging.ERROR):
        for _ in range(3):
            causes.failed("router: step", ValueError("boom"))
        causes.failed("router: step", KafkaTimeoutError())
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    logged = [r.getMessage().split(" (")[1].split(")")[0] for r in errors]
    assert logged == ["ValueError: boom", "KafkaTimeoutError: KafkaTimeoutError"]
    assert all(r.exc_info for r in errors)
    assert "retrying until it passes" in errors[1].getMessage()
