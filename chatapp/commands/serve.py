"""`main.py serve`: the local OpenAI-compatible API server, in the foreground until Ctrl+C."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from chatapp.commands.common import (
    CommandError,
    add_subcommand,
    data_dir_of,
    db_of,
    device_of,
    model_of,
)
from chatapp.commands.numbers import check_numbers
from chatapp.paths import resolve_db_path
from chatapp.server import DEFAULT_PORT, ServerSettings, ServerSettingsError
from chatapp.server.settings import DEFAULT_HOST
from chatapp.store import StoreError
from engine.errors import EngineError
from engine.knobs import Knob


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_subcommand(
        subparsers, "serve", help="serve the model as an OpenAI-compatible API (127.0.0.1)"
    )
    parser.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"address to listen on (default: {DEFAULT_HOST}; any other needs an API key)",
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port (default: {DEFAULT_PORT})"
    )
    keys = parser.add_mutually_exclusive_group()
    keys.add_argument(
        "--api-key", help="clients must send 'Authorization: Bearer KEY' (required off loopback)"
    )
    keys.add_argument(
        "--api-key-file", help="read the key from this file (keeps it out of the process list)"
    )
    parser.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="a web page origin allowed to call the API, e.g. http://localhost:3000 (repeatable; "
        "default: none, so browsers block other sites' pages)",
    )
    parser.add_argument("--model", default=argparse.SUPPRESS, help="model directory")
    parser.add_argument(
        "--db",
        default=argparse.SUPPRESS,
        help="keep API conversations in this database (the app lists them; default: not kept)",
    )
    parser.set_defaults(handler=run_serve)


def _api_key(args: argparse.Namespace) -> str | None:
    if args.api_key_file is None:
        return args.api_key
    path = Path(args.api_key_file).expanduser()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise CommandError(f"cannot read the API key from {path}: {error}") from None
    if not lines or not lines[0].strip():
        raise CommandError(f"the API key file {path} is empty")
    return lines[0].strip()


def settings_from_args(args: argparse.Namespace) -> ServerSettings:
    """The server's settings, checked before the model loads or anything binds."""
    check_numbers(args, {"port": Knob(0, 65535, integer=True)})
    db = db_of(args)
    try:
        return ServerSettings(
            host=args.host,
            port=args.port,
            api_key=_api_key(args),
            cors_origins=tuple(args.cors_origin),
            model_dir=model_of(args),
            db_path=str(resolve_db_path(db, data_dir_of(args))) if db else None,
            device=device_of(args),
        )
    except ServerSettingsError as error:
        raise CommandError(str(error)) from None


def run_serve(args: argparse.Namespace) -> int:
    from chatapp.server.runner import LocalServer
    from engine import Chatbot

    settings = settings_from_args(args)
    try:
        bot = Chatbot.load(settings.model_dir, device=settings.device)
        server = LocalServer(settings, load=lambda: bot)
    except (EngineError, StoreError) as error:
        raise CommandError(str(error)) from None
    try:
        server.listen()
    except OSError as error:
        raise CommandError(
            f"cannot listen on {settings.host} port {settings.port}: {error.strerror or error}"
        ) from None
    key = "a key is required" if settings.api_key else "no key: loopback only"
    kept = f"; conversations kept in {settings.db_path}" if settings.db_path else ""
    print(f"serving the OpenAI-compatible API at {server.base_url} ({key}{kept}); "
          "Ctrl+C stops", file=sys.stderr)  # fmt: skip
    server.serve()
    return 0
