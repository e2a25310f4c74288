"""Turn a core failure into one readable sentence on the page, never a traceback."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, TypeVar

import streamlit as st

from core.errors import CheckpointError, InputError

T = TypeVar("T")

USER_ERRORS = (InputError, CheckpointError, ValueError, FileNotFoundError)


def call(fn: Callable[..., T], *args: Any, stop: bool = True, **kwargs: Any) -> T | None:
    """Run `fn(*args, **kwargs)`; on a user-facing error show `st.error` with its message.

    With `stop=True` (the default) the page stops there, since whatever follows needs the
    result; with `stop=False` the caller gets None and carries on.
    """
    try:
        return fn(*args, **kwargs)
    except USER_ERRORS as exc:
        st.error(str(exc) or type(exc).__name__)
        if stop:
            st.stop()
        return None


def require(module: str, what: str) -> Any:
    """Import a back-end module, or say on the page which part is missing and stop.

    `what` names the missing capability for the user, e.g. "the autoencoder checkpoints".
    Only a missing part of this project is treated this way; a missing third-party
    package or any other import error is a bug and raises.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith(("core", "ui")):
            raise
        st.info(f"This page needs {what}; `{exc.name}` is not part of this build yet.")
        st.stop()
