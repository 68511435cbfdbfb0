"""The ``snnkit`` command line. Each sub-command lives in its own module ``cmd_<name>.py`` in this package
and defines ``register(subparsers)``.

Only the module of the command being run is imported (``snnkit --help`` answers from :data:`COMMANDS`
without importing torch); a ``cmd_*.py`` module missing from the table is still found and imported.

Every expected failure (a bad file, a bad option, a missing file, a full disk, a busy run folder)
ends with ONE line on stderr and exit code 2; ``--debug`` shows the traceback. Ctrl-C ends with one
line (saying where the last checkpoint is, for ``train``) and exit code 130.
"""
from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

# name -> one-line help; each must equal the help its module registers (a test checks this)
COMMANDS = {
    "bench": "run a benchmark against peer libraries (JSON lines)",
    "compare": "train a spiking model and its ANN twin; compare accuracy and cost",
    "convert": "convert a trained ANN into an SNN",
    "data": "list and prepare datasets",
    "demo": "train a small SNN beside its ANN twin and deploy it (no download)",
    "evaluate": "accuracy and loss of a trained checkpoint",
    "export": "export a checkpoint to NIR, Loihi 2 (netx) or a PCM crossbar",
    "info": "versions, engines and devices",
    "train": "train a model from a TOML config (model, data, trainer)",
}
EXIT_ERROR, EXIT_INTERRUPTED = 2, 130


def _command_modules() -> list[str]:
    return sorted(m.name[4:] for m in pkgutil.iter_modules(__path__) if m.name.startswith("cmd_"))


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``command`` only that sub-command's module is imported (others are listed)."""
    parser = argparse.ArgumentParser(prog="snnkit", description="Spiking neural networks, idea to hardware.")
    parser.add_argument("--debug", action="store_true", help="show the full traceback when a command fails")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _command_modules():
        if command is None or name == command or name not in COMMANDS:
            importlib.import_module(f"{__name__}.cmd_{name}").register(sub)
        else:
            sub.add_parser(name, help=COMMANDS[name], add_help=False)
    for name, p in sub.choices.items():  # --debug also after the command name
        if "--debug" not in p._option_string_actions and p.add_help:
            p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                           help="show the full traceback when the command fails")
    return parser


def _requested_command(argv: list[str]) -> str:
    known = set(_command_modules())
    for arg in argv:
        if not arg.startswith("-"):
            return arg if arg in known else ""
    return ""  # only options (e.g. --help) or an unknown command: the table is enough


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = _requested_command(argv)
    parser = build_parser(command)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_ERROR
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt as err:
        if args.debug:
            raise
        worker = "LOCAL_RANK" in os.environ  # a torchrun worker (the launcher has no LOCAL_RANK)
        quiet = worker and (os.environ.get("RANK", "0") != "0" or os.environ.get("SNNKIT_LAUNCHED") == "1")
        if not quiet:  # with --nproc the launcher says it once, not every worker
            print(f"snnkit {args.command}: {str(err) or 'interrupted'}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except ModuleNotFoundError as err:  # an optional dependency: say which extra provides it, in one line
        from .._extras import install_hint
        hint = install_hint(err)
        if hint is None or args.debug:
            raise
        print(f"snnkit {args.command}: {hint}", file=sys.stderr)
        return EXIT_ERROR
    except (ValueError, TypeError, LookupError, OSError, RuntimeError, ImportError) as err:
        # the documented failures of a command: bad input, missing or unwritable files, busy folders
        if args.debug:
            raise
        print(f"snnkit {args.command}: error: {_one_line(err)}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as err:  # a bug: still one line, with the way to the traceback
        if args.debug:
            raise
        print(f"snnkit {args.command}: internal error {type(err).__name__}: {_one_line(err)} "
              "(please report it; run with --debug for the traceback)", file=sys.stderr)
        return 1


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    if isinstance(err, OSError) and err.filename and str(err.filename) not in text:
        text += f": {err.filename}"
    if isinstance(err, KeyError):
        text = f"missing entry {text}"
    return text[:2000]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
