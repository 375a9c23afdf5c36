import random

import pytest

from notifier.domain.deliveries import Attempt, Outcome, after_attempt, disable_reason
from notifier.domain.retries import Backoff

BACKOFF = Backoff(base_seconds=2.0, cap_seconds=60.0)


def test_backoff_doubles_up_to_the_cap_with_bounded_jitter():
    rng = random.Random(7)

    minimums = [BACKOFF.minimum(attempt) for attempt in range(1, 9)]
    delays = [BACKOFF.delay(attempt, rng) for attempt in range(1, 9)]

    assert minimums == [2, 4, 8, 16, 32, 60, 60, 60]
    assert all(low <= delay <= low * 1.1 for low, delay in zip(minimums, delays, strict=True))


@pytest.mark.parametrize(("attempt", "attempts", "status"), [
    (Attempt(Outcome.SENT, 250), 1, "sent"),
    (Attempt(Outcome.TRANSIENT, 451), 1, "pending"),
    (Attempt(Outcome.TRANSIENT, 451), 4, "pending"),
    (Attempt(Outcome.TRANSIENT, 451), 5, "failed"),  # out of attempts
    (Attempt(Outcome.PERMANENT, 550), 1, "failed"),
    (Attempt(Outcome.GONE, 410), 1, "failed"),
])
def test_state_after_an_attempt(attempt, attempts, status):
    outcome = after_attempt(attempt, attempts, max_attempts=5, backoff=BACKOFF)

    assert outcome.status == status
    assert (outcome.delay is not None) == (status == "pending")


def test_retry_delay_grows_with_attempts():
    first = after_attempt(Attempt(Outcome.TRANSIENT), 1, 9, Backoff(1.0, 100.0, jitter=0)).delay
    third = after_attempt(Attempt(Outcome.TRANSIENT), 3, 9, Backoff(1.0, 100.0, jitter=0)).delay

    assert (first, third) == (1.0, 4.0)


@pytest.mark.parametrize(("attempt", "failures", "disabled"), [
    (Attempt(Outcome.GONE, 410), 1, True),
    (Attempt(Outcome.TRANSIENT, 500), 2, False),
    (Attempt(Outcome.TRANSIENT, 500), 3, True),
    (Attempt(Outcome.SENT, 200), 0, False),
])
def test_endpoint_disabled_after_gone_or_repeated_failures(attempt, failures, disabled):
    assert (disable_reason(attempt, failures, disable_after=3) is not None) == disabled
