#!/usr/bin/env python3
"""`make run`'s last word: wait until the service answers `/readyz` with 200, then say so in
one block (the demo's links, with a fresh token for its profile, from the command given; the
API's and the admin's links alone without one), and stay until stopped.

    python scripts/ready.py URL [manage.py demo ...]

Standard library only (it runs before anything else is known to work).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

TIMEOUT_SECONDS = 300


def ready(url: str) -> str | None:
    """None when ready, else what is missing."""
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:
            return None if response.status == 200 else f"HTTP {response.status}"
    except urllib.error.HTTPError as error:
        return error.read().decode(errors="replace").strip() or f"HTTP {error.code}"
    except OSError as error:
        return f"not listening yet ({error})"


def links(url: str) -> str:
    """The block `manage.py demo` prints, less the demo."""
    admin = "(a login: .venv/bin/python manage.py createsuperuser)"
    return "\n".join(
        [
            "",
            f"Playstate is ready at {url}",
            "",
            f"  API     {url}/api/docs/",
            f"  Admin   {url}/admin/  {admin}",
            "  Token   .venv/bin/python manage.py issue_token USERNAME --profile PROFILE_ID",
            "",
            "Ctrl-C stops everything.",
            "",
        ]
    )


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    url, announce = argv[0].rstrip("/"), argv[1:]
    # Served on every address (HOST=0.0.0.0): probed, and linked to, on loopback.
    url = url.replace("//0.0.0.0:", "//127.0.0.1:").replace("//[::]:", "//[::1]:")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    started = time.monotonic()
    said = 0.0
    while (missing := ready(url)) is not None:
        waited = time.monotonic() - started
        if waited > TIMEOUT_SECONDS:
            print(f"not ready after {TIMEOUT_SECONDS} s: {missing}", flush=True)
            break
        if waited - said >= 10:
            print(f"waiting for {url}/readyz ({waited:.0f} s): {missing}", flush=True)
            said = waited
        time.sleep(0.5)
    else:
        print(f"ready in {time.monotonic() - started:.1f} s", flush=True)
        if announce:
            subprocess.run(announce, check=False)
        else:
            print(links(url), flush=True)
    try:
        while True:  # honcho stops every process when one ends: this one stays
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
