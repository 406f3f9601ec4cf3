"""The Python side of the headless-Chromium tests: serve the app, run a script, judge its report.

Each browser test starts the app with `ServerThread` (uvicorn on 127.0.0.1, on a free port or on
a socket bound beforehand), runs one `browser/*.mjs` script under node with `run_script`, and
hands the finished process to `checked_report`. The scripts share browser/harness.mjs, so every
report has the same shape: `{checks: [{name, ok, detail}], audits: [{page, url, violations}],
error}`.
Invariants: a report is kept in artifacts-test/pages/ before it is judged (so a failure can be
read afterwards); a report passes only with no error, every check ok, exactly the expected number
of checks and audits (fewer means a step was skipped), no serious or critical axe violation, and
a non-empty screenshot for every audited page.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import uvicorn

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
ARTIFACTS = ROOT / "artifacts-test" / "pages"
CHROMIUM = Path("/usr/bin/chromium")


def ensure_node_modules() -> None:
    """Install the browser tests' npm packages from the lock file when they are missing."""
    if (HERE / "node_modules" / "playwright-core").exists() and (
        HERE / "node_modules" / "axe-core"
    ).exists():
        return
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True, timeout=300)


def ensure_browser() -> None:
    """Fail with what to install when Chromium or node is missing; fetch the npm packages."""
    assert CHROMIUM.exists(), "install Debian's chromium (scripts/debian-packages.txt)"
    assert shutil.which("node"), "install nodejs (scripts/debian-packages.txt)"
    ensure_node_modules()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)


class ServerThread:
    """uvicorn serving one app on 127.0.0.1, in a background thread; entering yields its URL.

    Without `listener` uvicorn binds a free port; with one it serves that already bound socket
    (so the page's origin can be known before the server starts).
    """

    def __init__(self, app: object, listener: socket.socket | None = None) -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")  # type: ignore[arg-type]
        self.server = uvicorn.Server(config)
        run_args = {} if listener is None else {"sockets": [listener]}
        self.thread = threading.Thread(target=self.server.run, kwargs=run_args, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the page server did not start within 20 s")
            time.sleep(0.05)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def run_script(
    script: str, args: Sequence[str], *, timeout: float, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `browser/<script>` under node with `args`; `env` adds to a bare PATH."""
    return subprocess.run(
        ["node", str(HERE / "browser" / script), *args],
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
        check=False,
    )


def checked_report(
    finished: subprocess.CompletedProcess[str],
    report_name: str,
    *,
    expected_checks: int,
    expected_audits: int,
) -> dict[str, Any]:
    """Keep the script's report as artifacts-test/pages/`report_name` and assert it passed."""
    assert finished.returncode == 0, finished.stderr
    report: dict[str, Any] = json.loads(finished.stdout)
    (ARTIFACTS / report_name).write_text(
        json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8"
    )
    assert report["error"] is None, report["error"]
    failed = [item for item in report["checks"] if not item["ok"]]
    assert failed == [], failed
    assert len(report["checks"]) == expected_checks
    serious = [
        (audit["page"], violation)
        for audit in report["audits"]
        for violation in audit["violations"]
        if violation["impact"] in ("serious", "critical")
    ]
    assert serious == [], serious
    assert len(report["audits"]) == expected_audits
    assert all(
        (ARTIFACTS / f"{audit['page']}.png").stat().st_size > 0 for audit in report["audits"]
    )
    return report
