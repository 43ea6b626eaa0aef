"""The ``audiox`` command line. Thin: parses arguments and dispatches to ``audiox.commands.<name>``.

Every :class:`audiox.errors.AudioXError`, every usage mistake argparse finds and every ``OSError`` (a file that
cannot be read or written, a full disk) becomes one line ``error: ...`` on stderr and exit status 2; control
characters in it (a file name with a newline) are escaped, so it stays one line. Logging shows warnings only,
unless ``--verbose`` (before or after the command) asks for progress and debug messages. Every ``type=float``
and ``type=int`` option is read strictly (:func:`audiox.utils.checks.parse_number`: no ``1_0``). SIGTERM and
SIGHUP unwind like Ctrl-C, so temporary files are removed on the way out.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys

from audiox.errors import AudioXError, InputError
from audiox.utils.checks import parse_integer, parse_number, shown

# subcommand name -> (module under audiox.commands, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("demo", "run every task once with the built-in model and write the results to a folder"),
    "generate": ("generate", "generate audio or music from text, video, image and audio prompts"),
    "convert": ("convert", "convert an official AudioX checkpoint to the native format and back"),
    "train": ("train", "train or fine-tune a model (multi-modal masked training)"),
    "train-vae": ("train_vae", "train the model's audio VAE on a corpus"),
    "evaluate": ("evaluate", "score a model: SynthBench, or the field's metrics on folders and benchmarks"),
    "preencode": ("preencode", "pre-encode a data set with the frozen encoders (VAE latents, text, video)"),
    "synth": ("synth", "build the generated multi-modal corpus"),
    "ui": ("ui", "serve the web page for every task (Gradio, on this machine)"),
}


class UsageError(AudioXError):
    """A command line argparse cannot parse (unknown option, missing value, wrong type)."""


def _strict(parse: object, kind: str) -> object:
    """An argparse type that reads numbers with ``parse`` (refusing ``1_0``), with a one-line reason."""

    def convert(text: str) -> float | int:
        try:
            return parse("", text)  # type: ignore[operator]
        except InputError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    convert.__name__ = kind
    return convert


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (``--help`` shows the usage), not the whole usage block, and
    ``type=float`` / ``type=int`` read numbers strictly."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.register("type", float, _strict(parse_number, "number"))
        self.register("type", int, _strict(parse_integer, "integer"))

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message} (see '{self.prog} --help')")


class Terminated(BaseException):
    """SIGTERM / SIGHUP, raised in the main thread so that ``finally`` blocks and temp-file cleanup run."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated(signal.Signals(signum).name)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only the chosen ``command``'s module is imported (the others stay cheap)."""
    parser = _Parser(prog="audiox", description="AudioX: anything-to-audio generation.")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log progress (INFO) and audiox's debug messages; without it only warnings are shown")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        sp.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="log progress (INFO) and audiox's debug messages; without it only warnings are shown")
        if name == command:
            mod = importlib.import_module(f"audiox.commands.{module}")
            mod.add_arguments(sp)
            sp.set_defaults(_module=mod)
    return parser


class _OneLine(logging.Formatter):
    """Log records as one line each: control characters in the message (a file name's newline) are escaped."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # logging calls it by this name
        return shown(super().formatMessage(record))  # a traceback (exc_info) is added after, with its lines


def _configure_logging(verbose: bool) -> None:
    """Warnings only; with ``--verbose`` INFO from everything and DEBUG from audiox (a handler is added to the
    root logger only when it has none, as ``logging.basicConfig`` does)."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(_OneLine("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    logging.getLogger("audiox").setLevel(logging.DEBUG if verbose else logging.NOTSET)


def _error(message: object) -> None:
    """The one ``error:`` line (control characters escaped)."""
    sys.stderr.write(f"error: {shown(message)}\n")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command if command in COMMANDS else None)
    try:
        args = parser.parse_args(argv)
    except UsageError as e:
        _error(e)
        return 2
    _configure_logging(args.verbose)
    if args.command is None:
        _error(f"audiox: no command given; expected one of {', '.join(COMMANDS)} (see 'audiox --help')")
        return 2
    previous = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        try:
            previous[sig] = signal.signal(sig, _terminate)
        except ValueError:  # not the main thread: leave the handlers alone
            break
    try:
        return int(args._module.run(args) or 0)
    except AudioXError as e:
        _error(e)
        return 2
    except OSError as e:
        where = f"{e.filename}: " if e.filename else ""
        _error(f"{where}{e.strerror or e}")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        return 130
    except Terminated as e:
        sys.stderr.write(f"error: stopped by {e}\n")
        return 143
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    raise SystemExit(main())
