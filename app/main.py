"""Entry point of the `layerloom` command.

Subcommands (check, summary, code, ...) run without loading Qt. Without a subcommand the desktop
app opens (LeNet-5 by default, or the FILE given); `--screenshot OUT.png` renders it offscreen.
"""
from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from layerloom.runtime import cli
    if argv and (argv[0] in cli.COMMANDS or argv[0] in ("-h", "--help", "--version")):
        return cli.run(argv)
    unknown = cli.unknown_command(argv)
    if unknown:
        print(unknown, file=sys.stderr)
        return 2
    try:
        from layerloom.app.launch import launch
    except ImportError as exc:
        missing = f" ({exc.name} is missing)" if exc.name else ""
        print(f"layerloom: the desktop app cannot start{missing}: {exc}. Install the app's dependencies "
              f"(pip install layerloom), or use a command such as `layerloom check FILE`.", file=sys.stderr)
        return 1
    return launch(argv)


if __name__ == "__main__":
    sys.exit(main())
