"""Sign-in and sign-up limits per client address (sliding window, in-memory storage)."""

from credit_app.auth.rate_limits import ClientRateLimits, process_limits


def _limits(login="3/minute", signup="2/hour") -> ClientRateLimits:
    return ClientRateLimits(storage_uri="memory://", login=login, signup=signup)


def test_attempts_past_the_limit_are_refused_with_a_wait():
    limits = _limits()
    assert [limits.login_wait("198.51.100.7") for _ in range(3)] == [0, 0, 0]
    wait = limits.login_wait("198.51.100.7")
    assert 1 <= wait <= 60


def test_each_client_address_and_each_action_has_its_own_budget():
    limits = _limits()
    for _ in range(3):
        limits.login_wait("198.51.100.7")
    assert limits.login_wait("198.51.100.7") > 0
    assert limits.login_wait("203.0.113.9") == 0
    assert limits.signup_wait("198.51.100.7") == 0
    assert limits.signup_wait("198.51.100.7") == 0
    assert 1 <= limits.signup_wait("198.51.100.7") <= 3600


def test_the_process_limits_are_built_once():
    # In-memory counts only limit anything if every request shares the one limiter.
    assert process_limits() is process_limits()
