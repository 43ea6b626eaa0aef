"""The ``audiox`` command line. Thin: parses arguments and dispatches to ``audiox.commands.<name>``.

Every :class:`audiox.errors.AudioXError`, every usage mistake argparse finds and every ``OSError`` (a file that
cannot be read or written, a full disk) becomes one line ``error: ...`` on stderr and exit status 2. SIGTERM and
SIGHUP unwind like Ctrl-C, so temporary files are removed on the way out.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys

from audiox.errors import AudioXError

# subcommand name -> (module under audiox.commands, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("demo", "run every task once with the built-in model and write the results to a folder"),
    "generate": ("generate", "generate audio or music from text, video, image and audio prompts"),
    "convert": ("convert", "convert an official AudioX checkpoint to the native format and back"),
    "train": ("train", "train or fine-tune a model (multi-modal masked training)"),
    "train-vae": ("train_vae", "train the model's audio VAE on a corpus"),
    "evaluate": ("evaluate", "score a model on SynthBench (the generated corpus)"),
    "preencode": ("preencode", "pre-encode a data set with the frozen encoders (VAE latents, text, video)"),
    "synth": ("synth", "build the generated multi-modal corpus"),
    "ui": ("ui", "serve the web page for every task (Gradio, on this machine)"),
}


class UsageError(AudioXError):
    """A command line argparse cannot parse (unknown option, missing value, wrong type)."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (``--help`` shows the usage), not the whole usage block."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message} (see '{self.prog} --help')")


class Terminated(BaseException):
    """SIGTERM / SIGHUP, raised in the main thread so that ``finally`` blocks and temp-file cleanup run."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated(signal.Signals(signum).name)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only the chosen ``command``'s module is imported (the others stay cheap)."""
    parser = _Parser(prog="audiox", description="AudioX: anything-to-audio generation.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:
            mod = importlib.import_module(f"audiox.commands.{module}")
            mod.add_arguments(sp)
            sp.set_defaults(_module=mod)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command if command in COMMANDS else None)
    try:
        args = parser.parse_args(argv)
    except UsageError as e:
        sys.stderr.write(f"error: {e}\n")
        return 2
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    if args.command is None:
        sys.stderr.write(f"error: audiox: no command given; expected one of {', '.join(COMMANDS)} "
                         "(see 'audiox --help')\n")
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
        sys.stderr.write(f"error: {e}\n")
        return 2
    except OSError as e:
        where = f"{e.filename}: " if e.filename else ""
        sys.stderr.write(f"error: {where}{e.strerror or e}\n")
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
