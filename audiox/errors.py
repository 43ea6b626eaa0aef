"""Exception types. Every user-facing failure is one of these, with a one-line message naming the problem.

The CLI prints ``error: <message>`` for any :class:`AudioXError` and exits with status 2.
"""


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
