"""Runs `layerloom check|summary|code` in-process on each file given, under a memory limit, and
prints one JSON line per run: exit code, the last stderr line, and any traceback (run by tests).

    hostile_driver.py LIMIT COMMANDS PATH... [--commands=COMMANDS PATH...]...

COMMANDS is a comma-separated list; `--commands=` sets it for the paths after it."""
import contextlib
import io
import json
import resource
import signal
import sys
import traceback


def main(limit_bytes: int, commands: list[str], paths: list[str]) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))
    from layerloom.app.main import main as layerloom

    def hang(signum, frame):
        raise TimeoutError("still running after 60 s")

    signal.signal(signal.SIGALRM, hang)
    for path in paths:
        if path.startswith("--commands="):
            commands = path.split("=", 1)[1].split(",")
            continue
        for command in commands:
            out, err = io.StringIO(), io.StringIO()
            crash = None
            signal.alarm(60)
            try:
                with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                    code = layerloom([command, path])
            except SystemExit as exc:
                code = exc.code
            except BaseException:
                code, crash = None, traceback.format_exc(limit=-3)
            finally:
                signal.alarm(0)
            lines = [line for line in err.getvalue().splitlines() if line.strip()]
            print(json.dumps({"path": path, "command": command, "code": code, "stderr": lines[-1:],
                              "stderr_lines": len(lines), "crash": crash,
                              "stdout_clean": not any(c in out.getvalue() for c in "\x1b\x00\x07")}),
                  flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2].split(","), sys.argv[3:])
