#!/usr/bin/python3
"""aiosmtpd-sink.py PORT DIR CERT KEY: aiosmtpd on 127.0.0.1:PORT with
STARTTLS (CERT, KEY) and SMTPUTF8; each message it takes is written to
DIR as N.msg (the octets received) and N.env (fakesmtp's form: "MAIL
FROM:<s>", "accepted <r>" lines). Prints "ready" once listening; stops
on SIGTERM, or by itself after 170 s."""
import asyncio
import os
import signal
import ssl
import sys

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, outdir):
        self.outdir = outdir
        self.n = 0

    async def handle_DATA(self, server, session, envelope):
        self.n += 1
        base = os.path.join(self.outdir, str(self.n))
        with open(base + ".msg", "wb") as f:
            f.write(envelope.original_content)
        with open(base + ".env", "w") as f:
            f.write("MAIL FROM:<%s> %s\n" % (envelope.mail_from,
                                            " ".join(envelope.mail_options)))
            for r in envelope.rcpt_tos:
                f.write("accepted <%s>\n" % r)
            f.write("tls %s\n" % ("yes" if session.ssl else "no"))
        return "250 2.0.0 Ok: stored as %d" % self.n


def main():
    port, outdir, cert, key = sys.argv[1:5]
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    ctl = Controller(Sink(outdir), hostname="127.0.0.1", port=int(port),
                     tls_context=ctx, enable_SMTPUTF8=True,
                     decode_data=False, server_hostname="mx.aio.test")
    ctl.start()
    print("ready", flush=True)
    signal.signal(signal.SIGTERM, lambda *a: None)
    signal.sigtimedwait([signal.SIGTERM, signal.SIGINT], 170)
    ctl.stop()


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM, signal.SIGINT])
    main()
