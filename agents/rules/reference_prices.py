"""The shipped reference unit values for UNDERVALUATION: USD per kg by 6-digit HS code.

The table is a CSV file whose ``#`` header lines say where its figures come
from (``source:``) and when they were set (``as_of:``); both travel into the
evidence of every alert that leans on the table.
"""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from agents.rules.config import RuleConfigError

SHIPPED_FILE = "reference_prices.csv"
COLUMNS = ["hs6", "usd_per_kg", "description"]


class PriceTableError(RuleConfigError):
    """A reference price file that cannot be read, with the line at fault."""


@dataclass(frozen=True, slots=True)
class ReferencePrice:
    """One HS code's reference unit value."""

    hs6: str
    usd_per_kg: float
    description: str


@dataclass(frozen=True, slots=True)
class PriceTable:
    """Reference unit values by HS6, with their provenance."""

    prices: Mapping[str, ReferencePrice]
    source: str
    as_of: str

    def get(self, hs6: str) -> ReferencePrice | None:
        """The reference for ``hs6``, if the table has one."""
        return self.prices.get(hs6)


def parse_price_table(text: str, origin: str) -> PriceTable:
    """Parse a reference price file's text; ``origin`` names it in errors."""
    comments: list[str] = []
    body: list[str] = []
    for line in text.splitlines():
        (comments if line.startswith("#") else body).append(line)
    source = _header_field(comments, "source", origin)
    as_of = _header_field(comments, "as_of", origin)
    reader = csv.reader(io.StringIO("\n".join(body)))
    if next(reader, None) != COLUMNS:
        raise PriceTableError(f"{origin}: the first row must be the header {','.join(COLUMNS)}")
    prices: dict[str, ReferencePrice] = {}
    for number, row in enumerate(reader, start=2):
        if not row:
            continue
        where = f"{origin}: data row {number}"
        if len(row) != len(COLUMNS):
            raise PriceTableError(f"{where}: expected {len(COLUMNS)} columns, found {len(row)}")
        hs6, value, description = row
        if len(hs6) != 6 or not hs6.isdigit():
            raise PriceTableError(f"{where}: hs6 {hs6!r} is not six digits")
        try:
            usd_per_kg = float(value)
        except ValueError:
            raise PriceTableError(f"{where}: usd_per_kg {value!r} is not a number") from None
        if not usd_per_kg > 0:
            raise PriceTableError(f"{where}: usd_per_kg must be positive, not {value}")
        if hs6 in prices:
            raise PriceTableError(f"{where}: hs6 {hs6} appears twice")
        prices[hs6] = ReferencePrice(hs6, usd_per_kg, description)
    return PriceTable(prices=prices, source=source, as_of=as_of)


def _header_field(comments: list[str], name: str, origin: str) -> str:
    """A ``# name: value`` header, continued by indented ``#`` lines."""
    value: list[str] = []
    for line in comments:
        text = line[1:].strip()
        if value and line[1:].startswith("   "):
            value.append(text)
        elif value:
            break
        elif text.startswith(f"{name}:"):
            value.append(text[len(name) + 1:].strip())
    if not value:
        raise PriceTableError(f"{origin}: the header must say '# {name}: ...'")
    return " ".join(value)


def load_price_table(path: Path | None = None) -> PriceTable:
    """The price file at ``path``, or the table shipped with cargoguard."""
    if path is None:
        text = resources.files("agents").joinpath(SHIPPED_FILE).read_text(encoding="utf-8")
        return parse_price_table(text, f"shipped {SHIPPED_FILE}")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PriceTableError(f"reference prices {path}: {exc.strerror}") from exc
    return parse_price_table(text, str(path))


@functools.cache
def shipped_price_table() -> PriceTable:
    """The table shipped with cargoguard, read once."""
    return load_price_table()
