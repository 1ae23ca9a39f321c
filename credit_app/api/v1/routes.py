"""The credits API's endpoints: HTTP in, a use case of credits_api, HTTP out.

Each one: the key (auth.caller, or auth.spender to move credits) -> who it acts for
(operations.acting_user) -> the work in one transaction off the event loop -> the answer.
Spends and holds need an `Idempotency-Key` (captures and releases honour one): their work
runs through requests.answer_once, which stores the answer in the same transaction and
answers repeats from it. After a committed change the account's open tabs are told.
"""

import base64
import binascii
import contextlib
import json
import logging
import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import Response
from sqlmodel import Session

from credit_app import clock
from credit_app.api.v1 import errors, schemas
from credit_app.api.v1.auth import caller, context, spender
from credit_app.auth.api_keys import KeyAccess
from credit_app.credits_api import operations, requests
from credit_app.credits_api.requests import Answer, IdempotentRequest, scope_of
from credit_app.db import in_read, in_transaction
from credit_app.models import EntryKind

logger = logging.getLogger(__name__)

router = APIRouter(responses=errors.responses(400, 401, 403, 404, 413, 429, 500, 503))

_BIGINT_MAX = 2**63 - 1
_SPENDING = errors.responses(402, 409)
_KEY_RULE = "1 to 255 printable ASCII characters"
_KEY_HELP = (
    "Makes the request safe to retry: a repeat with the same key and body gets the first "
    "answer again (with `Idempotent-Replayed: true`), a different body under the key is a "
    f"409. {_KEY_RULE}; a new one (a UUID) per operation."
)
_KEY = Header(
    alias=errors.IDEMPOTENCY_KEY,
    min_length=1,
    max_length=255,
    pattern=r"^[\x20-\x7e]+$",
    description=_KEY_HELP,
)
HoldId = Annotated[int, Path(ge=1, le=_BIGINT_MAX, description="The hold's id.")]
ServiceUser = Annotated[
    uuid.UUID | None,
    Query(description="The account to read: required with a service key."),
]


def _once_each(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    names = [name for name, _ in pairs]
    if len(set(names)) != len(names):
        raise errors.invalid("body", "The body names a field twice.")
    return dict(pairs)


async def _unambiguous(request: Request) -> None:
    """Refuse a JSON object that names a field twice: parsers disagree on which value
    counts (Python's takes the last), so a proxy that checked {"amount": 1, "amount":
    500} could pass what this API would charge as 500."""
    body = await request.body()
    # A body that is not JSON at all: FastAPI has refused it already.
    with contextlib.suppress(ValueError, RecursionError):
        json.loads(body, object_pairs_hook=_once_each)


_ONE_VALUE_PER_FIELD = [Depends(_unambiguous)]


def _body_for_hash(body: Any) -> dict[str, Any]:
    # The acting account is hashed on its own; `user_id` in the body only names it.
    return body.model_dump(mode="json", exclude={"user_id"}) if body is not None else {}


async def _respond(request: Request, answer: Answer, user_id: uuid.UUID) -> Response:
    """Send the answer; after a committed change, tell the account's open tabs (a replay
    changed nothing, a refusal neither)."""
    if 200 <= answer.status < 300 and not answer.replayed:
        try:
            await context(request).services.account_changed([str(user_id)])
        except Exception:
            # Committed already: a failed refresh must not turn success into an error
            # (the client would retry). The ledger follower catches the tabs up.
            logger.exception("telling the open tabs of %s about an API change failed", user_id)
    return errors.send(answer)


async def _run(
    access: KeyAccess,
    key: str | None,
    path: str,
    user_id: uuid.UUID,
    body: Any,
    work: Callable[[Session, str | None], Answer],
) -> Answer:
    """`work(session, ledger_key)` once per Idempotency-Key (see requests), or, without
    a key, in a transaction of its own."""
    if key is None:
        return await in_transaction(work, None)
    request = IdempotentRequest.of(
        owner=access.user_id,
        key=key,
        method="POST",
        path=path,
        user_id=user_id,
        body=_body_for_hash(body),
    )
    return await requests.answer_once(request, lambda session: work(session, request.ledger_key))


def _answered(status: int, produce: Callable[[], Any]) -> Answer:
    """`produce()`'s result as the answer, or the ledger's refusal of it."""
    try:
        result = produce()
    except errors.REFUSALS as exc:
        return errors.refusal(exc)
    return Answer.of(status, result.model_dump(mode="json"))


@router.get(
    "/balance",
    response_model=schemas.BalanceOut,
    summary="Balance, held and available credits, by lot",
    description="The balance, what active holds reserve, what can be spent now, and the "
    "balance by lot (source and expiry), read together so the numbers agree.",
)
async def get_balance(
    access: Annotated[KeyAccess, Depends(caller)], user_id: ServiceUser = None
) -> Response:
    acting = operations.acting_user(access, named=user_id, spending=False)
    view = await in_read(operations.balance, user_id=acting, now=clock.now())
    return errors.send(Answer.of(200, schemas.BalanceOut.of(view).model_dump(mode="json")))


@router.post(
    "/spend",
    dependencies=_ONE_VALUE_PER_FIELD,
    response_model=schemas.SpendOut,
    summary="Spend credits",
    description="Takes `amount` credits at once, through the same ledger and checks as "
    "the app's own tools (the monthly spending limit included). 402 when they are not "
    "there; nothing is charged twice under one Idempotency-Key.",
    responses=_SPENDING,
)
async def post_spend(
    request: Request,
    body: schemas.SpendRequest,
    access: Annotated[KeyAccess, Depends(spender)],
    idempotency_key: Annotated[str, _KEY],
) -> Response:
    acting = operations.acting_user(access, named=body.user_id, spending=True)
    now = clock.now()

    def work(session: Session, ledger_key: str | None) -> Answer:
        assert ledger_key is not None  # the header is required here
        return _answered(
            200,
            lambda: schemas.SpendOut.model_validate(
                operations.spend(
                    session,
                    user_id=acting,
                    amount=body.amount,
                    feature=body.feature,
                    description=body.description,
                    key=ledger_key,
                    now=now,
                ),
                from_attributes=True,
            ),
        )

    answer = await _run(access, idempotency_key, "/spend", acting, body, work)
    return await _respond(request, answer, acting)


@router.post(
    "/holds",
    dependencies=_ONE_VALUE_PER_FIELD,
    response_model=schemas.HoldOut,
    status_code=201,
    summary="Reserve credits for long work",
    description="Reserves `amount` credits: they stay in the balance but cannot be spent "
    "by anything else until the hold is captured or released (or expires, at "
    "`expires_at`). 402 when they are not there.",
    responses=_SPENDING,
)
async def post_hold(
    request: Request,
    body: schemas.HoldRequest,
    access: Annotated[KeyAccess, Depends(spender)],
    idempotency_key: Annotated[str, _KEY],
) -> Response:
    acting = operations.acting_user(access, named=body.user_id, spending=True)
    now = clock.now()

    def work(session: Session, ledger_key: str | None) -> Answer:
        assert ledger_key is not None  # the header is required here
        return _answered(
            201,
            lambda: schemas.HoldOut.model_validate(
                operations.reserve(
                    session,
                    user_id=acting,
                    amount=body.amount,
                    feature=body.feature,
                    key=ledger_key,
                    now=now,
                ),
                from_attributes=True,
            ),
        )

    answer = await _run(access, idempotency_key, "/holds", acting, body, work)
    return await _respond(request, answer, acting)


@router.post(
    "/holds/{hold_id}/capture",
    dependencies=_ONE_VALUE_PER_FIELD,
    response_model=schemas.CaptureOut,
    summary="Spend (part of) a hold",
    description="Spends `amount` of the hold (default: all of it) and gives the rest back. "
    "Capturing again with the same amount answers as the first capture did; a released "
    "or expired hold is 409 hold_not_active.",
    responses=_SPENDING,
)
async def post_capture(
    request: Request,
    hold_id: HoldId,
    body: schemas.CaptureRequest,
    access: Annotated[KeyAccess, Depends(spender)],
    idempotency_key: Annotated[str | None, _KEY] = None,
) -> Response:
    acting = operations.acting_user(access, named=body.user_id, spending=True)
    now = clock.now()

    def work(session: Session, _ledger_key: str | None) -> Answer:
        return _answered(
            200,
            lambda: schemas.CaptureOut.model_validate(
                operations.capture(
                    session,
                    user_id=acting,
                    hold_id=hold_id,
                    amount=body.amount,
                    description=body.description,
                    scope=scope_of(access.user_id),
                    now=now,
                ),
                from_attributes=True,
            ),
        )

    answer = await _run(access, idempotency_key, f"/holds/{hold_id}/capture", acting, body, work)
    return await _respond(request, answer, acting)


@router.post(
    "/holds/{hold_id}/release",
    dependencies=_ONE_VALUE_PER_FIELD,
    response_model=schemas.ReleaseOut,
    summary="Give a hold back",
    description="Releases the whole hold: nothing is spent. Releasing it again answers "
    "the same; a captured or expired hold is 409 hold_not_active.",
    responses=_SPENDING,
)
async def post_release(
    request: Request,
    hold_id: HoldId,
    access: Annotated[KeyAccess, Depends(spender)],
    body: schemas.ReleaseRequest | None = None,
    idempotency_key: Annotated[str | None, _KEY] = None,
) -> Response:
    acting = operations.acting_user(
        access, named=body.user_id if body is not None else None, spending=True
    )
    now = clock.now()

    def work(session: Session, _ledger_key: str | None) -> Answer:
        return _answered(
            200,
            lambda: schemas.ReleaseOut.model_validate(
                operations.release(
                    session,
                    user_id=acting,
                    hold_id=hold_id,
                    scope=scope_of(access.user_id),
                    now=now,
                ),
                from_attributes=True,
            ),
        )

    answer = await _run(access, idempotency_key, f"/holds/{hold_id}/release", acting, body, work)
    return await _respond(request, answer, acting)


def _cursor(before: int) -> str:
    return base64.urlsafe_b64encode(f"before:{before}".encode()).decode().rstrip("=")


def _before(cursor: str) -> int:
    """The entry id a cursor pages on from; 400 for anything `_cursor` did not make."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    label, _, number = text.partition(":")
    if label != "before" or not number.isdigit() or not 0 < int(number) <= _BIGINT_MAX:
        raise errors.invalid("cursor", "cursor: not a cursor this API gave out.")
    return int(number)


@router.get(
    "/ledger",
    response_model=schemas.LedgerOut,
    summary="The ledger, newest first",
    description="The account's ledger entries, newest first, `limit` at a time; pass "
    "`next_cursor` back as `cursor` for the next page. Filters as on the /usage page: "
    "`kind` (repeat it for several: kind=spend&kind=capture is what /usage calls Used) "
    "and `feature`.",
)
async def get_ledger(
    access: Annotated[KeyAccess, Depends(caller)],
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    cursor: Annotated[str | None, Query(max_length=64, description="From `next_cursor`.")] = None,
    kind: Annotated[list[EntryKind] | None, Query(description="Entry kinds to keep.")] = None,
    feature: Annotated[str | None, Query(pattern=schemas.FEATURE_PATTERN)] = None,
    user_id: ServiceUser = None,
) -> Response:
    acting = operations.acting_user(access, named=user_id, spending=False)
    page = await in_read(
        operations.ledger_page,
        user_id=acting,
        limit=limit,
        before=_before(cursor) if cursor is not None else None,
        kinds=tuple(kind or ()),
        feature=feature,
    )
    out = schemas.LedgerOut(
        entries=[schemas.EntryOut.of(entry) for entry in page.entries],
        next_cursor=_cursor(page.next_before) if page.next_before is not None else None,
    )
    return errors.send(Answer.of(200, out.model_dump(mode="json")))
