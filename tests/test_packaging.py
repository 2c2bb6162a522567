"""Every source folder ships in a plain (non-editable) install."""
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_package_folder_is_listed_in_pyproject():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapped = {Path(folder).as_posix() for folder in config["package-dir"].values()}
    assert set(config["packages"]) == set(config["package-dir"])
    for top in ("app", "graph", "runtime", "presets"):
        for init in (ROOT / top).rglob("__init__.py"):
            folder = init.parent.relative_to(ROOT).as_posix()
            if "__pycache__" not in folder:
                assert folder in mapped, f"{folder} is a package but pyproject.toml does not ship it"
    assert config["package-data"]["layerloom.presets"] == ["*.loom.json"]
