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
    # every data file under presets/ (graphs, lessons and their texts) is shipped
    patterns = config["package-data"]["layerloom.presets"]
    data = [p.relative_to(ROOT / "presets") for p in (ROOT / "presets").rglob("*")
            if p.is_file() and p.suffix != ".py" and "__pycache__" not in p.parts]
    assert len(data) >= 9
    for rel in data:
        assert any(rel.match(pattern) and len(rel.parts) == len(Path(pattern).parts) for pattern in patterns), \
            f"presets/{rel} is not shipped by pyproject's package-data"
