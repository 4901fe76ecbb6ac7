"""Tampered registries and files: refused in one line, nothing outside the home touched."""

import json

import pytest

from conftest import registry_bytes


@pytest.fixture
def trained(cli, home):
    result = cli("train", "--width", "8", "--depth", "1", "--seeds", "0,1", "--epochs", "1", "--json")
    assert result.code == 0, result.stderr
    return [r["id"] for r in result.json["runs"]]


def edit_registry(home, change):
    """Change the runs table by hand, as a careless user would: its snapshot after a compaction."""
    from lmctui.store import Registry

    Registry(home).compact()
    path = home / "tables" / "runs.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def one_line_refusal(result):
    lines = result.stderr.strip().splitlines()
    return result.code == 2 and len(lines) == 1 and "Traceback" not in result.stderr


def test_an_id_that_is_a_path_never_becomes_one(cli, home, tmp_path, trained):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("mine")

    def plant(data):
        doc = next(iter(data["runs"].values()))
        doc["id"] = "../../victim"

    edit_registry(home, plant)
    before = registry_bytes(home)
    for args in (["rm", ".."], ["show", ".."], ["rm", "../../victim"]):
        result = cli(*args)
        assert one_line_refusal(result), (args, result.stderr)
    assert (victim / "keep.txt").read_text() == "mine" and registry_bytes(home) == before


@pytest.mark.parametrize("damage", ["bytes", "list_table", "no_id"])
def test_malformed_registries_are_refused_in_one_line_and_left_alone(cli, home, trained, damage):
    edit_registry(home, lambda data: None)  # a snapshot to damage
    path = home / "tables" / "runs.json"
    if damage == "bytes":
        path.write_bytes(path.read_bytes()[:40] + b"\xff\xfe" + path.read_bytes()[40:])
    elif damage == "list_table":
        edit_registry(home, lambda data: data.__setitem__("runs", list(data["runs"].values())))
    else:
        edit_registry(home, lambda data: next(iter(data["runs"].values())).pop("id"))
    before = path.read_bytes()
    for args in (["list"], ["show", trained[0]], ["train", "--epochs", "1"], ["jobs"]):
        result = cli(*args)
        assert one_line_refusal(result) and "corrupt" in result.stderr, (args, result.stderr)
    assert path.read_bytes() == before


def test_a_run_without_its_config_is_refused_not_crashed_on(cli, home, trained):
    edit_registry(home, lambda data: [d.pop("config") for d in data["runs"].values()])
    result = cli("interp", *trained)
    assert one_line_refusal(result) and "config" in result.stderr


def test_damaged_metrics_lines_are_counted_not_fatal(cli, home, trained):
    metrics = home / "runs" / trained[0] / "metrics.jsonl"
    metrics.write_bytes(metrics.read_bytes() + b"\x00\xff garbage\n{\"epoch\": \"x\"}\n")
    shown = cli("show", trained[0], "--json")
    assert shown.code == 0 and shown.json["metrics_skipped"] == 2 and len(shown.json["metrics"]) == 1


def test_a_lock_that_is_a_folder_is_refused_by_commands_and_workers(cli, home, trained):
    assert cli("train", "--epochs", "1", "--queue").code == 0
    (home / ".lock").unlink()
    (home / ".lock").mkdir()
    result = cli("train", "--epochs", "1")
    assert one_line_refusal(result) and ".lock" in result.stderr, result.stderr
    worker = cli("worker", "--once")  # its start-up line, then the reason it stopped: no "queue empty", no traceback
    last = worker.stderr.strip().splitlines()[-1]
    assert worker.code == 2 and ".lock" in last and "Traceback" not in worker.stderr


def test_an_export_never_overwrites_the_registry(cli, home, trained):
    before = registry_bytes(home)
    result = cli("export", "runs", "--out", home / "registry.json")
    assert one_line_refusal(result) and registry_bytes(home) == before


# -- lmctui serve --------------------------------------------------------------------------
def start_serve(tmp_path):
    """`lmctui serve` on a free loopback port; (process, printed URL, port)."""
    import select
    import socket
    import subprocess
    import sys
    import time

    from conftest import REPO

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "lmctui.tui.app", "serve", "--port", str(port),
                             "--home", str(tmp_path / "home")], cwd=REPO, stderr=subprocess.PIPE, text=True)
    deadline, line = time.monotonic() + 30, ""
    while "serving on" not in line and time.monotonic() < deadline:
        if select.select([proc.stderr], [], [], 1)[0]:
            line = proc.stderr.readline()
    url = line.split("serving on ")[1].split()[0] if "serving on" in line else None
    for _ in range(100):  # the line comes just before the socket is listening
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    return proc, url, port


def http_get(url, headers=None):
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as response:
            return response.status, response.read().decode(), response.headers
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(), err.headers


def websocket_status(port, headers=None) -> int:
    """The status of a websocket handshake to /ws (101: the app would start)."""
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/ws?width=80&height=24", headers={
        "Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", **(headers or {})})
    status = connection.getresponse().status
    connection.close()
    return status


def test_serve_lets_in_only_whoever_has_the_printed_token(tmp_path):
    pytest.importorskip("textual_serve")
    proc, url, port = start_serve(tmp_path)
    try:
        assert url and "token=" in url, url
        status, page, headers = http_get(url)
        assert status == 200 and "textual-terminal" in page
        assert "googleapis" not in page and "https://" not in page  # nothing from outside hosts
        cookie = headers["Set-Cookie"].split(";")[0]
        bare = f"http://127.0.0.1:{port}"
        assert http_get(bare + "/")[0] == 403
        assert http_get(bare + "/?token=" + "A" * 43)[0] == 403
        assert http_get(bare + "/static/js/textual.js")[0] == 403
        assert http_get(bare + "/", {"Cookie": cookie.split("=")[0] + "=wrong"})[0] == 403
        assert http_get(bare + "/", {"Cookie": cookie})[0] == 200  # the cookie of the first visit is enough
        assert websocket_status(port) == 403
        assert websocket_status(port, {"Cookie": cookie.split("=")[0] + "=wrong"}) == 403
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.parametrize("args", [["--port", "abc"], ["--port", "0"], ["--port", "65536"], ["--host", "not a host"],
                                  ["--host", "10.1.2.3"], ["--home", ""], ["--home", "{file}"],
                                  ["--public-url", "ftp://x"], ["--public-url", "http://h:1/path"],
                                  ["--cpu-jobs", "0"], ["--bogus"]])
def test_serve_refuses_bad_arguments_in_one_line(tmp_path, args):
    import subprocess
    import sys

    from conftest import REPO

    (tmp_path / "file").write_text("not a folder")
    args = [a.format(file=tmp_path / "file") for a in args]
    done = subprocess.run([sys.executable, "-m", "lmctui.tui.app", "serve", "--home", str(tmp_path / "h"), *args],
                          cwd=REPO, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "h").exists()
