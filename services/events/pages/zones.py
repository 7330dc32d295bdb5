"""The forms' time-zone choices: the common zones by familiar names, then every IANA zone."""

from __future__ import annotations

from functools import cache
from zoneinfo import available_timezones

# The zones most communities use, with names people recognise, before the full IANA list.
COMMON_ZONES = [
    ("America/New_York", "Eastern Time (New York, Toronto)"),
    ("America/Chicago", "Central Time (Chicago, Winnipeg)"),
    ("America/Denver", "Mountain Time (Denver, Edmonton)"),
    ("America/Phoenix", "Mountain Time without DST (Phoenix)"),
    ("America/Los_Angeles", "Pacific Time (Los Angeles, Vancouver)"),
    ("America/Anchorage", "Alaska Time (Anchorage)"),
    ("Pacific/Honolulu", "Hawaii Time (Honolulu)"),
    ("America/Halifax", "Atlantic Time (Halifax)"),
    ("America/St_Johns", "Newfoundland Time (St. John's)"),
    ("America/Mexico_City", "Mexico City"),
    ("Europe/London", "United Kingdom (London)"),
    ("Europe/Dublin", "Ireland (Dublin)"),
    ("Europe/Lisbon", "Portugal (Lisbon)"),
    ("Europe/Paris", "Central European Time (Paris, Brussels)"),
    ("Europe/Berlin", "Central European Time (Berlin, Vienna, Zurich)"),
    ("Europe/Amsterdam", "Central European Time (Amsterdam)"),
    ("Europe/Madrid", "Central European Time (Madrid)"),
    ("Europe/Rome", "Central European Time (Rome)"),
    ("Europe/Stockholm", "Central European Time (Stockholm, Oslo, Copenhagen)"),
    ("Europe/Warsaw", "Central European Time (Warsaw, Prague)"),
    ("Europe/Athens", "Eastern European Time (Athens)"),
    ("Europe/Helsinki", "Eastern European Time (Helsinki)"),
    ("Australia/Perth", "Australian Western Time (Perth)"),
    ("Australia/Darwin", "Australian Central Time (Darwin)"),
    ("Australia/Adelaide", "Australian Central Time (Adelaide)"),
    ("Australia/Brisbane", "Australian Eastern Time without DST (Brisbane)"),
    ("Australia/Sydney", "Australian Eastern Time (Sydney, Canberra)"),
    ("Australia/Melbourne", "Australian Eastern Time (Melbourne)"),
    ("Australia/Hobart", "Australian Eastern Time (Hobart)"),
    ("Pacific/Auckland", "New Zealand (Auckland)"),
    ("UTC", "UTC"),
]
ZONE_REGIONS = (
    "Africa", "America", "Antarctica", "Arctic", "Asia", "Atlantic", "Australia", "Europe",
    "Indian", "Pacific",
)  # fmt: skip
DEFAULT_ZONE = "America/New_York"


@cache
def _other_zones() -> tuple[str, ...]:
    common = {name for name, _ in COMMON_ZONES}
    return tuple(
        sorted(
            name
            for name in available_timezones()
            if name.split("/")[0] in ZONE_REGIONS and name not in common
        )
    )


def zone_groups(current: str) -> list[tuple[str, list[tuple[str, str]]]]:
    common = list(COMMON_ZONES)
    others = [(name, name.replace("_", " ")) for name in _other_zones()]
    if current and current not in {name for name, _ in common} | set(_other_zones()):
        common.insert(0, (current, current))  # e.g. a legacy name given through the API
    return [("Common time zones", common), ("All time zones", others)]
