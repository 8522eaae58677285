#!/usr/bin/python3
"""intact.py: did a message arrive whole?

    intact.py [--domain D] CAPTURE DELIVERED ENVELOPE SENDER [RCPT...]

CAPTURE is what a mail client handed its sendmail (mxsend), DELIVERED
what the server stored, ENVELOPE the server's record of the transaction
in fakesmtp's form ("MAIL FROM:<s> ...", "accepted <r>" lines; other
servers' records are written in that form by the scripts).

Intact means:
  - the body is the same octets (line ends compared as LF: servers store
    CRLF or LF; a missing last line end is added by mxsend, as RFC 5322
    wants);
  - every header field of CAPTURE but Bcc: is in DELIVERED, unchanged
    (unfolded), and in the same order; fields added around them
    (Received:, Date:, Message-ID:, a server's Return-Path:) are allowed;
    with --domain, unqualified addresses of the address fields ("To:
    root", cron's) are compared as qualified with @D (SPEC 5.4);
  - the envelope sender is SENDER and the recipients are exactly RCPTs.

Exit 0 when intact, else 1 with each difference on stdout.
"""
import re
import sys


def split(raw):
    """(header fields unfolded, body) of a message, line ends as LF."""
    text = raw.replace(b"\r\n", b"\n")
    if not text.endswith(b"\n"):
        text += b"\n"
    head, sep, body = text.partition(b"\n\n")
    if not sep:
        head, body = text, b""
    fields = []
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += line
        elif line:
            fields.append(line)
    return fields, body


ADDRESS_FIELDS = {b"from", b"to", b"cc", b"reply-to", b"sender"}


def qualify(field, domain):
    """field with its unqualified addresses qualified with @domain."""
    if domain is None or name(field) not in ADDRESS_FIELDS:
        return field
    head, _, value = field.partition(b":")
    value = re.sub(rb"<([^@<>\s]+)>", lambda m: b"<" + m.group(1) + b"@" +
                   domain + b">", value)
    items = []
    for item in value.split(b","):
        if b"<" not in item and b"@" not in item:
            item = re.sub(rb"^(\s*)([^\s(]+)", lambda m: m.group(1) +
                          m.group(2) + b"@" + domain, item, count=1)
        items.append(item)
    return head + b":" + b",".join(items)


def name(field):
    return field.split(b":", 1)[0].strip().lower()


def envelope(path):
    sender, rcpts = None, set()
    with open(path, "rb") as f:
        for line in f.read().decode("utf-8", "replace").splitlines():
            m = re.match(r"(?i)MAIL FROM:<([^>]*)>", line)
            if m and sender is None:
                sender = m.group(1)
            m = re.match(r"accepted <([^>]*)>", line)
            if m:
                rcpts.add(m.group(1).lower())
    return sender, rcpts


def main(argv):
    domain = None
    if len(argv) > 2 and argv[1] == "--domain":
        domain = argv[2].encode()
        argv = argv[:1] + argv[3:]
    if len(argv) < 5:
        print(__doc__)
        return 2
    capture, delivered, envfile, want_sender = argv[1:5]
    want_rcpts = {r.lower() for r in argv[5:]}
    with open(capture, "rb") as f:
        cfields, cbody = split(f.read())
    with open(delivered, "rb") as f:
        dfields, dbody = split(f.read())
    bad = []
    if cbody != dbody:
        bad.append("body differs: %d octets sent, %d delivered; first "
                   "difference at octet %d"
                   % (len(cbody), len(dbody),
                      next((i for i, (a, b) in enumerate(zip(cbody, dbody))
                            if a != b), min(len(cbody), len(dbody)))))
    at = 0
    for field in (qualify(f, domain) for f in cfields):
        if name(field) == b"bcc":
            if any(name(d) == b"bcc" for d in dfields):
                bad.append("Bcc: was delivered")
            continue
        try:
            at = dfields.index(field, at) + 1
        except ValueError:
            where = "missing" if field not in dfields else "out of order"
            bad.append("header %s: %r" % (where, field[:120]))
    sender, rcpts = envelope(envfile)
    if sender != want_sender:
        bad.append("envelope sender <%s>, want <%s>" % (sender, want_sender))
    if rcpts != want_rcpts:
        bad.append("recipients %s, want %s" % (sorted(rcpts),
                                               sorted(want_rcpts)))
    for b in bad:
        print(b)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
