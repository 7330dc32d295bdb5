// Reads an iCalendar text on stdin with Mozilla's ical.js (the Thunderbird parser) and prints, as
// JSON, the occurrences of every event between two UTC instants, in the same shape as the Python
// readers of shared/calendar_readers.py, so the tests can hold all of them to the same answer.
//
//   node ical_check.mjs 2026-01-01T00:00:00Z 2027-01-01T00:00:00Z < feed.ics
//
// {events: [{uid, summary, status, occurrences: [{start, end, status, recurrence_id?}]}], errors}
// Times are UTC ("2026-03-08T23:00:00Z"), or a date ("2026-03-08") for all-day values. `errors`
// lists what a calendar client would get wrong (a TZID without its VTIMEZONE, a floating time, a
// value that does not parse). Text that does not parse at all exits with status 1.
import { readFileSync } from "node:fs";
import ICAL from "ical.js";

const MAX_OCCURRENCES = 100000;

function fail(message) {
  process.stderr.write(`ical.js: ${message}\n`);
  process.exit(1);
}

function instant(text, name) {
  const time = ICAL.Time.fromString(text);
  if (!time || Number.isNaN(time.toUnixTime())) fail(`${name} is not a UTC date-time: ${text}`);
  return time.toUnixTime();
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z?$/;

// ical.js reads "2026021XT180000" as 1 February and "20260230" as 2 March: hold dates and times
// to their syntax and to the calendar.
function checkTimes(component, property, errors) {
  const pattern = { date: DATE, "date-time": DATE_TIME }[property.type];
  if (!pattern) return;
  for (const raw of property.jCal.slice(3)) {
    const parsed = typeof raw === "string" && pattern.test(raw) ? ICAL.Time.fromString(raw) : null;
    if (!parsed || parsed.toString() !== raw) {
      errors.push(`${component.name} ${property.name}: not a valid ${property.type}: ${raw}`);
    }
  }
}

// Every value decoded, as a client does when it shows the item; ical.js decodes lazily.
function checkValues(component, errors) {
  for (const property of component.getAllProperties()) {
    checkTimes(component, property, errors);
    try {
      for (const value of property.getValues()) {
        if (value instanceof ICAL.Time && Number.isNaN(value.toUnixTime())) {
          errors.push(`${component.name} ${property.name}: not a date or time`);
        }
      }
    } catch (error) {
      errors.push(`${component.name} ${property.name}: ${error.message}`);
    }
  }
  for (const child of component.getAllSubcomponents()) checkValues(child, errors);
}

// A date-time with a TZID nobody defined, or none at all, is read as floating time: wrong for
// everyone outside the organizer's zone.
function checkZones(vevent, zones, errors) {
  const uid = vevent.getFirstPropertyValue("uid");
  for (const name of ["dtstart", "dtend", "recurrence-id", "exdate", "rdate"]) {
    for (const property of vevent.getAllProperties(name)) {
      if (property.type !== "date-time") continue;
      const tzid = property.getParameter("tzid");
      if (tzid && !zones.has(tzid) && !ICAL.TimezoneService.has(tzid)) {
        errors.push(`${uid} ${name}: TZID ${tzid} has no VTIMEZONE`);
      } else if (!tzid && !property.toICALString().includes("Z")) {
        errors.push(`${uid} ${name}: floating time`);
      }
    }
  }
}

function text(time) {
  if (time.isDate) return time.toString();
  return new Date(time.toUnixTime() * 1000).toISOString().replace(".000Z", "Z");
}

function overlaps(start, end, windowStart, windowEnd) {
  const from = start.toUnixTime();
  const to = end.toUnixTime();
  if (from === to) return windowStart <= from && from < windowEnd;
  return from < windowEnd && to > windowStart;
}

function occurrences(master, overrides, windowStart, windowEnd) {
  const event = new ICAL.Event(master, { exceptions: overrides, strictExceptions: true });
  const status = (item) => item.component.getFirstPropertyValue("status") ?? null;
  if (!event.isRecurring()) {
    return overlaps(event.startDate, event.endDate, windowStart, windowEnd)
      ? [{ start: text(event.startDate), end: text(event.endDate), status: status(event) }]
      : [];
  }
  // An override can move an occurrence into the window from outside it: walk past the window
  // until the last overridden date too.
  const latestOverride = Math.max(0, ...overrides.map((o) => o.recurrenceId.toUnixTime()));
  const found = [];
  const iterator = event.iterator();
  let count = 0;
  for (let next = iterator.next(); next; next = iterator.next()) {
    if (next.toUnixTime() >= windowEnd && next.toUnixTime() > latestOverride) break;
    if (++count > MAX_OCCURRENCES) fail(`${event.uid} has over ${MAX_OCCURRENCES} occurrences`);
    const details = event.getOccurrenceDetails(next);
    if (!overlaps(details.startDate, details.endDate, windowStart, windowEnd)) continue;
    found.push({
      start: text(details.startDate),
      end: text(details.endDate),
      status: status(details.item),
      recurrence_id: text(details.recurrenceId),
    });
  }
  return found.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
}

const [windowStartText, windowEndText] = process.argv.slice(2);
if (!windowEndText) fail("usage: node ical_check.mjs START END < calendar.ics (UTC date-times)");
const windowStart = instant(windowStartText, "START");
const windowEnd = instant(windowEndText, "END");

let jcal;
try {
  jcal = ICAL.parse(readFileSync(0, "utf8"));
} catch (error) {
  fail(`does not parse: ${error.message}`);
}
if (!Array.isArray(jcal) || jcal.length === 0 || Array.isArray(jcal[0]) || jcal[0] !== "vcalendar") {
  fail("expected exactly one VCALENDAR");
}
const calendar = new ICAL.Component(jcal);

const errors = [];
const zones = new Set();
for (const vtimezone of calendar.getAllSubcomponents("vtimezone")) {
  const zone = new ICAL.Timezone(vtimezone);
  ICAL.TimezoneService.register(zone);
  zones.add(zone.tzid);
}
checkValues(calendar, errors);

const vevents = calendar.getAllSubcomponents("vevent");
for (const vevent of vevents) checkZones(vevent, zones, errors);
const masters = new Set(
  vevents.filter((v) => !v.hasProperty("recurrence-id")).map((v) => v.getFirstPropertyValue("uid")),
);
for (const vevent of vevents) {
  const uid = vevent.getFirstPropertyValue("uid");
  if (vevent.hasProperty("recurrence-id") && !masters.has(uid)) {
    errors.push(`${uid}: an override without its repeating event`);
  }
}
const events = [];
for (const master of vevents.filter((v) => !v.hasProperty("recurrence-id"))) {
  const uid = master.getFirstPropertyValue("uid");
  const overrides = vevents
    .filter((v) => v.hasProperty("recurrence-id") && v.getFirstPropertyValue("uid") === uid)
    .map((v) => new ICAL.Event(v));
  try {
    events.push({
      uid,
      summary: master.getFirstPropertyValue("summary") ?? null,
      status: master.getFirstPropertyValue("status") ?? null,
      occurrences: occurrences(master, overrides, windowStart, windowEnd),
    });
  } catch (error) {
    errors.push(`${uid}: ${error.message}`);
  }
}
events.sort((a, b) => (a.uid < b.uid ? -1 : a.uid > b.uid ? 1 : 0));
process.stdout.write(`${JSON.stringify({ events, errors })}\n`);
