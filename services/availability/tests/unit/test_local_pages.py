"""Day pages held in process memory: as long as Redis keeps them at most, within a budget of slot entries."""

from __future__ import annotations

from availability.adapters.local_pages import LocalPages


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def slots(count: int) -> list:
    return [{"a": "{}", "t": float(n), "r": None, "c": "clinic"} for n in range(count)]


def test_a_page_is_held_no_longer_than_redis_keeps_it() -> None:
    clock = Clock()
    pages = LocalPages(100, ttl_seconds=30, clock=clock)
    pages.keep("page", 7, slots(3))
    held = pages.get("page")
    assert held is not None
    assert (held.lsn, len(held.slots)) == (7, 3)
    clock.now += 30
    assert pages.get("page") is None
    assert len(pages) == 0


def test_the_least_recently_used_pages_go_first_beyond_the_entry_budget() -> None:
    pages = LocalPages(10, ttl_seconds=30, clock=Clock())
    pages.keep("a", 1, slots(4))
    pages.keep("b", 1, slots(4))
    assert pages.get("a") is not None  # "b" is now the least recently used
    pages.keep("c", 1, slots(4))
    assert [key for key in "abc" if pages.get(key) is not None] == ["a", "c"]


def test_a_newer_copy_replaces_the_held_one_and_an_oversized_page_is_not_held() -> None:
    pages = LocalPages(10, ttl_seconds=30, clock=Clock())
    pages.keep("a", 1, slots(4))
    pages.keep("a", 2, slots(5))
    held = pages.get("a")
    assert held is not None
    assert (held.lsn, len(held.slots)) == (2, 5)
    pages.keep("big", 3, slots(11))
    assert pages.get("big") is None
