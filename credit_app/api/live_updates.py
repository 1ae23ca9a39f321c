"""Tell open pages that an account changed after a committed write outside an event
handler (a webhook). The Reflex app registers the pusher; without one this is a no-op."""

from collections.abc import Awaitable, Callable, Iterable

Pusher = Callable[[str], Awaitable[None]]
_pushers: list[Pusher] = []


def register(pusher: Pusher) -> None:
    _pushers.append(pusher)


async def account_changed(user_ids: Iterable[str]) -> None:
    for user_id in user_ids:
        for push in _pushers:
            await push(user_id)
