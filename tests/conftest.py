import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lmctui.cli import app

REPO = Path(__file__).resolve().parent.parent


class CliResult:
    def __init__(self, result):
        self.code = result.exit_code
        self.stdout = result.stdout
        self.stderr = result.stderr
        self.exception = result.exception

    @property
    def json(self):
        return json.loads(self.stdout)


@pytest.fixture(scope="session", autouse=True)
def own_cache_folder(tmp_path_factory):
    """The session's data cache (the digits, lmctui/core/digits.py) is its own, never the user's;
    subprocesses inherit it."""
    os.environ["LMCTUI_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))


@pytest.fixture
def home(tmp_path):
    return tmp_path / "home"


@pytest.fixture
def cli(home):
    """Run `lmctui-cli ARGS --home HOME` in-process; returns code, stdout, stderr."""
    runner = CliRunner()

    def invoke(*args, use_home=True):
        argv = [str(a) for a in args]
        if use_home:
            argv += ["--home", str(home)]
        return CliResult(runner.invoke(app, argv))

    return invoke


def cli_subprocess(args, home, **kwargs):
    """Start the real `lmctui-cli` in its own process."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "lmctui.cli", *map(str, args), "--home", str(home)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO,
                            **kwargs)


def registry_bytes(home: Path) -> bytes | None:
    """Every byte the registry keeps (manifest, table snapshots and journals, job progress), by path."""
    paths = [home / "registry.json"] + sorted((home / "tables").glob("*")) + sorted((home / "progress").glob("*"))
    found = [p for p in paths if p.is_file()]
    return b"".join(str(p.relative_to(home)).encode() + b"\0" + p.read_bytes() for p in found) if found else None
