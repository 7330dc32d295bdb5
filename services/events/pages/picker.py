"""The recurrence picker: the event form's repeat choices to an RRULE, and an event's rule back."""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime

from services.events.model import Event, parse_recurrence
from services.events.pages.words import ORDINALS, WEEKDAY_CODES


def _nth_of_month(day: date) -> int:
    return (day.day - 1) // 7 + 1


def _is_last_of_month(day: date) -> bool:
    return day.day + 7 > calendar.monthrange(day.year, day.month)[1]


PICKER_FIELDS = {"rrule", "interval", "ends", "count", "until"}
REPEAT_CHOICES = ("none", "weekly", "weeks", "monthly_nth", "monthly_last", "custom")
END_CHOICES = ("never", "count", "until")


@dataclass(frozen=True)
class Picker:
    """What the recurrence part of the event form says, as the strings it posts."""

    repeat: str = "none"
    interval: str = "2"
    rrule: str = ""  # the custom rule
    ends: str = "never"
    count: str = ""
    until: str = ""

    @classmethod
    def from_form(cls, form: Mapping[str, str]) -> Picker:
        repeat = form.get("repeat", "none")
        ends = form.get("ends", "never")
        return cls(
            repeat=repeat if repeat in REPEAT_CHOICES else "none",
            interval=form.get("interval", "").strip(),
            rrule=form.get("rrule", "").strip(),
            ends=ends if ends in END_CHOICES else "never",
            count=form.get("count", "").strip(),
            until=form.get("until", "").strip(),
        )

    def rule(self, start: date | None) -> tuple[str | None, dict[str, str]]:
        """The RRULE these choices mean for a series starting on `start`, and what is wrong.

        The weekday and its place in the month come from the start date, so the preset rules
        always include their own first date. The model checks the result like any other rule.
        """
        errors: dict[str, str] = {}
        if self.repeat == "none":
            return None, errors
        if self.repeat == "custom":
            base = self.rrule
            if not base:
                errors["rrule"] = (
                    "write the rule, such as FREQ=WEEKLY;BYDAY=TH, or choose another option"
                )
                return None, errors
            keys = {
                piece.partition("=")[0].strip().upper().removeprefix("RRULE:")
                for piece in base.split(";")
            }
            if self.ends != "never" and keys & {"COUNT", "UNTIL"}:
                errors["ends"] = (
                    "the custom rule already says when it ends (COUNT or UNTIL): choose "
                    "“never” here, or take that part out of the rule"
                )
        elif start is None:
            return None, errors  # the start itself is wrong; that error says what to do
        else:
            day = WEEKDAY_CODES[start.weekday()]
            if self.repeat == "weekly":
                base = f"FREQ=WEEKLY;BYDAY={day}"
            elif self.repeat == "weeks":
                try:
                    weeks = int(self.interval)
                except ValueError:
                    errors["interval"] = "give the number of weeks as a whole number, like 2"
                    weeks = 1
                interval = f";INTERVAL={weeks}" if weeks != 1 else ""
                base = f"FREQ=WEEKLY{interval};BYDAY={day}"
            elif self.repeat == "monthly_nth":
                base = f"FREQ=MONTHLY;BYDAY={_nth_of_month(start)}{day}"
            else:
                if not _is_last_of_month(start):
                    ordinal = ORDINALS[_nth_of_month(start)]
                    errors["rrule"] = (
                        f"{start:%A} {start.day} {start:%B} is not the last {start:%A} of its "
                        f"month: choose “monthly on the {ordinal} {start:%A}”, or move the start"
                    )
                base = f"FREQ=MONTHLY;BYDAY=-1{day}"
        if self.ends == "count":
            try:
                base += f";COUNT={int(self.count)}"
            except ValueError:
                errors["count"] = "give how many times as a whole number, like 10"
        elif self.ends == "until":
            try:
                base += f";UNTIL={date.fromisoformat(self.until):%Y%m%d}"
            except ValueError:
                errors["until"] = "give the last date, like 2027-06-30"
        return base, errors

    def place(self, errors: dict[str, str]) -> dict[str, str]:
        """Move the model's error about the built rule next to the input it comes from."""
        message = errors.get("rrule")
        if not message:
            return errors
        target = "rrule"
        if message.startswith("COUNT") and self.ends == "count":
            target = "count"
        elif self.ends == "until" and (message.startswith("UNTIL")):
            target = "until"
        elif message.startswith("INTERVAL") and self.repeat == "weeks":
            target = "interval"
        if target != "rrule" and target not in errors:
            errors = {**errors}
            errors[target] = errors.pop("rrule")
        return errors

    @classmethod
    def for_event(cls, event: Event) -> Picker:
        """The picker state that gives back the event's stored rule, or "custom" with the rule
        as it is when no preset does (so saving the form unchanged changes nothing)."""
        if not event.rrule:
            return cls()
        parts = dict(part.split("=", 1) for part in event.rrule.split(";"))
        ends, count, until = "never", "", ""
        if "COUNT" in parts:
            ends, count = "count", parts.pop("COUNT")
        elif "UNTIL" in parts:
            instant = datetime.strptime(parts.pop("UNTIL"), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            ends, until = "until", instant.astimezone(event.tz).date().isoformat()
        start = event.starts_at.date()
        day = WEEKDAY_CODES[start.weekday()]
        repeat, interval = "custom", "2"
        if parts == {"FREQ": "WEEKLY", "BYDAY": day}:
            repeat = "weekly"
        elif (
            parts.keys() == {"FREQ", "INTERVAL", "BYDAY"}
            and parts["FREQ"] == "WEEKLY"
            and (parts["BYDAY"] == day)
        ):
            repeat, interval = "weeks", parts["INTERVAL"]
        elif parts == {"FREQ": "MONTHLY", "BYDAY": f"{_nth_of_month(start)}{day}"}:
            repeat = "monthly_nth"
        elif parts == {"FREQ": "MONTHLY", "BYDAY": f"-1{day}"}:
            repeat = "monthly_last"
        picker = cls(repeat=repeat, interval=interval, ends=ends, count=count, until=until)
        if repeat != "custom":
            built, errors = picker.rule(start)
            if not errors and built is not None and _same_rule(built, event):
                return picker
        return cls(repeat="custom", rrule=event.rrule)

    def choices(self, start: date | None) -> list[tuple[str, str]]:
        """The repeat options, in words fitted to the start date when it is known."""
        if start is None:
            weekly = "Every week"
            nth = "Monthly on the same weekday as the start (such as the 2nd Tuesday)"
            last = "Monthly on the last such weekday (such as the last Friday)"
        else:
            weekly = f"Every week on {start:%A}"
            nth = f"Monthly on the {ORDINALS[_nth_of_month(start)]} {start:%A}"
            last = f"Monthly on the last {start:%A}"
        options = [("none", "Does not repeat"), ("weekly", weekly), ("weeks", "Every N weeks")]
        options.append(("monthly_nth", nth))
        # "Last" only makes sense when the start is the last such weekday of its month.
        if start is None or _is_last_of_month(start) or self.repeat == "monthly_last":
            options.append(("monthly_last", last))
        options.append(("custom", "Custom rule (RRULE)"))
        return options


def _same_rule(built: str, event: Event) -> bool:
    """Whether the picker's rule is the event's stored rule, once both are in the model's
    normal form (the stored one already is; UNTIL, for one, is kept in UTC)."""
    try:
        return parse_recurrence(built, event.starts_at, event.tz).text == event.rrule
    except ValueError:
        return False
