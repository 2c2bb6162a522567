"""For tests of exported projects: an environment in which Layerloom cannot be imported."""
import os
import textwrap

BLOCKER = textwrap.dedent("""
    import sys
    class _NoLayerloom:
        def find_spec(self, name, path=None, target=None):
            if name == "layerloom" or name.startswith("layerloom."):
                raise ImportError("layerloom is not available in this interpreter")
            return None
    sys.meta_path.insert(0, _NoLayerloom())
""")


def clean_env(tmp_path):
    """The environment for a child Python in which `import layerloom` fails (a sitecustomize in tmp_path)."""
    site = tmp_path / "blocker"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(BLOCKER)
    return dict(os.environ, PYTHONPATH=str(site), OMP_NUM_THREADS="1")


# `python train.py ARGS` in a project's folder, run by forking one interpreter that imported torch once (and
# torch._dynamo, which torch's optimizers import at their first step: a second or more of every run). The
# forked process breaks out of the loop and runs train.py as the interpreter runs a script: as __main__, with
# its folder first on sys.path, ending as any run ends (its exit code, or a traceback and 1); or, given code,
# runs it as `python -c CODE` would in that folder.
SERVER = textwrap.dedent("""
    import json, os, sys
    import torch
    import torch._dynamo
    while True:
        line = sys.stdin.readline()
        if not line:
            sys.exit(0)
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            break
        print(json.dumps(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])), flush=True)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    for fd, name in ((1, "stdout"), (2, "stderr")):
        os.dup2(os.open(request[name], os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
    os.chdir(request["cwd"])
    sys.path[0] = request["cwd"]
    if request.get("code") is not None:
        sys.argv = ["-c"]
        exec(compile(request["code"], "<string>", "exec"), {"__name__": "__main__"})
        sys.exit(0)
    sys.argv = ["train.py", *request["args"]]
    import runpy
    runpy.run_path("train.py", run_name="__main__")
""")


class ProjectRunner:
    """Runs exported projects' train.py where Layerloom cannot be imported, each in a process of its own that
    starts with torch imported (as its first line would import it, and torch._dynamo as its first step would)."""

    def __init__(self, tmp_path):
        import subprocess
        import sys
        self.tmp_path, self.runs = tmp_path, 0
        self.proc = subprocess.Popen([sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, env=clean_env(tmp_path), start_new_session=True)

    def run(self, project, *args, timeout=180, code=None):
        """`python train.py *args` in `project` (or, given `code`, `python -c code` there): a CompletedProcess
        with its exit code and output."""
        import json
        import select
        import signal
        import subprocess
        self.runs += 1
        out, err = self.tmp_path / f"run{self.runs}.out", self.tmp_path / f"run{self.runs}.err"
        self.proc.stdin.write(json.dumps({"cwd": str(project), "args": [str(a) for a in args], "code": code,
                                          "stdout": str(out), "stderr": str(err)}) + "\n")
        self.proc.stdin.flush()
        if not select.select([self.proc.stdout], [], [], timeout)[0]:
            os.killpg(self.proc.pid, signal.SIGKILL)
            raise AssertionError(f"train.py {' '.join(map(str, args))} did not end in {timeout} s")
        code = json.loads(self.proc.stdout.readline())
        return subprocess.CompletedProcess(["train.py", *args], code, out.read_text(encoding="utf-8"),
                                           err.read_text(encoding="utf-8"))

    def close(self):
        import signal
        import subprocess
        self.proc.stdin.close()                 # the interpreter's loop ends
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:       # a run that did not end: it and the interpreter are killed
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)
