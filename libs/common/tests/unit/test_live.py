"""The live log behind the event streams: resumption after an id, reset when it is too old, heartbeats."""

from __future__ import annotations

import asyncio

from smartslot_common.live import Entry, LiveLog, entries_for, order_of, sse_message


def entry(ms: int, seq: int = 0, event: str = "slot") -> Entry:
    entry_id = f"{ms}-{seq}"
    return Entry(entry_id, (ms, seq), event, b'{"n": %d}' % ms)


def test_ids_are_ordered_as_numbers() -> None:
    assert order_of("10-2") > order_of("9-99")  # type: ignore[operator]
    assert order_of("not-an-id") is None


def test_a_resume_gets_exactly_what_came_after_its_id() -> None:
    log = LiveLog(size=10)
    log.append([entry(1), entry(2), entry(3)])
    assert [e.id for e in log.after("1-0") or []] == ["2-0", "3-0"]
    assert log.after("3-0") == []
    assert log.after(None) == []


def test_an_id_older_than_the_log_keeps_or_foreign_is_a_reset() -> None:
    log = LiveLog(size=3)
    log.append([entry(ms) for ms in range(1, 6)])  # 1 and 2 are gone
    assert log.after("1-0") is None
    assert [e.id for e in log.after("3-0") or []] == ["4-0", "5-0"]
    assert log.after("garbage") is None
    shared = LiveLog(size=100)
    shared.horizon = (50, 0)  # filled from a shared log that may have trimmed what came before
    assert shared.after("10-0") is None


def test_entries_seen_already_are_not_appended_twice() -> None:
    log = LiveLog()
    log.append([entry(1), entry(2)])
    log.append([entry(2), entry(3)])
    assert [e.id for e in log.newer_than(None)] == ["1-0", "2-0", "3-0"]


async def test_a_subscriber_gets_the_backlog_then_new_entries_then_heartbeats_with_the_latest_id() -> None:
    log = LiveLog()
    log.append([entry(1), entry(2)])
    stream = entries_for(log, "1-0", heartbeat=0.05)
    assert await anext(stream) == entry(2)
    waiting = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0)
    log.append([entry(3)])
    assert await waiting == entry(3)
    assert await anext(stream) == b": heartbeat\nid: 3-0\n\n"
    log.close()
    assert [item async for item in stream] == []


async def test_a_too_old_id_starts_with_a_reset() -> None:
    log = LiveLog(size=2)
    log.append([entry(ms) for ms in range(1, 5)])
    stream = entries_for(log, "1-0", heartbeat=0.05)
    first = await anext(stream)
    assert isinstance(first, bytes)
    assert b"event: reset" in first
    assert b"id: 4-0" in first
    log.close()


def test_an_event_is_written_with_its_id_name_and_data() -> None:
    assert sse_message(entry(7)) == b'id: 7-0\nevent: slot\ndata: {"n": 7}\n\n'


def state(ms: int, subject: str, version: int) -> Entry:
    """An entry stating `subject` at `version` (a slot's state at its row version)."""
    return Entry(f"{ms}-0", (ms, 0), "slot", b'{"v": %d}' % version, subject=subject, version=version)


def test_an_older_version_of_a_subject_arriving_later_is_dropped() -> None:
    log = LiveLog()
    log.append([state(1, "a", 2), state(2, "b", 1)])
    log.append([state(3, "a", 1), state(4, "b", 2)])  # "a" at version 1 comes after version 2: out of order
    assert [(e.subject, e.version) for e in log.newer_than(None)] == [("a", 2), ("b", 1), ("b", 2)]


def test_the_same_version_again_and_entries_without_a_subject_are_kept() -> None:
    log = LiveLog()
    log.append([state(1, "a", 2), state(2, "a", 2), entry(3, event="reset"), state(4, "a", 3)])
    assert [e.id for e in log.newer_than(None)] == ["1-0", "2-0", "3-0", "4-0"]


async def test_a_subscriber_never_sees_a_subject_go_back_in_time() -> None:
    log = LiveLog()
    log.append([state(1, "a", 1)])
    stream = entries_for(log, "1-0", heartbeat=0.05)
    waiting = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0)
    log.append([state(2, "a", 3), state(3, "a", 2), state(4, "a", 4)])
    assert [await waiting, await anext(stream)] == [state(2, "a", 3), state(4, "a", 4)]
    assert await anext(stream) == b": heartbeat\nid: 4-0\n\n"
    log.close()


def test_versions_are_remembered_only_for_the_subjects_still_in_the_log() -> None:
    log = LiveLog(size=3)
    log.append([state(1, "a", 5), state(2, "b", 1), state(3, "a", 6)])
    log.append([state(4, "c", 1), state(5, "a", 5)])  # "a" at 6 is still in the log: 5 is stale
    assert [e.id for e in log.newer_than(None)] == ["2-0", "3-0", "4-0"]
    log.append([state(6, "d", 1), state(7, "e", 1), state(8, "f", 1)])  # every "a" entry has left the log
    log.append([state(9, "a", 5)])  # ... and so has what the log knew of "a"
    assert [e.id for e in log.newer_than(None)] == ["7-0", "8-0", "9-0"]
