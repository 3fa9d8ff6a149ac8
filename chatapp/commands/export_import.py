"""`export` and `import`: conversations out of the database and back in.

    seq2seq-chat export --db FILE --format jsonl|markdown|json [--conversation ID] [--out FILE]
    seq2seq-chat import --db FILE ARCHIVE.json

An export goes to stdout, or to --out through a temporary file that is renamed into place, so a
failed export never leaves half a file. An import checks the whole archive first and writes in
one transaction: a malformed archive changes nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from chatapp.atomic import atomic_text_file
from chatapp.commands.common import CommandError, add_subcommand, data_dir_of, db_of
from chatapp.paths import resolve_db_path
from chatapp.store import Store, StoreError, read_archive, write_jsonl, write_markdown
from chatapp.store.errors import UpgradeNeededError
from chatapp.terminal import visible

FORMATS = ("jsonl", "markdown", "json")


def register(subparsers: argparse._SubParsersAction) -> None:
    export = add_subcommand(
        subparsers, "export", help="write conversations as JSON lines, Markdown or a JSON archive"
    )
    _add_db_option(export)
    export.add_argument(
        "--format",
        choices=FORMATS,
        required=True,
        help="jsonl: training examples (one per bot reply); markdown: a readable transcript; "
        "json: a full archive that `import` reads back",
    )
    export.add_argument(
        "--conversation",
        metavar="ID",
        help="only this conversation (its number, or its uid from an archive)",
    )
    export.add_argument(
        "--max-context",
        type=_positive_int,
        metavar="N",
        help="jsonl only: keep the last N turns of each context (default: all)",
    )
    export.add_argument("--out", metavar="FILE", help="write here instead of stdout")
    export.set_defaults(handler=run_export)

    restore = add_subcommand(
        subparsers, "import", help="add the conversations of a JSON archive (no duplicates)"
    )
    _add_db_option(restore)
    restore.add_argument(
        "archive", metavar="ARCHIVE.json", help="a file made by `export --format json`"
    )
    restore.set_defaults(handler=run_import)


def _add_db_option(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS: a --db given before the sub-command is not overwritten by this default.
    parser.add_argument(
        "--db", default=argparse.SUPPRESS, help="conversation database (default: in --data-dir)"
    )


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, not {text}")
    return value


def run_export(args: argparse.Namespace) -> int:
    path = resolve_db_path(db_of(args), data_dir_of(args), create=False)
    if not path.exists():
        raise CommandError(f"there is no database at {path}")
    if args.max_context is not None and args.format != "jsonl":
        raise CommandError("--max-context applies to --format jsonl only")
    # Read-only: works in a read-only place, and makes no backup (an export writes nothing).
    with _open_store(path, read_only=True) as store:
        conversation_id = _find_conversation(store, args.conversation)
        try:
            with _output(args.out) as out:
                if args.format == "jsonl":
                    count = write_jsonl(
                        store,
                        out,
                        conversation_id=conversation_id,
                        max_context_turns=args.max_context,
                    )
                    what = "training examples"
                elif args.format == "markdown":
                    count = write_markdown(store, out, conversation_id=conversation_id)
                    what = "messages"
                else:
                    archive = store.export_archive(conversation_id)
                    json.dump(archive, out, ensure_ascii=False, indent=1)
                    out.write("\n")
                    count = len(archive["conversations"])
                    what = "conversations"
        except StoreError as error:
            raise CommandError(str(error)) from error
        except OSError as error:
            raise CommandError(f"cannot write {args.out or 'to stdout'}: {error}") from error
    if args.out:
        print(visible(f"wrote {count} {what} to {args.out}"))
    return 0


def run_import(args: argparse.Namespace) -> int:
    archive_path = Path(args.archive)
    try:
        data = read_archive(archive_path)
    except StoreError as error:
        raise CommandError(str(error)) from None
    path = resolve_db_path(db_of(args), data_dir_of(args))
    with _open_store(path) as store:
        try:
            summary = store.import_archive(data, on_progress=_print_progress)
        except StoreError as error:
            raise CommandError(f"{archive_path}: {error}") from error
    print(f"imported {summary.describe()}")
    return 0


def _print_progress(done: int, total: int) -> None:
    if done < total:  # a large archive: one line per batch (the summary ends it)
        print(f"imported {done:,} of {total:,} new conversations", file=sys.stderr, flush=True)


@contextmanager
def _open_store(path: Path, *, read_only: bool = False) -> Iterator[Store]:
    try:
        try:
            store = Store.open(path, read_only=read_only)
        except UpgradeNeededError:
            store = Store.open(path)  # a database of an older app: upgraded (after a backup)
    except StoreError as error:
        raise CommandError(str(error)) from error
    try:
        yield store
    finally:
        store.close()


def _find_conversation(store: Store, key: str | None) -> int | None:
    if key is None:
        return None
    if key.isdigit():
        try:
            return store.get_conversation(int(key)).id
        except StoreError:
            pass  # a uid may be all digits too
    found = store.find_conversation(key)
    if found is None:
        raise CommandError(f"there is no conversation {key!r} in {store.path}")
    return found.id


@contextmanager
def _output(out_path: str | None) -> Iterator[TextIO]:
    """stdout, or a temporary file beside `out_path` renamed over it once complete."""
    if out_path is None:
        # JSON lines and Markdown are UTF-8 whatever the console's code page says.
        if hasattr(sys.stdout, "reconfigure"):
            sys.stdout.reconfigure(encoding="utf-8")
        yield sys.stdout
        sys.stdout.flush()
        return
    with atomic_text_file(out_path) as file:
        yield file
