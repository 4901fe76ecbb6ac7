"""Run many CLI invocations in one interpreter (for tests/test_fuzz_cli.py).

Reads {"home", "cases"} from the JSON file named on the command line; for each case runs
`lmctui.cli.main` in-process with that argv, captures stderr, and compares the bytes of
every file under the home before and after. Prints one JSON report on stdout.
"""

import contextlib
import hashlib
import io
import json
import os
import sys
from pathlib import Path


def fingerprint(home: Path) -> dict:
    """path -> sha256 of every file under the home (the lock file's content is empty and ignored)."""
    out = {}
    for root, _, files in os.walk(home):
        for name in files:
            path = Path(root) / name
            out[str(path.relative_to(home))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def run(argv: list[str]) -> tuple[object, str, str]:
    from lmctui.cli import main

    stdout, stderr = io.StringIO(), io.StringIO()
    sys.argv = ["lmctui-cli", *argv]
    code = None
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            main()
        except SystemExit as exit_:
            code = exit_.code
        except BaseException as err:  # a crash is a finding, not the end of the run
            code = f"raised {type(err).__name__}"
            stderr.write(f"Traceback: {type(err).__name__}: {err}\n")
    return code, stdout.getvalue(), stderr.getvalue()


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    home = Path(spec["home"])
    before = fingerprint(home)
    results = []
    for argv in spec["cases"]:
        code, _, stderr = run(argv)
        after = fingerprint(home)
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        results.append({"argv": [a[:80] for a in argv], "code": code, "stderr": stderr[:500], "changed": changed})
        before = after
    report = {"results": results, "torch_imported": "torch" in sys.modules}
    sys.__stdout__.write(json.dumps(report) + "\n")


if __name__ == "__main__":
    main()
