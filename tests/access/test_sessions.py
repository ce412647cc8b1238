import time

from streams.access.sessions import SessionSigner, SignInLimiter
from streams.access.users import User, UserDirectory, hash_password


def directory_with(*users):
    directory = UserDirectory()
    for u in users:
        directory.apply(u.username, u.record())
    return directory


ANA = User("ana", "OFFICER", frozenset({"A"}), hash_password("correct horse battery"), changed_at=10)


def test_a_session_cookie_reads_back_and_carries_a_csrf_token():
    signer = SessionSigner("secret", ttl_s=60)
    cookie, session = signer.issue(ANA)
    read = signer.read(cookie, directory_with(ANA))
    assert read is not None and read.user == ANA and read.csrf_token == session.csrf_token
    assert read.csrf_matches(session.csrf_token)
    assert not read.csrf_matches(None) and not read.csrf_matches(session.csrf_token[:-1] + "x")
    assert len(session.csrf_token) >= 32 and session.csrf_token not in cookie.split(".")[-1]


def test_a_forged_expired_or_outdated_cookie_is_no_session():
    signer = SessionSigner("secret", ttl_s=60)
    cookie, _ = signer.issue(ANA)
    assert SessionSigner("another secret", ttl_s=60).read(cookie, directory_with(ANA)) is None
    assert signer.read(cookie[:-2] + "xx", directory_with(ANA)) is None
    assert signer.read(None, directory_with(ANA)) is None
    # the password changed (a newer record): the old session is void
    changed = User("ana", "OFFICER", frozenset({"A"}), ANA.password_hash, changed_at=11)
    assert signer.read(cookie, directory_with(changed)) is None
    assert signer.read(cookie, directory_with()) is None  # removed
    short = SessionSigner("secret", ttl_s=1)
    old_cookie, _ = short.issue(ANA)
    time.sleep(2.1)
    assert short.read(old_cookie, directory_with(ANA)) is None


def test_sign_in_is_refused_after_too_many_failures_per_user_and_per_address_until_the_window_passes():
    now = [0.0]
    limiter = SignInLimiter(max_failures=3, window_s=60, clock=lambda: now[0])
    for _ in range(3):
        assert limiter.retry_after_s("ana", "10.0.0.1") == 0
        limiter.failed("ana", "10.0.0.1")
    assert limiter.retry_after_s("ana", "10.0.0.2") == 60  # the user name, from anywhere
    assert limiter.retry_after_s("bob", "10.0.0.1") == 60  # the address, for any name
    assert limiter.retry_after_s("bob", "10.0.0.2") == 0
    now[0] = 59.0
    assert limiter.retry_after_s("ana", "10.0.0.2") == 1
    now[0] = 60.0
    assert limiter.retry_after_s("ana", "10.0.0.1") == 0
    limiter.failed("ana", "10.0.0.1")
    limiter.succeeded("ana")
    assert limiter.retry_after_s("ana", "10.0.0.3") == 0
