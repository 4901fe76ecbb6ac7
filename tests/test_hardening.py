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
    for run in trained:  # schema 3: a run's config lives only in its folder
        (home / "runs" / run / "config.json").unlink()
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


# -- files that are not what they seem: refused in one line, never read forever ------------------
def run_cli(home, *args, timeout=20):
    """The real `lmctui-cli` in its own process, bounded in time (a hang fails the test, it does not stall it)."""
    import subprocess

    from conftest import cli_subprocess

    proc = cli_subprocess(args, home)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"lmctui-cli {' '.join(map(str, args))} still ran after {timeout} s")
    return proc.returncode, out, err


def plant(path, kind):
    """Put a FIFO, a link to /dev/zero or a 10 GB sparse file where `path` is."""
    import os

    path.unlink(missing_ok=True)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev_zero":
        path.symlink_to("/dev/zero")
    else:
        with open(path, "wb") as f:
            f.truncate(10 * 1024**3)


KINDS = ["fifo", "dev_zero", "sparse_10gb"]


@pytest.mark.parametrize("kind", KINDS)
def test_weights_that_are_not_a_regular_file_are_refused_not_read(home, trained, kind):
    plant(home / "runs" / trained[0] / "weights.safetensors", kind)
    before = registry_bytes(home)
    code, _, err = run_cli(home, "interp", *trained, "--points", "3")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert "weights" in err and registry_bytes(home) == before


@pytest.mark.parametrize("kind", KINDS)
def test_a_registry_table_that_is_not_a_regular_file_is_refused(home, trained, kind):
    from lmctui.store import Registry

    Registry(home).compact()
    plant(home / "tables" / "runs.json", kind)
    code, _, err = run_cli(home, "list")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert "runs.json" in err


@pytest.mark.parametrize("kind", ["fifo", "dev_zero"])
def test_a_lock_or_progress_file_that_is_not_a_regular_file_never_blocks(home, trained, kind):
    queued = run_cli(home, "train", "--epochs", "1", "--queue", "--json")
    job = json.loads(queued[1])["job"]["id"]
    (home / "progress").mkdir(exist_ok=True)
    plant(home / "progress" / f"{job}.json", kind)
    code, out, err = run_cli(home, "jobs", "--json")
    assert code == 0 and job in out, err  # progress is advisory: skipped
    plant(home / ".lock", kind)
    code, _, err = run_cli(home, "train", "--epochs", "1")
    assert code == 2 and len(err.strip().splitlines()) == 1 and ".lock" in err, err


def test_a_journal_line_from_a_newer_lmctui_says_to_upgrade(cli, home, trained):
    journal = home / "tables" / "runs.jsonl"
    line = {"g": json.loads(journal.read_text().splitlines()[-1])["g"],
            "ops": [{"op": "set", "id": "zzzzzz", "doc": {"id": "zzzzzz", "schema": 99, "kind": "hologram"}}]}
    journal.write_text(journal.read_text() + json.dumps(line) + "\n")
    before = registry_bytes(home)
    for args in (["list"], ["show", trained[0]]):
        result = cli(*args)
        assert one_line_refusal(result) and "newer lmctui" in result.stderr and "99" in result.stderr, result.stderr
    assert registry_bytes(home) == before


@pytest.mark.parametrize("target", ["tables", "."])
def test_an_exports_folder_linked_into_the_registry_never_lets_export_overwrite_it(cli, home, trained, target):
    (home / "exports").symlink_to(target)
    before = registry_bytes(home)
    for name in ("runs.jsonl", "runs.json", "registry.json"):
        result = cli("export", "runs", "--out", home / "exports" / name)
        assert one_line_refusal(result), result.stderr
    assert registry_bytes(home) == before and cli("list").code == 0


@pytest.mark.parametrize("kind", ["fifo", "dev_null_link", "dangling_link"])
def test_an_export_never_replaces_a_special_file_or_a_link(cli, home, tmp_path, trained, kind):
    import os

    out = tmp_path / "out.csv"
    if kind == "fifo":
        os.mkfifo(out)
    else:
        out.symlink_to("/dev/null" if kind == "dev_null_link" else tmp_path / "elsewhere.csv")
    result = cli("export", "runs", "--out", out)
    assert one_line_refusal(result), result.stderr
    assert os.path.lexists(out) and not out.is_file() and not (tmp_path / "elsewhere.csv").exists()


def test_an_export_into_a_missing_exports_folder_creates_it(cli, home, trained):
    result = cli("export", "runs", "--out", home / "exports" / "runs.csv")
    assert result.code == 0, result.stderr
    assert (home / "exports" / "runs.csv").read_text().startswith("id,")



def test_an_unreachable_slurm_is_refused_before_a_job_is_recorded(cli, home, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    result = cli("train", "--epochs", "1", "--executor", "slurm")
    assert one_line_refusal(result) and "Slurm" in result.stderr, result.stderr
    jobs = cli("jobs", "--json")
    assert jobs.code == 0 and jobs.json["jobs"] == []


# -- a job document is data, never a command ----------------------------------------------
@pytest.mark.parametrize("option", ["constraint=a\nb", "export=LD_PRELOAD=/tmp/x.so", "chdir=/tmp", "comment=$(id)",
                                    "constraint=a b", "wrap=id", "bogus-option=1", "time=abc", "mem=lots",
                                    "get-user-env=1", "comment=a\x00b"])
def test_a_slurm_option_that_would_run_or_break_something_is_refused(option):
    from lmctui.errors import UserError
    from lmctui.service.slurm.settings import ClusterSettings, parse_option

    with pytest.raises(UserError):
        ClusterSettings().merged(slurm_options=(parse_option(option),)).validate()
    key, _, value = option.partition("=")
    with pytest.raises(UserError):  # stored by hand in a job or cluster.json: the same rules
        ClusterSettings.from_dict({"slurm_options": [[key, value]]}).validate()


def test_a_slurm_option_that_is_a_setting_becomes_it():
    from lmctui.service.slurm.settings import ClusterSettings, parse_option

    options = (parse_option("time=1:30:00"), parse_option("constraint=a100&x"))
    settings = ClusterSettings().merged(slurm_options=options).validate()
    assert settings.time == 90 and settings.slurm_options == (("constraint", "a100&x"),)


def tamper_job(home, job_id, change):
    from lmctui.store import Registry

    registry = Registry(home)
    registry.update("jobs", job_id, change(registry.get("jobs", job_id)))


@pytest.mark.parametrize("field, value", [("cluster", {"slurm_options": [["comment", "x\n/usr/bin/id > /tmp/pwned"]]}),
                                          ("cluster", {"slurm_options": [["export", "LD_PRELOAD=/tmp/x.so"]]}),
                                          ("cluster", {"time": "abc"}), ("cluster", {"slurm_options": [["a"]]}),
                                          ("cluster", "not settings")])
def test_a_hand_edited_slurm_job_is_refused_on_requeue_and_nothing_runs(cli, home, trained, tmp_path, field, value):
    from lmctui.service.slurm.submit import job_document
    from lmctui.service.requests import TrainRequest
    from lmctui.service.slurm.settings import ClusterSettings
    from lmctui.store import Registry

    registry = Registry(home)
    doc = job_document(TrainRequest(), ClusterSettings())
    [job] = registry.insert_many("jobs", [{**doc, "status": "failed", "slurm_settled": True, "slurm_job_id": "7"}])
    tamper_job(home, job["id"], lambda d: {field: value})
    before = registry_bytes(home)
    result = cli("jobs", "--requeue", job["id"])
    assert one_line_refusal(result), result.stderr
    assert registry_bytes(home) == before and not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("content", ["[" * 100_000, '{"time": [1, 2]}', '{"slurm_options": [["a", "b", "c"]]}',
                                     '{"partition": 5}', "[]"])
def test_a_malformed_cluster_json_names_the_file_and_refuses(cli, home, trained, content):
    (home / "cluster.json").write_text(content)
    result = cli("train", "--epochs", "1", "--executor", "slurm")
    assert one_line_refusal(result) and "cluster.json" in result.stderr, result.stderr


def test_a_hand_edited_slurm_job_id_never_reaches_scancel_or_sacct(cli, home, trained):
    from lmctui.service.slurm.settings import ClusterSettings
    from lmctui.service.requests import TrainRequest
    from lmctui.service.slurm.submit import job_document
    from lmctui.store import Registry

    doc = job_document(TrainRequest(), ClusterSettings())
    [job] = Registry(home).insert_many("jobs", [{**doc, "status": "running", "slurm_job_id": "--user=root"}])
    assert cli("jobs").code == 0  # a refresh asks sacct of valid ids only
    before = registry_bytes(home)
    result = cli("jobs", "--cancel", job["id"])
    assert one_line_refusal(result) and "not a Slurm id" in result.stderr, result.stderr
    assert registry_bytes(home) == before


def test_a_queued_job_with_tampered_params_is_refused_by_the_worker(cli, home):
    from lmctui.store import Registry

    queued = cli("train", "--epochs", "1", "--queue", "--json").json["job"]["id"]
    tamper_job(home, queued, lambda d: {"params": {**d["params"], "data": {"name": "mnist", "data_dir": 5}}})
    worker = cli("worker", "--once")
    job = Registry(home).get("jobs", queued)
    assert job["status"] == "failed" and "data dir" in job["error"], job
    assert "Traceback" not in worker.stderr


def test_config_files_that_are_not_configs_are_refused_in_one_line(cli, home, tmp_path):
    import os

    os.mkfifo(tmp_path / "fifo.json")
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (tmp_path / "dir.json").write_text(json.dumps({"data": {"name": "mnist", "data_dir": 5}, "train": {},
                                                   "model": {"arch": "mlp", "width": 8, "depth": 1, "norm": "none"}}))
    for name in ("fifo.json", "deep.json", "dir.json"):
        result = cli("train", "--config", tmp_path / name)
        assert one_line_refusal(result) and ("config" in result.stderr or "data-dir" in result.stderr), \
            (name, result.stderr)


def test_an_empty_home_is_refused(cli):
    result = cli("list", "--home", "", use_home=False)
    assert one_line_refusal(result) and "--home" in result.stderr, result.stderr


def test_a_queued_ste_alignment_stops_when_cancelled(cli, home, trained):
    """STE used to run to its end after a cancel or SIGTERM: it now stops at its next step."""
    import threading

    from lmctui.store import Registry

    queued = cli("align", *trained, "--method", "ste", "--ste-steps", "100000", "--queue", "--json").json["job"]["id"]
    from conftest import cli_subprocess

    worker = cli_subprocess(["worker", "--once"], home)
    registry = Registry(home)
    for _ in range(600):
        if (registry.get("jobs", queued) or {}).get("status") == "running":
            break
        threading.Event().wait(0.1)
    assert cli("jobs", "--cancel", queued).code == 0
    worker.communicate(timeout=60)
    job = registry.get("jobs", queued)
    assert job["status"] == "cancelled" and job["error"].startswith("cancelled "), job  # with the step reached


def test_a_hand_edited_log_path_is_never_read(cli, home, trained):
    from lmctui.service.slurm.settings import ClusterSettings
    from lmctui.service.requests import TrainRequest
    from lmctui.service.slurm.submit import job_document
    from lmctui.store import Registry

    doc = job_document(TrainRequest(), ClusterSettings())
    [job] = Registry(home).insert_many("jobs", [{**doc, "status": "failed", "slurm_settled": True,
                                                 "slurm_stderr": "/etc/shadow"}])
    result = cli("jobs", "--log", job["id"])
    assert one_line_refusal(result) and "outside" in result.stderr, result.stderr
