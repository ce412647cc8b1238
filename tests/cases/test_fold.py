import itertools

import pytest

from streams.access.users import User, UserDirectory
from streams.cases.actions import ActionRefused, action_record
from streams.cases.board import CaseBoard, format_cursor, parse_cursor
from streams.cases.fold import CaseFile, case_id_of, case_key, combined_score, status_of, summary
from tests.builders import alert

_ids = itertools.count()


def action(kind, by="ana", at=1, **fields):
    return {"action_id": f"x{next(_ids)}", "case_id": "C-1", "action": kind, "by": by, "at": at,
            "assignee": None, "outcome": None, "note": None, "rule_id": None, "subject": None, "until": None,
            **fields}


def test_a_case_is_the_shipment_else_the_declaration_else_the_subject():
    assert case_key(alert(transport_doc_no="BL1")) == "transport_doc_no:BL1"
    assert case_key(alert(transport_doc_no=None, declaration_ids=["D1", "D2"])) == "declaration_id:D1"
    assert case_key(alert(transport_doc_no=None, declaration_ids=[], subject_type="DECLARANT",
                          subject_id="DC9")) == "declarant:DC9"
    assert case_id_of("transport_doc_no:BL1") == case_id_of("transport_doc_no:BL1") != case_id_of("x")


def test_rules_that_agree_raise_the_score_and_the_parts_explain_it():
    assert combined_score([70]) == 70
    assert combined_score([70, 50]) == 85
    assert combined_score([]) == 0
    case = CaseFile("C-1", "transport_doc_no:BL1")
    case.add_alert(alert(alert_id="a1", rule_id="SEAL_BROKEN", score=70, severity="HIGH", transport_doc_no="BL1"))
    case.add_alert(alert(alert_id="a2", rule_id="EXIT_WITHOUT_CLEARANCE", score=50, severity="CRITICAL",
                         transport_doc_no="BL1"))
    case.add_alert(alert(alert_id="a3", rule_id="SEAL_BROKEN", score=60, severity="HIGH", transport_doc_no="BL1"))
    shown = summary(case)
    assert (shown["score"], shown["severity"]) == (85, "CRITICAL")
    assert [(p["rule_id"], p["score"], p["alerts"]) for p in shown["score_parts"]] == [
        ("SEAL_BROKEN", 70, 2), ("EXIT_WITHOUT_CLEARANCE", 50, 1)]
    assert shown["score_explanation"] == "SEAL_BROKEN 70 + EXIT_WITHOUT_CLEARANCE 50 -> 85 (rules agreeing raise it)"
    assert not case.add_alert(alert(alert_id="a1", version=1, score=1))  # not newer
    assert case.add_alert(alert(alert_id="a1", version=2, rule_id="SEAL_BROKEN", score=90, transport_doc_no="BL1"))
    assert summary(case)["score"] == 95


def test_the_state_is_the_fold_of_the_actions_and_moot_ones_are_ignored_with_a_reason():
    status = status_of([action("TAKE", by="ana"), action("TAKE", by="bob"), action("REQUEST_INSPECTION"),
                        action("DISPOSE", outcome="SEIZURE", note="200 phones", at=5), action("TAKE", by="bob")])
    assert (status.state, status.owner, status.outcome, status.outcome_note) == ("DISPOSED", "ana", "SEIZURE",
                                                                                "200 phones")
    assert [reason for _, reason in status.ignored] == ["already taken by ana", "TAKE on a disposed case"]
    reopened = status_of([action("TAKE"), action("DISPOSE", outcome="FALSE_ALERT"), action("REOPEN", by="sam"),
                          action("ASSIGN", by="sam", assignee="bob")])
    assert (reopened.state, reopened.owner, reopened.outcome) == ("TAKEN", "bob", None)


def test_a_snooze_marks_the_alerts_raised_while_it_holds():
    case = CaseFile("C-1", "k")
    snooze_action = action("SNOOZE", at=100, rule_id="SEAL_BROKEN", subject="SHIPMENT:BL1", until=1_000,
                           note="known damaged seal")
    case.add_action(snooze_action)
    case.add_alert(alert(alert_id="a1", rule_id="SEAL_BROKEN", subject_id="BL1", transport_doc_no="BL1",
                         detected_at=500))
    from streams.cases.fold import snoozes_in
    assert summary(case, snoozes_in(case.actions))["snoozed"] is True
    case.add_alert(alert(alert_id="a2", rule_id="SEAL_BROKEN", subject_id="BL1", transport_doc_no="BL1",
                         detected_at=2_000))
    assert summary(case, snoozes_in(case.actions))["snoozed"] is False
    assert not case.add_action(snooze_action)  # redelivered


OFFICER = User("ana", "OFFICER", frozenset({"A"}), "h", 1)
OTHER_OFFICER = User("bob", "OFFICER", frozenset({"A"}), "h", 1)
SUPERVISOR = User("sam", "SUPERVISOR", frozenset(), "h", 1)
USERS = UserDirectory()
for u in (OFFICER, OTHER_OFFICER, SUPERVISOR):
    USERS.users[u.username] = u


def case_at(office="A", **status):
    return {"case_id": "C-1", "office_code": office, "state": "NEW", "owner": None,
            "subjects": ["SHIPMENT:BL1"], "rule_ids": ["SEAL_BROKEN"], **status}


def test_actions_are_checked_against_the_user_and_the_case():
    record = action_record(case_at(), {"action": "TAKE"}, OFFICER, USERS, now_ms=10)
    assert (record["action"], record["by"], record["at"], record["case_id"]) == ("TAKE", "ana", 10, "C-1")
    refusals = [
        (case_at(office="B"), {"action": "TAKE"}, OFFICER, "may not act on cases of office B"),
        (case_at(owner="bob", state="TAKEN"), {"action": "TAKE"}, OFFICER, "bob has the case"),
        (case_at(), {"action": "ASSIGN", "assignee": "bob"}, OFFICER, "only a supervisor"),
        (case_at(), {"action": "ASSIGN", "assignee": "nobody"}, SUPERVISOR, "no user who acts on office A"),
        (case_at(), {"action": "DISPOSE", "outcome": "MAYBE"}, OFFICER, "outcome must be one of"),
        (case_at(state="DISPOSED"), {"action": "TAKE"}, OFFICER, "the case is disposed"),
        (case_at(state="DISPOSED"), {"action": "REOPEN"}, OFFICER, "only a supervisor"),
        (case_at(), {"action": "REOPEN"}, SUPERVISOR, "the case is open"),
        (case_at(), {"action": "NOTE"}, OFFICER, "a note needs its text"),
        (case_at(), {"action": "NOTE", "note": "x" * 2001}, OFFICER, "longer than"),
        (case_at(), {"action": "SNOOZE", "subject": "SHIPMENT:BL1", "rule_id": "SEAL_BROKEN", "until": 5,
                     "note": "r"}, OFFICER, "in the future"),
        (case_at(), {"action": "SNOOZE", "subject": "SHIPMENT:BL2", "rule_id": "SEAL_BROKEN", "until": 50,
                     "note": "r"}, OFFICER, "one of the case's subjects"),
        (case_at(), {"action": "DROP"}, OFFICER, "action must be one of"),
    ]
    for case, request, user, reason in refusals:
        with pytest.raises(ActionRefused, match=reason):
            action_record(case, request, user, USERS, now_ms=10)
    assigned = action_record(case_at(), {"action": "ASSIGN", "assignee": "bob"}, SUPERVISOR, USERS, now_ms=10)
    assert assigned["assignee"] == "bob"


def test_the_board_tells_what_changed_after_a_cursor_whatever_the_worker():
    board = CaseBoard()
    board.offer_alert(alert(alert_id="a1", transport_doc_no="BL1"), partition=0, offset=0)
    board.offer_alert(alert(alert_id="a2", transport_doc_no="BL2"), partition=1, offset=0)
    cursor = parse_cursor(format_cursor(board.positions))
    assert cursor == {("a", 0): 1, ("a", 1): 1}
    assert board.changed_after(cursor) == []
    board.offer_alert(alert(alert_id="a3", transport_doc_no="BL2"), partition=1, offset=1)
    (changed,) = board.changed_after(cursor)
    assert changed["transport_doc_no"] == "BL2" and len(changed["alert_ids"]) == 2
    assert len(board.changed_after(None)) == 2
    board.offer_action(action("TAKE") | {"case_id": changed["case_id"]}, partition=0, offset=0)
    assert board.get(changed["case_id"])["owner"] == "ana"
    assert [c["case_id"] for c in board.changed_after(parse_cursor(format_cursor(board.positions)))] == []
    assert parse_cursor("a0=1.zz") is None and parse_cursor("") is None


def test_a_snooze_read_after_the_alerts_it_covers_marks_their_cases_too():
    board = CaseBoard()
    board.offer_alert(alert(alert_id="a1", rule_id="SEAL_BROKEN", subject_id="BL7", transport_doc_no="BL7",
                            detected_at=500), partition=0, offset=0)
    case_id = board.changed_after(None)[0]["case_id"]
    assert board.get(case_id)["snoozed"] is False
    snooze = action("SNOOZE", at=100, rule_id="SEAL_BROKEN", subject="SHIPMENT:BL7", until=1_000, note="known")
    board.offer_action(snooze | {"case_id": "C-other"}, partition=0, offset=0)
    assert board.get(case_id)["snoozed"] is True
