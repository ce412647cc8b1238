from pathlib import Path

import fastavro
import pytest

import schemas
from streams.errors import UserError
from streams.tools.csv_mapping import events_from_csv, load_mapping, parse_mapping
from streams.tools.replay import read_events

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "kcs-synthetic-declarations"

MAPPING = """
kind = "declaration"
[event_time]
column = "day"
format = "%Y-%m-%d"
spread_within_day = true
[fields]
event_id = { template = "ev-{id}" }
declaration_id = "id"
action = { value = "LODGED" }
procedure = { value = "IMPORT" }
channel = { present = "courier", then = "EXPRESS", else = "STANDARD" }
office_code = { template = "KR{office}" }
declarant_id = "declarant"
importer_id = "importer"
transport_doc_no = { template = "DOC-{id}" }
container_nos = { value = [] }
total_value_usd = { column = "price", divide_by = 1000.0 }
gross_weight_kg = "kg"
package_count = { value = 1 }
[items]
hs_code = { column = "hs", zero_pad = 6 }
description = { value = "goods" }
origin_country = "origin"
quantity = { value = 1.0 }
unit = { value = "item" }
net_weight_kg = "kg"
value_usd = { column = "price", divide_by = 1000.0 }
[labels]
fraud = "fraud"
"""
HEADER = "id,day,office,declarant,importer,courier,hs,origin,kg,price,fraud\n"


def write(tmp_path, rows, mapping=MAPPING):
    csv_path = tmp_path / "rows.csv"
    csv_path.write_text(HEADER + "".join(rows))
    mapping_path = tmp_path / "map.toml"
    mapping_path.write_text(mapping)
    return csv_path, load_mapping(mapping_path)


def test_a_row_becomes_a_valid_declaration_with_its_label_beside_it(tmp_path):
    csv_path, mapping = write(tmp_path, ["7,2020-01-02,30,DCL,IMP,C1,90111,BR,12.5,50000,1\n"])
    [event] = events_from_csv(csv_path, mapping)
    record = event.record
    assert (record["declaration_id"], record["office_code"], record["channel"]) == ("7", "KR30", "EXPRESS")
    assert record["items"][0]["hs_code"] == "090111" and record["items"][0]["value_usd"] == 50.0
    assert record["event_time"] == 1_577_923_200_000  # 2020-01-02T00:00:00Z
    assert event.labels == {"fraud": "1"} and "fraud" not in record
    assert event.where.endswith("rows.csv:row 2")
    fastavro.validate(record, fastavro.parse_schema(schemas.load("declaration")), raise_errors=True)


def test_rows_of_one_day_are_spread_a_second_apart_in_file_order(tmp_path):
    rows = [f"{n},2020-01-02,30,D,I,,850440,CN,1,1000,0\n" for n in range(3)]
    rows.append("9,2020-01-03,30,D,I,,850440,CN,1,1,0\n")
    csv_path, mapping = write(tmp_path, rows)
    times = [e.record["event_time"] for e in events_from_csv(csv_path, mapping)]
    assert times == [1_577_923_200_000, 1_577_923_201_000, 1_577_923_202_000, 1_578_009_600_000]
    assert [e.record["channel"] for e in events_from_csv(csv_path, mapping)] == ["STANDARD"] * 4


def test_a_row_back_in_time_is_refused_naming_row_and_column(tmp_path):
    csv_path, mapping = write(tmp_path, ["1,2020-01-03,30,D,I,,850440,CN,1,1,0\n",
                                         "2,2020-01-02,30,D,I,,850440,CN,1,1,0\n"])
    with pytest.raises(UserError, match=r"rows.csv:row 3: column 'day': goes back in time"):
        list(events_from_csv(csv_path, mapping))


@pytest.mark.parametrize(("row", "message"), [
    ("1,2020-01-02,30,D,I,,850440,CN,heavy,1,0\n", r"row 2: gross_weight_kg: column 'kg': 'heavy' is not a number"),
    ("1,02/01/2020,30,D,I,,850440,CN,1,1,0\n", r"row 2: column 'day': '02/01/2020' does not match"),
    ("1,2020-01-02,30,D,I,,850440,,1,1,0\n", r"row 2: declaration items\[0\]\.origin_country"),
])
def test_a_bad_cell_names_row_and_field(tmp_path, row, message):
    csv_path, mapping = write(tmp_path, [row])
    with pytest.raises(UserError, match=message):
        list(events_from_csv(csv_path, mapping))


def test_skipping_bad_rows_lists_them_and_goes_on(tmp_path):
    csv_path, mapping = write(tmp_path, ["1,2020-01-02,30,D,I,,850440,CN,x,1,0\n",
                                         "2,2020-01-02,30,D,I,,850440,CN,1,1,0\n"])
    skipped: list[str] = []
    events = list(read_events([csv_path], skipped, mapping))
    assert [e.record["declaration_id"] for e in events] == ["2"] and len(skipped) == 1 and "row 2" in skipped[0]


def test_csv_without_a_mapping_is_refused(tmp_path):
    csv_path, _ = write(tmp_path, [])
    with pytest.raises(UserError, match="needs a mapping"):
        list(read_events([csv_path]))


@pytest.mark.parametrize(("text", "message"), [
    ('kind = "parcel"', "kind 'parcel'"),
    ('kind = "declaration"\n[fields]\nx = "y"', r"\[event_time\] must name its column"),
    ('kind = "declaration"\n[event_time]\ncolumn = "d"\n[fields]\nweight = "w"', "fields.weight is not a field"),
    ('kind = "declaration"\n[event_time]\ncolumn = "d"\n[fields]\noffice_code = { value = 1, column = "o" }',
     "exactly one of"),
    ('kind = "declaration"\n[event_time]\ncolumn = "d"\n[fields]\nchannel = { present = "c" }', "needs 'then'"),
    ('kind = "manifest"\n[event_time]\ncolumn = "d"\n[fields]\n[items]\nhs_code = "h"', "has no items"),
])
def test_a_bad_mapping_names_its_key(text, message):
    with pytest.raises(UserError, match=message):
        parse_mapping(text, "map.toml")


def test_an_unknown_shipped_mapping_lists_the_known_ones():
    with pytest.raises(UserError, match="kcs"):
        load_mapping("nosuch")


@pytest.mark.skipif(not DATA.is_dir(), reason=f"KCS data not present at {DATA} (see ../shared/data/README.md)")
@pytest.mark.parametrize("split", ["train", "valid", "test"])
def test_the_shipped_kcs_mapping_reads_the_real_files(split):
    parsed = fastavro.parse_schema(schemas.load("declaration"))
    path = DATA / f"df_syn_{split}_eng.csv"
    events = list(events_from_csv(path, load_mapping("kcs")))
    assert len(events) == sum(1 for _ in path.open()) - 1
    for event in events[:500]:
        fastavro.validate(event.record, parsed, raise_errors=True)
    times = [e.record["event_time"] for e in events]
    assert times == sorted(times)
    assert {e.labels["fraud"] for e in events} == {"0", "1"}
