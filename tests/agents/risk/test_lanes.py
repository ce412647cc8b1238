"""Selectivity lanes: capacity in every hour, the control sample's rate, order alone decides."""

from __future__ import annotations

import bisect
import math
import random

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.risk.lanes import GREEN, HOUR_MS, RED, YELLOW, Capacity, Lane, OfficeLanes, in_control_sample


def most_in_any_window(lanes: list[Lane], lane: str, window_ms: int) -> int:
    times = sorted(item.event_time for item in lanes if item.lane == lane)
    most = start = 0
    for end, time in enumerate(times):
        while times[start] <= time - window_ms:
            start += 1
        most = max(most, end - start + 1)
    return most


def decide_all(arrivals: list[tuple[int, float]], capacity: Capacity, control_rate: float = 0.02,
               checkpoint_every: int | None = None) -> list[Lane]:
    office = OfficeLanes()
    lanes = []
    for i, (time, score) in enumerate(arrivals):
        if checkpoint_every and i % checkpoint_every == 0:
            office = OfficeLanes.from_doc(orjson.loads(orjson.dumps(office)))  # as a restore from the changelog
        lanes.append(office.decide(f"D{i:06d}", time, score, capacity, control_rate))
    return lanes


@st.composite
def traffic(draw: st.DrawFn) -> tuple[list[tuple[int, float]], Capacity]:
    gaps = draw(st.lists(st.integers(min_value=0, max_value=20 * 60_000), min_size=1, max_size=400))
    scores = draw(st.lists(st.floats(min_value=0, max_value=1), min_size=len(gaps), max_size=len(gaps)))
    times = [sum(gaps[: i + 1]) for i in range(len(gaps))]
    capacity = Capacity(draw(st.integers(min_value=0, max_value=30)), draw(st.integers(min_value=0, max_value=30)),
                        draw(st.sampled_from([HOUR_MS, 8 * HOUR_MS])))
    return list(zip(times, scores, strict=True)), capacity


@settings(max_examples=300, deadline=None)
@given(traffic(), st.sampled_from([0.0, 0.02, 0.5]))
def test_no_window_ever_holds_more_red_or_yellow_lanes_than_the_office_can_check(case, control_rate):
    arrivals, capacity = case
    lanes = decide_all(arrivals, capacity, control_rate)
    assert most_in_any_window(lanes, RED, capacity.window_ms) <= capacity.red
    assert most_in_any_window(lanes, YELLOW, capacity.window_ms) <= capacity.yellow
    assert all(lane.inspected == (lane.lane == RED) for lane in lanes)


def test_the_control_sample_rate_is_within_binomial_bounds_and_ignores_the_score():
    n, rate = 40_000, 0.02
    picked = sum(in_control_sample(f"KCS-{i}", rate) for i in range(n))
    sd = math.sqrt(n * rate * (1 - rate))
    assert abs(picked - n * rate) < 4.5 * sd, picked
    # Drawn from the id alone: a declaration's score cannot move it in or out of the sample.
    arrivals = [(i * 10_000, random.Random(i).random()) for i in range(2_000)]
    flipped = [(time, 1 - score) for time, score in arrivals]
    big = Capacity(10_000, 10_000)
    assert ([lane.control_sample for lane in decide_all(arrivals, big)]
            == [lane.control_sample for lane in decide_all(flipped, big)])


def test_risk_fills_the_red_capacity_with_the_highest_scores_hour_by_hour():
    rng = random.Random(3)
    # 200 declarations an hour for ten hours, 20 reds and 40 yellows an hour: the top 10 % and the next 20 %.
    arrivals = [(i * 18_000, rng.random()) for i in range(2_000)]
    lanes = decide_all(arrivals, Capacity(20, 40), control_rate=0.0)
    reds = [lane for lane in lanes if lane.lane == RED]
    yellows = [lane for lane in lanes if lane.lane == YELLOW]
    assert 150 <= len(reds) <= 200 and 300 <= len(yellows) <= 400, (len(reds), len(yellows))
    assert sum(lane.score > 0.85 for lane in reds) / len(reds) > 0.9
    greens = [lane.score for lane in lanes if lane.lane == GREEN]
    assert sum(greens) / len(greens) < 0.45


def test_lanes_depend_on_the_order_of_declarations_alone_not_on_checkpoints():
    rng = random.Random(5)
    arrivals = [(i * 7_000, rng.random()) for i in range(3_000)]
    capacity = Capacity(15, 30)
    assert decide_all(arrivals, capacity) == decide_all(arrivals, capacity, checkpoint_every=37)


def test_a_sparse_office_inspects_its_riskiest_with_a_day_window_not_first_come_first_served():
    rng = random.Random(9)
    # Two declarations an hour for twenty days; RED for 10 %.
    arrivals = [(i * 30 * 60_000, rng.random()) for i in range(960)]
    hourly = decide_all(arrivals, Capacity(1, 0), control_rate=0.0)
    daily = decide_all(arrivals, Capacity(5, 0, window_ms=24 * HOUR_MS), control_rate=0.0)

    def mean_red_score(lanes: list[Lane]) -> float:
        reds = [lane.score for lane in lanes if lane.lane == RED]
        return sum(reds) / len(reds)

    assert mean_red_score(daily) > 0.85 and mean_red_score(daily) > mean_red_score(hourly) + 0.1
    assert 60 <= sum(lane.lane == RED for lane in daily) <= 100  # never past five a day


def test_counted_in_runs_the_arrivals_are_within_a_run_and_no_window_passes_the_capacity():
    rng = random.Random(11)
    # Bursts (a day's declarations within minutes, as the KCS rows come) between quiet spells.
    times, time = [], 0
    for _ in range(40):
        time += rng.choice([60_000, 20 * 60_000, 3 * HOUR_MS])
        for _ in range(rng.choice([3, 50, 400, 1_500])):
            time += rng.choice([0, 1_000, 30_000])
            times.append(time)
    capacity = Capacity(1_200, 1_500, window_ms=6 * HOUR_MS)
    office = OfficeLanes()
    lanes = []
    largest_run = {"arrivals": 1, "reds": 1, "yellows": 1}
    for i, time in enumerate(times):
        lanes.append(office.decide(f"D{i:06d}", time, rng.random(), capacity, 0.02))
        horizon = time - capacity.window_ms
        exact = i + 1 - bisect.bisect_right(times, horizon, hi=i + 1)
        counted = office.arrivals.estimate_after(horizon)
        largest = max(run[2] for run in office.arrivals.runs)
        if largest == 1:  # always while the runs hold under twice RUN_SHARE
            assert counted == exact
        else:
            assert abs(counted - exact) < largest, (i, counted, exact, largest)
        for name in largest_run:
            runs = getattr(office, name).runs
            largest_run[name] = max([largest_run[name], *(run[2] for run in runs)])
    assert min(largest_run.values()) > 1  # the case made runs of each
    # The lanes count a run across the window's start whole: never past the capacity.
    assert most_in_any_window(lanes, RED, capacity.window_ms) <= capacity.red
    assert most_in_any_window(lanes, YELLOW, capacity.window_ms) <= capacity.yellow
    # An office that never has twice RUN_SHARE arrivals in its window keeps every time.
    steady = OfficeLanes()
    for i in range(5_000):
        steady.decide(f"S{i}", i * 10_000, rng.random(), Capacity(10, 10), 0.0)
    assert {run[2] for run in steady.arrivals.runs} == {1} and steady.arrivals.total == 360
