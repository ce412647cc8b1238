"""Every published version of each schema stays readable by the current one (docs/contract.md, Compatibility).

The promise is BACKWARD as Schema Registry defines it, checked against every
earlier version (not only the last), since the codec reads them all: data
written with any version in ``schemas/history`` resolves to the current schema.
"""

import io
from collections.abc import Iterator
from typing import Any

import fastavro
import pytest

import schemas
from streams.kafka.codec import _without_logical_types, schema_fingerprint

PRIMITIVE_SAMPLES: dict[str, Any] = {
    "null": None, "boolean": True, "int": 7, "long": 1_700_000_000_000, "float": 1.5, "double": 2.5,
    "bytes": b"\x01\x02", "string": "s",
}
NAMED = ("record", "enum", "fixed")


def fullname(node: dict[str, Any], namespace: str) -> tuple[str, str]:
    """A named type's full name and the namespace its children inherit."""
    name = node["name"]
    if "." in name:
        return name, name.rpartition(".")[0]
    space = node.get("namespace", namespace)
    return (f"{space}.{name}" if space else name), space


def named_types(schema: Any, namespace: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every record, enum and fixed a schema defines, by full name."""
    if isinstance(schema, list):
        for branch in schema:
            yield from named_types(branch, namespace)
    elif isinstance(schema, dict):
        if schema["type"] in NAMED:
            name, namespace = fullname(schema, namespace)
            yield name, schema
        for field in schema.get("fields", ()):
            yield from named_types(field["type"], namespace)
        for key in ("items", "values"):
            if key in schema:
                yield from named_types(schema[key], namespace)
        if isinstance(schema["type"], dict | list):
            yield from named_types(schema["type"], namespace)


def widest_choice(schema: dict[str, Any]) -> int:
    """Enough variants for samples to take every enum symbol, and every branch of a union, in turn.

    A union takes ``variant % branches`` and hands ``variant // branches`` down, so
    an enum inside a union (``["null", Outcome]``) needs branches x symbols variants.
    """
    widest_union, widest_enum = 1, 1

    def visit(node: Any) -> None:
        nonlocal widest_union, widest_enum
        if isinstance(node, list):
            widest_union = max(widest_union, len(node))
            for branch in node:
                visit(branch)
        elif isinstance(node, dict):
            widest_enum = max(widest_enum, len(node.get("symbols", ())))
            for field in node.get("fields", ()):
                visit(field["type"])
            for key in ("items", "values", "type"):
                if isinstance(node.get(key), dict | list):
                    visit(node[key])

    visit(schema)
    return widest_union * widest_enum


def sample(schema: Any, variant: int, named: dict[str, Any], namespace: str = "") -> Any:
    """A value of ``schema``; ``variant`` picks which enum symbol and which union branch."""
    if isinstance(schema, str):
        if schema in PRIMITIVE_SAMPLES:
            return PRIMITIVE_SAMPLES[schema]
        reference = schema if "." in schema or not namespace else f"{namespace}.{schema}"
        return sample(named.get(reference) or named[schema], variant, named, namespace)
    if isinstance(schema, list):
        return sample(schema[variant % len(schema)], variant // len(schema), named, namespace)
    kind = schema["type"]
    if kind in NAMED:
        name, namespace = fullname(schema, namespace)
        named[name] = schema
    if kind == "record":
        return {field["name"]: sample(field["type"], variant, named, namespace) for field in schema["fields"]}
    if kind == "enum":
        return schema["symbols"][variant % len(schema["symbols"])]
    if kind == "array":
        return [sample(schema["items"], variant, named, namespace)]
    if kind == "map":
        return {"k": sample(schema["values"], variant, named, namespace)}
    if kind == "fixed":
        return b"\x00" * schema["size"]
    return sample(kind, variant, named, namespace)  # {"type": "long", "logicalType": ...} and the like


def samples(schema: dict[str, Any]) -> list[Any]:
    """Enough values of ``schema`` that every enum symbol and union branch is written at least once."""
    return [sample(schema, variant, {}) for variant in range(widest_choice(schema))]


def older_versions() -> list[tuple[str, int]]:
    return [(name, version) for name in schemas.SCHEMA_NAMES for version in schemas.history(name)]


# The CRC-64-AVRO fingerprint of every published version, oldest first, the last being
# the current .avsc: values with each may sit in a topic. Changing a schema means moving
# its previous file to schemas/history/<name>.v<N>.avsc and appending the new fingerprint
# here, so an edit that forgets the history (and so escapes the checks below) fails.
PUBLISHED_FINGERPRINTS = {
    "declaration": ["6628f7ea09ccf056", "72a0d88cc4d18d84"],
    "manifest": ["b267690e8d6daf9b"],
    "gate_event": ["964f069fd6437dc1"],
    "watchlist_entry": ["744b82cdf1221eac"],
    "rule_config": ["9ea271ed5266cbd7"],
    "alert": ["3d34bd26b236635c", "00cca573a87e3428"],  # v2 (7ff1fd1): declarant_id, importer_id, prior_alerts
    "dead_letter": ["6c4d7ec38fd21e79", "022f8ddacd7c4301"],  # v2 (76ed6ff): PROCESSING_FAILED
    "user": ["504609b46611234f"],
    "case_action": ["4476c8d254adceea"],
    "case": ["01ecefc999d7dac1"],
    "inspection_result": ["b6f9d7914d0d3a5a"],
    "selectivity": ["c469cd66cbc82afa"],
    "lane_capacity": ["7a2fb4637a3e504f"],
    "inspected_declaration": ["54a056725343d5ce"],
}


@pytest.mark.parametrize("name", schemas.SCHEMA_NAMES)
def test_every_published_version_is_kept(name):
    kept = [schema_fingerprint(document).hex() for document in schemas.history(name).values()]
    kept.append(schema_fingerprint(schemas.load(name)).hex())
    assert kept == PUBLISHED_FINGERPRINTS[name], (
        f"{name}.avsc changed: keep its previous version as schemas/history/{name}.v<N>.avsc "
        "and add the new fingerprint to PUBLISHED_FINGERPRINTS")


@pytest.mark.parametrize("name", schemas.SCHEMA_NAMES)
def test_history_is_numbered_from_1_without_gaps_and_every_version_differs(name):
    versions = schemas.history(name)
    assert list(versions) == list(range(1, len(versions) + 1))
    fingerprints = [schema_fingerprint(document) for document in versions.values()]
    fingerprints.append(schema_fingerprint(schemas.load(name)))
    assert len(set(fingerprints)) == len(fingerprints), "a history file repeats another version"
    for document in versions.values():
        assert fullname(document, "") == fullname(schemas.load(name), ""), "a history file of another schema"


def strings_in(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


def every_version() -> list[tuple[str, dict[str, Any]]]:
    return [(f"{name}.v{version}", document) for name in schemas.SCHEMA_NAMES
            for version, document in schemas.history(name).items()] + [
        (name, schemas.load(name)) for name in schemas.SCHEMA_NAMES]


@pytest.mark.parametrize(("label", "document"), every_version(), ids=[label for label, _ in every_version()])
def test_the_samples_fit_their_schema_and_write_every_enum_symbol(label, document):
    # The resolution test below is only as good as its samples: a symbol never written
    # could be dropped from the current schema unnoticed.
    parsed = fastavro.parse_schema(document)
    written = set()
    for record in samples(document):
        assert fastavro.validation.validate(record, parsed, raise_errors=True)
        written.update(strings_in(record))
    for type_name, node in named_types(document):
        if node["type"] == "enum":
            assert set(node["symbols"]) <= written, f"{label}: {type_name} symbols not all sampled"


def carries(read: Any, written: Any) -> bool:
    """Whether ``read`` holds everything ``written`` did (a record may have gained defaulted fields)."""
    if isinstance(written, dict):
        return isinstance(read, dict) and all(key in read and carries(read[key], value)
                                              for key, value in written.items())
    if isinstance(written, list):
        return isinstance(read, list) and len(read) == len(written) and all(map(carries, read, written))
    return bool(read == written)


@pytest.mark.parametrize(("name", "version"), older_versions())
def test_every_earlier_version_is_read_by_the_current_one(name, version):
    # Resolved as the codec resolves: without logical types, so timestamps stay epoch milliseconds.
    older = _without_logical_types(schemas.history(name)[version])
    current = _without_logical_types(schemas.load(name))
    current_fields = {field["name"]: field for field in current["fields"]}
    for record in samples(older):
        body = io.BytesIO()
        fastavro.schemaless_writer(body, fastavro.parse_schema(older), record)
        body.seek(0)
        read = fastavro.schemaless_reader(body, fastavro.parse_schema(older), fastavro.parse_schema(current))
        assert body.read() == b""
        for field_name, value in record.items():
            assert field_name in read and carries(read[field_name], value), (
                f"{name} v{version}: {field_name} changed on the way")
        for field_name in current_fields.keys() - record.keys():
            assert read[field_name] == current_fields[field_name]["default"]


@pytest.mark.parametrize(("name", "version"), older_versions())
def test_changes_since_an_earlier_version_only_add_fields_with_defaults_and_enum_symbols(name, version):
    older = dict(named_types(schemas.history(name)[version]))
    current = dict(named_types(schemas.load(name)))
    for type_name, old in older.items():
        assert type_name in current, f"{name}: {type_name} (in v{version}) was renamed or dropped"
        new = current[type_name]
        assert new["type"] == old["type"], f"{name}: {type_name} is no longer a {old['type']}"
        if old["type"] == "enum":
            dropped = [symbol for symbol in old["symbols"] if symbol not in new["symbols"]]
            assert not dropped, f"{name}: {type_name} lost symbols {dropped} since v{version}"
        if old["type"] == "record":
            old_fields = {field["name"] for field in old["fields"]}
            new_fields = {field["name"]: field for field in new["fields"]}
            assert old_fields <= new_fields.keys(), (
                f"{name}: {type_name} lost fields {sorted(old_fields - new_fields.keys())} since v{version}")
            without_default = [field for field in new_fields.keys() - old_fields
                               if "default" not in new_fields[field]]
            assert not without_default, (
                f"{name}: {type_name} fields added since v{version} need a default: {sorted(without_default)}")
