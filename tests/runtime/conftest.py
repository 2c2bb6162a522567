import pytest

from .project_helpers import ProjectRunner


@pytest.fixture(scope="session")
def project_runner(tmp_path_factory):
    """Runs exported projects' train.py without Layerloom (tests/runtime/project_helpers.py)."""
    runner = ProjectRunner(tmp_path_factory.mktemp("project-runs"))
    yield runner
    runner.close()
