"""The risk model: leak-free features, learning a real signal, model files, and the ranking measures."""

import math

import pytest

from agents.risk import ranking
from agents.risk.features import CATEGORIES, FEATURES, OutcomeHistory
from agents.risk.model import OUTCOME_FEATURES, ModelFileError, RiskModel, out_of_fold_features, train
from tests.builders import RISKY_IMPORTERS, T0, declaration, inspected

DAY_MS = 86_400_000


def feature(vector, name):
    return vector[FEATURES.index(name)]


def test_a_training_row_never_sees_its_own_outcome():
    # Each declarant appears once: with its own outcome counted, its rate would give the label away.
    rows = [(declaration(declarant_id=f"ONCE-{n}"), n % 2 == 0) for n in range(200)]
    vectors = out_of_fold_features(rows, {})
    for vector in vectors:
        assert feature(vector, "declarant_id_inspected") == 0.0
    rates = {feature(v, "declarant_id_infraction_rate") for v in vectors}
    assert len(rates) <= 5  # one prior per fold: nothing of the row itself


def test_a_declaration_lodged_before_the_model_knew_its_future_gets_no_outcome_features():
    model = train(inspected(600, T0, seed=1), trained_at="t")
    before, after = declaration(event_time=model.knows_until), declaration(event_time=model.knows_until + 1)
    assert all(math.isnan(x) for x in model.features_of(before)[:OUTCOME_FEATURES])
    assert not math.isnan(model.features_of(after)[FEATURES.index("office_code_infraction_rate")])


def test_the_model_ranks_the_risky_importers_first_on_later_declarations():
    model = train(inspected(1_500, T0, seed=2), trained_at="t")
    later = inspected(600, model.knows_until + DAY_MS, seed=3)
    scores = model.score([record for record, _ in later])
    infractions = [infraction for _, infraction in later]
    assert ranking.auc(scores, infractions) > 0.85
    (explained,) = model.explain([later[0][0]])
    assert explained.score == pytest.approx(scores[0], abs=1e-6)
    if later[0][0]["importer_id"] in RISKY_IMPORTERS:
        assert explained.reasons[0][0] == "importer_id_infraction_rate"


def test_a_model_file_reads_back_to_the_same_scores_and_a_foreign_one_is_refused(tmp_path):
    model = train(inspected(600, T0, seed=4), trained_at="t")
    path = tmp_path / "model.lgb"
    model.save(path)
    again = RiskModel.load(path)
    later = [record for record, _ in inspected(50, model.knows_until + DAY_MS, seed=5)]
    assert again.version == model.version and again.score(later) == model.score(later)
    (tmp_path / "other.lgb").write_text('{"format": 1, "features": ["something else"]}')
    with pytest.raises(ModelFileError, match="run 'cargoguard learn' again"):
        RiskModel.load(tmp_path / "other.lgb")
    (tmp_path / "junk.lgb").write_text("not json")
    with pytest.raises(ModelFileError, match="not a cargoguard risk model"):
        RiskModel.load(tmp_path / "junk.lgb")


def test_learning_refuses_data_without_both_outcomes():
    with pytest.raises(ValueError, match="with infractions and without"):
        train([(declaration(), False) for _ in range(100)], trained_at="t")


def test_every_category_has_a_rate_and_a_count_and_missing_ones_are_nan():
    vector = OutcomeHistory().features(declaration())
    assert len(vector) == len(FEATURES) == len(CATEGORIES) * 2 + 5
    assert math.isnan(feature(vector, "seller_id_infraction_rate"))  # the builder's declaration names no seller
    assert feature(vector, "hs2_infraction_rate") == 0.5  # known category, no outcome yet: the prior


def test_auc_and_precision_at_the_top():
    scores = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0]
    labels = [True, False, True, False, False, False, False, False, False, True]
    assert ranking.auc(scores, labels) == pytest.approx(13 / 21)  # 7 + 6 + 0 of 3 x 7 pairs ranked right
    assert ranking.precision_at(scores, labels, (10, 20, 50)) == {"10": 1.0, "20": 0.5, "50": 0.4}
    assert ranking.auc([0.5, 0.5], [True, False]) == 0.5
