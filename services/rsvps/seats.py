"""Who gets a seat: the RSVPs of one occurrence, exact capacity and a first-come waitlist.

The rules, which no server, database or message is needed to check:
- A party takes one seat for the attendee plus one per guest; "maybe" and "no" take none.
- Never more confirmed seats than capacity; saying yes when the seats are taken joins the
  waitlist, in the order the answers arrived.
- When seats free up (a cancellation, fewer guests, a "no", a larger capacity), the waitlist is
  seated in order. If the party at the head of the line is larger than the free seats, the seats
  go to the earliest party behind it that fits; the larger party keeps its place at the head and
  is seated as soon as enough seats are free. No seat stays empty while someone who fits waits,
  and nobody is seated ahead of an earlier party that fits.
- Lowering the capacity never un-confirms anyone: it only stops new confirmations.
- A confirmed attendee who asks for more guests than there are free seats keeps their seat and
  their old party size, and is told how many guests fit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

YES, NO, MAYBE = "yes", "no", "maybe"
RESPONSES = (YES, NO, MAYBE)
CONFIRMED, WAITLISTED, DECLINED, CANCELLED = "confirmed", "waitlisted", "declined", "cancelled"
# The status of a "maybe" is "maybe": it is shown apart and takes no seat.
STATUS_OF = {NO: DECLINED, MAYBE: MAYBE}


class NotEnoughSeats(ValueError):
    """A confirmed party asked for more guests than there are free seats."""

    def __init__(self, most_guests: int, kept_guests: int) -> None:
        super().__init__(
            f"there is room for at most {most_guests} "
            f"{'guest' if most_guests == 1 else 'guests'} with you right now; your seat is kept "
            f"with {kept_guests}"
        )
        self.most_guests = most_guests


@dataclass
class Rsvp:
    id: str
    event_id: str
    # The original local start of the occurrence answered for; None for a one-off event.
    occurrence: datetime | None
    email: str
    name: str
    phone: str | None
    response: str
    guests: int
    status: str
    # Order of arrival among those who said yes: the waitlist order. None for no and maybe.
    queue_number: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def seats(self) -> int:
        return 1 + self.guests

    @property
    def holds_seat(self) -> bool:
        return self.status == CONFIRMED


@dataclass
class Outcome:
    """What one answer or cancellation changed: the party itself and those promoted after it."""

    rsvp: Rsvp
    previous_status: str | None
    promoted: list[Rsvp] = field(default_factory=list)


@dataclass
class Attendance:
    """The RSVPs of one occurrence, under its capacity (None: no limit)."""

    capacity: int | None
    rsvps: list[Rsvp]

    @property
    def confirmed_seats(self) -> int:
        return sum(rsvp.seats for rsvp in self.rsvps if rsvp.holds_seat)

    @property
    def free_seats(self) -> int | None:
        if self.capacity is None:
            return None
        return max(self.capacity - self.confirmed_seats, 0)

    @property
    def waitlist(self) -> list[Rsvp]:
        waiting = [rsvp for rsvp in self.rsvps if rsvp.status == WAITLISTED]
        return sorted(waiting, key=lambda rsvp: rsvp.queue_number or 0)

    def waitlist_position(self, rsvp: Rsvp) -> int | None:
        """1 for the head of the line; None if not waiting."""
        for position, waiting in enumerate(self.waitlist, start=1):
            if waiting.id == rsvp.id:
                return position
        return None

    def answer(self, rsvp: Rsvp, response: str, guests: int) -> Outcome:
        """Apply a new or repeated answer of `rsvp` (already in `rsvps` if it answered before)."""
        if response not in RESPONSES:
            raise ValueError(f"response must be one of {RESPONSES}")
        if guests < 0:
            raise ValueError("guests cannot be negative")
        previous = rsvp.status if rsvp in self.rsvps else None
        if rsvp not in self.rsvps:
            self.rsvps.append(rsvp)
        if response == YES and previous == CONFIRMED:
            extra = guests - rsvp.guests
            free = self.free_seats
            if free is not None and extra > free:
                raise NotEnoughSeats(most_guests=rsvp.guests + free, kept_guests=rsvp.guests)
        elif response == YES and previous != WAITLISTED:
            # Joins the line now, behind everyone already in it (confirmed or waiting).
            rsvp.queue_number = self._next_queue_number()
            rsvp.status = WAITLISTED
        elif response != YES:
            rsvp.status = STATUS_OF[response]
            rsvp.queue_number = None
        rsvp.response = response
        rsvp.guests = guests
        promoted = self.seat_waitlist()
        own = [promoted_rsvp for promoted_rsvp in promoted if promoted_rsvp.id == rsvp.id]
        others = [promoted_rsvp for promoted_rsvp in promoted if promoted_rsvp.id != rsvp.id]
        if own and previous == WAITLISTED:
            # A waiting party whose smaller party now fits was promoted, not newly confirmed.
            others.insert(0, rsvp)
        return Outcome(rsvp=rsvp, previous_status=previous, promoted=others)

    def cancel(self, rsvp: Rsvp) -> Outcome:
        previous = rsvp.status
        rsvp.status = CANCELLED
        rsvp.queue_number = None
        return Outcome(rsvp=rsvp, previous_status=previous, promoted=self.seat_waitlist())

    def resize(self, capacity: int | None) -> list[Rsvp]:
        """A new capacity; those it lets in are promoted, and nobody confirmed is turned away."""
        self.capacity = capacity
        return self.seat_waitlist()

    def seat_waitlist(self) -> list[Rsvp]:
        """Confirm waiting parties in order, each that fits the free seats; the newly seated."""
        seated = []
        for rsvp in self.waitlist:
            free = self.free_seats
            if free is not None and free == 0:
                break
            if free is None or rsvp.seats <= free:
                rsvp.status = CONFIRMED
                seated.append(rsvp)
        return seated

    def _next_queue_number(self) -> int:
        numbers = [rsvp.queue_number for rsvp in self.rsvps if rsvp.queue_number is not None]
        return max(numbers, default=0) + 1

    def tally(self) -> Tally:
        """The same occurrence in numbers."""
        waiting = self.waitlist
        return Tally(
            capacity=self.capacity,
            confirmed_seats=self.confirmed_seats,
            waitlisted=len(waiting),
            maybe=sum(1 for rsvp in self.rsvps if rsvp.status == MAYBE),
            last_queue_number=self._next_queue_number() - 1,
            smallest_waiting_party=min((rsvp.seats for rsvp in waiting), default=None),
        )


@dataclass
class Tally:
    """One occurrence in numbers: what its seat messages announce, and enough to decide the answer
    of someone who has not answered before without reading the whole list.

    That shortcut is exact only while the occurrence is `settled`, as every decision leaves it:
    then a newcomer's answer seats nobody but the newcomer (see `answer`).
    """

    capacity: int | None
    confirmed_seats: int = 0
    waitlisted: int = 0
    maybe: int = 0
    # The highest place in line ever given (0: none): a new "yes" takes the next one.
    last_queue_number: int = 0
    smallest_waiting_party: int | None = None  # seats of the smallest waiting party

    @property
    def free_seats(self) -> int | None:
        if self.capacity is None:
            return None
        return max(self.capacity - self.confirmed_seats, 0)

    @property
    def settled(self) -> bool:
        """No waiting party fits the free seats. `Attendance.seat_waitlist` leaves every
        occurrence so; one that is not (a capacity raised while it took no answers, say) is
        decided from its whole list."""
        if self.smallest_waiting_party is None:
            return True
        free = self.free_seats
        return free is not None and self.smallest_waiting_party > free

    def answer(self, rsvp: Rsvp, response: str, guests: int) -> Outcome:
        """The first answer of `rsvp`, decided exactly as `Attendance.answer` decides it.

        In a settled occurrence nobody waiting fits the free seats and a newcomer goes to the
        back of the line, so it is seated if its own party fits, and nobody else moves.
        """
        if rsvp.status:
            raise ValueError("a tally decides first answers only: this RSVP has answered before")
        if not self.settled:
            raise ValueError("an occurrence that is not settled is decided from its whole list")
        if response not in RESPONSES:
            raise ValueError(f"response must be one of {RESPONSES}")
        if guests < 0:
            raise ValueError("guests cannot be negative")
        rsvp.response = response
        rsvp.guests = guests
        if response != YES:
            rsvp.status = STATUS_OF[response]
            rsvp.queue_number = None
            if response == MAYBE:
                self.maybe += 1
            return Outcome(rsvp=rsvp, previous_status=None)
        self.last_queue_number += 1
        rsvp.queue_number = self.last_queue_number
        free = self.free_seats
        if free is None or rsvp.seats <= free:
            rsvp.status = CONFIRMED
            self.confirmed_seats += rsvp.seats
        else:
            rsvp.status = WAITLISTED
            self.waitlisted += 1
            smallest = self.smallest_waiting_party
            self.smallest_waiting_party = (
                rsvp.seats if smallest is None else min(smallest, rsvp.seats)
            )
        return Outcome(rsvp=rsvp, previous_status=None)

    def waitlist_position(self, rsvp: Rsvp) -> int | None:
        """The place in line of the party welcomed last; the numbers know no other."""
        if rsvp.status != WAITLISTED:
            return None
        if rsvp.queue_number != self.last_queue_number:
            raise ValueError("a tally knows the place in line of the last to join it only")
        return self.waitlisted
