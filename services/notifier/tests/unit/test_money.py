import pytest

from notifier.domain.money import format_money


@pytest.mark.parametrize(("cents", "currency", "expected"), [
    (2250, "EUR", "€22.50"),
    (2250, "eur", "€22.50"),
    (5, "USD", "$0.05"),
    (123456789, "GBP", "£1,234,567.89"),
    (2250, "JPY", "¥2,250"),
    (2250, "KWD", "KWD 2.250"),
    (2250, "CHF", "CHF 22.50"),
    (2250, None, "22.50"),
    (0, "EUR", "€0.00"),
])
def test_amounts_are_written_in_their_currency(cents, currency, expected):
    assert format_money(cents, currency) == expected
