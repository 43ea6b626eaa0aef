"""The ``audiox`` command line. Thin: parses arguments and dispatches to ``audiox.commands.<name>``.

Every :class:`audiox.errors.AudioXError` becomes one line ``error: ...`` on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

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
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only the chosen ``command``'s module is imported (the others stay cheap)."""
    parser = argparse.ArgumentParser(prog="audiox", description="AudioX: anything-to-audio generation.")
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
    from audiox.errors import AudioXError

    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command if command in COMMANDS else None)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args._module.run(args) or 0)
    except AudioXError as e:
        sys.stderr.write(f"error: {e}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
