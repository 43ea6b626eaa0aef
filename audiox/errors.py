"""Exception types. Every user-facing failure is one of these, with a one-line message naming the problem.

The CLI prints ``error: <message>`` for any :class:`AudioXError` and exits with status 2.
"""

from collections.abc import Callable


class AudioXError(Exception):
    """Base class of all errors that audiox reports to a user."""


class ConfigError(AudioXError, ValueError):
    """A configuration is invalid; the message names the dotted key."""


class CheckpointError(AudioXError):
    """A checkpoint does not match the model: missing, unexpected or mis-shaped tensors."""


class MediaError(AudioXError):
    """A media file is missing, unreadable, empty or of the wrong kind."""


class InputError(AudioXError, ValueError):
    """A call argument is invalid (empty prompt, impossible duration, unknown sampler, ...)."""


class RequestError(InputError):
    """A refused generation request; its message is a template over field names, so that each front end can name
    the fields its own way (flags, batch keys, page labels): see :mod:`audiox.pipeline.request`.

    Args:
        template: the message, with ``{0}``, ``{1}``, ... where the field names go (other braces doubled).
        names: the fields, by their :class:`audiox.pipeline.request.GenerationRequest` names.
        lifted_by: the field whose change lifts the refusal (``"limits"``), added as ``(NAME lifts it)`` where the
            front end has a name for it.
    """

    def __init__(self, template: str, *names: str, lifted_by: str | None = None) -> None:
        self.template, self.names, self.lifted_by = template, names, lifted_by
        super().__init__(self.worded())

    def worded(self, name: Callable[[str], str] = str) -> str:
        """The message with each field named by ``name(field)`` (default: the Python names); a hint whose field
        ``name`` maps to ``""`` is left out."""
        text = self.template.format(*(name(n) for n in self.names))
        hint = name(self.lifted_by) if self.lifted_by else ""
        return f"{text} ({hint} lifts it)" if hint else text


def field_error(name: str, error: InputError) -> RequestError:
    """``error`` of a check given the field ``name`` ("NAME: ...") as a :class:`RequestError` over that field."""
    if isinstance(error, RequestError):
        return error
    message = str(error)
    rest = message[len(name):] if message.startswith(name) else f": {message}"
    return RequestError("{0}" + escaped(rest), name)


def escaped(text: str) -> str:
    """``text`` for a :class:`RequestError` template (braces doubled)."""
    return text.replace("{", "{{").replace("}", "}}")
