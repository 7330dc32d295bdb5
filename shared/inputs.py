"""What people type, read the same way by every service: local date-times, phone numbers, and
marshmallow's complaints turned into one sentence per field; and the sentences pages show."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import phonenumbers
from marshmallow import ValidationError, fields


class LocalDateTime(fields.Field):
    """A wall-clock date-time without offset, like 2026-12-03T12:00."""

    default_error_messages = {
        "invalid": "give a local date and time like 2026-12-03T12:00",
        "offset": "give the local time without a UTC offset (like 2026-12-03T12:00); "
        "the time zone goes in the timezone field",
    }

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> datetime:
        if not isinstance(value, str):
            raise self.make_error("invalid")
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise self.make_error("invalid") from None
        if parsed.tzinfo is not None:
            raise self.make_error("offset")
        return parsed.replace(second=0, microsecond=0)


def phone_e164(value: str | None) -> str | None:
    """E.164 after parsing; numbers without a country code are read as US numbers."""
    if value in (None, ""):
        return None
    try:
        number = phonenumbers.parse(value, "US")
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise ValidationError("give a valid phone number, with its country code (+44 …) if not US")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def messages_by_field(error: ValidationError) -> dict[str, str]:
    """One sentence per field, in words a person can act on."""
    messages = error.messages if isinstance(error.messages, dict) else {"_schema": error.messages}
    return {
        key: (" ".join(str(m) for m in value) if isinstance(value, list) else str(value))
        .replace("Unknown field.", "this field is not part of the request; check its name")
        .replace("Missing data for required field.", "this field is required")
        for key, value in messages.items()
    }


def sentence(text: str) -> str:
    """A message as a page shows it: a capital first, and a full stop last."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."
