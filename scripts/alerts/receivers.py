#!/usr/bin/env python3
"""Test receivers for medlake's alert notifications, checking what each is sent against
the vendors' documented formats and signing schemes, written independently of medlake.

Usage: receivers.py PORT_FILE RECORDS_FILE --dingtalk-secret S --feishu-secret S
                    [--fail-first N] [--smtp-cert PEM --smtp-key PEM --smtp-user U
                    --smtp-password P]

Listens on 127.0.0.1: one HTTP port, one plain SMTP port and, with --smtp-cert, an SMTP
port that requires STARTTLS and then AUTH (aiosmtpd), written to PORT_FILE as
"HTTP_PORT SMTP_PORT TLS_SMTP_PORT" (0 when there is none) once all listen (via a
temporary file and a rename). Each
request or mail is appended to RECORDS_FILE as one JSON line
{"kind": ..., "ok": bool, "reason": ..., "body": ...}, flushed at once.

  POST /webhook            Alertmanager's webhook JSON (version 4): checks the fields.
                           The first N (--fail-first) are answered 503 and recorded with
                           "ok": false, "reason": "refused on purpose" (a receiver down).
  POST /dingtalk?access_token=T&timestamp=TS&sign=S
                           DingTalk custom robot, 加签: sign must be
                           urlencode(base64(HMAC-SHA256(key=secret, msg=f"{TS}\\n{secret}")))
                           and TS within an hour; body {"msgtype":"markdown","markdown":
                           {"title","text"}}. Answers {"errcode":0} or 310000.
  POST /feishu             Feishu/Lark custom bot, 签名校验: body {"timestamp","sign",
                           "msg_type":"text","content":{"text"}} where sign =
                           base64(HMAC-SHA256(key=f"{timestamp}\\n{secret}", msg=b"")).
                           Answers {"code":0} or 19021.
  POST /wecom?key=K        WeCom group robot: {"msgtype":"markdown","markdown":{"content"}},
                           content at most 4096 bytes. Answers {"errcode":0}.
  SMTP                     any mail: subject, from, to and text recorded, with whether the
                           session was TLS ("starttls") and authenticated ("authenticated").
                           The STARTTLS port refuses MAIL before STARTTLS and AUTH, and a
                           login other than --smtp-user/--smtp-password.
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import socket
import ssl
import threading
import time
import urllib.parse
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Records:
    def __init__(self, path):
        self.file = open(path, "a", encoding="utf-8")
        self.lock = threading.Lock()

    def add(self, kind, ok, reason, body):
        line = json.dumps({"kind": kind, "ok": ok, "reason": reason, "body": body})
        with self.lock:
            self.file.write(line + "\n")
            self.file.flush()


def hmac_b64(key: bytes, msg: bytes) -> str:
    return base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest()).decode()


def check_dingtalk(query, body, secret):
    ts = query.get("timestamp", [""])[0]
    sign = query.get("sign", [""])[0]
    if not query.get("access_token", [""])[0]:
        return "no access_token"
    if not ts.isdigit() or abs(int(ts) - time.time() * 1000) > 3600 * 1000:
        return f"timestamp {ts!r} is not within an hour of now (milliseconds)"
    expected = hmac_b64(secret.encode(), f"{ts}\n{secret}".encode())
    # parse_qs has already URL-decoded the sign once, as DingTalk's server does.
    if sign != expected:
        return "sign does not match"
    if body.get("msgtype") != "markdown":
        return "msgtype is not markdown"
    md = body.get("markdown") or {}
    if not md.get("title") or not md.get("text"):
        return "markdown needs title and text"
    return None


def check_feishu(body, secret):
    ts = str(body.get("timestamp", ""))
    if not ts.isdigit() or abs(int(ts) - time.time()) > 3600:
        return f"timestamp {ts!r} is not within an hour of now (seconds)"
    expected = hmac_b64(f"{ts}\n{secret}".encode(), b"")
    if body.get("sign") != expected:
        return "sign does not match"
    if body.get("msg_type") != "text" or not (body.get("content") or {}).get("text"):
        return "msg_type text with content.text expected"
    return None


def check_wecom(query, body):
    if not query.get("key", [""])[0]:
        return "no key"
    if body.get("msgtype") != "markdown":
        return "msgtype is not markdown"
    content = (body.get("markdown") or {}).get("content", "")
    if not content or len(content.encode()) > 4096:
        return "markdown.content is empty or over 4096 bytes"
    return None


def check_webhook(body):
    for key in ("version", "groupKey", "status", "receiver", "groupLabels", "commonLabels",
                "commonAnnotations", "externalURL", "alerts", "truncatedAlerts"):
        if key not in body:
            return f"no {key}"
    if body["version"] != "4" or body["status"] not in ("firing", "resolved"):
        return "version 4 with status firing|resolved expected"
    for alert in body["alerts"]:
        for key in ("status", "labels", "annotations", "startsAt", "endsAt", "fingerprint"):
            if key not in alert:
                return f"an alert has no {key}"
        if "alertname" not in alert["labels"]:
            return "an alert has no alertname label"
    return None


def handler(records, secrets, fail_first):
    state = {"webhook_fail_left": fail_first}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def answer(self, status, payload):
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            url = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(url.query)
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            try:
                body = json.loads(raw)
            except ValueError:
                records.add(url.path.strip("/"), False, "body is not JSON", raw.decode("utf-8", "replace"))
                return self.answer(400, {"errcode": 40001, "errmsg": "not json"})
            if url.path == "/webhook":
                with lock:
                    refuse = state["webhook_fail_left"] > 0
                    if refuse:
                        state["webhook_fail_left"] -= 1
                if refuse:
                    records.add("webhook", False, "refused on purpose", body)
                    return self.answer(503, {"error": "down"})
                reason = check_webhook(body)
                records.add("webhook", reason is None, reason, body)
                return self.answer(200 if reason is None else 400, {})
            if url.path == "/dingtalk":
                reason = check_dingtalk(query, body, secrets["dingtalk"])
                records.add("dingtalk", reason is None, reason, body)
                return self.answer(200, {"errcode": 0 if reason is None else 310000,
                                         "errmsg": reason or "ok"})
            if url.path == "/feishu":
                reason = check_feishu(body, secrets["feishu"])
                records.add("feishu", reason is None, reason, body)
                return self.answer(200, {"code": 0 if reason is None else 19021,
                                         "msg": reason or "success"})
            if url.path == "/wecom":
                reason = check_wecom(query, body)
                records.add("wecom", reason is None, reason, body)
                return self.answer(200, {"errcode": 0 if reason is None else 40008,
                                         "errmsg": reason or "ok"})
            self.answer(404, {})

    return Handler


class Mailbox:
    def __init__(self, records):
        self.records = records

    async def handle_DATA(self, server, session, envelope):
        from email import message_from_bytes
        message = message_from_bytes(envelope.content)
        text = message.get_payload(decode=True)
        text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(message.get_payload())
        self.records.add("email", True, None, {
            "from": envelope.mail_from, "to": envelope.rcpt_tos,
            "subject": str(message.get("Subject", "")), "text": text,
            "starttls": session.ssl is not None, "authenticated": bool(session.authenticated),
        })
        return "250 OK"


def free_port():
    # aiosmtpd checks that it listens by connecting to its port, so it needs a real one.
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


# aiosmtpd's own AUTH code reads a deprecated attribute and says so on every login.
warnings.filterwarnings("ignore", message="Session.login_data is deprecated")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("port_file")
    parser.add_argument("records_file")
    parser.add_argument("--dingtalk-secret", required=True)
    parser.add_argument("--feishu-secret", required=True)
    parser.add_argument("--fail-first", type=int, default=0)
    parser.add_argument("--smtp-cert")
    parser.add_argument("--smtp-key")
    parser.add_argument("--smtp-user")
    parser.add_argument("--smtp-password")
    args = parser.parse_args()
    records = Records(args.records_file)
    secrets = {"dingtalk": args.dingtalk_secret, "feishu": args.feishu_secret}
    http = ThreadingHTTPServer(("127.0.0.1", 0), handler(records, secrets, args.fail_first))
    smtp_port = free_port()
    Controller(Mailbox(records), hostname="127.0.0.1", port=smtp_port).start()
    tls_port = 0
    if args.smtp_cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.smtp_cert, args.smtp_key)
        user, password = args.smtp_user.encode(), args.smtp_password.encode()

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = isinstance(auth_data, LoginPassword) and auth_data.login == user \
                and auth_data.password == password
            return AuthResult(success=ok)

        tls_port = free_port()
        Controller(Mailbox(records), hostname="127.0.0.1", port=tls_port, tls_context=tls,
                   require_starttls=True, authenticator=authenticator, auth_required=True,
                   auth_require_tls=True).start()
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{http.server_address[1]} {smtp_port} {tls_port}\n")
    os.replace(tmp, args.port_file)
    http.serve_forever()


if __name__ == "__main__":
    main()
