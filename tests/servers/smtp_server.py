#!/usr/bin/env python3
"""A real SMTP server for wsprobe's email tests, made with aiosmtpd: STARTTLS, implicit TLS or
plain TCP on 127.0.0.1, AUTH PLAIN and LOGIN for one user, and scripted refusals. It prints
`ready` once it listens, then each message it takes as one JSON line: the envelope, whether
TLS and AUTH were used, and the message as Python's own email package parses it (headers
decoded, every MIME part's content). It stops when its stdin closes.
"""

import argparse
import json
import ssl
import sys
from email import policy
from email.parser import BytesParser

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def arguments():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tls", choices=["starttls", "tls", "none"], default="starttls")
    parser.add_argument("--cert", help="PEM certificate chain (starttls, tls)")
    parser.add_argument("--key", help="PEM private key (starttls, tls)")
    parser.add_argument("--user", help="the one user AUTH accepts; without it, no AUTH")
    parser.add_argument("--password")
    parser.add_argument(
        "--data-reply",
        action="append",
        default=[],
        help="the reply to the next DATA instead of 250, once per use, in order",
    )
    parser.add_argument(
        "--refuse-rcpt", action="append", default=[], help="answer RCPT TO this address with 550"
    )
    return parser.parse_args()


def emit(record):
    print(json.dumps(record), flush=True)


class Recorder:
    def __init__(self, args):
        self.data_replies = list(args.data_reply)
        self.refused = {address.lower() for address in args.refuse_rcpt}

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.refused:
            return f"550 5.1.1 <{address}>: Recipient address rejected: no such user"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_replies:
            reply = self.data_replies.pop(0)
            emit({"refused": reply})
            return reply
        raw = envelope.original_content or envelope.content
        message = BytesParser(policy=policy.default).parsebytes(raw)
        auth = session.auth_data
        emit(
            {
                "mail_from": envelope.mail_from,
                "rcpt_tos": envelope.rcpt_tos,
                "user": auth.login.decode() if isinstance(auth, LoginPassword) else None,
                "tls": server.transport.get_extra_info("ssl_object") is not None,
                "headers": {name.lower(): str(value) for name, value in message.items()},
                "parts": [
                    {
                        "content_type": part.get_content_type(),
                        "charset": part.get_content_charset(),
                        "content": part.get_content(),
                    }
                    for part in message.iter_parts()
                ],
                "raw": raw.decode("utf-8", errors="replace"),
            }
        )
        return "250 2.0.0 OK: queued"


def authenticator(user, password):
    def check(server, session, envelope, mechanism, auth_data):
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        ok = auth_data.login.decode() == user and auth_data.password.decode() == password
        # Not handled: aiosmtpd answers a failure with its own 535 5.7.8.
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    return check


def main():
    args = arguments()
    context = None
    if args.tls != "none":
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)
    options = {
        "hostname": "127.0.0.1",
        "port": args.port,
        # A fixed name: the default asks DNS for this machine's FQDN, which can take long.
        "server_hostname": "smtp.wsprobe.test",
        "ready_timeout": 30,
    }
    if args.user is not None:
        options["authenticator"] = authenticator(args.user, args.password)
        options["auth_required"] = True
        # With implicit TLS the whole connection is TLS: AUTH may be offered from the start.
        options["auth_require_tls"] = args.tls == "starttls"
    if args.tls == "starttls":
        options["tls_context"] = context
        options["require_starttls"] = True
    elif args.tls == "tls":
        options["ssl_context"] = context
    controller = Controller(Recorder(args), **options)
    controller.start()
    emit({"ready": args.port})
    sys.stdin.read()
    controller.stop()


if __name__ == "__main__":
    main()
