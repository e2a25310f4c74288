"""Turn a core failure into one readable sentence on the page, never a traceback."""

from __future__ import annotations

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
