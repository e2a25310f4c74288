"""Turn a failure into one readable sentence on the page, never a traceback; the traceback goes to the server log."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import PurePath
from typing import Any, TypeVar

import streamlit as st

from core.errors import CheckpointError, InputError

T = TypeVar("T")

USER_ERRORS = (InputError, CheckpointError, ValueError, FileNotFoundError)
LOG = logging.getLogger("equiscope")
_SERVER_PATH = re.compile(r"(?<![\w.~])/(?:[\w.\-]+/)+([\w.\-]+)")  # /abs/folder/file.pt -> file.pt


def sentence(exc: BaseException) -> str:
    """What the user reads for `exc`: a user error's own message (server folders cut to file names), else a
    plain sentence naming the error type, its traceback logged (`LOG`) for whoever runs the server."""
    if isinstance(exc, OSError) and exc.filename:  # a missing or unreadable file: its name, not its server folder
        LOG.info("%s", exc)
        return f"The file {PurePath(exc.filename).name} cannot be read on this server ({exc.strerror or type(exc).__name__})."
    if isinstance(exc, USER_ERRORS) and str(exc):
        LOG.info("%s: %s", type(exc).__name__, exc)
        return _SERVER_PATH.sub(r"\1", str(exc))
    LOG.error("Unexpected error", exc_info=exc)
    return (f"Something went wrong on the server ({type(exc).__name__}); the details are in the server log. "
            "Try another model or image, or reload the page.")


def call(fn: Callable[..., T], *args: Any, stop: bool = True, **kwargs: Any) -> T | None:
    """Run `fn(*args, **kwargs)`; on a user-facing error show `st.error` with its message.

    With `stop=True` (the default) the page stops there, since whatever follows needs the
    result (its link is written first); with `stop=False` the caller gets None and carries on.
    """
    try:
        return fn(*args, **kwargs)
    except USER_ERRORS as exc:
        st.error(sentence(exc))
        if stop:
            from ui.share import stop_page

            stop_page()
        return None
