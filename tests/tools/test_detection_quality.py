from streams.tools.detection_quality import latencies, percentile, score, score_against_labels

SPLIT = "SPLIT_SHIPMENT"
EXIT = "EXIT_WITHOUT_CLEARANCE"


def test_caught_missed_and_false_per_rule_and_overall():
    planted = {(SPLIT, "IMPORTER", "a"), (SPLIT, "IMPORTER", "b"), (EXIT, "SHIPMENT", "s1")}
    alerted = {(SPLIT, "IMPORTER", "a"), (SPLIT, "IMPORTER", "x"), (EXIT, "SHIPMENT", "s1"),
               ("SEAL_BROKEN", "SHIPMENT", "s1")}
    quality = score(planted, alerted)
    rows = {r.rule_id: r for r in quality.rules}
    assert (rows[SPLIT].caught, rows[SPLIT].missed, rows[SPLIT].false) == (1, 1, 1)
    assert rows[SPLIT].missed_subjects == ("IMPORTER:b",) and rows[SPLIT].false_subjects == ("IMPORTER:x",)
    assert (rows[SPLIT].precision, rows[SPLIT].recall) == (0.5, 0.5)
    # An alert of another rule on a planted subject is a false alert of that rule.
    assert (rows["SEAL_BROKEN"].planted, rows["SEAL_BROKEN"].false, rows["SEAL_BROKEN"].recall) == (0, 1, None)
    assert (rows["SEAL_BROKEN"].precision) == 0.0
    overall = quality.overall
    assert (overall.planted, overall.caught, overall.missed, overall.false) == (3, 2, 1, 2)
    assert overall.precision == 0.5 and round(overall.recall, 3) == 0.667


def test_nothing_planted_nothing_raised_has_no_ratios():
    quality = score(set(), set())
    assert quality.rules == () and quality.overall.precision is None and quality.overall.recall is None


def test_latency_runs_from_the_newest_published_trigger_and_waiting_rules_apart():
    published = {"e1": 10.0, "e2": 11.0, "e3": 20.0}
    first_seen = {
        "A": (11.5, {"rule_id": SPLIT, "trigger_event_ids": ["e1", "e2"]}),
        "B": (80.0, {"rule_id": EXIT, "trigger_event_ids": ["e3"]}),
        "C": (5.0, {"rule_id": SPLIT, "trigger_event_ids": ["not-published-here"]}),
    }
    sample = latencies(first_seen, published, [EXIT])
    assert sample.prompt_ms == [500.0] and sample.waiting_ms == [60_000.0]
    assert sample.by_rule_ms == {SPLIT: [500.0], EXIT: [60_000.0]}


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.99), percentile(values, 1.0)) == (50.0, 99.0, 100.0)
    assert percentile([], 0.5) is None


def test_alerts_against_declaration_labels_per_rule_overall_and_base_rate():
    alerts = [
        {"rule_id": "UNDERVALUATION", "declaration_ids": ["d1"]},
        {"rule_id": "UNDERVALUATION", "declaration_ids": ["d2"]},
        {"rule_id": "SPLIT_SHIPMENT", "declaration_ids": ["d2", "d3", "d4"]},
    ]
    report = score_against_labels(positive={"d2", "d4", "d9"}, declarations=10, alerts=alerts)
    rows = {r.rule_id: r for r in report.rules}
    assert (rows["UNDERVALUATION"].alerts, rows["UNDERVALUATION"].declarations, rows["UNDERVALUATION"].positive) \
        == (2, 2, 1)
    assert rows["SPLIT_SHIPMENT"].precision == 2 / 3
    assert (report.overall.declarations, report.overall.positive) == (4, 2)
    assert report.base_rate == 0.3 and report.recall == 2 / 3


def test_no_alerts_against_labels_gives_zero_recall():
    report = score_against_labels(positive={"d1"}, declarations=5, alerts=[])
    assert report.rules == () and report.recall == 0.0 and report.overall.precision is None
