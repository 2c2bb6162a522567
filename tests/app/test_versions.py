"""Versions read without importing the packages agree with the packages' and distributions' own."""
from importlib import metadata

import PySide6
import torch

import layerloom
from layerloom.app.pyside_workarounds import pyside_version
from layerloom.app.versions import installed_version


def test_versions_read_from_source_files_match_the_imported_packages():
    assert installed_version("torch") == torch.__version__
    assert installed_version("PySide6") == PySide6.__version__
    assert pyside_version() == tuple(PySide6.__version_info__[:2])


def test_layerloom_version_is_the_installed_distributions():
    assert layerloom.__version__ == metadata.version("layerloom")
