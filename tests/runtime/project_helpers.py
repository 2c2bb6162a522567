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
