"""DECLARANT_SURGE: a new or dormant declarant suddenly files far more than before.

Thresholds (rules file): at least ``min_declarations`` (20) declarations
lodged within ``window_hours`` (24) of event time, and more than
``ratio`` (10) times the declarant's trailing daily mean over the
``baseline_days`` (30) before the window (or over the days observed, when
cargoguard has watched for less). A declarant never seen before has a mean
of zero. Nothing is judged in the first ``warmup_days`` (1) of observation:
at start-up every busy declarant would otherwise look new.

Window: sliding, judged once stream time has passed the declarations.

Finding: one per cluster of overlapping surging windows, on the declarant.
A raised surge is sent again when it has grown by ``RESEND_GROWTH`` (a
tenth), and once more, whole, when stream time closes it (``closes_at``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from agents.rules.config import RuleBook
from agents.rules.findings import Evidence, Finding
from agents.rules.windows import sliding_clusters

RULE_ID = "DECLARANT_SURGE"
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
# A raised surge is sent again when it has grown by this share (and once more when it closes).
RESEND_GROWTH = 0.1


@dataclass(frozen=True, slots=True)
class Filing:
    """A declaration lodged by the declarant (its first version)."""

    declaration_id: str
    event_id: str
    event_time: int
    office_code: str

    @property
    def tiebreak(self) -> str:
        """Orders filings of the same time."""
        return self.declaration_id


def day_of(time_ms: int) -> int:
    """The UTC day number of an event time."""
    return time_ms // DAY_MS


def trailing_mean(day: int, daily_counts: Callable[[int, int], int], observed_since: int,
                  rules: RuleBook) -> float:
    """Mean filings per day over the baseline before ``day`` (or the days observed, if fewer)."""
    baseline_days = int(rules[RULE_ID].number("baseline_days"))
    observed_days = max(1, min(baseline_days, day - day_of(observed_since)))
    return daily_counts(day - observed_days, day - 1) / observed_days


def find_clusters(filings: Sequence[Filing], daily_counts: Callable[[int, int], int], observed_since: int | None,
                  rules: RuleBook) -> list[tuple[list[Filing], float]]:
    """Surging clusters with the trailing daily mean before their first window.

    ``daily_counts(first_day, last_day)`` is the number of filings on those
    days (inclusive); ``observed_since`` is when observation started.
    """
    if observed_since is None:
        return []
    config = rules[RULE_ID]
    minimum = int(config.number("min_declarations"))
    ratio = config.number("ratio")
    judged_from = observed_since + int(config.number("warmup_days") * DAY_MS)

    means: dict[int, float] = {}  # every window starting on a day has that day's baseline

    def baseline(first: Filing) -> float:
        day = day_of(first.event_time)
        if day not in means:
            means[day] = trailing_mean(day, daily_counts, observed_since, rules)
        return means[day]

    def surging(window: Sequence[Filing], first: Filing) -> bool:
        return (first.event_time >= judged_from and len(window) >= minimum
                and len(window) > ratio * baseline(first))

    clusters = sliding_clusters(filings, int(config.number("window_hours") * HOUR_MS), surging)
    return [(cluster, baseline(cluster[0])) for cluster in clusters]


def closes_at(last_filing: int, rules: RuleBook, lateness_ms: int) -> int:
    """The stream time from which a cluster ending at ``last_filing`` can gain no member.

    A later filing joins only through a window starting at a member, so within
    ``window_hours`` of the last; one arriving later than that plus the allowed
    lateness counts in no window.
    """
    return last_filing + int(rules[RULE_ID].number("window_hours") * HOUR_MS) + lateness_ms


def worth_sending(size: int, sent: int | None, closes: int, watermark: int | None) -> bool:
    """Whether a surge's finding goes out now: new, grown by ``RESEND_GROWTH``, or closed.

    Otherwise it is held until it grows enough or stream time closes it: a
    platform's surge had been re-sent with every filing, a hundred versions of
    an alert each listing every declaration, through scoring, the alerts topic
    and every control room. Its last state is always sent, once it is closed.
    """
    return (sent is None or size >= sent * (1 + RESEND_GROWTH)
            or (watermark is not None and watermark >= closes))


def identity(declarant_id: str, anchor_declaration_id: str) -> str:
    """What makes a surge this surge: its declarant and its first declaration."""
    return f"{declarant_id}|{anchor_declaration_id}"


def finding_for(declarant_id: str, cluster: Sequence[Filing], mean: float, anchor: str,
                rules: RuleBook) -> Finding | None:
    """The finding of a surge; ``anchor`` keeps the id it was first raised under."""
    config = rules.enabled(RULE_ID)
    if config is None:
        return None
    first, last = cluster[0], cluster[-1]
    hours = (last.event_time - first.event_time) / HOUR_MS
    history = "a declarant never seen before" if mean == 0 else f"a declarant averaging {mean:.1f} a day before"
    return Finding(
        rule_id=RULE_ID,
        identity=identity(declarant_id, anchor),
        severity=config.severity,
        subject_type="DECLARANT",
        subject_id=declarant_id,
        office_code=last.office_code,
        event_time=last.event_time,
        window_start=first.event_time,
        window_end=last.event_time,
        explanation=(f"Declarant {declarant_id} lodged {len(cluster)} declarations within {hours:.1f} h, "
                     f"{history}."),
        evidence=(Evidence(name="declarations", observed=str(len(cluster)),
                           expected=f"fewer than {int(config.number('min_declarations'))} in "
                                    f"{config.number('window_hours'):g} h"),
                  Evidence(name="trailing_daily_mean", observed=f"{mean:.2f}",
                           expected=f"more than 1/{config.number('ratio'):g} of the window's count")),
        trigger_event_ids=tuple(f.event_id for f in cluster),
        declaration_ids=tuple(f.declaration_id for f in cluster),
        rule_version=config.version,
        declarant_id=declarant_id,
    )
