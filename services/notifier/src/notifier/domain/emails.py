"""Emails as data: subject, text, HTML and an optional calendar part, rendered from the package's templates."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import jinja2


@dataclass(frozen=True)
class Email:
    """One email to one person; `ics` is the calendar object to attach, with its iTIP method."""

    kind: str
    to: str
    to_name: str | None
    subject: str
    text: str
    html: str
    appointment_id: str | None
    ics: str | None = None
    ics_method: str | None = None

    def to_content(self) -> dict[str, Any]:
        """The stored form (a delivery's `content`), rendered once so every attempt sends the same bytes."""
        return {
            "kind": self.kind, "to": self.to, "to_name": self.to_name, "subject": self.subject, "text": self.text,
            "html": self.html, "appointment_id": self.appointment_id, "ics": self.ics, "ics_method": self.ics_method,
        }

    @classmethod
    def from_content(cls, content: dict[str, Any]) -> Email:
        fields: dict[str, Any] = {name: content.get(name) for name in cls.__dataclass_fields__}  # stored JSON
        return cls(**fields)


@cache
def _environment(autoescape: bool) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("notifier", "templates"),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        auto_reload=False,  # packaged templates do not change under a running process: no stat per render
    )


@cache
def _templates(kind: str) -> tuple[jinja2.Template, jinja2.Template]:
    """The compiled text and HTML templates of `kind`, loaded once per process."""
    return _environment(False).get_template(f"{kind}.txt"), _environment(True).get_template(f"{kind}.html")


def render(kind: str, context: dict[str, Any]) -> tuple[str, str]:
    """The text and HTML bodies of `kind` (`<kind>.txt`, `<kind>.html`)."""
    text, html = _templates(kind)
    return text.render(context), html.render(context)
