"""Seq2Seq Chat: the one command-line entry point (also installed as `seq2seq-chat`).

It only parses the command line and hands off to `chatapp.commands`.
"""

from __future__ import annotations

import sys

from chatapp.commands import build_parser, run_command


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    return run_command(parser, args)


if __name__ == "__main__":
    sys.exit(main())
