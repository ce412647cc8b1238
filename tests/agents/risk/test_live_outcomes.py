"""Live outcomes: joined in any order, counted only between the model's horizon and the declaration's time."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from agents.risk.features import OutcomeHistory
from agents.risk.live_outcomes import LiveOutcomes

DAY_MS = 86_400_000


def categories(declarant: str) -> dict[str, str]:
    return {"declarant_id": declarant, "office_code": "KRPUS01"}


def counts(history: OutcomeHistory) -> tuple[int, int, dict[str, int], dict[str, int]]:
    """What a history counts, without the entries brought back to zero."""
    return (history.total_inspected, history.total_infractions,
            {k: v for k, v in history.inspected["declarant_id"].items() if v},
            {k: v for k, v in history.infractions["declarant_id"].items() if v})


def recount(outcomes: dict[str, tuple[str, int, bool]], after: int, before: int) -> OutcomeHistory:
    """The window counted from scratch: declaration -> (declarant, inspected at, infraction)."""
    history = OutcomeHistory()
    for declarant, inspected_at, infraction in outcomes.values():
        if after < inspected_at < before:
            history.count(categories(declarant), infraction)
    return history


def test_a_result_counts_once_its_declaration_is_known_whichever_comes_first():
    first_sent, first_result = LiveOutcomes(join_window_ms=DAY_MS), LiveOutcomes(join_window_ms=DAY_MS)
    first_sent.add_sent("D1", 1_000, categories("A"))
    first_sent.add_result("D1", 5_000, True)
    first_result.add_result("D1", 5_000, True)
    assert counts(first_result.history_between(0, 10_000)) == (0, 0, {}, {})  # nothing to join it to yet
    first_result.add_sent("D1", 1_000, categories("A"))
    for live in (first_sent, first_result):
        assert counts(live.history_between(0, 10_000)) == (1, 1, {"A": 1}, {"A": 1})


def test_no_outcome_from_a_declarations_future_or_before_the_model_learned_is_counted():
    live = LiveOutcomes(join_window_ms=DAY_MS)
    for i, inspected_at in enumerate((2_000, 5_000, 9_000)):
        live.add_sent(f"D{i}", 1_000, categories("A"))
        live.add_result(f"D{i}", inspected_at, infraction=True)
    assert counts(live.history_between(0, 5_000))[0] == 1  # inspected at 5,000: not before a declaration of 5,000
    assert counts(live.history_between(0, 5_001))[0] == 2
    assert counts(live.history_between(0, 100_000))[0] == 3
    assert counts(live.history_between(0, 1_000))[0] == 0  # back in time: taken out again
    assert counts(live.history_between(5_000, 100_000))[0] == 1  # the model knows those up to 5,000


def test_an_outcome_joined_after_later_declarations_were_scored_counts_for_the_next():
    live = LiveOutcomes(join_window_ms=DAY_MS)
    live.add_sent("D1", 1_000, categories("A"))
    live.add_result("D1", 5_000, infraction=True)
    assert counts(live.history_between(0, 50_000)) == (1, 1, {"A": 1}, {"A": 1})
    live.add_sent("D2", 1_000, categories("B"))
    live.add_result("D2", 3_000, infraction=False)  # reported late: inspected before D1 was
    assert counts(live.history_between(0, 50_000)) == (2, 1, {"A": 1, "B": 1}, {"A": 1})
    assert counts(live.history_between(0, 4_000)) == (1, 0, {"B": 1}, {})


def test_a_later_result_supersedes_the_earlier_one():
    live = LiveOutcomes(join_window_ms=DAY_MS)
    live.add_sent("D1", 1_000, categories("A"))
    live.add_result("D1", 2_000, infraction=False)
    assert counts(live.history_between(0, 10_000)) == (1, 0, {"A": 1}, {})
    live.add_result("D1", 3_000, infraction=True)  # a re-inspection found it
    assert counts(live.history_between(0, 10_000)) == (1, 1, {"A": 1}, {"A": 1})
    live.add_sent("D1", 1_000, categories("A"))  # the lane restated: nothing changes
    assert counts(live.history_between(0, 10_000)) == (1, 1, {"A": 1}, {"A": 1})


def test_declarations_and_results_that_find_no_partner_in_the_join_window_are_forgotten():
    live = LiveOutcomes(join_window_ms=DAY_MS)
    live.add_sent("OLD", 0, categories("A"))
    live.add_result("ORPHAN", 0, infraction=True)
    live.add_sent("NEW", 2 * DAY_MS, categories("B"))
    live.add_result("OTHER", 2 * DAY_MS, infraction=False)
    assert set(live.sent) == {"NEW"}
    assert set(live.waiting) == {"OTHER"}
    live.add_result("OLD", 2 * DAY_MS, infraction=True)  # too late to join: it waits, never counted
    assert counts(live.history_between(0, 3 * DAY_MS)) == (0, 0, {}, {})


events = st.lists(st.tuples(st.sampled_from(["sent", "result", "score", "model"]), st.integers(0, 4),
                            st.sampled_from(["A", "B", "C"]), st.integers(0, 20), st.booleans()), max_size=60)


@settings(max_examples=500, deadline=None)
@given(events)
def test_the_moving_window_always_equals_a_recount(steps):
    """In any order of declarations, results, supersessions, newer models and scoring times."""
    live = LiveOutcomes(join_window_ms=10 * DAY_MS)
    sent: dict[str, str] = {}
    results: dict[str, tuple[int, bool]] = {}
    after = 0
    for kind, number, declarant, time, infraction in steps:
        declaration_id = f"D{number}"
        if kind == "sent":
            declarant = sent.setdefault(declaration_id, declarant)  # a declaration's categories never change
            live.add_sent(declaration_id, 0, categories(declarant))
        elif kind == "result":
            results[declaration_id] = (time, infraction)
            live.add_result(declaration_id, time, infraction)
        elif kind == "model":
            after = max(after, time)  # a newer model, which learned up to ``time``
        else:
            joined = {d: (sent[d], *results[d]) for d in results.keys() & sent.keys()}
            assert counts(live.history_between(after, time)) == counts(recount(joined, after, time))
