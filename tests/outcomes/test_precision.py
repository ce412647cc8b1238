from streams.outcomes.precision import DAY_MS, RulePrecision
from streams.outcomes.results import result_of_labelled_row, results_of_disposal
from tests.builders import T0, alert


def result(declaration_id, infraction, at=T0, rule_ids=()):
    return {"declaration_id": declaration_id, "result": "INFRACTION" if infraction else "NO_INFRACTION",
            "inspected_at": at, "rule_ids": list(rule_ids)}


def test_a_result_counts_for_the_rules_it_names_or_else_those_that_alerted_on_its_declaration():
    precision = RulePrecision()
    precision.add_result(result("D2", True))  # the result first, the alert after: still joined
    precision.add_alert(alert(rule_id="UNDERVALUATION", declaration_ids=["D1", "D2"]))
    precision.add_alert(alert(rule_id="WATCHLIST_HIT", declaration_ids=["D1"]))
    precision.add_result(result("D1", False))
    precision.add_result(result("D3", True, rule_ids=["SEAL_BROKEN"]))
    precision.add_result(result("D9", True))  # nothing alerted on it: no rule's precision
    figures = precision.figures()
    assert {rule: (f.inspected, f.confirmed) for rule, f in figures.items()} == {
        "SEAL_BROKEN": (1, 1), "UNDERVALUATION": (2, 1), "WATCHLIST_HIT": (1, 0)}
    assert figures["UNDERVALUATION"].precision == 0.5


def test_the_newest_result_per_declaration_counts_within_30_days_of_the_newest():
    precision = RulePrecision()
    precision.add_alert(alert(rule_id="SEAL_BROKEN", declaration_ids=["D1", "D2"]))
    precision.add_result(result("D1", False, at=T0))
    precision.add_result(result("D1", True, at=T0 + 1))
    precision.add_result(result("D1", False, at=T0 - 1))  # older than what is held
    assert precision.figures()["SEAL_BROKEN"].confirmed == 1
    precision.add_result(result("D2", False, at=T0 + 31 * DAY_MS))
    assert (precision.figures()["SEAL_BROKEN"].inspected, precision.figures()["SEAL_BROKEN"].confirmed) == (1, 0)


def test_a_disposal_records_a_result_per_declaration_and_a_labelled_row_its_label():
    case = {"case_id": "C-1", "office_code": "A", "rule_ids": ["SEAL_BROKEN"], "declaration_ids": ["D1", "D2"]}
    action = {"action_id": "x", "outcome": "FALSE_ALERT", "at": T0, "by": "ana", "note": "papers fine"}
    results = results_of_disposal(case, action)
    assert [(r["declaration_id"], r["result"], r["rule_ids"], r["source"]) for r in results] == [
        ("D1", "NO_INFRACTION", ["SEAL_BROKEN"], "control-room"), ("D2", "NO_INFRACTION", ["SEAL_BROKEN"],
                                                                   "control-room")]
    assert results_of_disposal(case, action | {"outcome": "SEIZURE"})[0]["infraction_kind"] == "SEIZURE"
    row = {"declaration_id": "41256141", "office_code": "40", "event_time": T0}
    assert result_of_labelled_row(row, {"fraud": "1", "critical_fraud": "1"}, "import:kcs")["infraction_kind"] \
        == "CRITICAL_FRAUD"
    clean = result_of_labelled_row(row, {"fraud": "0", "critical_fraud": "0"}, "import:kcs")
    assert (clean["result"], clean["result_id"]) == ("NO_INFRACTION", "import:kcs:41256141")
