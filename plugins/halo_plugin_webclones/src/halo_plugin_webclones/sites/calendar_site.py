"""CalendarClone - a small Google-Calendar-like app (month/week views, events)."""

from __future__ import annotations

import calendar as pycal
import datetime as dt
import re

from ..server import BaseSite, Form, Response, errors_block, esc, field, first, modal, redirect

EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
TIME_RE = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")

# id, title, date, start, end, location, invitees, description
SEED = [
    ("ev1", "Dentist appointment", "2024-07-18", "10:30", "11:15", "Smile Dental, 88 Elm Street", [], "Routine check-up and cleaning."),
    ("ev2", "Team standup", "2024-07-15", "09:00", "09:15", "Zoom", ["olivia.chen@example.com", "marco.rossi@example.com"], ""),
    ("ev3", "Project kickoff", "2024-07-16", "14:00", "15:00", "Conference room B",
     ["olivia.chen@example.com", "marco.rossi@example.com"], "Kickoff for the analytics platform project."),
    ("ev4", "Lunch with Sarah", "2024-07-17", "12:30", "13:30", "Green Bowl Cafe", ["sarah.jones@example.com"], ""),
    ("ev5", "Yoga class", "2024-07-19", "18:00", "19:00", "ZenFlow Studio", [], "Bring your own mat."),
    ("ev6", "Quarterly review", "2024-07-24", "15:00", "16:30", "Conference room A", ["daniel.kim@example.com"], ""),
    ("ev7", "Flight to Chicago", "2024-07-26", "07:45", "10:05", "SFO Terminal 2", [], "SkyJet SJ 418, seat 14C."),
    ("ev8", "Mom's birthday dinner", "2024-07-28", "19:00", "21:00", "Luigi's Trattoria", ["linda.morgan@example.com"], ""),
    ("ev9", "Book club", "2024-07-09", "19:00", "20:30", "City Library", [], "Discussing 'The Quiet Garden'."),
    ("ev10", "Car service", "2024-08-02", "08:30", "09:30", "Speedy Auto, 5 Mill Road", [], "Annual service and oil change."),
    ("ev11", "Budget planning", "2024-07-22", "11:00", "12:00", "Conference room A", ["daniel.kim@example.com"], ""),
    ("ev12", "Dinner with Priya", "2024-07-12", "19:30", "21:00", "Saffron House", ["priya.shah@example.com"], ""),
]

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def parse_date(s: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(s.strip())
    except (ValueError, AttributeError):
        return None


def norm_time(s: str) -> str | None:
    m = TIME_RE.match((s or "").strip())
    return f"{int(m.group(1)):02d}:{m.group(2)}" if m else None


def long_date(d: dt.date) -> str:
    return f"{WEEKDAYS[d.weekday()]}, {d.strftime('%B')} {d.day}, {d.year}"


class CalendarSite(BaseSite):
    name = "calendar"
    brand = "CalendarClone"

    def seed_state(self, config: dict) -> dict:
        events = {
            eid: {"id": eid, "title": t, "date": d, "start": s, "end": e, "location": loc, "invitees": list(inv),
                  "description": desc}
            for eid, t, d, s, e, loc, inv, desc in SEED
        }
        return {"calendar": {"events": events}}

    @property
    def events(self) -> dict:
        return self.state["calendar"]["events"]

    @property
    def today_date(self) -> dt.date:
        return parse_date(self.today) or dt.date(2024, 7, 15)

    def routes(self):
        return [
            ("GET", r"/", self.month_view),
            ("GET", r"/month", self.month_view),
            ("GET", r"/week", self.week_view),
            ("GET", r"/event/new", self.new_page),
            ("POST", r"/event/new", self.new_submit),
            ("GET", r"/event/([\w-]+)", self.event_page),
            ("GET", r"/event/([\w-]+)/edit", self.edit_page),
            ("POST", r"/event/([\w-]+)/edit", self.edit_submit),
            ("POST", r"/event/([\w-]+)/delete", self.delete),
        ]

    def nav_html(self) -> str:
        return (
            '<nav aria-label="Main"><ul><li><a href="/month">Month view</a></li><li><a href="/week">Week view</a></li>'
            '<li><a href="/event/new">Create event</a></li></ul></nav>'
            f"<span>Today is {long_date(self.today_date)}</span>"
        )

    def day_events(self, d: dt.date) -> list[dict]:
        iso = d.isoformat()
        return sorted((e for e in self.events.values() if e["date"] == iso), key=lambda e: (e["start"], e["title"]))

    def event_link(self, e: dict) -> str:
        return f'<a href="/event/{e["id"]}">{esc(e["start"])} {esc(e["title"])}</a>'

    # ------------------------------------------------------------------ views
    def month_view(self, q: Form) -> Response:
        raw = first(q, "month")
        m = re.fullmatch(r"(\d{4})-(\d{2})", raw)
        if m and 1 <= int(m.group(2)) <= 12:
            year, month = int(m.group(1)), int(m.group(2))
        else:
            year, month = self.today_date.year, self.today_date.month
        prev_m = (year - 1, 12) if month == 1 else (year, month - 1)
        next_m = (year + 1, 1) if month == 12 else (year, month + 1)
        title = f"{pycal.month_name[month]} {year}"
        rows = ""
        for week in pycal.Calendar(firstweekday=0).monthdatescalendar(year, month):
            cells = ""
            for d in week:
                if d.month != month:
                    cells += "<td></td>"
                    continue
                cur = ' aria-current="date"' if d == self.today_date else ""
                evs = "".join(f"<li>{self.event_link(e)}</li>" for e in self.day_events(d))
                today = " <strong>(today)</strong>" if cur else ""
                cells += (
                    f'<td{cur}><time datetime="{d.isoformat()}">{pycal.month_abbr[month]} {d.day}</time>{today}'
                    + (f"<ul>{evs}</ul>" if evs else "") + "</td>"
                )
            rows += f"<tr>{cells}</tr>"
        head = "".join(f'<th scope="col">{w}</th>' for w in WEEKDAYS)
        body = (
            f"<h1>{title}</h1>"
            '<nav aria-label="Month navigation" class="toolbar">'
            f'<a href="/month?month={prev_m[0]}-{prev_m[1]:02d}">Previous month</a>'
            f'<a href="/month?month={self.today_date.strftime("%Y-%m")}">Today</a>'
            f'<a href="/month?month={next_m[0]}-{next_m[1]:02d}">Next month</a></nav>'
            f'<table class="cal"><caption class="sr">{title}</caption><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'
        )
        return self.page(title, body)

    def week_view(self, q: Form) -> Response:
        d = parse_date(first(q, "start")) or self.today_date
        start = d - dt.timedelta(days=d.weekday())
        end = start + dt.timedelta(days=6)
        title = f"Week of {start.strftime('%B')} {start.day} - {end.strftime('%B')} {end.day}, {end.year}"
        days = ""
        for i in range(7):
            day = start + dt.timedelta(days=i)
            evs = self.day_events(day)
            items = "".join(f"<li>{self.event_link(e)} to {esc(e['end'])}</li>" for e in evs) or "<li>No events</li>"
            today = " (today)" if day == self.today_date else ""
            days += f'<section aria-label="{long_date(day)}"><h2>{long_date(day)}{today}</h2><ul>{items}</ul></section>'
        prev_w = (start - dt.timedelta(days=7)).isoformat()
        next_w = (start + dt.timedelta(days=7)).isoformat()
        body = (
            f"<h1>{title}</h1>"
            '<nav aria-label="Week navigation" class="toolbar">'
            f'<a href="/week?start={prev_w}">Previous week</a><a href="/week">Today</a>'
            f'<a href="/week?start={next_w}">Next week</a></nav>{days}'
        )
        return self.page(title, body)

    def event_page(self, q: Form, eid: str) -> Response:
        e = self.events.get(eid)
        if not e:
            return self.not_found("Event")
        d = parse_date(e["date"])
        invitees = "".join(f"<li>{esc(i)}</li>" for i in e["invitees"]) or "<li>No invitees</li>"
        body = (
            f"<article><h1>{esc(e['title'])}</h1><dl>"
            f"<dt>Date</dt><dd>{long_date(d) if d else esc(e['date'])}</dd>"
            f"<dt>Time</dt><dd>{esc(e['start'])} - {esc(e['end'])}</dd>"
            f"<dt>Location</dt><dd>{esc(e['location'] or '-')}</dd>"
            f"<dt>Invitees</dt><dd><ul>{invitees}</ul></dd>"
            f"<dt>Description</dt><dd>{esc(e['description'] or '-')}</dd></dl>"
            f'<div class="toolbar"><a href="/event/{eid}/edit">Edit event</a>'
            + modal("delete-event", "Delete event", "Delete this event?", f'"{e["title"]}" will be permanently deleted.',
                    f'<form method="post" action="/event/{eid}/delete"><button type="submit">Confirm delete</button></form>')
            + f'<a href="/month?month={e["date"][:7]}">Back to calendar</a></div></article>'
        )
        return self.page(e["title"], body)

    # ------------------------------------------------------------------ forms
    def form_html(self, action: str, submit: str, v: dict, errors: dict) -> str:
        fld = lambda label, name, **kw: field(label, name, v.get(name, ""), error=errors.get(name, ""), **kw)  # noqa: E731
        return (
            errors_block(list(errors.values()))
            + f'<form method="post" action="{action}">'
            + fld("Title", "title")
            + fld("Date (YYYY-MM-DD)", "date")
            + fld("Start time (HH:MM)", "start")
            + fld("End time (HH:MM)", "end")
            + fld("Location", "location")
            + fld("Invitees (comma-separated emails)", "invitees")
            + fld("Description", "description", input_type="textarea")
            + f'<div class="toolbar"><button type="submit">{submit}</button> <a href="/month">Cancel</a></div></form>'
        )

    def validate(self, f: Form) -> tuple[dict, dict]:
        errors: dict = {}
        title = first(f, "title").strip()
        if not title:
            errors["title"] = "Title is required."
        d = parse_date(first(f, "date"))
        if not d:
            errors["date"] = "Date must be a valid date in YYYY-MM-DD format."
        start, end = norm_time(first(f, "start")), norm_time(first(f, "end"))
        if not start:
            errors["start"] = "Start time must be in HH:MM 24-hour format."
        if not end:
            errors["end"] = "End time must be in HH:MM 24-hour format."
        if start and end and end <= start:
            errors["end"] = "End time must be after the start time."
        invitees = [x.strip().lower() for x in re.split(r"[,;]", first(f, "invitees")) if x.strip()]
        bad = [x for x in invitees if not EMAIL_RE.match(x)]
        if bad:
            errors["invitees"] = f"Invalid invitee email: {', '.join(bad)}."
        seen: list[str] = []
        for x in invitees:
            if x not in seen:
                seen.append(x)
        record = {"title": title, "date": d.isoformat() if d else "", "start": start or "", "end": end or "",
                  "location": first(f, "location").strip(), "invitees": seen,
                  "description": first(f, "description").strip()}
        return record, errors

    def raw_values(self, f: Form) -> dict:
        return {k: first(f, k) for k in ("title", "date", "start", "end", "location", "invitees", "description")}

    def new_page(self, q: Form) -> Response:
        d = parse_date(first(q, "date"))
        v = {"date": d.isoformat() if d else ""}
        return self.page("Create event", "<h1>Create event</h1>" + self.form_html("/event/new", "Save event", v, {}))

    def new_submit(self, f: Form) -> Response:
        record, errors = self.validate(f)
        if errors:
            return self.page("Create event", "<h1>Create event</h1>" + self.form_html("/event/new", "Save event", self.raw_values(f), errors), 422)
        nums = [int(k[2:]) for k in self.events if re.fullmatch(r"ev\d+", k)]
        eid = f"ev{max(nums, default=0) + 1}"
        self.events[eid] = {"id": eid, **record}
        self.flash = f'Event "{record["title"]}" created.'
        return redirect(f"/event/{eid}")

    def edit_page(self, q: Form, eid: str) -> Response:
        e = self.events.get(eid)
        if not e:
            return self.not_found("Event")
        v = dict(e, invitees=", ".join(e["invitees"]))
        return self.page("Edit event", f"<h1>Edit event: {esc(e['title'])}</h1>" + self.form_html(f"/event/{eid}/edit", "Save changes", v, {}))

    def edit_submit(self, f: Form, eid: str) -> Response:
        e = self.events.get(eid)
        if not e:
            return self.not_found("Event")
        record, errors = self.validate(f)
        if errors:
            return self.page("Edit event", f"<h1>Edit event: {esc(e['title'])}</h1>"
                             + self.form_html(f"/event/{eid}/edit", "Save changes", self.raw_values(f), errors), 422)
        e.update(record)
        self.flash = f'Event "{record["title"]}" updated.'
        return redirect(f"/event/{eid}")

    def delete(self, f: Form, eid: str) -> Response:
        e = self.events.pop(eid, None)
        if not e:
            return self.not_found("Event")
        self.flash = f'Event "{e["title"]}" deleted.'
        return redirect(f"/month?month={e['date'][:7]}")
