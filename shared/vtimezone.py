"""The VTIMEZONE a calendar feed sends for an IANA zone, in the compact form every client reads.

A feed must carry a VTIMEZONE for each TZID it uses, or Outlook shifts times by an hour and ical.js
reads them as floating. Outlook also reduces a VTIMEZONE to one yearly STANDARD/DAYLIGHT rule pair,
so a zone with daylight saving time is written as that pair (`RRULE:FREQ=YEARLY;BYMONTH=3;
BYDAY=2SU`), not as the long RDATE lists `icalendar`'s `add_missing_timezones()` emits; a zone
without one is a single STANDARD (see FIELD-NOTES.md, "Calendar feeds").

Everything is derived from `zoneinfo`: the actual transitions of the zone are found by probing it,
and the rule is the one those transitions follow. A rule is a weekday within a 7-day window of a
month at a local time: "the 2nd Sunday" (`BYDAY=2SU`), "the last Sunday" (`BYDAY=-1SU`), or any
other window (`BYDAY=FR;BYMONTHDAY=23,24,25,26,27,28,29`: Israel's Friday before the last Sunday).

The result gives zoneinfo's UTC offset for every local time from `first_year` through `last_year`;
the rule pair starts (DTSTART) at its first change in the year before `first_year`, or when the
zone took it up, if later. A change of abbreviation alone is not a transition: TZNAME is a label.
Transitions between `first_year` and the start of the current rule (a zone that changed its rule
lately) are listed as RDATEs, and so are all transitions of a zone whose changes follow no yearly
rule (Africa/Casablanca moves with Ramadan): there the listed years end at `last_year`, after which
the offset last listed continues. A yearly rule goes on without an end, as the zone does.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import icalendar

FIRST_YEAR = 2020
LAST_YEAR = 2045
EARLIEST_YEAR = 1970  # how far back the start of a fixed offset is looked for
MIN_RULE_YEARS = 4  # fewer years in a row fit a yearly rule by chance (Casablanca in 2044-2045)
# Probe the zone this often, then bisect to the second. It must be shorter than the shortest
# interval between two transitions: in the tz database since 1970 that is 7 days (Brazil in 2000).
_PROBE_STEP = timedelta(days=5)
_SECOND = timedelta(seconds=1)
_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_NTH_WEEK_STARTS = {1: 1, 8: 2, 15: 3, 22: 4}
_0 = timedelta(0)


def vtimezone(
    name: str, first_year: int = FIRST_YEAR, last_year: int = LAST_YEAR
) -> icalendar.Timezone:
    """A new VTIMEZONE component for the IANA zone `name`, right for local times from the start of
    `first_year` through the end of `last_year` (and beyond, while the zone keeps its rule)."""
    if not EARLIEST_YEAR < first_year <= last_year:
        raise ValueError(f"years out of order or before {EARLIEST_YEAR}: {first_year}, {last_year}")
    timezone = icalendar.Timezone()
    timezone.add("TZID", name)
    for observance in _observances(name, first_year, last_year):
        component = (
            icalendar.TimezoneDaylight() if observance.daylight else icalendar.TimezoneStandard()
        )
        component.add("TZNAME", observance.tzname)
        component.add("TZOFFSETFROM", observance.offset_from)
        component.add("TZOFFSETTO", observance.offset_to)
        component.add("DTSTART", observance.start)
        if observance.rule is not None:
            component.add("RRULE", observance.rule.rrule())
        if observance.more_starts:
            # One value per RDATE, the first onset repeated among them: ical.js reads only the
            # first value of an RDATE and, where there are RDATEs, ignores DTSTART.
            for start in (observance.start, *observance.more_starts):
                component.add("RDATE", start)
        timezone.add_component(component)
    return timezone


@dataclass(frozen=True)
class _Transition:
    utc: datetime
    offset_from: timedelta
    offset_to: timedelta
    tzname: str
    dst: bool  # zoneinfo's flag for the time after; only for observances outside a rule pair

    @property
    def local(self) -> datetime:
        """The wall time at which it happens, on the clock before it (as DTSTART and RDATE say)."""
        return (self.utc + self.offset_from).replace(tzinfo=None)

    @property
    def kind(self) -> tuple[timedelta, timedelta, str]:
        return (self.offset_from, self.offset_to, self.tzname)


@dataclass(frozen=True)
class _YearlyRule:
    """A weekday within the 7-day window of `month` starting at `first_day` (negative: counted
    from the month's end, -1 being its last day), at `at` local time."""

    month: int
    weekday: int
    first_day: int
    at: time

    def rrule(self) -> dict[str, object]:
        weekday = _WEEKDAYS[self.weekday]
        rule: dict[str, object] = {"FREQ": "YEARLY", "BYMONTH": self.month}
        if self.first_day in _NTH_WEEK_STARTS:
            rule["BYDAY"] = f"{_NTH_WEEK_STARTS[self.first_day]}{weekday}"
        elif self.first_day == -7:
            rule["BYDAY"] = f"-1{weekday}"
        else:
            rule["BYDAY"] = weekday
            rule["BYMONTHDAY"] = list(range(self.first_day, self.first_day + 7))
        return rule


@dataclass(frozen=True)
class _Observance:
    daylight: bool
    tzname: str
    offset_from: timedelta
    offset_to: timedelta
    start: datetime
    rule: _YearlyRule | None = None
    more_starts: tuple[datetime, ...] = ()


@lru_cache(maxsize=256)
def _observances(name: str, first_year: int, last_year: int) -> tuple[_Observance, ...]:
    zone = ZoneInfo(name)
    last_year = max(last_year, first_year + MIN_RULE_YEARS - 1)
    probed_from = first_year - 1
    transitions = _transitions(zone, probed_from, last_year)
    begin = datetime(first_year, 1, 1)
    while probed_from > EARLIEST_YEAR and not any(t.local <= begin for t in transitions):
        earlier = max(EARLIEST_YEAR, probed_from - 10)
        transitions = _transitions(zone, earlier, probed_from - 1) + transitions
        probed_from = earlier

    pair = _rule_pair(transitions, last_year)
    rule_start = pair[2] if pair is not None else len(transitions)
    observances = []
    if rule_start == len(transitions) or transitions[rule_start].local > begin:
        # The transition that set the offset in force when `first_year` begins, then every one
        # until the rule takes over; without one since 1970, the offset then held all along.
        setting = [i for i, t in enumerate(transitions[:rule_start]) if t.local <= begin]
        observances = _listed(transitions[setting[-1] if setting else 0 : rule_start])
        if not setting:
            observances.append(_since_earliest(zone, begin))
    if pair is not None:
        observances.extend(_paired(transitions[rule_start:], pair[0], pair[1]))
    return tuple(sorted(observances, key=lambda o: o.start))


def _transitions(zone: ZoneInfo, first_year: int, last_year: int) -> list[_Transition]:
    """Every change of UTC offset after the start of `first_year` (UTC) through the start of the
    year after `last_year`."""

    def offset(utc: datetime) -> timedelta:
        # `utc` carries `zone` as its tzinfo, which makes this difference the offset.
        return zone.fromutc(utc) - utc

    end = datetime(last_year + 1, 1, 1, tzinfo=zone)
    moment = datetime(first_year, 1, 1, tzinfo=zone)
    before = offset(moment)
    found = []
    while moment < end:
        probe = min(moment + _PROBE_STEP, end)
        after = offset(probe)
        if after != before:
            low, high = moment, probe
            while high - low > _SECOND:
                middle = low + _SECOND * ((high - low) // _SECOND // 2)
                if offset(middle) == before:
                    low = middle
                else:
                    high = middle
            found.append(_transition(zone, high.replace(tzinfo=UTC), before))
            before = after
        moment = probe
    return found


def _transition(zone: ZoneInfo, utc: datetime, offset_from: timedelta) -> _Transition:
    local = utc.astimezone(zone)
    offset_to, dst = local.utcoffset(), local.dst()
    assert offset_to is not None and dst is not None
    return _Transition(utc, offset_from, offset_to, local.tzname() or "", dst > _0)


def _rule_pair(
    transitions: list[_Transition], last_year: int
) -> tuple[_YearlyRule, _YearlyRule, int] | None:
    """The two yearly rules the latest transitions follow, if they follow two, and the index of
    the first transition they describe: counted back in whole years from `last_year`."""
    by_year: dict[int, list[int]] = defaultdict(list)
    for index, transition in enumerate(transitions):
        by_year[transition.local.year].append(index)
    latest = by_year.get(last_year, [])
    if len(latest) != 2:
        return None
    first, second = (transitions[i] for i in latest)
    if first.offset_to == second.offset_to or (first.offset_to, second.offset_to) != (
        second.offset_from,
        first.offset_from,
    ):
        return None
    candidates: list[set[int]] = [set(), set()]
    fitted: list[_YearlyRule | None] = [None, None]
    start = None
    year = last_year
    while len(by_year.get(year, [])) == 2:
        pair = [transitions[i] for i in by_year[year]]
        narrowed = []
        for side, (transition, model) in enumerate(zip(pair, (first, second), strict=True)):
            if transition.kind != model.kind:
                break
            windows = _windows(transition.local)
            if year != last_year:
                previous = fitted[side]
                assert previous is not None
                if (previous.month, previous.weekday, previous.at) != (
                    transition.local.month,
                    transition.local.weekday(),
                    transition.local.time(),
                ):
                    break
                windows &= candidates[side]
            if not windows:
                break
            narrowed.append(windows)
        if len(narrowed) != 2:
            break
        for side, transition in enumerate(pair):
            candidates[side] = narrowed[side]
            fitted[side] = _rule(transition.local, narrowed[side])
        start = by_year[year][0]
        year -= 1
    if start is None or last_year - year < MIN_RULE_YEARS:
        return None
    rules = [rule for rule in fitted if rule is not None]
    return rules[0], rules[1], start


def _windows(moment: datetime) -> set[int]:
    """The first days (negative: from the month's end) of the 7-day windows holding `moment`."""
    length = _month_length(moment.year, moment.month)
    from_start = {d for d in range(moment.day - 6, moment.day + 1) if 1 <= d <= length - 6}
    back = moment.day - length - 1
    from_end = {d for d in range(back - 6, back + 1) if -length <= d <= -7}
    return from_start | from_end


def _rule(moment: datetime, windows: set[int]) -> _YearlyRule:
    # Prefer the forms every client knows: nth weekday, then last weekday, then any window.
    ranked = sorted(windows, key=lambda d: (d not in _NTH_WEEK_STARTS, d != -7, d < 0, abs(d)))
    return _YearlyRule(moment.month, moment.weekday(), ranked[0], moment.time())


def _month_length(year: int, month: int) -> int:
    following = date(year + month // 12, month % 12 + 1, 1)
    return (following - timedelta(days=1)).day


def _paired(
    transitions: list[_Transition], first: _YearlyRule, second: _YearlyRule
) -> list[_Observance]:
    observances = []
    for transition, rule in zip(transitions[:2], (first, second), strict=True):
        daylight = transition.offset_to > transition.offset_from
        observances.append(
            _Observance(
                daylight,
                transition.tzname,
                transition.offset_from,
                transition.offset_to,
                transition.local,
                rule,
            )
        )
    return observances


def _listed(transitions: list[_Transition]) -> list[_Observance]:
    starts: dict[tuple[timedelta, timedelta, str, bool], list[datetime]] = defaultdict(list)
    for transition in transitions:
        starts[(*transition.kind, transition.dst)].append(transition.local)
    return [
        _Observance(dst, tzname, offset_from, offset_to, locals_[0], None, tuple(locals_[1:]))
        for (offset_from, offset_to, tzname, dst), locals_ in starts.items()
    ]


def _since_earliest(zone: ZoneInfo, begin: datetime) -> _Observance:
    now = begin.replace(tzinfo=zone)
    offset, dst = now.utcoffset(), now.dst()
    assert offset is not None and dst is not None
    return _Observance(dst > _0, now.tzname() or "", offset, offset, datetime(EARLIEST_YEAR, 1, 1))
