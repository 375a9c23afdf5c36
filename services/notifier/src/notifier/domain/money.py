"""Amounts in integer minor units, written the way their currency is written."""

from __future__ import annotations

# ISO 4217 currencies whose minor unit is not the cent.
MINOR_DIGITS = {"JPY": 0, "KRW": 0, "ISK": 0, "CLP": 0, "VND": 0, "BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3, "TND": 3}
SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥", "INR": "₹"}


def format_money(minor_units: int, currency: str | None) -> str:
    """2250, "EUR" -> "€22.50"; 2250, "CHF" -> "CHF 22.50"; without a currency, just the number."""
    code = (currency or "").upper()
    digits = MINOR_DIGITS.get(code, 2)
    sign = "-" if minor_units < 0 else ""
    whole, fraction = divmod(abs(minor_units), 10**digits)
    amount = f"{whole:,}" + (f".{fraction:0{digits}d}" if digits else "")
    if code in SYMBOLS:
        return f"{sign}{SYMBOLS[code]}{amount}"
    return f"{sign}{code} {amount}".strip()
