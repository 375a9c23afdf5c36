"""What each event tells the client: a feed entry, and for some events an email (with a calendar part).

Events may lack the optional enrichment fields (zone, names, the client's address): times then read in UTC,
the appointment is "your appointment", and without an address there is no email, only the feed entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from notifier.domain.calendar import Invitation, Method, to_ics
from notifier.domain.emails import Email, render
from notifier.domain.local_time import LocalClock
from notifier.domain.messages import Message
from notifier.domain.money import format_money
from notifier.domain.reminders import describe_offset
from smartslot_common.contracts.payloads import AppointmentPayload, WaitlistOfferPayload

FALLBACK_WHAT = "your appointment"


@dataclass(frozen=True)
class Notice:
    """What one event (or one due reminder) produces for its client."""

    feed: Message | None
    email: Email | None = None


@dataclass(frozen=True)
class Letterhead:
    """Who the emails come from (also the calendar ORGANIZER)."""

    mail_from: str


def capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def what(service_name: str | None, provider_name: str | None) -> str:
    """"Check-up with Dr. Weber", "Check-up", "your appointment with Dr. Weber" or "your appointment"."""
    subject = service_name or FALLBACK_WHAT
    return f"{subject} with {provider_name}" if provider_name else subject


def _where(appointment: AppointmentPayload) -> str | None:
    return ", ".join(part for part in (appointment.clinic_name, appointment.clinic_address) if part) or None


class AppointmentWords:
    """One appointment payload in words, in the provider's zone."""

    def __init__(self, appointment: AppointmentPayload) -> None:
        self.appointment = appointment
        self.clock = LocalClock.of(appointment.timezone)
        self.what = what(appointment.service_name, appointment.provider_name)
        self.when = self.clock.long(appointment.starts_at)
        self.short = self.clock.short(appointment.starts_at)

    @property
    def appointment_id(self) -> str:
        return str(self.appointment.appointment_id)

    @property
    def client_id(self) -> str:
        return str(self.appointment.client_id)

    def context(self, **extra: Any) -> dict[str, Any]:
        return {
            "name": self.appointment.client_name, "clinic": self.appointment.clinic_name, "what": self.what,
            "when": self.when, "until": self.clock.time(self.appointment.ends_at), "where": _where(self.appointment),
        } | extra

    def feed(self, kind: str, title: str, body: str) -> Message:
        return Message(self.client_id, kind, title, body, self.appointment_id)

    def email(self, kind: str, subject: str, letterhead: Letterhead, stamped_at: datetime,
              method: Method | None = None, **extra: Any) -> Email | None:
        if not self.appointment.client_email:
            return None
        text, html = render(kind, self.context(subject=subject, **extra))
        ics = to_ics(self._invitation(method, letterhead, stamped_at)) if method else None
        return Email(kind, self.appointment.client_email, self.appointment.client_name, subject, text, html,
                     self.appointment_id, ics, method)

    def _invitation(self, method: Method, letterhead: Letterhead, stamped_at: datetime) -> Invitation:
        appointment = self.appointment
        return Invitation(
            appointment_id=self.appointment_id, method=method, sequence=appointment.ics_sequence,
            starts_at=appointment.starts_at, ends_at=appointment.ends_at, stamped_at=stamped_at,
            summary=capitalised(self.what), location=_where(appointment) or "", organizer=letterhead.mail_from,
            attendee_email=appointment.client_email, attendee_name=appointment.client_name,
        )


def hold_placed(appointment: AppointmentPayload) -> Notice:
    """A client's own hold: confirm it before the deadline. (A waitlist hold is told by its offer instead.)"""
    words = AppointmentWords(appointment)
    deadline = words.clock.time(appointment.hold_expires_at) if appointment.hold_expires_at else None
    until = f" until {deadline}" if deadline else ""
    return Notice(words.feed("hold_placed", "Your slot is held",
                             f"{capitalised(words.what)} on {words.when} is held for you{until}. "
                             "Confirm it to keep it."))


def confirmed(appointment: AppointmentPayload, letterhead: Letterhead, stamped_at: datetime) -> Notice:
    words = AppointmentWords(appointment)
    subject = f"Confirmed: {words.what}, {words.short}"
    return Notice(
        words.feed("confirmation", "Booking confirmed", f"{capitalised(words.what)} on {words.when} is confirmed."),
        words.email("confirmation", subject, letterhead, stamped_at, "REQUEST"),
    )


def _cancelled_by(appointment: AppointmentPayload) -> str | None:
    if appointment.cancelled_by == "provider":
        return appointment.provider_name or "your provider"
    if appointment.cancelled_by in {"admin", "system", "time_off"}:
        return appointment.clinic_name or "the clinic"
    return None


def cancelled(appointment: AppointmentPayload, letterhead: Letterhead, stamped_at: datetime) -> Notice:
    words = AppointmentWords(appointment)
    fee = format_money(appointment.fee_cents, appointment.currency) if appointment.fee_cents else None
    fee_sentence = f" A cancellation fee of {fee} applies." if fee else ""
    subject = f"Cancelled: {words.what}, {words.short}"
    return Notice(
        words.feed("cancellation", "Appointment cancelled",
                   f"{capitalised(words.what)} on {words.when} was cancelled.{fee_sentence}"),
        words.email("cancellation", subject, letterhead, stamped_at, "CANCEL", fee=fee,
                    cancelled_by=_cancelled_by(appointment), reason=appointment.reason),
    )


def rescheduled(appointment: AppointmentPayload, letterhead: Letterhead, stamped_at: datetime) -> Notice:
    words = AppointmentWords(appointment)
    previous = words.clock.long(appointment.previous.starts_at) if appointment.previous else None
    moved_from = f" from {previous}" if previous else ""
    subject = f"Moved: {words.what}, now {words.short}"
    return Notice(
        words.feed("reschedule", "Appointment moved", f"{capitalised(words.what)} moved{moved_from} to {words.when}."),
        words.email("reschedule", subject, letterhead, stamped_at, "REQUEST", previous_when=previous),
    )


def expired(appointment: AppointmentPayload) -> Notice:
    words = AppointmentWords(appointment)
    return Notice(words.feed("hold_expired", "Hold expired",
                             f"Your hold on {words.what} on {words.when} ended before it was confirmed."))


def no_show(appointment: AppointmentPayload) -> Notice:
    """The client learns the visit was recorded as missed, and whom to tell if that is wrong. Feed only: the record
    may be corrected, and an email cannot be taken back."""
    words = AppointmentWords(appointment)
    who = appointment.clinic_name or appointment.provider_name or "the clinic"
    return Notice(words.feed("no_show", "Marked as a no-show",
                             f"{capitalised(words.what)} on {words.when} was marked as a no-show: you were not "
                             f"seen. If you were there, please contact {who}."))


def reminder(appointment: AppointmentPayload, offset_seconds: int, letterhead: Letterhead,
             stamped_at: datetime) -> Notice:
    words = AppointmentWords(appointment)
    lead = describe_offset(offset_seconds)
    subject = f"Reminder: {words.what} in {lead}, {words.short}"
    return Notice(
        words.feed("reminder", "Reminder", f"{capitalised(words.what)} is in {lead}: {words.when}."),
        words.email("reminder", subject, letterhead, stamped_at, lead=lead),
    )


class OfferWords:
    """A waitlist offer in words, in the provider's zone."""

    def __init__(self, offer: WaitlistOfferPayload) -> None:
        self.offer = offer
        self.clock = LocalClock.of(offer.timezone)
        self.what = what(offer.service_name, offer.provider_name)
        self.when = self.clock.long(offer.starts_at) if offer.starts_at else None
        self.deadline = self.clock.long(offer.offer_expires_at) if offer.offer_expires_at else None

    def feed(self, kind: str, title: str, body: str) -> Message:
        appointment_id = str(self.offer.appointment_id) if self.offer.appointment_id else None
        return Message(str(self.offer.client_id), kind, title, body, appointment_id)


def offer_made(offer: WaitlistOfferPayload) -> Notice:
    words = OfferWords(offer)
    on = f" on {words.when}" if words.when else ""
    until = f" until {words.deadline}" if words.deadline else ""
    feed = words.feed("waitlist_offer", "A place opened up",
                      f"{capitalised(words.what)}{on} is held for you{until}. Confirm it to keep it.")
    if not offer.client_email:
        return Notice(feed)
    deadline_short = words.clock.time(offer.offer_expires_at) if offer.offer_expires_at else None
    subject = f"A place opened up: {words.what}" + (f", confirm by {deadline_short}" if deadline_short else "")
    text, html = render("waitlist_offer", {
        "subject": subject, "name": offer.client_name, "clinic": offer.clinic_name, "what": words.what,
        "when": words.when, "until": None, "where": offer.clinic_name, "deadline": words.deadline,
    })
    email = Email("waitlist_offer", offer.client_email, offer.client_name, subject, text, html, feed.appointment_id)
    return Notice(feed, email)


def offer_expired(offer: WaitlistOfferPayload) -> Notice:
    words = OfferWords(offer)
    on = f" on {words.when}" if words.when else ""
    return Notice(words.feed("waitlist_offer_expired", "Offer expired",
                             f"The place offered to you for {words.what}{on} was not confirmed in time "
                             "and went to the next person waiting."))
