"""Role marks in memory, on a fake clock: memory answers only while changes are followed, a mark lasts its TTL,
and a published change is applied as it reads."""

from __future__ import annotations

import uuid

import redis.asyncio as aioredis

from gateway.adapters.role_marks import RoleMarks

TTL = 960


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def marks(clock: FakeClock) -> RoleMarks:
    never_contacted = aioredis.Redis.from_url("redis://127.0.0.1:1/0")
    return RoleMarks(never_contacted, "test:role", TTL, 0.25, clock=clock)


def test_memory_does_not_answer_until_changes_are_followed() -> None:
    followed = marks(FakeClock())
    assert followed.remembered(uuid.uuid4(), "client") is None


def test_a_published_change_refuses_the_old_role_until_the_mark_expires() -> None:
    clock = FakeClock()
    followed = marks(clock)
    followed._follower.following = True
    user = uuid.uuid4()
    assert followed.remembered(user, "client") is True  # no mark: nothing changed

    followed._apply(f"{user} provider".encode())

    assert followed.remembered(user, "client") is False
    assert followed.remembered(user, "provider") is True
    assert followed.remembered(uuid.uuid4(), "client") is True  # other users untouched
    clock.now += TTL  # every token issued before the change has expired by now
    assert followed.remembered(user, "client") is True


def test_a_message_that_is_not_a_change_is_ignored() -> None:
    followed = marks(FakeClock())
    followed._follower.following = True
    for junk in (b"", b"not-a-uuid provider", f"{uuid.uuid4()}".encode()):
        followed._apply(junk)
    assert followed._marks == {}
