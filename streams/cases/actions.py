"""An officer's action on a case, checked against who they are and where the case stands, then made a record.

The check runs on the worker that received the request, against its copy of
the case; the record goes to ``cargo.case-actions`` and every worker folds it
(``streams.cases.fold``), which also ignores an action a concurrent one made
moot (two officers taking the same case at once: the first recorded wins).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from streams.access.users import User, UserDirectory
from streams.cases.fold import ACTIONS, OUTCOMES

MAX_NOTE_CHARS = 2000


class ActionRefused(Exception):
    """The action is not allowed; the message says why, for the officer."""


def _text(request: Mapping[str, Any], name: str, required: bool = False) -> str | None:
    value = request.get(name)
    if value is None or value == "":
        if required:
            raise ActionRefused(f"{name} is required")
        return None
    if not isinstance(value, str):
        raise ActionRefused(f"{name} must be text")
    if len(value) > MAX_NOTE_CHARS:
        raise ActionRefused(f"{name} is longer than {MAX_NOTE_CHARS} characters")
    return value


def action_record(case: Mapping[str, Any], request: Mapping[str, Any], user: User, users: UserDirectory,
                  now_ms: int) -> dict[str, Any]:
    """The ``case_action.avsc`` record of ``request`` on ``case`` (a summary), or ``ActionRefused``."""
    kind = request.get("action")
    if kind not in ACTIONS:
        raise ActionRefused(f"action must be one of {', '.join(ACTIONS)}")
    if not user.acts_on_office(case["office_code"]):
        raise ActionRefused(f"{user.username} may not act on cases of office {case['office_code']}")
    state, owner = case["state"], case["owner"]
    record: dict[str, Any] = {
        "action_id": uuid.uuid4().hex, "case_id": case["case_id"], "action": kind, "by": user.username,
        "at": now_ms, "assignee": None, "outcome": None, "note": _text(request, "note"), "rule_id": None,
        "subject": None, "until": None,
    }
    if state == "DISPOSED" and kind not in ("NOTE", "REOPEN", "SNOOZE"):
        raise ActionRefused("the case is disposed; a supervisor can reopen it")
    if kind == "TAKE" and owner not in (None, user.username):
        raise ActionRefused(f"{owner} has the case; a supervisor can reassign it")
    if kind in ("ASSIGN", "REOPEN") and not user.supervises:
        raise ActionRefused(f"only a supervisor may {kind.lower()} a case")
    if kind == "REOPEN" and state != "DISPOSED":
        raise ActionRefused("the case is open")
    if kind == "ASSIGN":
        assignee = users.get(_text(request, "assignee", required=True) or "")
        if assignee is None or not assignee.acts_on_office(case["office_code"]):
            raise ActionRefused(f"{request.get('assignee')!r} is no user who acts on office {case['office_code']}")
        record["assignee"] = assignee.username
    if kind == "NOTE" and record["note"] is None:
        raise ActionRefused("a note needs its text")
    if kind == "DISPOSE":
        if request.get("outcome") not in OUTCOMES:
            raise ActionRefused(f"outcome must be one of {', '.join(OUTCOMES)}")
        record["outcome"] = request["outcome"]
    if kind == "SNOOZE":
        subject, rule_id, until = request.get("subject"), request.get("rule_id"), request.get("until")
        if subject not in case["subjects"] or rule_id not in case["rule_ids"]:
            raise ActionRefused("a snooze names one of the case's subjects and one of its rules")
        if not isinstance(until, int) or until <= now_ms:
            raise ActionRefused("until must be a time in the future (epoch milliseconds)")
        if record["note"] is None:
            raise ActionRefused("a snooze needs its reason in note")
        record.update(subject=subject, rule_id=rule_id, until=until)
    return record
