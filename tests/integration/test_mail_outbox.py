"""The mail outbox on a real database: delivery into a folder and over real SMTP (an
aiosmtpd server in the test), retries with back-off, bodies blanked once sent, one send per
message however many deliverers run, and nothing queued by a transaction that rolled back."""

import asyncio
import email
import email.policy
import socket
import ssl
import subprocess
import threading
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import select

from credit_app import mail
from credit_app.db import read_scope, session_scope
from credit_app.mail import messages, outbox
from credit_app.mail.transports import FolderTransport, SmtpTransport
from credit_app.models import OutboxMessage, utcnow
from tests.async_run import run

SENDER = "Credit App <no-reply@credit-app.test>"


def _queue(engine, count: int = 1, *, to: str = "ada@example.com") -> list[int]:
    with session_scope(engine) as session:
        for n in range(count):
            link = f"http://localhost:3000/verify-email?token=secret-{n}"
            mail.enqueue(session, messages.verify_email("Ada", link, 48), to=to, user_id=None)
        session.flush()
        return list(session.scalars(select(OutboxMessage.id).order_by(OutboxMessage.id)))


def _rows(engine) -> list[OutboxMessage]:
    with read_scope(engine) as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def _read_eml(path: Path) -> email.message.EmailMessage:
    with path.open("rb") as f:
        parsed = email.message_from_binary_file(f, policy=email.policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    return parsed


def test_delivery_into_a_folder_writes_readable_eml_files_and_blanks_the_bodies(engine, tmp_path):
    _queue(engine, 2)
    folder = tmp_path / "outbox"
    sent, failed = run(mail.deliver_due(FolderTransport(folder), sender=SENDER, engine=engine))
    assert (sent, failed) == (2, 0)

    files = sorted(folder.glob("*.eml"))
    assert len(files) == 2
    assert not list(folder.glob(".*")), "no half-written temporary file is left behind"
    bodies = set()
    for path in files:
        message = _read_eml(path)
        assert message["To"] == "ada@example.com"
        assert message["From"] == SENDER
        assert message["Subject"] == "Confirm your email address"
        body = message.get_content()
        assert "Hello Ada," in body
        bodies.add(next(line for line in body.splitlines() if "token=" in line))
    assert bodies == {
        "http://localhost:3000/verify-email?token=secret-0",
        "http://localhost:3000/verify-email?token=secret-1",
    }

    for row in _rows(engine):
        assert row.sent_at is not None and row.attempts == 1
        assert row.body == "", "a sent message keeps no link"
    # Nothing is sent twice.
    assert run(mail.deliver_due(FolderTransport(folder), sender=SENDER, engine=engine)) == (0, 0)
    assert len(list(folder.glob("*.eml"))) == 2


def test_a_rolled_back_transaction_queues_nothing(engine, tmp_path):
    with pytest.raises(RuntimeError), session_scope(engine) as session:
        mail.enqueue(
            session,
            messages.password_changed("Ada", kept_this_session=True),
            to="ada@example.com",
            user_id=None,
        )
        session.flush()
        raise RuntimeError("the change that decided to send failed")
    assert _rows(engine) == []
    folder = tmp_path / "outbox"
    assert run(mail.deliver_due(FolderTransport(folder), sender=SENDER, engine=engine)) == (0, 0)
    assert not folder.exists()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_failing_server_is_retried_with_back_off_then_given_up(engine, tmp_path):
    (message_id,) = _queue(engine)
    # A real SMTP client against a port nobody listens on: connection refused.
    down = SmtpTransport(f"smtp://127.0.0.1:{_closed_port()}")
    start = utcnow()
    clock = {"now": start}

    def now():
        return clock["now"]

    delays = []
    for attempt in range(1, outbox.MAX_ATTEMPTS + 1):
        assert run(mail.deliver_due(down, sender=SENDER, engine=engine, now=now)) == (0, 1)
        (row,) = _rows(engine)
        assert row.attempts == attempt
        assert "ConnectionRefusedError" in (row.last_error or "")
        assert row.sent_at is None
        if attempt < outbox.MAX_ATTEMPTS:
            assert row.failed_at is None and row.body != ""
            delays.append(row.next_attempt_at - clock["now"])
            # Not due again before its back-off ends...
            clock["now"] = row.next_attempt_at - timedelta(seconds=1)
            assert run(mail.deliver_due(down, sender=SENDER, engine=engine, now=now)) == (0, 0)
            # ...and due once it has.
            clock["now"] = row.next_attempt_at
    assert delays == [timedelta(minutes=2**n) for n in range(outbox.MAX_ATTEMPTS - 1)]

    (row,) = _rows(engine)
    assert row.id == message_id
    assert row.failed_at is not None and row.body == "", "given up: the link is not kept"
    clock["now"] += timedelta(days=30)
    assert run(mail.deliver_due(down, sender=SENDER, engine=engine, now=now)) == (0, 0)
    with read_scope(engine) as session:
        assert outbox.pending_count(session) == 0


def test_a_message_that_failed_once_is_delivered_on_its_retry(engine, tmp_path):
    _queue(engine)
    clock = {"now": utcnow()}
    down = SmtpTransport(f"smtp://127.0.0.1:{_closed_port()}")
    assert run(mail.deliver_due(down, sender=SENDER, engine=engine, now=lambda: clock["now"])) == (
        0,
        1,
    )
    clock["now"] += timedelta(minutes=1)
    folder = FolderTransport(tmp_path / "outbox")
    assert run(
        mail.deliver_due(folder, sender=SENDER, engine=engine, now=lambda: clock["now"])
    ) == (1, 0)
    (row,) = _rows(engine)
    assert row.attempts == 2 and row.sent_at is not None and row.last_error is None
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 1


def test_concurrent_deliverers_never_send_a_message_twice(engine, tmp_path):
    count = 60
    _queue(engine, count)
    folder = tmp_path / "outbox"
    transport = FolderTransport(folder)
    results: list[tuple[int, int]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def deliverer():
        try:
            barrier.wait()
            results.append(asyncio.run(mail.deliver_due(transport, sender=SENDER, engine=engine)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=deliverer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(sent for sent, _ in results) == count
    links = [
        next(line for line in _read_eml(p).get_content().splitlines() if "token=" in line)
        for p in folder.glob("*.eml")
    ]
    assert len(links) == count and len(set(links)) == count
    assert all(row.sent_at is not None and row.attempts == 1 for row in _rows(engine))


def test_a_claimed_message_is_leased_to_one_worker(engine):
    _queue(engine)
    now = utcnow()
    with session_scope(engine) as session:
        first = outbox.claim_due(session, now=now, limit=10)
    with session_scope(engine) as session:
        second = outbox.claim_due(session, now=now, limit=10)
    assert len(first) == 1 and second == []
    # A worker that died with it: another takes it over once the lease ends.
    with session_scope(engine) as session:
        assert len(outbox.claim_due(session, now=now + outbox.LEASE, limit=10)) == 1


def test_erasing_a_users_mail_deletes_only_theirs(engine):
    mine, other = uuid.uuid4(), uuid.uuid4()
    with session_scope(engine) as session:
        mail.enqueue(
            session,
            messages.password_changed("A", kept_this_session=True),
            to="a@example.com",
            user_id=mine,
        )
        mail.enqueue(
            session,
            messages.password_changed("B", kept_this_session=True),
            to="b@example.com",
            user_id=other,
        )
    with session_scope(engine) as session:
        assert mail.erase_mail_of(session, mine) == 1
    assert [row.user_id for row in _rows(engine)] == [other]


# Real SMTP: an aiosmtpd server on a free port, plain, with STARTTLS, and with TLS at once.


class _Inbox:
    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], bytes, bool]] = []
        self.logins: list[tuple[str, str]] = []

    async def handle_DATA(self, server, session, envelope):
        secure = server.transport.get_extra_info("ssl_object") is not None
        self.received.append(
            (envelope.mail_from, list(envelope.rcpt_tos), envelope.content, secure)
        )
        return "250 OK"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        assert isinstance(auth_data, LoginPassword)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        self.logins.append((login, password))
        return AuthResult(success=(login, password) == ("mailer", "p@ss word"))


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made with the openssl command."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def trusted(certificate, monkeypatch) -> ssl.SSLContext:
    """The server's context; the client (ssl.create_default_context) trusts its certificate
    through SSL_CERT_FILE, as an operator's CA bundle would."""
    cert, key = certificate
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def _server(inbox: _Inbox, **options) -> Controller:
    port = _closed_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **options)
    controller.start()
    return controller


def _deliver_one(engine, url: str) -> tuple[int, int]:
    _queue(engine, to="grace@example.com")
    return run(mail.deliver_due(SmtpTransport(url), sender=SENDER, engine=engine))


def test_delivery_over_plain_smtp(engine):
    inbox = _Inbox()
    server = _server(inbox)
    try:
        assert _deliver_one(engine, f"smtp://127.0.0.1:{server.port}") == (1, 0)
    finally:
        server.stop()
    ((sender, recipients, content, secure),) = inbox.received
    assert sender == "no-reply@credit-app.test" and recipients == ["grace@example.com"]
    assert secure is False
    parsed = email.message_from_bytes(content, policy=email.policy.default)
    assert parsed["Subject"] == "Confirm your email address"
    assert "token=secret-0" in parsed.get_content()
    (row,) = _rows(engine)
    assert row.sent_at is not None and row.body == ""


def test_starttls_is_used_before_the_password_is_sent(engine, trusted):
    inbox = _Inbox()
    server = _server(
        inbox,
        tls_context=trusted,
        require_starttls=True,
        authenticator=inbox.authenticate,
        auth_require_tls=True,
    )
    try:
        url = f"smtp://mailer:p%40ss%20word@127.0.0.1:{server.port}"
        assert _deliver_one(engine, url) == (1, 0)
    finally:
        server.stop()
    assert inbox.logins == [("mailer", "p@ss word")]
    ((_, recipients, _, secure),) = inbox.received
    assert recipients == ["grace@example.com"] and secure is True


def test_a_password_is_never_sent_to_a_server_without_starttls(engine):
    inbox = _Inbox()
    # No TLS at all; AUTH offered in the clear (what a downgrading attacker would show).
    server = _server(inbox, authenticator=inbox.authenticate, auth_require_tls=False)
    try:
        url = f"smtp://mailer:p%40ss%20word@127.0.0.1:{server.port}"
        assert _deliver_one(engine, url) == (0, 1)
    finally:
        server.stop()
    assert inbox.logins == [] and inbox.received == []
    (row,) = _rows(engine)
    assert "no STARTTLS" in (row.last_error or "") and row.sent_at is None


def test_delivery_over_smtps(engine, trusted):
    inbox = _Inbox()
    server = _server(
        inbox,
        ssl_context=trusted,
        authenticator=inbox.authenticate,
        # aiosmtpd only counts STARTTLS as TLS for this check; the whole connection is.
        auth_require_tls=False,
        server_hostname="127.0.0.1",
    )
    try:
        url = f"smtps://mailer:p%40ss%20word@127.0.0.1:{server.port}"
        assert _deliver_one(engine, url) == (1, 0)
    finally:
        server.stop()
    assert inbox.logins == [("mailer", "p@ss word")]
    ((_, _, _, secure),) = inbox.received
    assert secure is True


def test_a_server_whose_certificate_is_not_trusted_gets_nothing(engine, certificate):
    cert, key = certificate
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    inbox = _Inbox()
    server = _server(inbox, tls_context=context, require_starttls=True)
    try:
        assert _deliver_one(engine, f"smtp://127.0.0.1:{server.port}") == (0, 1)
    finally:
        server.stop()
    assert inbox.received == []
    (row,) = _rows(engine)
    assert "SSLCertVerificationError" in (row.last_error or "")


def test_the_farewell_to_a_deleted_account_is_not_kept_once_sent(engine, tmp_path):
    with session_scope(engine) as session:
        mail.enqueue(session, messages.account_deleted("Ada"), to="ada@example.com", user_id=None)
        mail.enqueue(
            session,
            messages.password_changed("Bo", kept_this_session=False),
            to="bo@example.com",
            user_id=None,
        )
    folder = tmp_path / "outbox"
    assert run(mail.deliver_due(FolderTransport(folder), sender=SENDER, engine=engine)) == (2, 0)
    delivered = {_read_eml(path)["To"] for path in folder.glob("*.eml")}
    assert delivered == {"ada@example.com", "bo@example.com"}
    # Only the ordinary message stays on record; the erased address is gone with its mail.
    assert [row.to_address for row in _rows(engine)] == ["bo@example.com"]
