#!/usr/bin/python3
"""it_documents — generate_document → send_document end to end, and the
engine's mail.send with a PDF attachment.

A real zflow server (--smtp-url) sends to an SMTP server in this process
(Debian's python3-aiosmtpd) that keeps every message's raw bytes; Python's
email package (policy=default) takes them apart. The PDF attachment is
decoded and checked three ways: its bytes equal the generate_document
output (size, sha256, base64 content), it starts with %PDF-, and poppler's
pdftotext (poppler-utils) gets the text back out.

Covers: a workflow whose templates fill the document (inputs, a title,
the file name) and whose send_document takes it as "{{steps.gen}}" and as
"document_step"; a document too large to pass through a template
(documented 256 KiB rendered-config limit) failing that way while
document_step carries it; format "docx" refused at creation with the
field named; send_document without --smtp-url failing the run with a
clear error; mail.send with a PDF attachment, its validation errors and
"email_not_configured".

    ZFLOW_BIN=build/zflow /usr/bin/python3 tests/it_documents.py   (ZF_TEST=substr for a subset)
"""
import base64
import email
import email.policy
import hashlib
import os
import subprocess
import sys
import tempfile
import threading

from aiosmtpd.controller import Controller

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import zf_harness as zh  # noqa: E402

S = {}


class Mailbox:
    """aiosmtpd handler keeping (envelope rcpts, raw bytes) of each message."""

    def __init__(self):
        self.lock = threading.Lock()
        self.msgs = []

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.msgs.append((list(envelope.rcpt_tos), envelope.original_content))
        return "250 2.0.0 Message accepted for delivery"

    def since(self, n):
        with self.lock:
            return self.msgs[n:]

    def count(self):
        with self.lock:
            return len(self.msgs)


def parse(raw):
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    defects = [repr(d) for part in msg.walk() for d in part.defects]
    assert not defects, defects
    return msg


def pdftotext(data):
    with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
        f.write(data)
        f.flush()
        out = subprocess.run(["pdftotext", "-enc", "UTF-8", f.name, "-"], capture_output=True,
                             check=True, timeout=30)
        chk = subprocess.run(["qpdf", "--check", f.name], capture_output=True, timeout=30)
        assert chk.returncode == 0, chk.stdout + chk.stderr
    return out.stdout.decode()


def zc():
    return S["zmq"]


def workflow(nodes, name=None):
    wf = {"name": name or zh.uniq("docs"), "definition": {"nodes": nodes}}
    return zh.expect_ok(zc(), "wf.create", {"workflow": wf})["workflow"]


def run(wf_id, inputs):
    r = zh.expect_ok(zc(), "run.start", {"workflow_id": wf_id, "inputs": inputs, "wait": True,
                                         "wait_timeout_ms": 60000}, timeout=70)["run"]
    return zh.expect_ok(zc(), "run.get", {"id": r["id"]})


def the_pdf(msg):
    atts = list(msg.iter_attachments())
    assert len(atts) == 1, [a.get_content_type() for a in atts]
    a = atts[0]
    assert a.get_content_type() == "application/pdf", a.get_content_type()
    assert a.get_content_disposition() == "attachment"
    assert a["content-transfer-encoding"] == "base64"
    return a.get_filename(), a.get_payload(decode=True)


def base64_lines(raw):
    """Lengths of the base64 lines of the (single) attachment part."""
    text = raw.decode("ascii")
    body = text.split("Content-Transfer-Encoding: base64\r\n\r\n", 1)[1]
    body = body.split("\r\n\r\n--", 1)[0]
    return [len(x) for x in body.split("\r\n") if x]


# ---------------------------------------------------------------- steps


def test_generate_then_send_document():
    box = S["box"]
    wf = workflow([
        {"id": "gen", "type": "generate_document", "config": {
            "template": "# Offer {{inputs.ref}}\nDear {{inputs.name}},\n\n"
                        "Your loan of {{inputs.amount}} € is approved (rate 4.5%).\n"
                        "Grüße aus Köln — “the team”.",
            "title": "Loan offer for {{inputs.name}}",
            "filename": "offer-{{inputs.ref}}.pdf", "format": "pdf",
            "variables": {"ignored": True}}},
        {"id": "mail", "type": "send_document", "config": {
            "to": "{{inputs.email}}", "cc": ["Back Office <office@example.test>"],
            "subject": "Your offer {{inputs.ref}}", "body": "Hello {{inputs.name}}, see attached.",
            "document": "{{steps.gen}}"}},
        {"id": "again", "type": "send_document", "config": {
            "to": "archive@example.test", "document_step": "gen"}}])
    n0 = box.count()
    got = run(wf["id"], {"name": "Ann Smith", "email": "ann@example.test", "ref": "L-42",
                         "amount": 25000})
    r, state = got["run"], got["state"]
    assert r["status"] == "completed", (r, got.get("logs"))
    gen = state["stepOutputs"]["gen"]
    assert gen["filename"] == "offer-L-42.pdf" and gen["contentType"] == "application/pdf", gen
    assert gen["pages"] == 1, gen
    pdf = base64.b64decode(gen["content"], validate=True)
    assert len(pdf) == gen["size"] and hashlib.sha256(pdf).hexdigest() == gen["sha256"], gen
    mail = state["stepOutputs"]["mail"]
    assert mail["filename"] == "offer-L-42.pdf", mail
    assert sorted(mail["accepted"]) == ["ann@example.test", "office@example.test"], mail
    assert mail["rejected"] == [] and mail["message_id"] == f"<{r['id']}.mail@zflow>", mail
    assert state["stepOutputs"]["again"]["accepted"] == ["archive@example.test"]
    msgs = box.since(n0)
    assert len(msgs) == 2, msgs
    (rcpts, raw), (rcpts2, raw2) = msgs
    assert sorted(rcpts) == ["ann@example.test", "office@example.test"], rcpts
    msg = parse(raw)
    assert msg.get_content_type() == "multipart/mixed"
    assert str(msg["subject"]) == "Your offer L-42"
    assert msg.get_body(("plain",)).get_content() == "Hello Ann Smith, see attached.\r\n"
    name, data = the_pdf(msg)
    assert name == "offer-L-42.pdf", name
    assert data == pdf and data.startswith(b"%PDF-1.4") and data.rstrip().endswith(b"%%EOF")
    lines = base64_lines(raw)
    assert all(x == 76 for x in lines[:-1]) and 0 < lines[-1] <= 76, lines
    text = pdftotext(data)
    for want in ("Loan offer for Ann Smith", "Offer L-42", "Dear Ann Smith,",
                 "Your loan of 25000 € is approved (rate 4.5%).",
                 "Grüße aus Köln — “the team”.", "Page 1 of 1"):
        assert want in text, (want, text)
    assert "ignored" not in text
    # document_step: the same file, default subject and body.
    msg2 = parse(raw2)
    assert rcpts2 == ["archive@example.test"]
    assert str(msg2["subject"]) == "Document: offer-L-42.pdf"
    assert "Please find the attached document offer-L-42.pdf." in \
        msg2.get_body(("plain",)).get_content()
    assert the_pdf(msg2) == ("offer-L-42.pdf", pdf)


def test_large_document_needs_document_step():
    box = S["box"]
    lines = "\n".join(f"Line {i:05d}: the quick brown fox jumps over the lazy dog, again."
                      for i in range(3000))
    wf = workflow([
        {"id": "gen", "type": "generate_document", "config": {"template": "{{inputs.text}}"}},
        {"id": "by_step", "type": "send_document", "config": {
            "to": "big@example.test", "document_step": "gen"}},
        {"id": "inline", "type": "send_document", "config": {
            "to": "big@example.test", "document": "{{steps.gen}}"}}])
    n0 = box.count()
    got = run(wf["id"], {"text": lines})
    r, state = got["run"], got["state"]
    gen = state["stepOutputs"]["gen"]
    assert gen["pages"] == 63 and gen["size"] > 256 * 1024, {k: gen[k] for k in ("pages", "size")}
    assert "by_step" in state["stepOutputs"], state["completedNodeIds"]
    # Rendering the whole output into a config passes the template limit.
    assert r["status"] == "failed", r
    err = r.get("error") or {}
    assert err.get("node_id") == "inline", err
    assert "rendered output larger than 262144 bytes" in err.get("message", ""), err
    msgs = box.since(n0)
    assert len(msgs) == 1, len(msgs)
    name, data = the_pdf(parse(msgs[0][1]))
    assert name == "document.pdf" and hashlib.sha256(data).hexdigest() == gen["sha256"]
    text = pdftotext(data)
    assert "Line 00000:" in text and "Line 02999:" in text and "Page 63 of 63" in text


def test_docx_and_bad_configs_refused_at_creation():
    bad = [
        ({"type": "generate_document", "config": {"template": "x", "format": "docx"}},
         "format: docx is not supported here, only pdf"),
        ({"type": "generate_document", "config": {}}, "config.template: required"),
        ({"type": "send_document", "config": {"to": "a@example.test"}},
         "needs either \"document\""),
        ({"type": "send_document", "config": {"to": "a@example.test", "document_step": "g",
                                              "bcc": "not an address"}},
         "config.bcc[0]: invalid email address"),
        ({"type": "send_email", "config": {"to": "a@example.test", "subject": "s", "body": "b",
                                           "attachments": [{"filename": "f", "content": "%%"}]}},
         "config.attachments[0].content: invalid base64"),
    ]
    for node, want in bad:
        wf = {"name": zh.uniq("bad"), "definition": {"nodes": [dict(node, id="n1")]}}
        ok, body = zc().call("wf.create", {"workflow": wf})
        assert not ok and body["code"] == "validation", body
        assert want in body["message"], (want, body)


def test_email_kind_with_pdf_attachment():
    """seed 001's `email` step: attachments straight from a document step."""
    box = S["box"]
    wf = workflow([
        {"id": "gen", "type": "generate_document", "config": {"template": "Invoice 7"}},
        {"id": "mail", "type": "email", "config": {
            "to": "billing@example.test", "subject": "Invoice", "body": "Attached.",
            "attachments": [{"filename": "invoice-7.pdf", "content": "{{steps.gen.content}}",
                             "contentType": "application/pdf"}]}}])
    n0 = box.count()
    got = run(wf["id"], {})
    assert got["run"]["status"] == "completed", got["run"]
    msgs = box.since(n0)
    assert len(msgs) == 1
    name, data = the_pdf(parse(msgs[0][1]))
    assert name == "invoice-7.pdf" and "Invoice 7" in pdftotext(data)


# ---------------------------------------------------------------- mail.send


def test_mail_send_with_pdf_attachment():
    box = S["box"]
    wf = workflow([{"id": "gen", "type": "generate_document",
                    "config": {"template": "Report body", "title": "Report"}}])
    pdf_b64 = run(wf["id"], {})["state"]["stepOutputs"]["gen"]["content"]
    n0 = box.count()
    body = {"to": "client@example.test", "subject": "Your document is ready",
            "body": "Please review the attached document.",
            "html": "<p>Please review the attached <strong>document</strong>.</p>",
            "cc": ["manager@example.test"],
            "attachments": [{"filename": "report.pdf", "content": pdf_b64,
                             "contentType": "application/pdf"}]}
    rep = zh.expect_ok(zc(), "mail.send", body, timeout=40)
    assert sorted(rep["accepted"]) == ["client@example.test", "manager@example.test"], rep
    assert rep["rejected"] == [] and rep["message_id"].endswith("@zflow>"), rep
    msgs = box.since(n0)
    assert len(msgs) == 1
    msg = parse(msgs[0][1])
    assert str(msg["message-id"]) == rep["message_id"]
    assert msg.get_body(("html",)).get_content().startswith("<p>Please review")
    name, data = the_pdf(msg)
    assert name == "report.pdf" and data == base64.b64decode(pdf_b64)
    assert "Report body" in pdftotext(data)
    # Validation names the field; nothing is sent.
    for change, want in ((({"attachments": [{"filename": "a", "content": "!!"}]}),
                          "attachments[0].content: invalid base64"),
                         ({"to": "nobody"}, "to[0]: invalid email address"),
                         ({"attachments": [{"filename": "f", "content": ""}] * 11},
                          "at most 10 attachments")):
        ok, err = zc().call("mail.send", dict(body, **change))
        assert not ok and err["code"] == "validation" and want in err["message"], (want, err)
    assert box.count() == n0 + 1


def test_mail_send_unconfigured_and_send_document_fails():
    with zh.Server(["--rate-limit", "0"]) as srv:
        key = zh.create_key(srv.data, "acme", "admin")
        c = zh.Client(srv.api, key)
        try:
            ok, err = c.call("mail.send", {"to": "a@example.test", "subject": "s", "body": "b"})
            assert not ok and err["code"] == "unavailable", err
            assert err.get("detail") == "email_not_configured", err
            wf = zh.expect_ok(c, "wf.create", {"workflow": {
                "name": "nomail", "definition": {"nodes": [
                    {"id": "gen", "type": "generate_document", "config": {"template": "x"}},
                    {"id": "send", "type": "send_document",
                     "config": {"to": "a@example.test", "document_step": "gen"}}]}}})["workflow"]
            r = zh.expect_ok(c, "run.start", {"workflow_id": wf["id"], "wait": True})["run"]
            assert r["status"] == "failed", r
            assert r["error"]["node_id"] == "send", r["error"]
            assert r["error"]["message"] == ("email_delivery_failed: email is not configured: "
                                             "start zflow with --smtp-url"), r["error"]
        finally:
            c.close()


# ---------------------------------------------------------------- main


def main():
    box = Mailbox()
    port = zh.free_port()
    ctl = Controller(box, hostname="127.0.0.1", port=port)
    ctl.start()
    S["box"] = box
    try:
        args = ["--rate-limit", "0", "--smtp-url", f"smtp://127.0.0.1:{port}"]
        with zh.Server(args) as srv:
            key = zh.create_key(srv.data, "acme", "admin")
            S["zmq"] = zh.Client(srv.api, key)
            try:
                rc = zh.run_tests(globals())
            finally:
                S["zmq"].close()
            assert srv.running(), srv.stderr()[-3000:]
        return rc
    finally:
        ctl.stop()


if __name__ == "__main__":
    sys.exit(main())
