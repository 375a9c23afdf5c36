"""Multiple acks never cover a message still being applied, whatever order batches finish in."""

from __future__ import annotations

from smartslot_common.messaging.acks import Acknowledgements


class Channel:
    def __init__(self) -> None:
        self.acks: list[tuple[int, bool]] = []


class Delivered:
    """What the tracker uses of an incoming message: its channel, its tag and ack."""

    def __init__(self, channel: Channel, tag: int) -> None:
        self.channel, self.delivery_tag = channel, tag

    async def ack(self, multiple: bool = False) -> None:
        self.channel.acks.append((self.delivery_tag, multiple))


def delivered(channel: Channel, *tags: int) -> list[Delivered]:
    return [Delivered(channel, tag) for tag in tags]


async def test_an_applied_batch_waits_for_the_message_still_in_hand_before_it() -> None:
    channel, acks = Channel(), Acknowledgements()
    first, second, third, fourth = delivered(channel, 1, 2, 3, 4)
    for message in (first, second, third, fourth):
        acks.received(message)  # type: ignore[arg-type]

    await acks.applied([second, third])  # type: ignore[list-item]
    assert channel.acks == []  # 1 is still in hand: an ack of 3 would cover it

    await acks.applied([first])  # type: ignore[list-item]
    assert channel.acks == [(3, True)]  # 1, 2 and 3 together

    await acks.applied([fourth])  # type: ignore[list-item]
    assert channel.acks == [(3, True), (4, True)]


async def test_a_message_settled_alone_is_never_named_again() -> None:
    channel, acks = Channel(), Acknowledgements()
    first, second, third = delivered(channel, 1, 2, 3)
    for message in (first, second, third):
        acks.received(message)  # type: ignore[arg-type]

    await acks.applied([second])  # type: ignore[list-item]
    await acks.settled(third)  # type: ignore[arg-type]  # e.g. sent to a retry tier and acknowledged on its own
    await acks.settled(first)  # type: ignore[arg-type]

    assert channel.acks == [(2, True)]  # covers 1 (already settled) and 2; 3 settled on its own


async def test_arrival_out_of_tag_order_still_acks_by_tag() -> None:
    channel, acks = Channel(), Acknowledgements()
    first, second = delivered(channel, 1, 2)
    acks.received(second)  # type: ignore[arg-type]
    acks.received(first)  # type: ignore[arg-type]

    await acks.applied([second])  # type: ignore[list-item]
    assert channel.acks == []

    await acks.applied([first])  # type: ignore[list-item]
    assert channel.acks == [(2, True)]


async def test_channels_are_acknowledged_apart() -> None:
    old, new, acks = Channel(), Channel(), Acknowledgements()
    stale, fresh = Delivered(old, 7), Delivered(new, 1)  # the robust channel reopened: tags start again
    acks.received(stale)  # type: ignore[arg-type]
    acks.received(fresh)  # type: ignore[arg-type]

    await acks.applied([fresh])  # type: ignore[list-item]

    assert (old.acks, new.acks) == ([], [(1, True)])
