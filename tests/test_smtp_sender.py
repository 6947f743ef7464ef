"""Email delivery through a real SMTP server (aiosmtpd): MIME, pooling, bounces, reconnects,
and the publisher + ledger on SQLite counting hard bounces until the address is off."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import email.policy
import email.utils
import logging
import ssl
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import event

from digestbot.db.engine import make_engine, upgrade
from digestbot.delivery.ledger import Delivery, Ledger
from digestbot.delivery.publisher import Publisher
from digestbot.delivery.senders import (
    Content,
    Job,
    LeaseLost,
    RenderOptions,
    _encode_body,
    _Part,
)
from digestbot.delivery.smtp import SmtpSender
from digestbot.errors import PermanentDeliveryError, SettingsError, TransientDeliveryError
from digestbot.models import Channel, Destination, Issue, Language
from digestbot.render.email import (
    PREFERENCES_PLACEHOLDER,
    UNSUBSCRIBE_PLACEHOLDER,
    build_message,
    render_email,
)
from digestbot.render.templates import Templates
from digestbot.settings import SmtpSettings
from digestbot.subscribers import ACTIVE, BOUNCED, Subscribers
from render_samples import make_issue
from smtp_sink import SmtpSink, free_port

PUBLIC = "https://digest.example"


def unsubscribe_url(channel: Channel, address: str) -> str:
    return f"{PUBLIC}/unsubscribe/{channel.value}-{address}"


def content_for(issue: Issue | None = None) -> Content:
    options = RenderOptions(
        templates=Templates(),
        public_url=PUBLIC,
        sender="Weekly AI Papers <digest@example.org>",
    )
    return Content(issue or make_issue(count=5), options, unsubscribe_url)


@dataclass
class Lease:
    """The publisher's side of a job: the lease holds unless told otherwise."""

    held: bool = True
    checkpoints: list[int] = field(default_factory=list)

    async def checkpoint(self, n: int) -> bool:
        self.checkpoints.append(n)
        return self.held


def make_job(address: str, lang: Language = Language.EN, *, id: int = 1) -> tuple[Job, Lease]:
    delivery = Delivery(
        id=id,
        issue_id=1,
        channel=Channel.EMAIL,
        address=address,
        transport="smtp",
        lang=lang,
        subscriber_id=None,
        parts_sent=0,
        attempts=1,
        lease_owner="test",
    )
    lease = Lease()
    return Job(delivery, lease.checkpoint), lease


@contextlib.asynccontextmanager
async def running(settings: SmtpSettings, **kwargs: Any) -> AsyncIterator[SmtpSender]:
    sender = SmtpSender(settings, local_hostname="digestbot.test", **kwargs)
    await sender.start()
    try:
        yield sender
    finally:
        await sender.close()


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as s:
        yield s


# ---------------------------------------------------------------------------- messages


async def test_issue_email_is_multipart_with_a_per_recipient_unsubscribe(sink: SmtpSink) -> None:
    content = content_for()
    readers = {"ann@example.com": Language.EN, "李@example.cn": Language.ZH}
    async with running(sink.settings()) as sender:
        for n, (address, lang) in enumerate(readers.items()):
            job, lease = make_job(address, lang, id=n)
            assert await sender.deliver(job, content) == 1
            assert lease.checkpoints == [0]

    got = sink.messages
    assert [m.rcpt_tos for m in got] == [(a,) for a in readers]
    ids = set()
    for received, (address, lang) in zip(got, readers.items(), strict=True):
        msg = received.message
        assert received.mail_from == "digest@example.org"
        assert msg.get_content_type() == "multipart/alternative"
        assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
        link = unsubscribe_url(Channel.EMAIL, address)
        assert msg["List-Unsubscribe"] == f"<{link}>"
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert msg["List-Id"] and msg["Date"]
        assert email.utils.parseaddr(str(msg["To"]))[1] == address
        html = msg.get_body(("html",))
        text = msg.get_body(("plain",))
        assert html is not None and text is not None
        assert link in html.get_content() and link in text.get_content()
        assert "2404.10001" in html.get_content()
        if lang is Language.ZH:
            assert "反馈注意力" in html.get_content()
        ids.add(msg["Message-ID"])
    assert len(ids) == 2  # one Message-ID per recipient


@pytest.mark.parametrize("lang", list(Language))
@pytest.mark.parametrize(
    "to",
    [
        "ann@example.com",
        "Ann O'Neil <ann@example.com>",
        "a-very-long-local-part-for-folding-tests." * 2 + "reader@sub.example.com",
    ],
)
def test_wire_bytes_are_what_the_email_package_writes(lang: Language, to: str) -> None:
    # the SMTP sender writes the template's bytes itself; the email package's generator
    # must produce the very same bytes from the same message
    long_url = f"{PUBLIC}/unsubscribe/" + "x" * 150
    template = content_for()._template(lang)
    for url in (unsubscribe_url(Channel.EMAIL, "ann@example.com"), long_url):
        recipient = template.recipient(
            to,
            url,
            date=datetime.datetime(2024, 4, 20, 8, 0, tzinfo=datetime.UTC),
            message_id="<1.2.3@digest.example>",
        )
        wire = recipient.wire()
        assert wire == recipient.message().as_bytes()
        assert b"\r\nList-Unsubscribe: <" + url.encode() + b">\r\n" in wire
        assert b"\n" not in wire.replace(b"\r\n", b"")  # CRLF only


@pytest.mark.parametrize("lang", list(Language))
@pytest.mark.parametrize("picks", [None, ("2404.09173",)])
def test_each_body_is_encoded_whole_as_before(
    lang: Language, picks: tuple[str, ...] | None
) -> None:
    # the template encodes the part of each body all recipients share once and only the
    # rest per recipient: together they must be the whole personalised body, encoded in
    # one piece with the transfer encoding the email package chose
    content = content_for()
    if picks is not None:  # a follower's own mail: another template, made on demand
        content.email_picks["ann@example.com"] = picks
    template = content._template(lang, "ann@example.com")
    options = content.options
    rendered = (
        content.email(lang)
        if picks is None
        else render_email(content.personal_issue(picks), lang, public_url=PUBLIC)
    )
    long_url = f"{PUBLIC}/unsubscribe/" + "x" * 150
    for url in (unsubscribe_url(Channel.EMAIL, "ann@example.com"), long_url):
        recipient = template.recipient("ann@example.com", url)
        reference = build_message(
            rendered,
            sender=options.sender,
            to="ann@example.com",
            unsubscribe_url=url,
            list_id=options.list_id,
            message_id_domain=content.domain,
        )
        bodies = rendered.personalize(url)
        parts = list(reference.iter_parts())
        assert len(parts) == len(recipient.parts) == 2
        for (subtype, cte, payload), part, body in zip(recipient.parts, parts, bodies, strict=True):
            assert (subtype, cte) == (part.get_content_subtype(), part["Content-Transfer-Encoding"])
            assert cte in ("base64", "quoted-printable")  # what the shared head is for
            assert (cte, payload) == _encode_body(body, cte)
        got = email.message_from_bytes(recipient.wire(), policy=email.policy.default)
        decoded = [p.get_content() for p in got.iter_parts()]  # type: ignore[attr-defined]
        assert [d.replace("\r\n", "\n").rstrip("\n") for d in decoded] == [
            b.replace("\r\n", "\n").rstrip("\n") for b in bodies
        ]


_BODY_TEXT = st.lists(
    st.sampled_from(["a", "é", "论", "😀", " ", "\t", "=", ".", "\n", "\r\n", "x" * 90]),
    max_size=200,
).map("".join)


@given(
    head=_BODY_TEXT,
    middle=_BODY_TEXT,
    tail=_BODY_TEXT,
    cte=st.sampled_from(["base64", "quoted-printable", "7bit"]),
    url=st.sampled_from(["https://d.example/u/t0k3n", "https://d.example/u/" + "y" * 120]),
)
@settings(max_examples=300, deadline=None)
def test_a_shared_head_and_a_personal_rest_encode_as_the_whole_body(
    head: str, middle: str, tail: str, cte: str, url: str
) -> None:
    body = f"{head}{UNSUBSCRIBE_PLACEHOLDER}{middle}{PREFERENCES_PLACEHOLDER}{tail}"
    part = _Part.of("plain", cte, body)

    def personal(text: str) -> str:
        return text.replace(UNSUBSCRIBE_PLACEHOLDER, url).replace(PREFERENCES_PLACEHOLDER, url)

    assert part.encode(personal(body[part.cut :])) == ("plain", *_encode_body(personal(body), cte))


async def test_a_long_unsubscribe_url_stays_one_literal_link_on_the_wire(sink: SmtpSink) -> None:
    # RFC 8058 one-click needs `<https://…>` as is; a folded or RFC 2047-encoded header
    # is not a link to a mail client
    long_link = f"{PUBLIC}/unsubscribe/" + "T" * 160

    def long_url(channel: Channel, address: str) -> str:
        return long_link

    options = content_for().options
    content = Content(make_issue(count=2), options, long_url)
    async with running(sink.settings()) as sender:
        await sender.deliver(make_job("ann@example.com")[0], content)
    (got,) = sink.wait_for(1)
    assert b"\r\nList-Unsubscribe: <" + long_link.encode() + b">\r\n" in got.data
    assert got.message["List-Unsubscribe"] == f"<{long_link}>"


async def test_the_bytes_arrive_as_written_including_lines_that_start_with_a_dot(
    sink: SmtpSink,
) -> None:
    # the sender dot-stuffs our CRLF bytes itself and writes them to DATA as they are;
    # the server must get back exactly what we wrote, dots and all
    body = b".\r\n..\r\n.leading dot\r\n..two dots\r\nmid . dot\r\n. \r\n.\r\nend\r\n"
    messages = [
        b"From: digest@example.org\r\nTo: ann@example.com\r\nSubject: dots\r\n\r\n" + body,
        b".From a dot on the very first line\r\n\r\n" + body,
        b"Subject: umlauts\r\n\r\n" + "Grüße .\r\n.尾\r\n".encode(),
    ]
    async with running(sink.settings()) as sender:
        for message in messages:
            await sender.send(message, "ann@example.com")
    got = sink.wait_for(len(messages))
    assert [m.data for m in got] == messages
    assert [m.rcpt_tos for m in got] == [("ann@example.com",)] * len(messages)


async def test_the_pool_reuses_its_connections(sink: SmtpSink) -> None:
    content = content_for()
    async with running(sink.settings(connections=2)) as sender:
        assert sender.concurrency == 2
        jobs = [make_job(f"reader{n}@example.com", id=n)[0] for n in range(20)]
        await asyncio.gather(*(sender.deliver(job, content) for job in jobs))
        assert sink.connections == 2
        more = [make_job(f"late{n}@example.com", id=100 + n)[0] for n in range(6)]
        await asyncio.gather(*(sender.deliver(job, content) for job in more))
        assert sender.stats.sent == 26
    assert sink.connections == 2 and len(sink.messages) == 26
    assert {m.connection for m in sink.messages} == {1, 2}


async def test_4xx_is_transient_and_5xx_is_a_hard_bounce(sink: SmtpSink) -> None:
    content = content_for()
    async with running(sink.settings(connections=1)) as sender:
        with pytest.raises(TransientDeliveryError, match="451") as temp:
            await sender.deliver(make_job("tempfail@example.com")[0], content)
        assert temp.value.retry_after is None
        with pytest.raises(PermanentDeliveryError, match="550") as hard:
            await sender.deliver(make_job("hardfail@example.com")[0], content)
        assert not hard.value.deactivate  # the publisher counts bounces; three deactivate
        await sender.deliver(make_job("ann@example.com")[0], content)
        assert (sender.stats.temporary_failures, sender.stats.hard_bounces) == (1, 1)
    assert sink.refusals == [("tempfail@example.com", 451), ("hardfail@example.com", 550)]
    assert [m.rcpt_tos for m in sink.messages] == [("ann@example.com",)]
    assert sink.connections == 1  # a refusal doesn't cost the connection


async def test_a_dropped_connection_is_replaced_and_the_message_still_arrives(
    sink: SmtpSink,
) -> None:
    content = content_for()
    async with running(sink.settings(connections=1)) as sender:
        await sender.deliver(make_job("first@example.com")[0], content)
        sink.drop_next_data()
        job, lease = make_job("second@example.com")
        assert await sender.deliver(job, content) == 1
        assert sender.stats.reconnects == 1
        assert lease.checkpoints == [0, 0]  # the lease is re-checked before the retry
    assert [m.rcpt_tos for m in sink.messages] == [("first@example.com",), ("second@example.com",)]
    assert sink.connections == 2 and sink.data_commands == 3


async def test_a_server_that_keeps_dropping_gives_a_transient_error(sink: SmtpSink) -> None:
    async with running(sink.settings(connections=1), retries=2) as sender:
        for k in range(1, 4):
            sink.drop_next_data(k)
        with pytest.raises(TransientDeliveryError, match="connection lost 3 times"):
            await sender.deliver(make_job("ann@example.com")[0], content_for())
    assert sink.messages == [] and sink.connections == 3


async def test_an_idle_connection_closed_by_the_server_is_replaced() -> None:
    with SmtpSink(idle_timeout=0.3) as sink:
        content = content_for()
        async with running(sink.settings(connections=1)) as sender:
            await sender.deliver(make_job("one@example.com")[0], content)
            await asyncio.sleep(0.6)  # the server hangs up on the idle connection
            await sender.deliver(make_job("two@example.com")[0], content)
        assert len(sink.messages) == 2 and sink.connections == 2


async def test_no_server_is_transient_and_names_the_setting() -> None:
    settings = SmtpSettings(host="127.0.0.1", port=free_port(), security="none", timeout=2.0)
    async with running(settings, retries=1) as sender:
        with pytest.raises(TransientDeliveryError, match=r"can't connect to 127\.0\.0\.1"):
            await sender.deliver(make_job("ann@example.com")[0], content_for())


async def test_lost_lease_sends_nothing(sink: SmtpSink) -> None:
    async with running(sink.settings()) as sender:
        job, lease = make_job("ann@example.com")
        lease.held = False
        with pytest.raises(LeaseLost):
            await sender.deliver(job, content_for())
    assert sink.messages == [] and sink.connections == 0


# ---------------------------------------------------------------------------- auth and TLS


async def test_login_and_a_wrong_password_that_is_never_shown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with SmtpSink(auth=("digest", "s3cret-pw")) as sink:
        good = sink.settings(username="digest", password="s3cret-pw")
        async with running(good) as sender:
            await sender.deliver(make_job("ann@example.com")[0], content_for())
        assert sink.logins == ["digest"] and len(sink.messages) == 1

        bad = sink.settings(username="digest", password="wrong-pw-123")
        async with running(bad) as sender:
            with pytest.raises(TransientDeliveryError, match="DIGESTBOT_SMTP__PASSWORD") as exc:
                await sender.deliver(make_job("bob@example.com")[0], content_for())
        assert "wrong-pw-123" not in str(exc.value) and "wrong-pw-123" not in repr(bad)
        assert len(sink.messages) == 1
    assert "s3cret-pw" not in caplog.text and "wrong-pw-123" not in caplog.text

    half = SmtpSettings(host="127.0.0.1", username="digest")
    with pytest.raises(SettingsError, match="DIGESTBOT_SMTP__PASSWORD is empty"):
        await SmtpSender(half).start()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (openssl, once per module)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_starttls_and_implicit_tls(security: str, certificate: tuple[Path, Path]) -> None:
    server = server_context(certificate)
    client = ssl.create_default_context(cafile=str(certificate[0]))
    sink_args: dict[str, Any] = {"starttls": server} if security == "starttls" else {}
    if security == "tls":
        sink_args["implicit_tls"] = server
    with SmtpSink(**sink_args) as sink:
        async with running(sink.settings(security=security), tls_context=client) as sender:
            await sender.deliver(make_job("ann@example.com")[0], content_for())
        assert len(sink.messages) == 1

        # without trusting the certificate, nothing is sent in clear instead
        async with running(sink.settings(security=security), retries=0) as sender:
            with pytest.raises(TransientDeliveryError):
                await sender.deliver(make_job("bob@example.com")[0], content_for())
        assert len(sink.messages) == 1


# ---------------------------------------------------------------------------- end to end


async def test_publisher_counts_hard_bounces_until_the_address_is_off(
    sink: SmtpSink, tmp_path: Path
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'digestbot.db'}")
    await upgrade(engine)
    subscribers = Subscribers(engine)
    for address in ("ann@example.com", "hardfail@example.com", "tempfail@example.com"):
        await subscribers.upsert(Channel.EMAIL, address, Language.EN, ACTIVE, confirmed=True)
    ledger = Ledger(engine)

    async def on_bounce(row: Delivery, reason: str) -> None:
        await subscribers.record_bounce(row.address, reason)

    sender = SmtpSender(sink.settings(connections=2), local_hostname="digestbot.test")
    publisher = Publisher(ledger, {"smtp": sender}, on_bounce=on_bounce, max_wait=0.0)
    await sender.start()
    try:
        for n, week in enumerate(("2024-W13", "2024-W14", "2024-W15", "2024-W16"), start=1):
            issue = make_issue(count=3, week=week)
            dests = [(d, "smtp") for d in await subscribers.active(Channel.EMAIL)]
            record = await ledger.plan(issue, dests, frozenset({"email"}))
            stats = await publisher.drain(record.id, content_for(issue))
            counts = await ledger.counts(record.id)
            hard = await subscribers.get(Channel.EMAIL, "hardfail@example.com")
            assert hard is not None
            if n <= 3:
                assert counts == {
                    ("email", "sent"): 1,
                    ("email", "failed"): 1,
                    ("email", "pending"): 1,
                }
                assert stats.sent["email"] == 1 and stats.retried["email"] == 1
                assert hard.bounces == n
                assert hard.status == (BOUNCED if n == 3 else ACTIVE)
            else:  # the third bounce took the address off the list
                assert counts == {("email", "sent"): 1, ("email", "pending"): 1}
            failures = await ledger.failures(record.id)
            assert all("550" in error for _c, _a, error in failures)
    finally:
        await sender.close()
        await engine.dispose()
    assert len(sink.to("ann@example.com")) == 4
    assert sink.to("hardfail@example.com") == []
    assert [a for a, _ in sink.refusals].count("hardfail@example.com") == 3
    assert sink.connections <= 2 * 4  # connections are reused within each drain


async def test_a_fan_out_records_many_sends_per_ledger_transaction(
    sink: SmtpSink, tmp_path: Path
) -> None:
    # the sent marks gather (up to 24, or 0.1 s): one transaction records many sends, not
    # one or two as when each mark was written as soon as it came
    engine = make_engine(f"sqlite:///{tmp_path / 'digestbot.db'}")
    await upgrade(engine)
    marks = 0

    def count(_c: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        nonlocal marks
        if statement.startswith("UPDATE deliveries SET status=?") and "sent_at=?" in statement:
            marks += 1

    ledger = Ledger(engine)
    issue = make_issue(count=3)
    readers = [
        (Destination(Channel.EMAIL, f"reader{i}@example.com", Language.EN), "smtp")
        for i in range(300)
    ]
    record = await ledger.plan(issue, readers, frozenset({"email"}))
    sender = SmtpSender(sink.settings(connections=4), local_hostname="digestbot.test")
    await sender.start()
    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        stats = await Publisher(ledger, {"smtp": sender}, max_wait=0.0).drain(
            record.id, content_for(issue)
        )
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
        await sender.close()
        await engine.dispose()
    assert stats.sent["email"] == 300
    assert len(sink.wait_for(300)) == 300
    # this sink takes ~100 messages a second: 0.1 s gathers about ten (1.4 before)
    assert 300 / marks >= 4, f"{300 / marks:.1f} sent marks per transaction"
