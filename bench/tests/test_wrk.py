"""Reading wrk's output: its `--latency` table, the JSON line of wrk_done.lua, and both together."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.baselines import wrk

TABLE = """\
Running 5s test @ http://127.0.0.1:40000/
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     4.79ms  596.39us  17.97ms   92.37%
    Req/Sec    10.50k   412.41    11.05k    88.00%
  Latency Distribution
     50%    4.76ms
     75%    4.95ms
     90%  850.00us
     99%    1.20s
  52254 requests in 5.00s, 7.77MB read
Requests/sec:  10449.10
Transfer/sec:      1.55MB
"""
ERRORS = """\
  Non-2xx or 3xx responses: 12
  Socket errors: connect 1, read 2, write 0, timeout 3
"""
DONE = ('WRK_JSON {"requests": 52254, "duration_us": 5000700, "bytes": 8147000, '
        '"errors": {"connect": 0, "read": 0, "write": 0, "status": 4, "timeout": 0}, '
        '"latency_us": {"min": 310, "mean": 4790.4, "p50": 4761, "p90": 5270, "p99": 6650, "p999": 9000, '
        '"max": 17970}}\n')


def test_the_table_gives_rate_requests_and_percentiles_in_ms_whatever_the_unit() -> None:
    parsed = wrk.parse(TABLE)

    assert parsed["rate"] == 10449.10
    assert parsed["requests"] == 52254
    assert parsed["seconds"] == pytest.approx(5.0)
    assert parsed["p50_ms"] == pytest.approx(4.76)
    assert parsed["p90_ms"] == pytest.approx(0.85)
    assert parsed["p99_ms"] == pytest.approx(1200.0)
    assert parsed["errors"] == 0


def test_non_2xx_answers_and_socket_errors_are_counted_as_errors() -> None:
    parsed = wrk.parse(TABLE.replace("Requests/sec:", ERRORS + "Requests/sec:"))

    assert parsed["errors"] == 12 + 1 + 2 + 3


def test_the_done_hook_s_json_line_wins_over_the_table() -> None:
    parsed = wrk.parse(TABLE + DONE)

    assert parsed["p50_ms"] == pytest.approx(4.761)
    assert parsed["p90_ms"] == pytest.approx(5.27)
    assert parsed["p99_ms"] == pytest.approx(6.65)
    assert parsed["max_ms"] == pytest.approx(17.97)
    assert parsed["errors"] == 4
    assert parsed["rate"] == pytest.approx(52254 / 5.0007)


def test_output_without_a_rate_is_refused() -> None:
    with pytest.raises(ValueError, match="Requests/sec"):
        wrk.parse("unable to connect to 127.0.0.1:1 Connection refused\n")


def test_answers_that_are_not_2xx_are_also_counted_on_their_own() -> None:
    assert wrk.parse(TABLE.replace("Requests/sec:", ERRORS + "Requests/sec:"))["non_2xx"] == 12
    assert wrk.parse(TABLE + DONE)["non_2xx"] == 4
    assert wrk.parse(TABLE)["non_2xx"] == 0


def test_a_post_script_sends_the_body_as_json_and_keeps_the_done_hook(tmp_path: Path) -> None:
    script = wrk.post_script('{"slot_id": "s-1"}', tmp_path).read_text()

    assert script.startswith('wrk.method = "POST"\nwrk.body = [[{"slot_id": "s-1"}]]\n')
    assert 'wrk.headers["Content-Type"] = "application/json"' in script
    assert wrk.DONE_SCRIPT.read_text() in script


def test_a_body_that_would_end_the_lua_string_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="]]"):
        wrk.post_script('{"a": [[1]]}', tmp_path)
