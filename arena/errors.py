"""What the arena refuses, as domain errors: the services raise them, and one place (arena/views.py,
``ERROR_STATUS``) says which HTTP status each is. The message is written for the person; ``field``
names the request field at fault, when one is."""


class ArenaError(Exception):
    def __init__(self, message: str, *, field: str | None = None, retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.retry_after_s = retry_after_s  # when trying again makes sense (sent as Retry-After)


class InvalidInput(ArenaError):
    """The request is wrong: a missing, malformed or unknown field."""


class NotYours(ArenaError):
    """The battle belongs to another session."""


class NotFound(ArenaError):
    """No such battle (of this session)."""


class NotNow(ArenaError):
    """The battle's state refuses it: answers not finished, already voted, voting closed."""


class _TryLater(ArenaError):
    """A refusal that passes: ``retry_after_s`` is required (every 429 and 503 carries Retry-After)."""

    def __init__(self, message: str, *, retry_after_s: int, field: str | None = None) -> None:
        super().__init__(message, field=field, retry_after_s=retry_after_s)


class TooMany(_TryLater):
    """A rate limit or the daily vote cap; ``retry_after_s`` says when it frees."""


class Unavailable(_TryLater):
    """The arena cannot serve it now (no worker yet, the job queue down, too few contenders)."""
