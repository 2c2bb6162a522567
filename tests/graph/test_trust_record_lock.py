"""Two Layerloom processes allowing code at the same moment both keep what they allowed: the record is read,
changed and written under a lock (each kept only its own before, the other's entries lost)."""
import os
import subprocess
import sys

from layerloom.graph import trust

WRITER = """
import sys
from layerloom.graph import trust
tag, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    trust.remember_file(f"/allowed/{tag}-{i}.py", format(i, "064x"))
    if i % 10 == 0:
        trust.remember_package(f"pkg_{tag}_{i}")
"""


def test_two_processes_remembering_at_once_lose_nothing(tmp_path, monkeypatch):
    record = tmp_path / "trusted-code.json"
    monkeypatch.setenv(trust.RECORD_ENV, str(record))
    env = dict(os.environ, **{trust.RECORD_ENV: str(record)})
    n = 120
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, tag, str(n)], env=env) for tag in ("a", "b")]
    assert [w.wait(timeout=120) for w in writers] == [0, 0]
    files, packages = trust.read_record()
    assert files == {f"/allowed/{tag}-{i}.py": format(i, "064x") for tag in ("a", "b") for i in range(n)}
    assert packages == {f"pkg_{tag}_{i}" for tag in ("a", "b") for i in range(0, n, 10)}
