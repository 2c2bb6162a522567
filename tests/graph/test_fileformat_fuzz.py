"""The .loom.json reader on the real preset files, mutated byte by byte and token by token: spans cut,
copied, swapped for JSON's edge cases (huge and negative numbers, deep nesting, NaN, lone surrogates,
control characters, other kinds and keys), the file cut short. Every file either loads, and then analysis
of it answers in sentences without raising, or is refused with a GraphFileError of one short line that
says where and what. Never another exception, a hang or a huge allocation. LAYERLOOM_LONG=1 runs many
more (tools/soak_random_graphs.py)."""
import os
import re
import resource

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from layerloom.graph import GraphFileError, analyze, load_graph
from layerloom.presets import preset_paths

EXAMPLES = 3000 if os.environ.get("LAYERLOOM_LONG") else 60
SETTINGS = settings(derandomize=True, max_examples=EXAMPLES, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))
PRESETS = {p.name: p.read_bytes() for p in preset_paths()}
TOKENS = [b"-1", b"0", b"1e999", b"-1e999", b"1e-999", b"10000000", b"9" * 30, b"9" * 5000, b"2.5", b"true", b"null",
          b'"auto"', b'"same"', b"[]", b"{}", b"[" * 5000, b"NaN", b"Infinity", b'"\\ud800"', b'"\\u0000"',
          b'"\x1b[2J"', b"\xff\xfe", b"\x00", b'"Conv2d"', b'"Opaque"', b'"input"', b'"kind"', b'"params"',
          b'"from_port"', b'"to_port": 5', b'"shape": [1000000, 1000000, 1000000]', b",", b":", b'"', b"\\"]


@st.composite
def mutated_files(draw):
    name = draw(st.sampled_from(sorted(PRESETS)))
    data = bytearray(PRESETS[name])
    for _ in range(draw(st.integers(1, 4))):
        n = len(data)
        i = draw(st.integers(0, max(0, n - 1)))
        j = min(n, i + draw(st.integers(0, 12)))
        how = draw(st.sampled_from(["token", "token", "number", "cut", "copy", "truncate", "byte"]))
        if how == "token":
            data[i:j] = draw(st.sampled_from(TOKENS))
        elif how == "number":       # a number of the file becomes another
            spots = [m.span() for m in re.finditer(rb"-?\d+(\.\d+)?", data)]
            if spots:
                a, z = draw(st.sampled_from(spots))
                data[a:z] = draw(st.sampled_from([b"0", b"-1", b"65537", b"10000000", b"1e308", b"3.5", b"2"]))
        elif how == "cut":
            del data[i:j]
        elif how == "copy":
            data[i:i] = data[i:j] * draw(st.integers(1, 3))
        elif how == "truncate":
            del data[i:]
        else:
            data[i:i + 1] = bytes([draw(st.integers(0, 255))])
    return name, bytes(data)


# Python's, torch's and the parser's words that a person should not have to read
JARGON = re.compile(r"Traceback|Error\b|aten::|0x[0-9a-f]{6}|<[a-z_.]+ object|NoneType|File \"")


def _one_file(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    try:
        doc = load_graph(path)
    except GraphFileError as exc:
        text = str(exc)
        assert "\n" not in text and len(text) < 700 and not JARGON.search(text), text[:1000]
        assert name in text and exc.reason.strip(), text
        return "refused"
    result = analyze(doc)                         # never raises
    for d in result.diagnostics:
        assert d.message and "\n" not in d.message and not JARGON.search(d.message), d.message[:1000]
    return "loaded"


@SETTINGS
@given(mutated_files())
def test_mutated_presets_load_or_are_refused_in_one_line(tmp_path_factory, case):
    name, data = case
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (min(hard, 6 * 2 ** 30) if hard > 0 else 6 * 2 ** 30, hard))
    try:
        _one_file(tmp_path_factory.mktemp("f"), name, data)
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_cut_at_every_tenth_byte_is_refused_in_words(tmp_path, name):
    data = PRESETS[name]
    for end in range(0, len(data) - 2, max(1, len(data) // 10)):
        assert _one_file(tmp_path, name, data[:end]) == "refused"
