"""The README's first commands are the ones CI runs; keep them honest."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _commands():
    return [line[4:] for line in (ROOT / "README.md").read_text().splitlines()[:12] if line.startswith("    ")]


def test_readme_opens_with_install_and_test_commands():
    cmds = _commands()
    assert len(cmds) >= 2
    assert "pip install" in cmds[0] and "panel serve app" in cmds[0]
    assert "apt-get install" in cmds[1] and "chromium" in cmds[1] and "python -m pytest" in cmds[1]
    assert '.[dev]' in cmds[1]
    # a fresh Debian has no npm: the command installs it where it is missing, before using it
    assert cmds[1].index("apt-get install -y npm") < cmds[1].index("npm ci --prefix tests/system")


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "grep -m1 -E '^    .*python -m pytest' README.md" in ci
    first = next(c for c in _commands() if "python -m pytest" in c)
    assert first == _commands()[1]


def test_extras_cover_what_the_tests_import():
    text = (ROOT / "pyproject.toml").read_text()
    for pkg in ("panel", "holoviews", "bokeh", "param", "openTSNE", "playwright", "pytest", "dask"):
        assert re.search(rf'"{pkg}[><=\[]', text, re.I), pkg
