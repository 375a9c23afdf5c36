"""Automatic assignment's ranking, pure: least booked minutes that local day, then round robin, and the reason
stored with the choice."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from booking.domain.assignment import Candidate, explain, rank

DAY = date(2026, 12, 1)
NOON = datetime(2026, 11, 30, 12, tzinfo=UTC)


def candidate(minutes: int, last_assigned: datetime | None = None, provider: str | None = None) -> Candidate:
    provider_id = uuid.UUID(provider) if provider else uuid.uuid4()
    return Candidate(provider_id, uuid.uuid4(), minutes, DAY, last_assigned)


def test_the_least_booked_provider_goes_first() -> None:
    busy, idle, middling = candidate(90), candidate(0), candidate(30)
    assert rank([busy, idle, middling]) == [idle, middling, busy]


def test_among_equals_the_one_assigned_least_recently_goes_first_and_never_assigned_before_all() -> None:
    recent, earlier, never = candidate(30, NOON), candidate(30, NOON - timedelta(hours=3)), candidate(30)
    assert rank([recent, earlier, never]) == [never, earlier, recent]


def test_workload_outranks_round_robin() -> None:
    rested_but_busy, just_assigned_but_idle = candidate(60), candidate(0, NOON)
    assert rank([rested_but_busy, just_assigned_but_idle])[0] is just_assigned_but_idle


def test_the_provider_id_settles_what_is_left_so_the_order_is_total() -> None:
    low = candidate(0, provider="00000000-0000-4000-8000-000000000001")
    high = candidate(0, provider="ffffffff-0000-4000-8000-000000000001")
    assert rank([high, low]) == rank([low, high]) == [low, high]


def test_the_reason_names_the_minutes_and_the_day() -> None:
    ranked = rank([candidate(30), candidate(90)])
    assert explain(ranked, 0) == "least booked minutes (30) on 2026-12-01"


def test_the_reason_mentions_round_robin_among_the_tied() -> None:
    ranked = rank([candidate(30, NOON), candidate(30), candidate(120)])
    assert explain(ranked, 0) == "least booked minutes (30) on 2026-12-01; round robin among 2 tied"


def test_the_only_candidate_says_so() -> None:
    assert explain([candidate(45)], 0) == "least booked minutes (45) on 2026-12-01; the only provider free at that time"


def test_a_choice_after_lost_claims_says_how_many_were_lost() -> None:
    ranked = rank([candidate(0), candidate(30), candidate(60)])
    assert explain(ranked, 1) == "booked minutes (30) on 2026-12-01; 1 better-ranked provider lost to other clients"
    assert explain(ranked, 2) == "booked minutes (60) on 2026-12-01; 2 better-ranked providers lost to other clients"


def test_nothing_to_rank_is_an_empty_list() -> None:
    assert rank([]) == []


minutes = st.integers(min_value=0, max_value=24 * 60)
moments = st.none() | st.datetimes(timezones=st.just(UTC))


@given(st.lists(st.tuples(minutes, moments), min_size=1, max_size=8))
def test_the_first_ranked_has_the_fewest_minutes_and_is_the_stalest_of_those(
    pool: list[tuple[int, datetime | None]],
) -> None:
    candidates = [candidate(booked, last) for booked, last in pool]
    first = rank(candidates)[0]
    fewest = min(c.booked_minutes for c in candidates)
    assert first.booked_minutes == fewest
    tied = [c for c in candidates if c.booked_minutes == fewest]
    if any(c.last_assigned_at is None for c in tied):
        assert first.last_assigned_at is None
    else:
        assert first.last_assigned_at == min(c.last_assigned_at for c in tied if c.last_assigned_at is not None)


@given(st.lists(st.tuples(minutes, moments), min_size=1, max_size=8))
def test_ranking_is_a_permutation_independent_of_input_order(pool: list[tuple[int, datetime | None]]) -> None:
    candidates = [candidate(booked, last) for booked, last in pool]
    ranked = rank(candidates)
    assert sorted(map(id, ranked)) == sorted(map(id, candidates))
    assert rank(reversed(candidates)) == ranked
