"""MailClone - a small Gmail-like web mail client."""

from __future__ import annotations

import re
import urllib.parse

from ..server import BaseSite, Form, Response, errors_block, esc, field, first, modal, redirect

ME = "alex.morgan@example.com"
MY_NAME = "Alex Morgan"
FOLDERS = (("inbox", "Inbox"), ("sent", "Sent"), ("archive", "Archive"), ("trash", "Trash"))
LABELS = (("Work", "blue"), ("Personal", "green"), ("Travel", "orange"), ("Finance", "purple"))
EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")

# id, fromName, from, subject, date, folder, read, labels, body
SEED = [
    ("e1", "Daniel Kim", "daniel.kim@example.com", "Q3 budget proposal", "2024-07-15 08:42", "inbox", False, ["Work"],
     "Hi Alex,\n\nAttached is my draft of the Q3 budget proposal. The headline number is $184,000, mostly for the new "
     "analytics platform. Could you review it before Thursday's finance sync?\n\nThanks,\nDaniel"),
    ("e2", "Marco Rossi", "marco.rossi@example.com", "Team offsite next month", "2024-07-14 16:05", "inbox", False, ["Work"],
     "Hi all,\n\nThe team offsite will take place on August 14 at Lakeside Lodge, 12 Shore Drive, Lake Tahoe. "
     "We will start at 9:30 with a strategy session, followed by lunch and hiking.\n\nPlease reply to let me know "
     "whether you can attend.\n\nMarco"),
    ("e3", "SkyJet Airlines", "bookings@skyjet.example", "Your flight itinerary: SFO to ORD", "2024-07-13 11:20", "inbox",
     True, [],
     "Booking reference: QX7P2L\n\nFlight SJ 418, San Francisco (SFO) to Chicago O'Hare (ORD)\nFriday, July 26, 2024\n"
     "Departs 07:45, arrives 13:55 local time\nSeat 14C\n\nThank you for flying SkyJet."),
    ("e4", "First Harbor Bank", "statements@firstharbor.example", "Your June account statement is ready", "2024-07-12 07:00",
     "inbox", True, [],
     "Dear Alex Morgan,\n\nYour checking account statement for June 2024 is now available in online banking. "
     "Closing balance: $3,412.56.\n\nFirst Harbor Bank"),
    ("e5", "TechWeekly", "news@techweekly.example", "TechWeekly: AI chips special", "2024-07-12 06:30", "inbox", False, [],
     "This week: a deep dive into the new generation of AI accelerators, plus benchmarks and a buyer's guide."),
    ("e6", "TechWeekly", "news@techweekly.example", "TechWeekly: The week in gadgets", "2024-07-05 06:30", "inbox", True, [],
     "Folding phones, e-ink tablets and a smart ring: the gadgets that made headlines this week."),
    ("e7", "ShopSmart Deals", "deals@shopsmart.example", "Your 20% coupon has expired", "2024-07-11 10:00", "inbox", True, [],
     "Sorry, your 20% discount coupon SUMMER20 expired on July 10. Keep an eye on your inbox for new offers!"),
    ("e8", "Helen Park", "helen.park@example.com", "New parking policy starting August", "2024-07-11 09:12", "inbox", False,
     ["Work"],
     "Hello everyone,\n\nStarting August 1, parking in the north garage requires a permit. Permits can be requested "
     "from the facilities desk on the 2nd floor.\n\nHelen Park\nFacilities"),
    ("e9", "Priya Shah", "priya.shah@example.com", "Photos from the hiking trip", "2024-07-10 20:45", "inbox", True,
     ["Personal"],
     "Hey Alex! I uploaded the photos from last weekend's hike to the shared album. The view from the ridge was amazing.\n\nPriya"),
    ("e10", "Olivia Chen", "olivia.chen@example.com", "Design mockups for review", "2024-07-10 14:30", "inbox", True, ["Work"],
     "Hi Alex,\n\nThe new dashboard mockups are ready. Could you leave comments by Wednesday?\n\nOlivia"),
    ("e11", "Sam Lee", "sam.lee@example.com", "Board game night?", "2024-07-09 18:02", "inbox", True, ["Personal"],
     "Are you up for board game night on Saturday at my place? I'll bring snacks.\n\nSam"),
    ("e12", "GitHub", "noreply@github.example", "[halo] Pull request #42 merged", "2024-07-09 12:14", "inbox", True, [],
     "Pull request #42 'Add retry logic to the runner' was merged into main."),
    ("e13", "Linda Morgan", "linda.morgan@example.com", "Sunday dinner", "2024-07-08 19:30", "inbox", True, ["Personal"],
     "Hi sweetheart, are you coming for dinner on Sunday? Dad is making lasagna.\n\nLove, Mom"),
    ("e14", "HR Team", "hr@example.com", "Benefits enrollment closes Friday", "2024-07-08 09:00", "inbox", True, ["Work"],
     "Reminder: the annual benefits enrollment window closes this Friday at 5 pm."),
    ("e15", "City Library", "library@citylib.example", "Your hold is ready for pickup", "2024-07-06 15:10", "inbox", True, [],
     "The book you placed on hold, 'The Quiet Garden', is ready for pickup at the Central branch until July 20."),
    ("e16", "Carlos Diaz", "carlos.diaz@example.com", "Running club schedule", "2024-07-03 07:15", "inbox", True, ["Personal"],
     "Summer running club meets Tuesdays and Thursdays at 6:30 am at the park entrance."),
    ("a1", "Travel Deals", "offers@traveldeals.example", "Summer getaway ideas", "2024-06-28 08:00", "archive", True, [],
     "Ten weekend getaways within a three-hour drive."),
]
SENT_SEED = [
    ("s1", ["olivia.chen@example.com"], "Feedback on the mockups", "2024-07-02 10:15",
     "Hi Olivia, the first round of mockups looks great. A few notes on spacing inline.\n\nAlex"),
    ("s2", ["sam.lee@example.com"], "Weekend plans", "2024-06-29 17:40", "Hey Sam, want to go climbing on Sunday?\n\nAlex"),
]


class MailSite(BaseSite):
    name = "mail"
    brand = "MailClone"

    def seed_state(self, config: dict) -> dict:
        emails = {}
        for eid, fname, frm, subj, date, folder, read, labels, body in SEED:
            emails[eid] = {"id": eid, "fromName": fname, "from": frm, "to": [ME], "subject": subj, "body": body,
                           "date": date, "folder": folder, "read": read, "labels": list(labels),
                           "inReplyTo": None, "forwardOf": None}
        for eid, to, subj, date, body in SENT_SEED:
            emails[eid] = {"id": eid, "fromName": MY_NAME, "from": ME, "to": list(to), "subject": subj, "body": body,
                           "date": date, "folder": "sent", "read": True, "labels": [], "inReplyTo": None, "forwardOf": None}
        labels = {n: {"name": n, "color": c} for n, c in LABELS}
        return {"email": {"emails": emails, "labels": labels}}

    @property
    def emails(self) -> dict:
        return self.state["email"]["emails"]

    @property
    def labels(self) -> dict:
        return self.state["email"]["labels"]

    def routes(self):
        return [
            ("GET", r"/", lambda q: self.folder(q, "inbox")),
            ("GET", r"/folder/(\w+)", self.folder),
            ("GET", r"/label/([^/]+)", self.label_view),
            ("GET", r"/search", self.search),
            ("GET", r"/email/([\w-]+)", self.email_page),
            ("POST", r"/email/([\w-]+)/archive", self.archive),
            ("POST", r"/email/([\w-]+)/delete", self.delete),
            ("POST", r"/email/([\w-]+)/restore", self.restore),
            ("POST", r"/email/([\w-]+)/labels", self.set_labels),
            ("GET", r"/compose", self.compose_page),
            ("POST", r"/compose", self.compose_submit),
        ]

    def nav_html(self) -> str:
        return (
            '<form role="search" action="/search" method="get">'
            '<label class="sr" for="mail-search">Search mail</label>'
            '<input type="search" id="mail-search" name="q" placeholder="Search mail">'
            '<button type="submit">Search</button></form>'
            f'<span>Signed in as {esc(MY_NAME)} ({ME})</span>'
        )

    def shell(self, title: str, content: str, status: int = 200) -> Response:
        unread = sum(1 for e in self.emails.values() if e["folder"] == "inbox" and not e["read"])
        folders = "".join(
            f'<li><a href="/folder/{k}">{lbl}</a>{f" <span>({unread} unread)</span>" if k == "inbox" and unread else ""}</li>'
            for k, lbl in FOLDERS
        )
        labels = "".join(
            f'<li><a href="/label/{urllib.parse.quote(n)}">{esc(n)}</a></li>' for n in self.labels
        )
        body = (
            '<div class="layout"><div class="side">'
            '<p><a href="/compose">Compose</a></p>'
            f'<nav aria-label="Folders"><ul>{folders}</ul></nav>'
            f'<nav aria-label="Labels"><h2>Labels</h2><ul>{labels}</ul></nav></div>'
            f"<div>{content}</div></div>"
        )
        return self.page(title, body, status)

    def email_table(self, emails: list[dict], show_folder: bool = False, to_column: bool = False) -> str:
        if not emails:
            return "<p>No messages.</p>"
        rows = ""
        for e in sorted(emails, key=lambda e: e["date"], reverse=True):
            who = ", ".join(e["to"]) if to_column else f'{e["fromName"]}'
            cls = "" if e["read"] else ' class="unread"'
            rows += (
                f"<tr{cls}><td>{esc(who)}</td><td><a href=\"/email/{e['id']}\">{esc(e['subject'] or '(no subject)')}</a>"
                f"{'' if e['read'] else ' <span>(unread)</span>'}</td><td>{esc(e['date'])}</td>"
                f"<td>{esc(', '.join(e['labels']))}</td>"
                + (f"<td>{esc(dict(FOLDERS).get(e['folder'], e['folder']))}</td>" if show_folder else "")
                + "</tr>"
            )
        head = (
            f"<tr><th>{'To' if to_column else 'From'}</th><th>Subject</th><th>Date</th><th>Labels</th>"
            + ("<th>Folder</th>" if show_folder else "") + "</tr>"
        )
        return f"<table><caption class=\"sr\">Messages</caption><thead>{head}</thead><tbody>{rows}</tbody></table>"

    def folder(self, q: Form, name: str) -> Response:
        folders = dict(FOLDERS)
        if name not in folders:
            return self.not_found("Folder")
        items = [e for e in self.emails.values() if e["folder"] == name]
        return self.shell(folders[name], f"<h1>{folders[name]}</h1>" + self.email_table(items, to_column=name == "sent"))

    def label_view(self, q: Form, name: str) -> Response:
        if name not in self.labels:
            return self.not_found("Label")
        items = [e for e in self.emails.values() if name in e["labels"] and e["folder"] != "trash"]
        return self.shell(f"Label {name}", f"<h1>Label: {esc(name)}</h1>" + self.email_table(items, show_folder=True))

    def search(self, q: Form) -> Response:
        query = first(q, "q").strip()
        tokens = query.lower().split()
        items = []
        if tokens:
            for e in self.emails.values():
                if e["folder"] == "trash":
                    continue
                hay = " ".join([e["subject"], e["body"], e["fromName"], e["from"], " ".join(e["to"])]).lower()
                if all(t in hay for t in tokens):
                    items.append(e)
        content = (
            f'<h1>Search results for "{esc(query)}"</h1>'
            f'<p role="status">{len(items)} message{"s" if len(items) != 1 else ""} found</p>'
            + self.email_table(items, show_folder=True)
        )
        return self.shell("Search", content)

    def email_page(self, q: Form, eid: str) -> Response:
        e = self.emails.get(eid)
        if not e:
            return self.not_found("Email")
        if not e["read"]:
            e["read"] = True
        boxes = "".join(
            f'<div><input type="checkbox" id="lbl-{esc(n)}" name="label" value="{esc(n)}"{" checked" if n in e["labels"] else ""}>'
            f' <label for="lbl-{esc(n)}">{esc(n)}</label></div>'
            for n in self.labels
        )
        actions = [f'<a href="/compose?reply_to={eid}">Reply</a>', f'<a href="/compose?forward={eid}">Forward</a>']
        if e["folder"] == "inbox":
            actions.append(f'<form method="post" action="/email/{eid}/archive"><button type="submit">Archive</button></form>')
        if e["folder"] in ("archive", "trash"):
            actions.append(f'<form method="post" action="/email/{eid}/restore"><button type="submit">Move to Inbox</button></form>')
        if e["folder"] != "trash":
            actions.append(modal(
                "delete-email", "Delete", "Delete this email?", f'"{e["subject"]}" will be moved to Trash.',
                f'<form method="post" action="/email/{eid}/delete"><button type="submit">Confirm delete</button></form>',
            ))
        content = (
            f"<article><h1>{esc(e['subject'] or '(no subject)')}</h1>"
            f"<dl><dt>From</dt><dd>{esc(e['fromName'])} &lt;{esc(e['from'])}&gt;</dd>"
            f"<dt>To</dt><dd>{esc(', '.join(e['to']))}</dd><dt>Date</dt><dd>{esc(e['date'])}</dd>"
            f"<dt>Folder</dt><dd>{esc(dict(FOLDERS).get(e['folder'], e['folder']))}</dd></dl>"
            f'<div class="toolbar" role="toolbar" aria-label="Email actions">{"".join(actions)}</div>'
            f'<div class="body">{esc(e["body"])}</div></article>'
            f'<form method="post" action="/email/{eid}/labels"><fieldset class="inline"><legend>Labels</legend>{boxes}'
            '<button type="submit">Apply labels</button></fieldset></form>'
        )
        return self.shell(e["subject"], content)

    def _move(self, eid: str, folder: str | None, flash: str) -> Response:
        """Move email ``eid`` to ``folder`` (None: back where it belongs, Sent or Inbox) and go back
        to the folder it was in; ``flash`` is formatted with its subject and the new folder's name."""
        e = self.emails.get(eid)
        if not e:
            return self.not_found("Email")
        back = f"/folder/{e['folder']}"
        e["folder"] = folder or ("sent" if e["from"] == ME else "inbox")
        self.flash = flash.format(subject=e["subject"], folder=dict(FOLDERS)[e["folder"]])
        return redirect(back)

    def archive(self, f: Form, eid: str) -> Response:
        return self._move(eid, "archive", 'Archived "{subject}".')

    def delete(self, f: Form, eid: str) -> Response:
        return self._move(eid, "trash", 'Moved "{subject}" to Trash.')

    def restore(self, f: Form, eid: str) -> Response:
        return self._move(eid, None, 'Moved "{subject}" to {folder}.')

    def set_labels(self, f: Form, eid: str) -> Response:
        e = self.emails.get(eid)
        if not e:
            return self.not_found("Email")
        chosen = [n for n in self.labels if n in f.get("label", [])]
        e["labels"] = chosen
        self.flash = "Labels updated: " + (", ".join(chosen) if chosen else "none") + "."
        return redirect(f"/email/{eid}")

    # ------------------------------------------------------------------ compose
    def compose_page(self, q: Form, values: Form | None = None, errors: dict | None = None) -> Response:
        v = {k: first(values, k) for k in ("to", "subject", "body", "inReplyTo", "forwardOf")} if values else {}
        heading = "New message"
        if not values:
            v = {"to": "", "subject": "", "body": "", "inReplyTo": "", "forwardOf": ""}
            src = self.emails.get(first(q, "reply_to"))
            fwd = self.emails.get(first(q, "forward"))
            if src:
                heading = "Reply"
                v["to"] = src["from"] if src["from"] != ME else ", ".join(src["to"])
                v["subject"] = src["subject"] if src["subject"].lower().startswith("re:") else f"Re: {src['subject']}"
                quoted = "\n".join("> " + line for line in src["body"].splitlines())
                v["body"] = f"\n\nOn {src['date']}, {src['fromName']} wrote:\n{quoted}"
                v["inReplyTo"] = src["id"]
            elif fwd:
                heading = "Forward"
                v["subject"] = f"Fwd: {fwd['subject']}"
                v["body"] = (f"\n\n---------- Forwarded message ----------\nFrom: {fwd['fromName']} <{fwd['from']}>\n"
                             f"Date: {fwd['date']}\nSubject: {fwd['subject']}\n\n{fwd['body']}")
                v["forwardOf"] = fwd["id"]
        else:
            heading = "Reply" if v.get("inReplyTo") else ("Forward" if v.get("forwardOf") else heading)
        e = errors or {}
        content = (
            f"<h1>{heading}</h1>{errors_block(list(e.values()))}"
            '<form method="post" action="/compose">'
            f'<input type="hidden" name="inReplyTo" value="{esc(v.get("inReplyTo", ""))}">'
            f'<input type="hidden" name="forwardOf" value="{esc(v.get("forwardOf", ""))}">'
            + field("To", "to", v.get("to", ""), error=e.get("to", ""))
            + field("Subject", "subject", v.get("subject", ""), error=e.get("subject", ""))
            + field("Body", "body", v.get("body", ""), input_type="textarea", error=e.get("body", ""))
            + '<div class="toolbar"><button type="submit">Send</button> <a href="/folder/inbox">Discard</a></div></form>'
        )
        return self.shell(heading, content)

    def compose_submit(self, f: Form) -> Response:
        to_raw = first(f, "to")
        subject = first(f, "subject").strip()
        body = first(f, "body")
        errors = {}
        recipients = [r.strip().lower() for r in re.split(r"[,;]", to_raw) if r.strip()]
        if not recipients:
            errors["to"] = "Please specify at least one recipient."
        else:
            bad = [r for r in recipients if not EMAIL_RE.match(r)]
            if bad:
                errors["to"] = f"Invalid email address: {', '.join(bad)}."
        if not subject and not body.strip():
            errors["subject"] = "Please add a subject or a message body."
        if errors:
            resp = self.compose_page({}, f, errors)
            resp.status = 422
            return resp
        nums = [int(k[1:]) for k in self.emails if re.fullmatch(r"m\d+", k)]
        eid = f"m{max(nums, default=1000) + 1}"
        in_reply = first(f, "inReplyTo") or None
        fwd = first(f, "forwardOf") or None
        self.emails[eid] = {
            "id": eid, "fromName": MY_NAME, "from": ME, "to": recipients, "subject": subject, "body": body,
            "date": f"{self.today} 10:{len(nums):02d}", "folder": "sent", "read": True, "labels": [],
            "inReplyTo": in_reply if in_reply in self.emails else None,
            "forwardOf": fwd if fwd in self.emails else None,
        }
        self.flash = "Message sent."
        return redirect("/folder/sent")
