// Hearth's few enhancements. Every page works without them; the Content-Security-Policy allows
// only this file, so no page carries script of its own.
"use strict";

// A copy button beside a read-only address: shown only where it can work.
function enableCopyButtons() {
  for (const button of document.querySelectorAll("button[data-copy]")) {
    const field = document.getElementById(button.dataset.copy);
    const status = document.getElementById("s-" + button.dataset.copy);
    if (!field) continue;
    button.hidden = false;
    button.addEventListener("click", async () => {
      field.select();
      let copied = false;
      try {
        await navigator.clipboard.writeText(field.value);
        copied = true;
      } catch {
        // No clipboard access (a plain-http address other than this machine): the older way.
        copied = document.execCommand && document.execCommand("copy");
      }
      if (status) {
        status.textContent = copied
          ? "Copied. Paste it into your calendar app."
          : "Selected: copy it with your device's copy command.";
      }
    });
  }
}

// Times shown in an event's zone also in the reader's own, when the two differ: a member in
// another zone reads "12:00 EST (09:00 your time)" rather than working it out.
function addReadersTimes() {
  const reader = Intl.DateTimeFormat().resolvedOptions().timeZone;
  for (const time of document.querySelectorAll("time[data-zone]")) {
    const moment = new Date(time.getAttribute("datetime"));
    if (!reader || time.dataset.zone === reader || Number.isNaN(moment.getTime())) continue;
    const inZone = (zone) =>
      new Intl.DateTimeFormat("en-GB", {
        timeZone: zone, weekday: "short", day: "numeric", month: "short",
        hour: "2-digit", minute: "2-digit", hourCycle: "h23",
      }).format(moment);
    if (inZone(time.dataset.zone) === inZone(reader)) continue;  // same wall clock, other name
    const sameDay =
      moment.toLocaleDateString("en-GB", { timeZone: time.dataset.zone }) ===
      moment.toLocaleDateString("en-GB", { timeZone: reader });
    const words = new Intl.DateTimeFormat("en-GB", {
      timeZone: reader,
      ...(sameDay ? {} : { weekday: "short", day: "numeric", month: "short" }),
      hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    }).format(moment);
    const note = document.createElement("span");
    note.className = "your-time";
    note.textContent = ` (${words} your time)`;
    time.after(note);
  }
}

enableCopyButtons();
addReadersTimes();
