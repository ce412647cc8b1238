"""The evaluate command's parts that need no broker: ground truth from a file, the report, the plot."""

import dataclasses
import json

import pytest
from rich.console import Console

from streams.errors import UserError
from streams.tools.detection_quality import LatencySample, score, score_against_labels
from streams.tools.evaluate import Evaluation, as_dict, plot_evaluation, print_evaluation, read_truth
from streams.tools.simulate import FILE_START_MS, json_line, write_jsonl
from streams.tools.traffic import SimulationConfig, generate

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SPLIT = "SPLIT_SHIPMENT"
EXIT = "EXIT_WITHOUT_CLEARANCE"


def simulated(seed=3):
    return list(generate(SimulationConfig(seed=seed, start_ms=FILE_START_MS, duration_s=300, rate=5,
                                          pattern_rate=0.3)))


def test_the_truth_of_a_simulated_file_is_its_labels(tmp_path):
    events = simulated()
    path = tmp_path / "sim.jsonl"
    write_jsonl(events, path)
    truth = read_truth(path, None)
    planted = {(e.label["pattern"], e.label["subject_type"], e.label["subject_id"]) for e in events if e.label}
    assert planted and truth.planted == planted and truth.events == len(events)


def test_a_file_without_labels_is_refused(tmp_path):
    path = tmp_path / "clean.jsonl"
    write_jsonl([dataclasses.replace(e, label=None) for e in simulated()], path)
    with pytest.raises(UserError, match="no labelled events; write one with `cargoguard simulate --out`"):
        read_truth(path, None)


def test_a_label_without_its_subject_names_the_line(tmp_path):
    event = next(e for e in simulated() if e.label)
    document = json.loads(json_line(event))
    del document["label"]["subject_id"]
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(document) + "\n")
    with pytest.raises(UserError, match=r"bad.jsonl:1: label without 'subject_id'"):
        read_truth(path, None)


def test_a_csv_file_needs_a_mapping(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("Declaration ID,Fraud\n1,0\n")
    with pytest.raises(UserError, match="needs --mapping"):
        read_truth(path, None)


def planted_evaluation():
    planted = {(SPLIT, "IMPORTER", "a"), (SPLIT, "IMPORTER", "b"), (EXIT, "SHIPMENT", "s1")}
    alerted = {(SPLIT, "IMPORTER", "a"), (EXIT, "SHIPMENT", "s1"), (EXIT, "SHIPMENT", "s2")}
    latency = LatencySample(prompt_ms=[100.0, 300.0], waiting_ms=[61_000.0],
                            by_rule_ms={SPLIT: [100.0, 300.0], EXIT: [61_000.0]})
    return Evaluation(events=50, alerts=3, latency=latency, quality=score(planted, alerted))


def labelled_evaluation():
    alerts = [{"rule_id": "UNDERVALUATION", "declaration_ids": ["d1"]},
              {"rule_id": "UNDERVALUATION", "declaration_ids": ["d2"]}]
    latency = LatencySample(prompt_ms=[900.0, 1100.0], by_rule_ms={"UNDERVALUATION": [900.0, 1100.0]})
    return Evaluation(events=10, alerts=2, latency=latency,
                      labels=score_against_labels({"d2", "d5"}, declarations=10, alerts=alerts))


def test_the_json_report_has_every_rule_the_overall_row_and_latency_apart_for_waiting_rules():
    report = json.loads(json.dumps(as_dict(planted_evaluation())))
    assert report["complete"] is True
    rows = {row["rule_id"]: row for row in report["rules"]}
    assert (rows[SPLIT]["recall"], rows[SPLIT]["missed_subjects"]) == (0.5, ["IMPORTER:b"])
    assert (rows[EXIT]["false_alerts"], rows[EXIT]["false_subjects"]) == (1, ["SHIPMENT:s2"])
    assert report["overall"] == {
        "rule_id": "ALL", "planted": 3, "caught": 2, "missed": 1, "false_alerts": 1, "precision": 2 / 3,
        "recall": 2 / 3, "missed_subjects": [], "false_subjects": []}
    assert report["latency_ms"] == {"alerts": 2, "p50": 100.0, "p95": 300.0, "p99": 300.0, "max": 300.0}
    assert report["stream_time_decisions_ms"] == {"alerts": 1, "p50": 61_000.0, "max": 61_000.0}
    assert report["latency_ms_by_rule"][SPLIT] == {"alerts": 2, "p50": 100.0, "max": 300.0}
    assert "against_labels" not in report


def test_the_json_report_against_labels_gives_the_base_rate_beside_the_precision():
    report = as_dict(labelled_evaluation())
    labels = report["against_labels"]
    assert (labels["base_rate"], labels["recall"], labels["overall"]["precision"]) == (0.2, 0.5, 0.5)
    assert "rules" not in report


def test_the_table_shows_each_rule_and_the_overall_row():
    console = Console(record=True, width=160)
    print_evaluation(planted_evaluation(), console)
    text = console.export_text()
    assert "SPLIT_SHIPMENT" in text and "ALL" in text and "p50 100 ms" in text
    console = Console(record=True, width=160)
    print_evaluation(labelled_evaluation(), console)
    assert "2 of 10 declarations labelled fraud (base rate 0.20); recall of the labelled: 0.50" in \
        console.export_text()


def test_a_run_cut_short_by_the_timeout_says_so():
    evaluation = dataclasses.replace(planted_evaluation(), complete=False)
    console = Console(record=True, width=160)
    print_evaluation(evaluation, console)
    assert "incomplete: --timeout ended the wait" in console.export_text()
    assert as_dict(evaluation)["complete"] is False


@pytest.mark.parametrize("evaluation", [planted_evaluation(), labelled_evaluation()], ids=["planted", "labels"])
def test_the_plot_is_a_png(tmp_path, evaluation):
    out = tmp_path / "quality.png"
    plot_evaluation(evaluation, out)
    assert out.read_bytes()[:8] == PNG_MAGIC


def test_a_plot_that_cannot_be_written_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match=r"no-such-folder/quality\.png: No such file"):
        plot_evaluation(planted_evaluation(), tmp_path / "no-such-folder" / "quality.png")
