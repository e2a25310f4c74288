"""The hosted heavy-job limiter (ui.jobs): the queue alone with threads, then the pages through AppTest.

No assertion reads a clock: threads meet through events and the queue's own state; timeouts
only keep a broken build from hanging the run.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from test_page_superres import APP as SR_APP
from test_page_superres import sr_index  # noqa: F401 - fixture
from test_pages import app, lens_zip, open_page, plotly_specs, tiny_index  # noqa: F401 - fixtures

from ui.jobs import CachedKeys, JobQueue, JobRefused, busy_message

SAFETY_S = 60  # a thread that does not get there by then is a failure, not a wait


def until(condition, what: str) -> None:
    """Wait for `condition()` (another thread's doing); fail after SAFETY_S."""
    deadline = time.monotonic() + SAFETY_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.005)


class Worker(threading.Thread):
    """A session's job: records the queue positions it is shown, then holds its slot until released."""

    def __init__(self, queue: JobQueue, session: str, what: str = "batch evaluation"):
        super().__init__(daemon=True)
        self.queue, self.session, self.what = queue, session, what
        self.shown: list[int] = []
        self.started, self.release = threading.Event(), threading.Event()

    def run(self) -> None:
        with self.queue.job(self.session, self.what, on_wait=self.shown.append, poll=0.01):
            self.started.set()
            self.release.wait(SAFETY_S)

    def finish(self) -> None:
        self.release.set()
        self.join(SAFETY_S)
        assert not self.is_alive()


def waiting(queue: JobQueue) -> list[tuple]:
    return [s for s in queue.snapshot() if s[2] > 0]


# ------------------------------------------------------------------ the queue


def test_jobs_wait_in_arrival_order_and_are_told_their_number():
    queue = JobQueue(slots=1)
    a, b, c = Worker(queue, "a"), Worker(queue, "b"), Worker(queue, "c")
    a.start()
    assert a.started.wait(SAFETY_S) and a.shown == []  # a free slot: no queue, no message
    b.start()
    until(lambda: len(waiting(queue)) == 1, "b waits")
    c.start()
    until(lambda: len(waiting(queue)) == 2, "c waits")
    until(lambda: b.shown and c.shown, "both are told their number")
    assert (b.shown[0], c.shown[0]) == (1, 2)
    assert queue.snapshot() == [("a", "batch evaluation", 0), ("b", "batch evaluation", 1), ("c", "batch evaluation", 2)]

    a.finish()  # b is next, c moves up to number 1
    assert b.started.wait(SAFETY_S)
    until(lambda: c.shown[-1] == 1, "c is told it moved up")
    assert not c.started.is_set() and set(c.shown) == {1, 2}
    b.finish()
    assert c.started.wait(SAFETY_S)
    c.finish()
    assert queue.snapshot() == []


def test_two_slots_run_two_jobs_and_queue_the_third():
    queue = JobQueue(slots=2)
    workers = [Worker(queue, s) for s in "abc"]
    for w in workers[:2]:
        w.start()
        assert w.started.wait(SAFETY_S)
    workers[2].start()
    until(lambda: workers[2].shown == [1], "the third waits as number 1")
    workers[0].finish()
    assert workers[2].started.wait(SAFETY_S)
    for w in workers[1:]:
        w.finish()


def test_a_session_gets_one_job_at_a_time_in_one_sentence():
    queue = JobQueue(slots=1)
    other = queue.enter("other", "simulation")  # holds the slot, so that the visitor's first job waits
    first = Worker(queue, "visitor", "batch evaluation")
    first.start()
    until(lambda: waiting(queue) == [("visitor", "batch evaluation", 1)], "the visitor's first job waits")
    with pytest.raises(JobRefused) as refused:  # from another thread of the same session: refused at once
        queue.enter("visitor", "super-resolution")
    assert str(refused.value) == ("Your batch evaluation is still waiting in the queue; wait for it to finish "
                                  "before starting the super-resolution.")
    queue.leave(other)
    assert first.started.wait(SAFETY_S)
    with pytest.raises(JobRefused, match=r"^Your batch evaluation is still running; wait for it to finish before "
                                         r"starting another one\.$"):
        queue.enter("visitor", "batch evaluation")
    assert len(queue.snapshot()) == 1  # the refused jobs took no place
    first.finish()
    queue.leave(queue.enter("visitor", "super-resolution"))  # done: the next one is taken


def test_a_full_queue_refuses_in_one_sentence_and_a_failed_job_frees_its_slot():
    queue = JobQueue(slots=1, max_waiting=1)
    running = queue.enter("a", "simulation")
    queued = queue.enter("b", "simulation")
    with pytest.raises(JobRefused, match=r"^The server is too busy for the batch evaluation right now \(1 jobs are "
                                         r"waiting\); try again in a few minutes\.$"):
        queue.enter("c", "batch evaluation")
    queue.leave(running)
    assert queued.running
    queue.leave(queued)
    with pytest.raises(RuntimeError), queue.job("c", "batch evaluation"):
        raise RuntimeError("the model failed")
    assert queue.snapshot() == []  # its slot is free again
    with queue.job("c", "batch evaluation") as ticket:
        assert ticket.running


def test_the_busy_message_is_one_sentence_with_the_number():
    assert busy_message(3) == "The server is busy: your job is number 3 in the queue and starts by itself."


def test_cached_keys_forget_the_oldest_first():
    keys = CachedKeys(size=2)
    keys.add("a")
    keys.add("b")
    keys.add("a")  # added again: the newest
    keys.add("c")
    assert "a" in keys and "c" in keys and "b" not in keys


# ------------------------------------------------------------------ the pages (AppTest)


@pytest.fixture
def hosted(monkeypatch):
    """EQUISCOPE_HOSTED=1 and a one-slot queue of the test's own."""
    import ui.jobs as jobs
    from core.settings import settings

    monkeypatch.setenv("EQUISCOPE_HOSTED", "1")
    settings.cache_clear()
    queue = JobQueue(slots=1)
    monkeypatch.setattr(jobs, "_QUEUE", queue)
    monkeypatch.setattr(jobs, "CACHED", CachedKeys())  # a server that has cached no result yet
    yield queue
    settings.cache_clear()


def test_a_result_cached_on_the_server_needs_no_queue_in_any_session(hosted, monkeypatch):
    """A job whose key ran once on the server (any session) runs at once, even with every slot busy; a job
    that failed left no key."""
    import ui.jobs as jobs

    monkeypatch.setattr(jobs, "session_id", lambda: "a")
    with jobs.heavy_job("super-resolution", key=("upscale", "x")):
        pass
    with pytest.raises(RuntimeError), jobs.heavy_job("super-resolution", key=("upscale", "y")):
        raise RuntimeError("the model failed")
    assert ("upscale", "x") in jobs.CACHED and ("upscale", "y") not in jobs.CACHED
    monkeypatch.setattr(jobs, "session_id", lambda: "b")
    busy = hosted.enter("another visitor", "simulation")  # the only slot
    ran = []
    with jobs.heavy_job("super-resolution", key=("upscale", "x")):
        ran.append(hosted.snapshot())
    assert ran == [[("another visitor", "simulation", 0)]]  # it never entered the queue
    hosted.leave(busy)


@pytest.fixture
def evaluations(monkeypatch) -> list:
    """The data-set folders core.analysis.evaluate.evaluate_dataset was called on."""
    import core.analysis.evaluate as evaluate

    calls, real = [], evaluate.evaluate_dataset
    monkeypatch.setattr(evaluate, "evaluate_dataset", lambda loaded, root, **kw: calls.append(root) or real(loaded, root, **kw))
    return calls


def _confusion(at) -> dict | None:
    return next((s for s in plotly_specs(at) if s["layout"]["title"]["text"] == "Confusion matrix"), None)


def test_hosted_batch_evaluation_waits_for_a_free_slot(app, hosted, evaluations, monkeypatch):  # noqa: F811
    """The only slot is busy: the page's job queues as number 1, is told so, and runs once the slot frees."""
    import ui.jobs as jobs

    shown = []
    monkeypatch.setattr(jobs, "busy_message", lambda n: shown.append(n) or busy_message(n))
    at = open_page(app, "pages/batch.py")
    other = hosted.enter("another visitor", "simulation")
    seen = []

    def free_the_slot():
        until(lambda: waiting(hosted), "the page's job waits")
        seen.extend(hosted.snapshot())
        hosted.leave(other)

    helper = threading.Thread(target=free_the_slot, daemon=True)
    helper.start()
    raw = lens_zip({"no": "no_sub", "sphere": "cdm", "vort": "vortex"})
    at.file_uploader(key="batch_zip").set_value([("lenses.zip", raw, "application/zip")]).run()
    helper.join(SAFETY_S)
    assert seen[1][1:] == ("batch evaluation", 1) and shown[0] == 1
    assert not at.exception and not at.error and not at.info, [e.value for e in at.error]
    assert _confusion(at) is not None and len(evaluations) == 1
    assert hosted.snapshot() == []  # the slot is free again


def test_hosted_second_job_of_a_session_is_refused_in_one_sentence(app, hosted, evaluations, monkeypatch):  # noqa: F811
    import ui.jobs as jobs

    monkeypatch.setattr(jobs, "session_id", lambda: "visitor")
    simulation = hosted.enter("visitor", "simulation")  # e.g. the Simulate tab's, still running
    at = open_page(app, "pages/batch.py")
    raw = lens_zip({"no": "no_sub", "sphere": "cdm", "vort": "vortex"})
    at.file_uploader(key="batch_zip").set_value([("lenses.zip", raw, "application/zip")]).run()
    assert not at.exception and not at.error
    assert [w.value for w in at.warning] == [
        "Your simulation is still running; wait for it to finish before starting the batch evaluation."]
    assert evaluations == [] and _confusion(at) is None
    hosted.leave(simulation)
    at.run()  # finished: the same upload is evaluated now
    assert not any("still running" in w.value for w in at.warning)
    assert _confusion(at) is not None and len(evaluations) == 1


def test_hosted_latent_map_queues_uploads_once(app, hosted, monkeypatch):  # noqa: F811
    """Placing uploads takes the queue (refused while the session's other job runs); the cached answer does not."""
    import io

    import numpy as np

    import ui.jobs as jobs
    from ui import reference

    monkeypatch.setattr(jobs, "session_id", lambda: "visitor")
    calls, real = [], reference.place_images
    monkeypatch.setattr(reference, "place_images", lambda *a, **k: calls.append(len(a[3])) or real(*a, **k))
    buf = io.BytesIO()
    np.save(buf, np.random.default_rng(1).random((33, 33)).astype(np.float32))
    at = open_page(app, "pages/latent_map.py")
    busy = hosted.enter("visitor", "batch evaluation")
    at.file_uploader(key="map_uploads").set_value([("one.npy", buf.getvalue(), "application/octet-stream")]).run()
    assert [w.value for w in at.warning] == [
        "Your batch evaluation is still running; wait for it to finish before starting the image placement."]
    assert calls == []
    hosted.leave(busy)
    at.run()
    assert not at.warning and calls == [1] and not at.exception
    busy = hosted.enter("visitor", "batch evaluation")  # placed once already: the cached answer needs no queue
    at.run()
    assert not at.warning and not at.exception and calls == [1, 1]
    hosted.leave(busy)


def test_on_a_laptop_nothing_waits(app, evaluations, monkeypatch):  # noqa: F811
    """Not hosted: a full queue does not hold the page back."""
    import ui.jobs as jobs

    queue = JobQueue(slots=1)
    monkeypatch.setattr(jobs, "_QUEUE", queue)
    queue.enter("another visitor", "simulation")
    at = open_page(app, "pages/batch.py")
    raw = lens_zip({"no": "no_sub", "sphere": "cdm", "vort": "vortex"})
    at.file_uploader(key="batch_zip").set_value([("lenses.zip", raw, "application/zip")]).run()
    assert not at.exception and not at.error and _confusion(at) is not None
    assert len(queue.snapshot()) == 1  # the page never entered it


def test_hosted_superres_queues_the_upscaling_once(sr_index, hosted, monkeypatch):  # noqa: F811
    """Upscaling is one heavy job (refused while the session's other job runs); its cached answer needs no queue."""
    from streamlit.testing.v1 import AppTest

    import core.checkpoints as ck
    import ui.jobs as jobs
    from ui import superres

    monkeypatch.setattr(ck, "CHECKPOINTS_DIR", sr_index)
    monkeypatch.setattr(jobs, "session_id", lambda: "visitor")
    calls, real = [], superres.upscaled
    monkeypatch.setattr(superres, "upscaled", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    busy = hosted.enter("visitor", "batch evaluation")
    at = AppTest.from_file(SR_APP, default_timeout=120)
    at.run()
    at.switch_page("pages/superres.py").run()
    assert not at.exception
    assert [w.value for w in at.warning] == [
        "Your batch evaluation is still running; wait for it to finish before starting the super-resolution."]
    assert calls == []
    hosted.leave(busy)
    at.run()
    assert not at.warning and not at.exception and calls == ["lenses-sr-equivariant", "lenses-sr-cnn"]
    busy = hosted.enter("visitor", "batch evaluation")
    at.run()  # the same LR image and models: cached, no queue
    assert not at.warning and not at.exception and len(calls) == 4
    hosted.leave(busy)


def test_hosted_simulation_is_a_heavy_job_of_the_session(app, hosted, monkeypatch):  # noqa: F811
    """The Simulate tab's simulation takes the queue: refused while the session's other job runs, then made."""
    import ui.jobs as jobs

    monkeypatch.setattr(jobs, "session_id", lambda: "visitor")  # `hosted`: a server that has made no simulation yet
    busy = hosted.enter("visitor", "batch evaluation")
    app.session_state["data_tab"] = "Simulate"  # only the open tab of the Data page is drawn
    at = open_page(app, "pages/data.py")
    assert not at.exception
    assert [w.value for w in at.warning] == [
        "Your batch evaluation is still running; wait for it to finish before starting the simulation."]
    hosted.leave(busy)
    at.run()
    assert not at.exception and not at.warning
    assert hosted.snapshot() == []


def test_a_simulation_the_server_made_already_needs_no_queue(app, hosted, monkeypatch):  # noqa: F811
    """Opening the Simulate tab shows its default simulation: once the server has made it, a visitor
    does not wait behind other visitors' heavy jobs for it."""
    import ui.jobs as jobs

    monkeypatch.setattr(jobs, "session_id", lambda: "visitor")
    app.session_state["data_tab"] = "Simulate"  # only the open tab of the Data page is drawn
    open_page(app, "pages/data.py")  # the server makes the default simulation once
    hosted.enter("another visitor", "batch evaluation")  # the only slot is busy
    at = open_page(app, "pages/data.py")
    assert not at.exception and not at.warning and not at.info


def test_fingerprint_sees_every_pixel():
    from ui.jobs import fingerprint

    a = np.zeros((300, 300), np.float32)
    b = a.copy()
    b[1, 1] = 1.0  # a pixel a strided sample would skip
    assert fingerprint([a]) != fingerprint([b]) and fingerprint([a]) == fingerprint([a.copy()])
