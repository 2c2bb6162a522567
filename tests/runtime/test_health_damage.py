"""A damaged health.csv or health.json (cut short, a wrong number of columns, text or NaN/inf in number columns,
binary junk) reads as what is readable, and says what was skipped: no reader raises."""
import csv
import io
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from layerloom.runtime.health import HealthCollector, read_health, skipped_note
from layerloom.runtime.health_indicators import FIELDS, STATS, level_of, read_summary
from layerloom.runtime.heatmaps import health_strip_image
from layerloom.runtime.trainer import Trainer

from .trainer_helpers import mnist_small, small_net


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    t = Trainer(small_net(), {"max_steps": 4}, None, runs_base=tmp_path_factory.mktemp("health"),
                data=mnist_small(256, 64), extensions=[HealthCollector(every=1)])
    assert t.run() is not None
    return t.run_dir


CELLS = st.sampled_from(["abc", "nan", "inf", "-inf", "", "1e999", "\x00", "1,2", "\ufffd", "-1", "3.5"])


@st.composite
def damage(draw, text: str) -> str:
    lines = text.split("\n")
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["cut", "junk", "cell", "drop", "add", "twice"]))
        i = draw(st.integers(0, len(lines) - 1))
        if op == "cut":
            joined = "\n".join(lines)
            lines = joined[:draw(st.integers(0, len(joined)))].split("\n")
        elif op == "junk":
            junk = draw(st.binary(min_size=1, max_size=40)).decode("latin-1")
            at = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:at] + junk + lines[i][at:]
        elif op in ("cell", "drop", "add"):
            cells = lines[i].split(",")
            j = draw(st.integers(0, len(cells) - 1))
            if op == "cell":
                cells[j] = draw(CELLS)
            elif op == "drop":
                del cells[j]
            else:
                cells.insert(j, draw(CELLS))
            lines[i] = ",".join(cells)
        else:
            lines.insert(i, lines[i])
    return "\n".join(lines)


def _reference_rows(text: str) -> dict:
    """The stdlib's csv reading of the undamaged file: (step, block) -> {stat: value}."""
    return {(int(r["step"]), r["block"]): r for r in csv.DictReader(io.StringIO(text))}


@settings(derandomize=True, deadline=None, database=None, max_examples=60)
@given(data=st.data())
def test_a_damaged_health_csv_reads_as_its_intact_rows_and_says_what_was_skipped(real_run, tmp_path_factory, data):
    original = (real_run / "health.csv").read_text(encoding="utf-8")
    damaged = data.draw(damage(original))
    folder = tmp_path_factory.mktemp("damaged")
    (folder / "health.csv").write_bytes(damaged.encode("utf-8", "surrogateescape"))
    table = read_health(folder)
    assert table["steps"] == sorted(set(table["steps"])) and all(isinstance(s, int) for s in table["steps"])
    for stat in STATS:
        assert set(table[stat]) == set(table["blocks"])
        for values in table[stat].values():
            assert len(values) == len(table["steps"]) and all(math.isnan(v) or math.isfinite(v) for v in values)
    reference = _reference_rows(original)
    lines = damaged.splitlines()
    # lines left whole, of a step and block no other line names (a damaged copy of a line may come later)
    intact = [ln for ln in original.splitlines()[1:] if ln in lines
              and sum(x.startswith(",".join(ln.split(",")[:2]) + ",") for x in lines) == 1]
    for line in intact:
        step, block = int(line.split(",")[0]), line.split(",")[1]
        at = table["steps"].index(step)
        for stat in STATS:
            want = reference[(step, block)][stat]
            got = table[stat][block][at]
            assert (math.isnan(got) and want in ("", "nan")) or got == pytest.approx(float(want)), (line, stat)
    assert len(table["skipped"]) + len(intact) <= len(lines)
    if table["skipped"]:
        note = skipped_note(table)
        assert note.startswith(f"{len(table['skipped'])} damaged line") and "skipped" in note
    health_strip_image(table, "grad_rms")                 # what the Explain panel draws from it


def test_a_health_csv_of_binary_junk_or_a_foreign_header_reads_as_nothing_in_words(tmp_path):
    (tmp_path / "health.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    table = read_health(tmp_path)
    assert table["steps"] == [] and table["skipped"]
    assert "damaged line" in skipped_note(table) and "health.csv" in skipped_note(table)
    (tmp_path / "health.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    assert read_health(tmp_path)["steps"] == [] and skipped_note(read_health(tmp_path))
    (tmp_path / "health.csv").write_text(",".join(FIELDS) + "\n", encoding="utf-8")
    assert read_health(tmp_path)["skipped"] == [] and skipped_note(read_health(tmp_path)) is None


@pytest.mark.parametrize("text", ['{"worst": [1, null, "x"], "samples": "many", "problems": [3]}',
                                  '{"worst": [{"key": "dead"}], "problems": "none"}', '[]', '{"worst": {}}'])
def test_a_damaged_health_json_reads_as_its_well_formed_parts(tmp_path, text):
    (tmp_path / "health.json").write_text(text, encoding="utf-8")
    summary = read_summary(tmp_path)
    level_of(summary)
    if summary is not None:
        assert all(isinstance(i, dict) and {"key", "title", "level", "value"} <= set(i) for i in summary["worst"])
        assert all(isinstance(p, dict) and isinstance(p.get("text"), str) for p in summary["problems"])
        assert isinstance(summary.get("samples", 0), int)


def test_a_resumed_run_appends_whole_lines_after_a_line_cut_short_by_a_kill(real_run, tmp_path):
    import shutil
    run = tmp_path / "run"
    shutil.copytree(real_run, run)
    text = (run / "health.csv").read_text(encoding="utf-8")
    last = text.rstrip("\n").rfind("\n") + 1
    (run / "health.csv").write_text(text[:last + 12], encoding="utf-8")          # killed mid-line
    collector = HealthCollector(every=1)
    rows = [{"step": 99, "block": "conv1", **dict.fromkeys(STATS, 0.5)}]
    collector._write(run, rows)
    table = read_health(run)
    assert 99 in table["steps"] and table["grad_rms"]["conv1"][table["steps"].index(99)] == 0.5
    assert len(table["skipped"]) == 1                                             # only the cut line
