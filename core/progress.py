"""Progress reporting: long work calls `progress(done, total, message)`; on a terminal that draws a tqdm bar.

Every layer may import this module (it imports nothing of core; tqdm only inside the functions).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

Progress = Callable[[int, int, str], None]


def tqdm_progress(unit: str = "batch"):
    """A `progress(done, total, message)` callable drawing one tqdm bar; returns (callable, bar)."""
    import sys

    from tqdm import tqdm

    bar = tqdm(total=1, unit=unit, dynamic_ncols=True, mininterval=0.5 if sys.stderr.isatty() else 30.0)

    def progress(done: int, total: int, message: str) -> None:
        if bar.total != total:
            bar.reset(total=total)
        bar.n = done
        bar.set_description(message, refresh=False)
        bar.refresh() if done == total else bar.update(0)

    return progress, bar


@contextmanager
def lazy_progress() -> Iterator[Progress]:
    """`with lazy_progress() as progress:` a tqdm bar (`tqdm_progress`) drawn only once work reports
    progress, so an error raised before any work prints just its one line; closed on leaving."""
    state: dict = {}

    def progress(done: int, total: int, message: str) -> None:
        if "call" not in state:
            state["call"], state["bar"] = tqdm_progress()
        state["call"](done, total, message)

    try:
        yield progress
    finally:
        if "bar" in state:
            state["bar"].close()


def progress_callable(progress) -> tuple[Progress | None, Callable[[], None]]:
    """True -> a tqdm bar of images (`tqdm_progress`); a callable -> itself; False/None -> nothing.
    Returns (callback, close)."""
    if callable(progress):
        return progress, lambda: None
    if progress:
        update, bar = tqdm_progress(unit="img")
        return update, bar.close
    return None, lambda: None
