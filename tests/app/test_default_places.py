"""Where the app proposes to write before the person has chosen: a desktop launcher starts it in "/" (or the
home folder), where runs, sweeps and imports went into /runs, /sweeps and /imports; they now go to a
Layerloom folder in the documents, and beside the graph's file when it has one."""
from pathlib import Path
from types import SimpleNamespace

import pytest
from PySide6.QtCore import QSettings

from layerloom.app import places, settings
from layerloom.app.importing import Importing
from layerloom.app.panels.experiments import ExperimentPanel


@pytest.mark.parametrize("start", ["/", "home"])
def test_a_desktop_launch_keeps_runs_sweeps_and_imports_in_the_documents(start, isolated_settings, monkeypatch, qtbot):
    home = isolated_settings / "home"
    monkeypatch.chdir("/" if start == "/" else home)
    QSettings().remove(settings.RUNS_DIR)                      # no runs folder chosen yet
    documents = home / "Documents" / "Layerloom"
    assert settings.runs_dir() == documents / "runs"
    panel = ExperimentPanel()
    qtbot.addWidget(panel)
    qtbot.keyClicks(panel.name, "lr-sweep")
    assert Path(panel.name_note.toolTip()) == documents / "sweeps" / "lr-sweep"
    assert Importing(SimpleNamespace(session=SimpleNamespace(path=None))).folder() == documents / "imports"
    graph = isolated_settings / "work" / "net.loom.json"
    graph.parent.mkdir()
    assert Importing(SimpleNamespace(session=SimpleNamespace(path=graph))).folder() == graph.parent
    assert places.graphs_folder() == home                      # Open and Save As: not in "/" either
    settings.add_recent_file(graph)
    assert places.graphs_folder() == graph.parent              # where the person last opened or saved a graph


def test_started_in_a_folder_to_work_in_runs_stay_there(isolated_settings, monkeypatch):
    """From a terminal in a project folder, as `layerloom train` does: ./runs."""
    monkeypatch.chdir(isolated_settings)
    QSettings().remove(settings.RUNS_DIR)
    assert settings.runs_dir() == isolated_settings / "runs"


def test_a_launch_in_a_home_reached_through_a_link_keeps_runs_in_the_documents(isolated_settings, monkeypatch):
    """The working folder reads as the resolved path, the home folder as its link: both are home."""
    link = isolated_settings / "home-link"
    link.symlink_to(isolated_settings / "home", target_is_directory=True)
    monkeypatch.setenv("HOME", str(link))
    monkeypatch.chdir(link)
    QSettings().remove(settings.RUNS_DIR)
    assert Path.cwd() != Path.home()
    assert settings.runs_dir() == places.documents_folder() / "runs"


def test_a_folder_that_cannot_be_read_is_not_proposed(isolated_settings, monkeypatch):
    taken = isolated_settings / "exports" / "net"
    taken.mkdir(parents=True)
    real = Path.iterdir

    def refused(self):
        if self == taken:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)
    monkeypatch.setattr(Path, "iterdir", refused)
    assert places.free_folder(taken.parent, "net") == taken.parent / "net-2"
