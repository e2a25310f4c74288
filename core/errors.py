"""The project's own error types: their message is one sentence meant for the user."""


class InputError(ValueError):
    """Input that cannot be used; the message says what is wrong and what would work."""


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupt or does not match its index entry."""
