"""Installs without some extras, as users make them: real processes whose imports of the missing
extras' modules fail, and a library release outside the supported range."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx

from tickcast.features import EXTRAS

# Runs tickcast's CLI in a process where the given top-level modules cannot be imported, as if
# their distributions were not installed: argv[1] is a comma-separated list, the rest is the CLI's.
BLOCKED_RUNNER = """
import importlib.abc, importlib.util, sys
blocked = set(filter(None, sys.argv[1].split(",")))
class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, Blocker())
_find_spec = importlib.util.find_spec
importlib.util.find_spec = lambda name, *a: None if name in blocked else _find_spec(name, *a)
from tickcast.cli.main import main
sys.exit(main(sys.argv[2:]))
"""

ALL_OPTIONAL = sorted({module for modules in EXTRAS.values() for module in modules})


def run_without(modules: list[str], *args: str, **kwargs: object) -> subprocess.Popen[str]:
    command = [sys.executable, "-c", BLOCKED_RUNNER, ",".join(modules), *args]
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs
    )  # type: ignore[call-overload]


def finished(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=60)
    return process.returncode, out, err


def test_the_sdk_and_its_commands_need_no_extra(tmp_path: Path) -> None:
    code = "\n".join(
        [
            BLOCKED_RUNNER.split("from tickcast.cli.main")[0],
            "import tickcast.client, tickcast.cli.main",
            "loaded = sorted({m.split('.')[0] for m in sys.modules} & blocked)",
            "assert not loaded, loaded",
            "print('ok')",
        ]
    )
    done = subprocess.run(
        [sys.executable, "-c", code, ",".join(ALL_OPTIONAL)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and done.stdout == "ok\n", done.stderr
    for command in (["tail", "--help"], ["record", "--help"], ["keys", "--help"]):
        returncode, out, err = finished(run_without(ALL_OPTIONAL, *command))
        assert returncode == 0 and "usage: tickcast" in out, (command, err)


def test_serve_names_the_missing_extra(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path), "--port", "0"]
    cases = [
        (EXTRAS["server"], [], "tickcast serve needs tickcast's 'server' extra"),
        (EXTRAS["redis"], ["--bus", "redis://127.0.0.1:9/0"], "the Redis bus"),
        (EXTRAS["postgres"], ["--store", "postgresql://u:secret@127.0.0.1:9/db"], "PostgreSQL"),
    ]
    for modules, args, feature in cases:
        returncode, out, err = finished(run_without(list(modules), "serve", *data, *args))
        assert returncode == 2, (feature, err)
        extra = next(name for name, mods in EXTRAS.items() if mods == modules)
        assert feature in err and f"pip install 'tickcast[{extra}]'" in err, err
        assert "secret" not in err and "Traceback" not in err


def test_serve_refuses_an_unsupported_release(tmp_path: Path) -> None:
    """A uvicorn newer than the supported range (its metadata found first on the path)."""
    fake = tmp_path / "site" / "uvicorn-0.99.0.dist-info"
    fake.mkdir(parents=True)
    (fake / "METADATA").write_text("Metadata-Version: 2.1\nName: uvicorn\nVersion: 0.99.0\n")
    done = subprocess.run(
        [sys.executable, "-m", "tickcast.cli.main", "serve", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(tmp_path / "site"), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 2, done.stderr
    assert "uvicorn 0.99.0 is installed, but tickcast supports uvicorn>=0.53,<0.56" in done.stderr


def test_without_the_predict_extra_the_server_runs_without_predictions(tmp_path: Path) -> None:
    server = run_without(
        list(EXTRAS["predict"]),
        *("serve", "--port", "0", "--data-dir", str(tmp_path), "--source", "none"),
    )
    try:
        assert server.stdout is not None
        match = re.search(r"http://127\.0\.0\.1:(\d+)", server.stdout.readline())
        assert match, "the server did not start"
        key = server.stdout.readline().rsplit(" ", 1)[-1].strip()
        base = f"http://127.0.0.1:{match.group(1)}"
        assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200
        models = httpx.get(f"{base}/api/v1/models", headers={"X-API-Key": key}, timeout=10)
        assert models.status_code == 404
    finally:
        server.terminate()
        _, err = server.communicate(timeout=30)
    assert "predictions are off: /ws and /api/v1/models need tickcast's 'predict' extra" in err
    asked = run_without(
        list(EXTRAS["predict"]),
        *("serve", "--data-dir", str(tmp_path), "--port", "0"),
        env={"TICKCAST_PREDICTIONS": "on", "PATH": "/usr/bin:/bin"},
    )
    returncode, _, err = finished(asked)
    assert returncode == 2 and "pip install 'tickcast[predict]'" in err, err
