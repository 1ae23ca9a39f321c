"""The README's credits API examples run as written: its shell block (the key made with
`credit-app api-key create`, then curl against the API) runs under bash against the
app's HTTP side on SQLite and PostgreSQL, with only the address and the account changed,
and every answer is a success of the shape the README comments show. The webhook
receiver snippet in the README is the code the outgoing-webhook tests run."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from credit_app import credits
from credit_app.db import session_scope
from credit_app.models import User
from tests.factories import make_user
from tests.integration.api_server import serve_api

README = Path(__file__).resolve().parents[2] / "README.md"
SNIPPET = Path(__file__).with_name("webhook_receiver_snippet.py")


def _section(title: str) -> str:
    text = README.read_text()
    start = text.index(f"## {title}\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def _shell_example() -> str:
    blocks = re.findall(r"```bash\n(.*?)```", _section("Credits API"), flags=re.S)
    (block,) = [b for b in blocks if "curl" in b]
    return block


def test_the_readmes_curl_examples_work_against_the_app(database_url):
    with serve_api(database_url) as server:
        user_id = make_user(server.engine)
        with session_scope(server.engine) as session:
            email = session.get(User, user_id).email
        script = _shell_example().replace("http://localhost:3000", server.url)
        script = script.replace("you@example.com", email)
        venv_bin = str(Path(sys.executable).parent)
        env = {
            **os.environ,
            "PATH": f"{venv_bin}:{os.environ['PATH']}",
            "DATABASE_URL": database_url,
        }
        # Each curl answer on a line of its own, so they can be read back one by one.
        script = "set -euo pipefail\n" + script.replace("curl -s", "echo; curl -s")
        ran = subprocess.run(
            ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60
        )
        assert ran.returncode == 0, ran.stderr
        answers = [json.loads(line) for line in ran.stdout.splitlines() if line.strip()]
        with session_scope(server.engine) as session:
            balance = credits.balance(session, user_id=user_id)
    assert [sorted(a) for a in answers] == [
        ["available", "balance", "held", "lots", "user_id"],
        ["amount", "available", "balance", "entry_id", "user_id"],
        ["amount", "available", "expires_at", "hold_id", "user_id"],
        ["available", "balance", "captured", "entry_id", "hold_id", "released", "user_id"],
        ["entries", "next_cursor"],
    ]
    balance_read, spent, held, captured, ledger = answers
    assert balance_read["balance"] == 100 and spent["balance"] == 95
    assert (held["available"], captured["captured"], captured["released"]) == (75, 12, 8)
    assert [e["kind"] for e in ledger["entries"]] == ["capture", "spend"]
    assert balance == 83 == captured["balance"]


def test_the_readmes_webhook_snippet_is_the_tested_one():
    code = SNIPPET.read_text()
    code = code[code.index("import hashlib") :]
    assert code in _section("Credits API")
