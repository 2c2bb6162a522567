"""Entry point of the `layerloom` command.

Subcommands (check, summary, code, ...) run without loading Qt. Without a subcommand the desktop
app opens (LeNet-5 by default, or the FILE given); `--screenshot OUT.png` renders it offscreen.
"""
from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from layerloom.runtime import cli
    if argv and (argv[0] in cli.COMMANDS or argv[0] in ("-h", "--help")):
        return cli.run(argv)
    try:
        from layerloom.app.window import launch  # noqa: F401  (the window arrives with the editor)
    except ImportError:
        # Until the editor exists: print the summary of the requested graph (default LeNet-5).
        from layerloom.presets import preset_path
        target = argv[0] if argv and not argv[0].startswith("-") else str(preset_path("lenet5"))
        return cli.run(["summary", target])
    return launch(argv)


if __name__ == "__main__":
    sys.exit(main())
