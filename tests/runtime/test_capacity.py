"""Capacities in force: the settings, with the run-time records of cargo.lane-capacity applied."""

from agents.risk.lanes import Capacity
from streams.runtime.capacity import EVERY_OFFICE, lane_policy
from streams.settings import Settings

HOUR_MS = 3_600_000


def record(red: int, yellow: int, window_seconds: float | None = None) -> dict[str, object]:
    return {"red": red, "yellow": yellow, "window_seconds": window_seconds}


def test_records_replace_the_settings_capacities_and_a_tombstone_leaves_the_settings():
    settings = Settings(lane_capacity={"040": (3, 6), "060": (7, 8)}, default_lane_capacity=(1, 2),
                        lane_window_s=1800, control_sample_rate=0.05)
    assert lane_policy(settings).capacities == {"040": Capacity(3, 6, HOUR_MS // 2),
                                                "060": Capacity(7, 8, HOUR_MS // 2)}
    policy = lane_policy(settings, {"040": record(0, 1), "050": record(4, 5, 8 * 3600.0),
                                    EVERY_OFFICE: record(9, 9, 86_400.0), "060": None})
    assert policy.capacity_of("040") == Capacity(0, 1, HOUR_MS // 2)  # the settings' window when none is given
    assert policy.capacity_of("050") == Capacity(4, 5, 8 * HOUR_MS)
    assert policy.capacity_of("060") == Capacity(7, 8, HOUR_MS // 2)  # a tombstone: the settings'
    assert policy.capacity_of("999") == Capacity(9, 9, 24 * HOUR_MS)
    assert policy.control_rate == 0.05
