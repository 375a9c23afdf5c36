import pytest

from notifier.domain.webhooks import WEBHOOK_EVENT_TYPES, event_type_problem, url_problem


@pytest.mark.parametrize("url", ["https://hooks.example.com/smartslot", "http://127.0.0.1:8080/in?x=1"])
def test_http_and_https_urls_are_accepted(url):
    assert url_problem(url) is None


@pytest.mark.parametrize("url", [
    "ftp://example.com/x", "file:///etc/passwd", "javascript:alert(1)", "https://", "example.com/hook",
    "https://user:pw@example.com/", "http://example.com:99999/", "https://example.com/" + "a" * 2100,
])
def test_other_urls_are_refused(url):
    assert url_problem(url) is not None


def test_event_types_must_be_ones_the_notifier_hears():
    assert event_type_problem(list(WEBHOOK_EVENT_TYPES)) is None
    assert event_type_problem([]) is not None
    assert "slot.created" in (event_type_problem(["appointment.confirmed", "slot.created"]) or "")


def test_an_endpoint_may_ask_for_no_shows():
    assert event_type_problem(["appointment.no_show", "appointment.completed"]) is None
