"""What the notifier's SMTP sessions read and write on the wire: replies however they arrive, content as DATA
carries it."""

from __future__ import annotations

import asyncio

import pytest

from notifier.adapters.smtp_session import MAX_REPLY_BYTES, Reply, SessionLost, _content, _Replies


async def replies_of(*chunks: bytes, count: int) -> list[Reply]:
    replies = _Replies()
    for chunk in chunks:
        replies.data_received(chunk)
    return [await asyncio.wait_for(replies.next(), 1) for _ in range(count)]


async def test_pipelined_replies_arriving_together_are_read_one_by_one_in_order() -> None:
    together = b"250 2.1.0 OK\r\n550 5.1.1 no such mailbox\r\n354 End data with <CR><LF>.<CR><LF>\r\n"

    assert await replies_of(together, count=3) == [
        Reply(250, "2.1.0 OK"), Reply(550, "5.1.1 no such mailbox"), Reply(354, "End data with <CR><LF>.<CR><LF>")]


async def test_a_reply_split_across_reads_and_over_several_lines_is_one_reply() -> None:
    assert await replies_of(b"250-smtp.example\r\n250-PIPE", b"LINING\r\n25", b"0 HELP\r\n", count=1) == [
        Reply(250, "smtp.example\nPIPELINING\nHELP")]


async def test_what_is_not_an_smtp_reply_breaks_the_session() -> None:
    replies = _Replies()
    replies.data_received(b"HTTP/1.1 400 Bad Request\r\n")
    with pytest.raises(SessionLost, match="not an SMTP reply"):
        await replies.next()


async def test_a_reply_without_end_breaks_the_session_once_too_long() -> None:
    replies = _Replies()
    replies.data_received(b"250-" + b"x" * MAX_REPLY_BYTES)
    with pytest.raises(SessionLost, match="too long"):
        await replies.next()


async def test_a_closed_connection_wakes_the_reader() -> None:
    replies = _Replies()
    reading = asyncio.create_task(replies.next())
    await asyncio.sleep(0)
    replies.connection_lost(None)
    with pytest.raises(SessionLost, match="closed"):
        await asyncio.wait_for(reading, 1)


def test_content_doubles_leading_dots_ends_lines_with_crlf_and_adds_the_terminator() -> None:
    assert _content(b".first\r\nsecond\r\n.third") == b"..first\r\nsecond\r\n..third\r\n.\r\n"
    assert _content(b"bare\nline ends\n") == b"bare\r\nline ends\r\n.\r\n"
    assert _content(b"already\r\n") == b"already\r\n.\r\n"
