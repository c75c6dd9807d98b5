"""Password sign-in throttling (`POST /session`).

Two independent brakes, both counting only failed sign-ins:

* Per account, persistent: `users.failed_sign_ins` counts consecutive failures and
  `users.locked_until` refuses every attempt (even a right password, which is then not
  checked) until it passes. The 5th consecutive failure locks for 1 minute; each further
  failure after a lock has passed doubles the lock, up to 1 hour. A success resets both.
  Attempts refused while locked do not count, so hammering a locked account does not
  lengthen its lock.
* Per client IP, in this process only: 20 failures within 5 minutes refuse that address
  until the oldest of them leaves the window. The address is `request.client.host`, which
  uvicorn (`proxy_headers`) takes from `X-Forwarded-For` only from proxies it trusts
  (`FORWARDED_ALLOW_IPS`); a proxy that sends none makes all its clients one address.

A refusal is `429 too-many-attempts` with `Retry-After` (seconds).

Unknown usernames: so that the lockout does not tell an existing account from a missing
one, an unknown username gets the same consecutive-failure counter and lock schedule, kept
in memory (bounded; per process). Its failures still run the dummy argon2 hash
(hub.accounts.security.verify_password), so both answer `401 invalid-credentials` in
comparable time. Known gaps, accepted: with several API worker processes the in-memory
counters are per process while an account's is shared; and usernames are public anyway
(`GET /users/{username}`, the `owner/` of every environment).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from hub.accounts.models import User
from hub.accounts.security import verify_password
from hub.accounts.service import get_user
from hub.kit.db import utcnow
from hub.kit.errors import HubError, NotFound, Unauthorized

MAX_FAILURES = 5
FIRST_LOCK = timedelta(minutes=1)
MAX_LOCK = timedelta(hours=1)
IP_MAX_FAILURES = 20
IP_WINDOW = timedelta(minutes=5)
# Bounds on the in-memory tables; beyond them the least recently failed entries go.
_MAX_TRACKED = 10_000


class TooManyAttempts(HubError):
    status = 429
    default_code = "too-many-attempts"
    title = "Too many attempts"

    def __init__(self, retry_after: int, **extra: Any) -> None:
        self.retry_after = max(1, retry_after)
        minutes = math.ceil(self.retry_after / 60)
        wait = f"{self.retry_after} seconds" if self.retry_after < 60 else (
            "1 minute" if minutes == 1 else f"{minutes} minutes")
        super().__init__(f"Too many failed sign-ins. Try again in {wait}.",
                         retry_after=self.retry_after, **extra)


def lock_duration(failures: int) -> timedelta | None:
    """How long `failures` consecutive failures lock an account (None: not at all)."""
    if failures < MAX_FAILURES:
        return None
    doublings = min(failures - MAX_FAILURES, 6)  # 2**6 minutes already exceeds the cap
    return min(FIRST_LOCK * (1 << doublings), MAX_LOCK)


def _seconds_until(until: datetime | None, now: datetime) -> int | None:
    if until is None or until <= now:
        return None
    return math.ceil((until - now).total_seconds())


# --- accounts (persistent) ---------------------------------------------------------------

def account_locked_for(user: User, now: datetime) -> int | None:
    """Seconds the account stays locked (None: not locked)."""
    return _seconds_until(user.locked_until, now)


def lock_account_row(db: Session, user: User) -> None:
    """Re-read the user's row under a row lock, so concurrent sign-ins count one by one
    and one that finishes after a lock was set sees it."""
    db.refresh(user, with_for_update=True)


def record_account_failure(db: Session, user: User, now: datetime) -> None:
    user.failed_sign_ins += 1
    duration = lock_duration(user.failed_sign_ins)
    if duration is not None:
        user.locked_until = now + duration
    db.flush()


def record_account_success(db: Session, user: User) -> None:
    if user.failed_sign_ins or user.locked_until is not None:
        user.failed_sign_ins = 0
        user.locked_until = None
        db.flush()


# --- in-memory: unknown usernames and client addresses ----------------------------------

@dataclass
class _Counter:
    failures: int = 0
    locked_until: datetime | None = None


class SignInThrottle:
    """The in-process part of the throttle; one per application (see `for_app`)."""

    def __init__(self, *, ip_max_failures: int = IP_MAX_FAILURES,
                 ip_window: timedelta = IP_WINDOW, max_tracked: int = _MAX_TRACKED) -> None:
        self._lock = threading.Lock()
        self._unknown: OrderedDict[str, _Counter] = OrderedDict()
        self._ips: OrderedDict[str, deque[datetime]] = OrderedDict()
        self.ip_max_failures = ip_max_failures
        self.ip_window = ip_window
        self.max_tracked = max_tracked

    # unknown usernames: the same schedule as an account
    def unknown_locked_for(self, username: str, now: datetime) -> int | None:
        with self._lock:
            counter = self._unknown.get(username)
            return _seconds_until(counter.locked_until, now) if counter else None

    def record_unknown_failure(self, username: str, now: datetime) -> None:
        with self._lock:
            counter = self._unknown.pop(username, None) or _Counter()
            # Attempts while locked do not count (as for an account).
            if _seconds_until(counter.locked_until, now) is None:
                counter.failures += 1
                duration = lock_duration(counter.failures)
                if duration is not None:
                    counter.locked_until = now + duration
            self._unknown[username] = counter  # most recent last
            while len(self._unknown) > self.max_tracked:
                self._unknown.popitem(last=False)

    # client addresses: a sliding window of failures
    def ip_blocked_for(self, ip: str | None, now: datetime) -> int | None:
        if ip is None:
            return None
        with self._lock:
            failures = self._ips.get(ip)
            if failures is None:
                return None
            self._expire(failures, now)
            if len(failures) < self.ip_max_failures:
                return None
            oldest_relevant = failures[-self.ip_max_failures]
            return _seconds_until(oldest_relevant + self.ip_window, now)

    def record_ip_failure(self, ip: str | None, now: datetime) -> None:
        if ip is None:
            return
        with self._lock:
            failures = self._ips.pop(ip, None) or deque()
            self._expire(failures, now)
            failures.append(now)
            while len(failures) > self.ip_max_failures:
                failures.popleft()
            self._ips[ip] = failures
            while len(self._ips) > self.max_tracked:
                self._ips.popitem(last=False)

    def _expire(self, failures: deque[datetime], now: datetime) -> None:
        while failures and failures[0] + self.ip_window <= now:
            failures.popleft()


_create_lock = threading.Lock()


def for_app(state: Any) -> SignInThrottle:
    """The throttle kept on an application's `state` (created on first use)."""
    throttle: SignInThrottle | None = getattr(state, "sign_in_throttle", None)
    if throttle is None:
        with _create_lock:
            throttle = getattr(state, "sign_in_throttle", None)
            if throttle is None:
                throttle = SignInThrottle()
                state.sign_in_throttle = throttle
    return throttle


# --- the sign-in check --------------------------------------------------------------------

def authenticate(db: Session, throttle: SignInThrottle, ip: str | None, username: str,
                 password: str) -> User:
    """The user signing in with this password, or a refusal: `TooManyAttempts` while the
    client or the account is throttled, `Unauthorized` for a wrong username or password.

    A counted failure is only flushed: the caller commits it before answering, since the
    refusal otherwise rolls the request's transaction back.
    """
    now = utcnow()
    _refuse_if_locked(throttle.ip_blocked_for(ip, now))
    username = username.lower()
    try:
        user: User | None = get_user(db, username)
    except NotFound:
        user = None
    if user is not None:
        _refuse_if_locked(account_locked_for(user, now))
    else:
        _refuse_if_locked(throttle.unknown_locked_for(username, now))
    ok = verify_password(user.password_hash if user else None, password)  # argon2 either way
    now = utcnow()
    if user is not None:
        lock_account_row(db, user)
        # Concurrent attempts may have locked the account meanwhile: then this one's outcome,
        # right or wrong, is not revealed and not counted.
        _refuse_if_locked(account_locked_for(user, now))
        if ok:
            record_account_success(db, user)
            return user
        record_account_failure(db, user, now)
    else:
        _refuse_if_locked(throttle.unknown_locked_for(username, now))
        throttle.record_unknown_failure(username, now)
    throttle.record_ip_failure(ip, now)
    raise Unauthorized("Wrong username or password.", code="invalid-credentials")


def _refuse_if_locked(seconds: int | None) -> None:
    if seconds is not None:
        raise TooManyAttempts(seconds)
