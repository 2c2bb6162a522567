"""Which import failures are a broken install (said in one paragraph: which library, why, what to do)
and which are not (they raise as they are): real packages that fail to import, made in a temporary
folder on sys.path."""
from __future__ import annotations

import sys

import pytest

from layerloom.graph.lazy_torch import REINSTALL, LibraryUnavailable, explained, import_or_explain


@pytest.fixture
def packages(tmp_path, monkeypatch):
    """make(name, body): a package `name` whose import runs `body`."""
    monkeypatch.syspath_prepend(str(tmp_path))
    made = []

    def make(name: str, body: str) -> str:
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(body)
        made.append(name)
        return name

    yield make
    for name in made:
        sys.modules.pop(name, None)


def test_a_package_that_fails_to_load_its_shared_library_is_named_with_the_reason(packages):
    name = packages("llbrokenlib", "raise ImportError('libfoo.so: cannot open shared object file')\n")
    with pytest.raises(LibraryUnavailable) as caught:
        import_or_explain(name)
    assert str(caught.value) == (f"llbrokenlib could not be loaded (ImportError: libfoo.so: cannot open shared "
                                 f"object file). {REINSTALL}")


def test_a_package_that_imports_a_missing_one_names_the_missing_one(packages):
    name = packages("llneedsmissing", "import ll_nowhere_to_be_found\n")
    with pytest.raises(LibraryUnavailable, match=r"^ll_nowhere_to_be_found could not be loaded \(ModuleNotFound"):
        import_or_explain(name)


def test_an_os_error_while_importing_is_the_install_s_fault_but_not_elsewhere(packages):
    name = packages("lloserror", "raise OSError('libcudnn.so.9: cannot open shared object file')\n")
    with pytest.raises(LibraryUnavailable, match=r"^lloserror could not be loaded \(OSError: libcudnn"):
        import_or_explain(name)
    try:
        open("/nonexistent-folder/file.txt")          # an OSError of a command's own file: not a library's
    except OSError as exc:
        assert explained(exc) is None


def test_other_errors_of_a_package_raise_as_they_are_except_torch_s_own(packages):
    name = packages("llbuggy", "raise RuntimeError('a bug of its own')\n")
    with pytest.raises(RuntimeError, match="a bug of its own") as caught:
        import_or_explain(name)
    assert not isinstance(caught.value, LibraryUnavailable)
    problem = explained(RuntimeError("The NVIDIA driver on your system is too old"), importing_torch=True)
    assert str(problem).startswith("PyTorch could not be loaded (RuntimeError: The NVIDIA driver")


def test_a_module_of_layerloom_that_is_missing_is_not_an_install_problem():
    with pytest.raises(ModuleNotFoundError):
        import_or_explain("layerloom.graph.no_such_module")
    assert explained(ImportError("cannot import name 'x'", name="layerloom.graph.blocks")) is None
