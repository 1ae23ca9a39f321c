"""Idempotent credits API requests: the first answer to a request sent with an
`Idempotency-Key` is stored (models.ApiRequest) in the transaction of the change it
answers, and a repeat of the request is answered from it.

    request = IdempotentRequest.of(owner=access.user_id, key=header, method="POST",
                                   path="/spend", user_id=acting, body=validated_body)
    answer = await answer_once(request, work)    # work(session) -> Answer

`work` runs in one write transaction, after the stored answers were looked up. What it
returns is the request's outcome and is stored with it: a success (2xx), or a refusal the
ledger made (402 not enough credits, 404 no such hold, 409 hold not active), which a repeat
must get again even if the balance changed meanwhile. What it raises is not stored and
rolls everything back: bad input, a refused caller, a crash (400, 401, 403, 429, 5xx may
go differently next time).

A repeat with the same request hash (method, path, acting account, canonical body) gets
the stored status and body (`replayed`); another request under the same key raises
KeyReused. Keys are per scope: `user:<owner>` for a user's keys, `service` for the
operator's.

Concurrent repeats converge on one answer: the ledger's own key for the change
(keys.api_request, from scope and Idempotency-Key) lets one of them change the balance;
the stored answer's INSERT (unique scope and key) lets one of them answer. A request that
loses that INSERT (or whose ledger key turns out taken by another body) rolls its
transaction back and answers from the winner's row: PostgreSQL makes the second INSERT
wait for the first transaction, so the row is committed when it is read; SQLite
serializes writers (BEGIN IMMEDIATE), so there the lookup already sees it.
"""

import hashlib
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlmodel import Session, col

from credit_app import credits
from credit_app.credits import keys
from credit_app.db import delete_oldest, in_read, in_transaction, insert_unless_exists
from credit_app.models import ApiRequest, utcnow

SERVICE_SCOPE = "service"
# Statuses a request's work may return (and so are stored): success, and the ledger's
# refusals, which a repeat gets again.
STORED_REFUSALS = frozenset({402, 404, 409})


class KeyReused(Exception):
    """The Idempotency-Key was used before for a different request."""

    def __init__(self, key: str) -> None:
        super().__init__("this Idempotency-Key was used for a different request")
        self.key = key


@dataclass(frozen=True)
class Answer:
    """A response: status and the JSON text of its body, sent byte for byte the same when
    replayed."""

    status: int
    body: str
    replayed: bool = False

    @classmethod
    def of(cls, status: int, content: Mapping[str, Any]) -> "Answer":
        return cls(status, canonical_json(content))


def canonical_json(content: Any) -> str:
    return json.dumps(content, sort_keys=True, separators=(",", ":"))


def scope_of(owner: uuid.UUID | None) -> str:
    """Whose keys a key's requests live among: its owner's, or the operator's."""
    return SERVICE_SCOPE if owner is None else f"user:{owner}"


@dataclass(frozen=True)
class IdempotentRequest:
    scope: str
    key: str
    user_id: uuid.UUID  # the account the request acts for
    request_hash: str

    @classmethod
    def of(
        cls,
        *,
        owner: uuid.UUID | None,
        key: str,
        method: str,
        path: str,
        user_id: uuid.UUID,
        body: Mapping[str, Any],
    ) -> "IdempotentRequest":
        """`path` is the API's own (e.g. "/holds/7/capture"), so a request hashes the same
        wherever the API is mounted; `body` the validated body as JSON values."""
        identity = canonical_json([method.upper(), path, str(user_id), body])
        digest = hashlib.sha256(identity.encode()).hexdigest()
        return cls(scope=scope_of(owner), key=key, user_id=user_id, request_hash=digest)

    @property
    def ledger_key(self) -> str:
        """The idempotency key of the spend or hold this request makes."""
        return keys.api_request(self.scope, self.key)


class _LostRace(Exception):
    """Another request under the same key stored its answer first."""


def stored_answer(session: Session, request: IdempotentRequest) -> Answer | None:
    """The answer stored for this request's key (replayed), None when there is none;
    KeyReused when the key was used for another request."""
    row = session.execute(
        select(col(ApiRequest.request_hash), col(ApiRequest.status_code), col(ApiRequest.response))
        .where(col(ApiRequest.scope) == request.scope)
        .where(col(ApiRequest.idempotency_key) == request.key)
    ).first()
    if row is None:
        return None
    if row.request_hash != request.request_hash:
        raise KeyReused(request.key)
    return Answer(row.status_code, row.response, replayed=True)


def _store(session: Session, request: IdempotentRequest, answer: Answer) -> bool:
    """Store the first answer; False when another request under the key stored first."""
    stored = session.scalar(
        insert_unless_exists(session, ApiRequest, key=["scope", "idempotency_key"])
        .values(
            scope=request.scope,
            idempotency_key=request.key,
            request_hash=request.request_hash,
            user_id=request.user_id,
            status_code=answer.status,
            response=answer.body,
            created_at=utcnow(),
        )
        .returning(col(ApiRequest.id))
    )
    return stored is not None


def _first_answer(
    session: Session, request: IdempotentRequest, work: Callable[[Session], Answer]
) -> Answer:
    if (earlier := stored_answer(session, request)) is not None:
        return earlier
    answer = work(session)
    if not (200 <= answer.status < 300 or answer.status in STORED_REFUSALS):
        raise ValueError(f"a request's work answered {answer.status}, which is never stored")
    if not _store(session, request, answer):
        raise _LostRace()
    return answer


async def answer_once(
    request: IdempotentRequest,
    work: Callable[[Session], Answer],
    *,
    engine: Engine | None = None,
) -> Answer:
    """The request's answer: stored earlier, or `work`'s, stored now (see the module doc)."""
    try:
        return await in_transaction(_first_answer, request, work, engine=engine)
    except (_LostRace, credits.IdempotencyConflict):
        # Rolled back: the request that got there first is the one that answers.
        pass
    winner = await in_read(stored_answer, request, engine=engine)
    if winner is None:
        # The ledger key is taken with no answer stored under it: only another request
        # under this key can have taken it.
        raise KeyReused(request.key)
    return winner


def prune(session: Session, *, before: datetime) -> int:
    """Forget (a batch of) answers stored before `before`. A key repeated later is still
    never charged twice (the ledger keeps its own key for every change and replays it);
    only its first answer's exact body is gone."""
    return delete_oldest(session, ApiRequest, col(ApiRequest.created_at) < before)
