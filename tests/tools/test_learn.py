"""``cargoguard learn`` on real labelled KCS declarations (a slice of each split, to stay quick)."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from agents.risk.model import RiskModel
from streams.cli import cli
from streams.errors import UserError

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "kcs-synthetic-declarations"
pytestmark = pytest.mark.skipif(not DATA.is_dir(),
                                reason=f"KCS data not present at {DATA} (see ../shared/data/README.md)")


def head(source: Path, rows: int, target: Path) -> Path:
    with source.open(encoding="utf-8") as handle:
        target.write_text("".join(line for _, line in zip(range(rows + 1), handle, strict=False)), encoding="utf-8")
    return target


def test_learn_writes_a_model_and_measures_it_on_a_later_holdout(tmp_path):
    train = head(DATA / "df_syn_train_eng.csv", 3_000, tmp_path / "train.csv")
    valid = head(DATA / "df_syn_valid_eng.csv", 1_000, tmp_path / "valid.csv")
    out = tmp_path / "model.lgb"
    result = CliRunner().invoke(cli, ["learn", str(train), "--mapping", "kcs", "--out", str(out),
                                      "--holdout", str(valid)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["declarations"] == 3_000 and summary["knows_until"].startswith("2020-")
    holdout = summary["holdout"]
    assert holdout["declarations"] == 1_000
    assert holdout["auc"] > 0.6  # learned something from 3,000 rows; the README reports the full splits
    assert set(holdout["precision_at"]) == {"1", "5", "10", "20"}
    assert RiskModel.load(out).version == summary["version"]


def test_learn_refuses_a_mapping_without_outcome_labels(tmp_path):
    mapping = tmp_path / "unlabelled.toml"
    text = (Path(__file__).resolve().parents[2] / "streams/tools/mappings/kcs.toml").read_text()
    mapping.write_text(text.split("[labels]")[0])
    train = head(DATA / "df_syn_train_eng.csv", 100, tmp_path / "train.csv")
    result = CliRunner().invoke(cli, ["learn", str(train), "--mapping", str(mapping)])
    assert isinstance(result.exception, UserError)  # main() prints it as an error line and exits 2
    assert "names no 'fraud' label column" in str(result.exception)
