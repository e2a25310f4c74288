"""Heavy jobs on a hosted demo: a few at a time per server, one at a time per visitor, the rest queued.

On a hosted demo (EQUISCOPE_HOSTED=1) every job that can hold a core for seconds to minutes runs
inside `heavy_job`: batch evaluation, placing uploads on the Latent map, super-resolution, and
the Simulate tab's simulations. At most `SLOTS` such jobs run at once on the server (one per
core); the others wait in arrival order while their page says "The server is busy: your job is
number N in the queue and starts by itself." A visitor whose job is already running or waiting
gets one sentence instead of a second job, and at most `MAX_WAITING` jobs wait at once (one
sentence beyond). On a laptop (not hosted) `heavy_job` does nothing: no queue, no wait.

API (Streamlit pages):

    from ui.jobs import heavy_job

    with heavy_job("simulation"):            # a noun phrase: it is named in the sentences
        result = simulate(...)               # runs once the server has a free slot

    with heavy_job("super-resolution", key=(name, sha256, fingerprint([lr]))):
        out = cached_upscale(...)            # `key`: once a job with this key ran on the server (any
                                             # session), its result is cached there: no queue next time

`heavy_job` shows the queue position in an `st.empty()` placeholder at the spot where it is
entered (removed when the job starts); a refusal is one `st.warning` sentence and stops the page
(`ui.share.stop_page`). The slot is freed when the block ends, whether it returns or raises, and
when Streamlit stops the run (the visitor clicked elsewhere or left: the placeholder is redrawn
every `POLL_S` seconds while waiting, which is where Streamlit stops a run).

Outside a script run (a background thread), use the server's queue directly; take the ticket in
the script run (`session_id()` is only known there) and hand it to the thread:

    queue = server_queue()
    ticket = queue.enter(session_id(), "simulation")   # JobRefused: one sentence, nothing queued
    try:
        queue.wait(ticket)                               # blocks until a slot is free
        ...
    finally:
        queue.leave(ticket)

`JobQueue` is plain Python (no Streamlit), tested with threads in tests/test_jobs.py.

"Already cached on the server": `CACHED` (a `CachedKeys`) holds the keys of the jobs whose results the
server's caches (`st.cache_data`, shared by every session) hold; `heavy_job(key=...)` adds a key once its
block ran and lets a job whose key is there run at once. It forgets its oldest keys beyond MAX_CACHED, as
the caches evict their oldest entries; a key it still holds for an evicted result only lets that one job
skip the queue, nothing worse.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import threading
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

POLL_S = 1.0  # seconds between two redraws of the queue position while waiting
MAX_WAITING = 16  # jobs waiting at once on the server; one more is refused
MAX_CACHED = 256  # keys of cached results remembered per server


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


SLOTS = max(1, _cores())  # heavy jobs running at once on a hosted server: one per core


class JobRefused(ValueError):
    """A job the queue does not take; its message is the one sentence the visitor reads."""


@dataclass(eq=False)
class Ticket:
    """One job in the queue: waiting until `running`, then holding a slot until it leaves."""

    session: str | None  # None: no per-session rule (a job outside any browser session)
    what: str  # "batch evaluation", named in the sentences
    number: int  # arrival order
    running: bool = False


class JobQueue:
    """At most `slots` jobs at once, the others served in arrival order; one job per session.

    Thread-safe; `enter` never blocks, `wait` does. Position 0 means running, N >= 1 the N-th
    waiting job."""

    def __init__(self, slots: int = SLOTS, max_waiting: int = MAX_WAITING):
        if slots < 1:
            raise ValueError(f"A job queue needs at least one slot, not {slots}.")
        self.slots = slots
        self.max_waiting = max_waiting
        self._cond = threading.Condition()
        self._running: list[Ticket] = []
        self._waiting: list[Ticket] = []
        self._numbers = itertools.count(1)

    def enter(self, session: str | None, what: str) -> Ticket:
        """A ticket for a new job (running at once when a slot is free and nobody waits), or JobRefused
        when `session` already has a job running or waiting, or too many jobs wait."""
        with self._cond:
            mine = next((t for t in self._running + self._waiting if session is not None and t.session == session), None)
            if mine is not None:
                state = "still running" if mine.running else "still waiting in the queue"
                raise JobRefused(f"Your {mine.what} is {state}; wait for it to finish before starting "
                                 f"{'another one' if mine.what == what else 'the ' + what}.")
            if len(self._waiting) >= self.max_waiting:
                raise JobRefused(f"The server is too busy for the {what} right now ({len(self._waiting)} jobs are "
                                 "waiting); try again in a few minutes.")
            ticket = Ticket(session, what, next(self._numbers))
            self._waiting.append(ticket)
            self._promote()
            return ticket

    def _promote(self) -> None:
        """Start waiting jobs, oldest first, while slots are free (lock held)."""
        while self._waiting and len(self._running) < self.slots:
            ticket = self._waiting.pop(0)
            ticket.running = True
            self._running.append(ticket)
        self._cond.notify_all()

    def wait(self, ticket: Ticket, timeout: float | None = None) -> bool:
        """Block until `ticket` runs (True), or `timeout` seconds passed (False, still waiting)."""
        with self._cond:
            return self._cond.wait_for(lambda: ticket.running, timeout)

    def position(self, ticket: Ticket) -> int:
        """0 when `ticket` runs (or left), else its place in the queue: 1 = next to run."""
        with self._cond:
            return self._waiting.index(ticket) + 1 if ticket in self._waiting else 0

    def leave(self, ticket: Ticket) -> None:
        """Free the ticket's slot, or its place in the queue (idempotent)."""
        with self._cond:
            if ticket in self._running:
                self._running.remove(ticket)
            elif ticket in self._waiting:
                self._waiting.remove(ticket)
            ticket.running = False
            self._promote()

    def snapshot(self) -> list[tuple[str | None, str, int]]:
        """(session, what, position) of every job, running ones first (position 0)."""
        with self._cond:
            return ([(t.session, t.what, 0) for t in self._running]
                    + [(t.session, t.what, n) for n, t in enumerate(self._waiting, 1)])

    def wait_shown(self, ticket: Ticket, on_wait: Callable[[int], None], poll: float | None = None) -> None:
        """Block until `ticket` runs, calling `on_wait(position)` at once and then every `poll` seconds
        (default POLL_S) while it waits."""
        while not self.wait(ticket, timeout=0):
            on_wait(self.position(ticket))
            if self.wait(ticket, timeout=POLL_S if poll is None else poll):
                return

    @contextlib.contextmanager
    def job(self, session: str | None, what: str, on_wait: Callable[[int], None] = lambda position: None,
            poll: float | None = None) -> Iterator[Ticket]:
        """Enter (JobRefused propagates before anything waits), wait for a slot (`wait_shown`), run the block, leave."""
        ticket = self.enter(session, what)
        try:
            self.wait_shown(ticket, on_wait, poll)
            yield ticket
        finally:
            self.leave(ticket)


class CachedKeys:
    """The keys of heavy jobs whose results are already cached on this server; the oldest go beyond `size`.
    Thread-safe (every session's script thread reads and adds)."""

    def __init__(self, size: int = MAX_CACHED):
        self.size = size
        self._keys: dict[Hashable, None] = {}  # in the order added
        self._lock = threading.Lock()

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._keys

    def add(self, key: Hashable) -> None:
        with self._lock:
            self._keys.pop(key, None)
            self._keys[key] = None
            while len(self._keys) > self.size:
                del self._keys[next(iter(self._keys))]


CACHED = CachedKeys()  # the server's: every session's heavy jobs
_QUEUE: JobQueue | None = None
_QUEUE_LOCK = threading.Lock()


def server_queue() -> JobQueue:
    """The process's queue, shared by every session (created on first use)."""
    global _QUEUE
    with _QUEUE_LOCK:
        if _QUEUE is None:
            _QUEUE = JobQueue()
        return _QUEUE


def busy_message(position: int) -> str:
    """The one sentence a waiting visitor reads."""
    return f"The server is busy: your job is number {position} in the queue and starts by itself."


def session_id() -> str | None:
    """The browser session running this script (None outside a Streamlit run)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else None


def fingerprint(arrays: Sequence[np.ndarray]) -> str:
    """A key for a list of images (shapes, types and every pixel's bytes), for `heavy_job(key=...)`: a key met
    before lets a job skip the queue, so a crafted image must not be able to collide with another's sample."""
    h = hashlib.blake2b(digest_size=16)
    for a in arrays:
        a = np.asarray(a)
        h.update(f"{a.shape}{a.dtype}".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


@contextlib.contextmanager
def heavy_job(what: str, key: Hashable | None = None) -> Iterator[None]:
    """Run the block as one heavy job of this session: queued on a hosted demo, at once on a laptop.

    `what` names the job in the sentences ("batch evaluation"). `key`: when a job with this key already
    ran on the server (`CACHED`: its result is cached there), the block runs at once without queueing."""
    import streamlit as st

    from core.settings import settings

    if not settings().hosted:
        yield
        return
    if key is not None and key in CACHED:
        yield
        return
    queue, slot = server_queue(), st.empty()
    try:
        ticket = queue.enter(session_id(), what)
    except JobRefused as exc:
        from ui.share import stop_page

        slot.warning(str(exc))
        stop_page()
    try:
        queue.wait_shown(ticket, lambda n: slot.info(busy_message(n)))  # each redraw lets Streamlit stop the run
        slot.empty()
        yield
    finally:
        queue.leave(ticket)
    if key is not None:
        CACHED.add(key)
