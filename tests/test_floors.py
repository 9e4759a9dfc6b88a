"""The floors of the house (docs/architecture.md) hold, the import rules that keep them would catch a breach, and
the README's table of rooms matches the tree.

`lint-imports` reads the contracts in pyproject.toml. These tests run it on the tree as it is, and on copies of
the tree with one import that breaks a rule, to show that each kind of breach fails the build.
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parent.parent
PACKAGES = ("acuvim_console", "devices", "telemetry", "firmware", "alerts", "groups")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=root, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_tree_keeps_every_contract():
    result = lint_imports(PROJECT_DIR)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.fixture
def tree_copy(tmp_path):
    """The packages and the contracts in a folder of their own."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in PACKAGES:
        shutil.copytree(PROJECT_DIR / package, tmp_path / package, ignore=ignore)
    shutil.copy(PROJECT_DIR / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def add_import(root: Path, module: str, statement: str) -> None:
    path = root / (module.replace(".", "/") + ".py")
    path.write_text(path.read_text() + f"\n{statement}  # noqa\n")


@pytest.mark.parametrize(
    ("module", "statement", "complaint"),
    [
        # A floor importing one above it: groups sit below the devices' registry.
        ("groups.models", "from devices.registry import tokens", "groups is not allowed to import devices.registry"),
        # An app reaching into the bridge, which only the entry points may start.
        ("telemetry.ingest", "import acuvim_console.bridge.control", "not allowed to import acuvim_console.bridge"),
        # The device contract importing an app.
        ("acuvim_console.protocol.topics", "import devices.models", "not allowed to import devices"),
        # A module importing an admin module, which nothing but the admin and the URL conf may do.
        ("firmware.rollouts", "from alerts import admin", "firmware is not allowed to import alerts.admin"),
        # The cockpit reaching into the alert list's admin views for what the alerts' services own.
        ("devices.cockpit.views", "from alerts import admin_views", "not allowed to import alerts.admin_views"),
        # Two modules of one package importing each other.
        ("alerts.rules", "from alerts import tasks", "No cycles are allowed in alerts"),
    ],
)
def test_a_breaking_import_fails_the_check(tree_copy, module, statement, complaint):
    add_import(tree_copy, module, statement)
    result = lint_imports(tree_copy)
    assert result.returncode != 0
    assert complaint in " ".join(result.stdout.split()), result.stdout


def rooms_table() -> str:
    """The README's "where things live" table: the rows between its header and the next section."""
    readme = (PROJECT_DIR / "README.md").read_text()
    start = readme.index("| floor | place | job |")
    return readme[start : readme.index("\n## ", start)]


def test_the_readme_names_every_top_level_folder_and_only_paths_that_exist():
    named = re.findall(r"`([^`\s]+)`", rooms_table())
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=60, check=True
    ).stdout.split()
    folders = {path.split("/")[0] for path in tracked if "/" in path}
    full_paths = [name for name in named if name.split("/")[0] in folders and "/" in name]
    assert [path for path in full_paths if not (PROJECT_DIR / path).exists()] == []
    assert sorted(folders - {path.split("/")[0] for path in full_paths}) == []
