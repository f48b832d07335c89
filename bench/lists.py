"""Benchmark of the admin's list pages, forms and home dashboard over HTTP, on a million users.

    python bench/lists.py [--requests 30] [--warmup 3] [--source bo_bench] [--reuse] [--keep]

Copies the million-user demo database (``--source``, made by ``flask seed-demo --users
1000000``; about 2.7 million payments) to its own database ``bo_bench_lists`` with
``createdb -T``, brings it to the current migration (``flask db upgrade``), runs ANALYZE,
creates a staff member with ``flask setup-admin``, and serves the application with gunicorn
(one sync worker, 127.0.0.1, a free port, production settings with ``BENCH_SQL_COUNT=1`` so
every response says how many SQL statements it ran). It then signs in over HTTP like a
browser and requests each page ``--warmup`` times, then ``--requests`` times, one after the
other, and prints median and p95 times and the statement count per page, beside the anchors
of the same pages on the same data (Django admin, stock Flask-Admin). The database is
dropped at the end unless ``--keep``.

Not a test: the machine's load changes the figures, so the load average is printed too.
Exit status 1 if a median misses its target or a list page runs more than 5 statements.
"""

from __future__ import annotations

import argparse
import base64
import http.cookiejar
import json
import os
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "bo_bench_lists"
STAFF_EMAIL = "bench-lists@backoffice.test"
LIST_STATEMENTS = 5


@dataclass(frozen=True)
class Case:
    name: str
    path: str
    target_ms: float
    anchors: tuple[str, str] = ("", "")  # Django admin, stock Flask-Admin (ms)
    is_list: bool = True


def server() -> tuple[str, str]:
    """(host, user) of the PostgreSQL server (PGHOST / PGUSER, default 127.0.0.1 / postgres)."""
    return os.environ.get("PGHOST", "127.0.0.1"), os.environ.get("PGUSER", "postgres")


def database_url() -> str:
    host, user = server()
    return f"postgresql://{user}@{host}:5432/{DATABASE}"


def run(*command: str, env: dict[str, str] | None = None, stdin: str | None = None) -> str:
    result = subprocess.run(
        command,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def psql(sql: str, database: str = DATABASE) -> str:
    host, user = server()
    return run("psql", "-h", host, "-U", user, "-d", database, "-Atc", sql).strip()


def flask_env(**extra: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url(),
        "BACKOFFICE_ENV": "development",
        "FLASK_APP": "wsgi",
        "DB_STATEMENT_TIMEOUT_MS": "0",
        **extra,
    }


def prepare(source: str, reuse: bool) -> None:
    host, user = server()
    exists = psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'", "postgres")
    if exists and not reuse:
        run("dropdb", "-h", host, "-U", user, "--force", DATABASE)
    if not exists or not reuse:
        print(f"copying {source} to {DATABASE} ...", flush=True)
        run("createdb", "-h", host, "-U", user, "-T", source, DATABASE)
    python = sys.executable
    run(python, "-m", "flask", "db", "upgrade", env=flask_env())
    psql("ANALYZE")
    password = secrets.token_urlsafe(18)
    run(
        python,
        "-m",
        "flask",
        "setup-admin",
        STAFF_EMAIL,
        "--password-stdin",
        env=flask_env(REQUIRE_TOTP="false"),
        stdin=password + "\n",
    )
    os.environ["BENCH_STAFF_PASSWORD"] = password


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_gunicorn(port: int, stats_cache_seconds: int) -> subprocess.Popen[bytes]:
    environment = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "BACKOFFICE_ENV": "production",
        "SECRET_KEY": secrets.token_hex(32),
        "SESSION_COOKIE_SECURE": "false",  # plain HTTP on the loopback
        "HSTS_SECONDS": "0",
        "REQUIRE_TOTP": "false",
        "BENCH_SQL_COUNT": "1",
        "STATS_CACHE_SECONDS": str(stats_cache_seconds),
        "LOG_LEVEL": "WARNING",
        "DB_POOL_SIZE": "6",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "wsgi:app",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--worker-class",
            "sync",
            "--timeout",
            "120",
        ],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return process
        except OSError:
            if process.poll() is not None:
                sys.exit("gunicorn did not start")
            time.sleep(0.2)
    process.terminate()
    sys.exit("gunicorn did not start listening within 60 s")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


class Browser:
    """A signed-in HTTP client: cookies kept, redirects not followed."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), NoRedirect()
        )

    def get(self, path: str) -> tuple[int, bytes, dict[str, str]]:
        return self.request(urllib.request.Request(self.base + path))

    def request(self, request: urllib.request.Request) -> tuple[int, bytes, dict[str, str]]:
        try:
            with self.opener.open(request, timeout=120) as response:
                return response.status, response.read(), dict(response.headers)
        except urllib.error.HTTPError as error:
            return error.code, error.read(), dict(error.headers)

    def sign_in(self, email: str, password: str) -> None:
        status, body, _ = self.get("/auth/sign-in")
        token = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', body)
        token = token or re.search(rb'name="csrf_token" value="([^"]+)"', body)
        if status != 200 or token is None:
            sys.exit(f"the sign-in page answered {status} without a CSRF token")
        data = urllib.parse.urlencode(
            {"email": email, "password": password, "csrf_token": token.group(1).decode()}
        ).encode()
        status, _, headers = self.request(
            urllib.request.Request(self.base + "/auth/sign-in", data=data, method="POST")
        )
        if status != 302 or "sign-in" in headers.get("Location", ""):
            sys.exit(f"sign-in failed ({status} {headers.get('Location')})")


def keyset_cursor(offset: int) -> str:
    """The "Older" link's cursor after ``offset`` users, newest first (as listing.py makes)."""
    row = psql(
        'SELECT to_char("createdAt", \'YYYY-MM-DD"T"HH24:MI:SS.US\') || \'|\' || id FROM "User" '
        f'ORDER BY "createdAt" DESC, id DESC OFFSET {offset - 1} LIMIT 1'
    )
    created, user_id = row.split("|")
    raw = json.dumps([created, user_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cases() -> list[Case]:
    sample = psql(
        "SELECT id || '|' || email FROM \"User\" WHERE email LIKE '%.%@%' "
        'ORDER BY "createdAt" DESC, id DESC OFFSET 123456 LIMIT 1'
    )
    user_id, email = sample.split("|")
    local = email.split("@")[0]
    prefix, fragment = local[:-2], local[3:] + "@"
    role = urllib.parse.urlencode({"flt0_0": "ADMIN"})  # the Users view's first filter: Role
    return [
        Case("users, first page", "/admin/users/", 25, ("181", "137")),
        Case(
            "users, page 10,000 (Older link)",
            "/admin/users/?" + urllib.parse.urlencode({"after": keyset_cursor(500_000)}),
            25,
            ("352", "312"),
        ),
        Case("users, page 10,000 (page number)", "/admin/users/?page=10000", 25, ("352", "312")),
        Case(
            f"search e-mail exact ({email})",
            "/admin/users/?" + urllib.parse.urlencode({"search": email, "match": "exact"}),
            25,
        ),
        Case(
            f"search e-mail prefix ({prefix})",
            "/admin/users/?" + urllib.parse.urlencode({"search": prefix}),
            25,
        ),
        Case(
            f"search e-mail contains ({fragment})",
            "/admin/users/?" + urllib.parse.urlencode({"search": fragment, "match": "contains"}),
            25,
            ("496", "668"),
        ),
        Case("users, filter role = ADMIN", f"/admin/users/?{role}", 25, ("184", "135")),
        Case("payments, first page with user e-mail", "/admin/payments/", 25, ("213", "139")),
        Case("user edit form", f"/admin/users/edit/?id={user_id}", 15, ("15", "6"), False),
        Case("user details page", f"/admin/users/details/?id={user_id}", 25, is_list=False),
        Case("home dashboard (figures cached, default 60 s)", "/admin/", 300, is_list=False),
    ]


def measure(browser: Browser, case: Case, warmup: int, count: int) -> dict[str, object]:
    for _ in range(warmup):
        status, _, _ = browser.get(case.path)
        if status != 200:
            sys.exit(f"{case.name}: {case.path} answered {status}")
    times, statements = [], set()
    for _ in range(count):
        started = time.perf_counter()
        status, _, headers = browser.get(case.path)
        times.append((time.perf_counter() - started) * 1000)
        statements.add(int(headers.get("X-SQL-Statements", "-1")))
    times.sort()
    return {
        "median": statistics.median(times),
        "p95": times[max(0, round(0.95 * len(times)) - 1)],
        "statements": "/".join(str(s) for s in sorted(statements)),
        "max_statements": max(statements),
    }


def table(rows: list[tuple[Case, dict[str, object]]]) -> bool:
    header = ("page", "median ms", "p95 ms", "SQL", "target", "Django", "Flask-Admin", "")
    lines = [header]
    ok = True
    for case, figures in rows:
        median = float(figures["median"])  # type: ignore[arg-type]
        missed = median > case.target_ms or (
            case.is_list and int(figures["max_statements"]) > LIST_STATEMENTS  # type: ignore[arg-type]
        )
        ok = ok and not missed
        lines.append(
            (
                case.name,
                f"{median:.1f}",
                f"{float(figures['p95']):.1f}",  # type: ignore[arg-type]
                str(figures["statements"]),
                f"≤ {case.target_ms:g}",
                case.anchors[0] or "–",
                case.anchors[1] or "–",
                "MISSED" if missed else "ok",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for index, line in enumerate(lines):
        print(" | ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip())
        if index == 0:
            print("-+-".join("-" * width for width in widths))
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--source", default="bo_bench")
    parser.add_argument("--reuse", action="store_true", help=f"keep an existing {DATABASE}")
    parser.add_argument("--keep", action="store_true", help=f"do not drop {DATABASE}")
    options = parser.parse_args()

    prepare(options.source, options.reuse)
    users = psql('SELECT count(*) FROM "User"')
    payments = psql("SELECT reltuples::bigint FROM pg_class WHERE relname = 'PaymentHistory'")
    print(f"{DATABASE}: {int(users):,} users, about {int(payments):,} payments")
    load_before = os.getloadavg()
    rows: list[tuple[Case, dict[str, object]]] = []
    try:
        for cache_seconds, selected in ((60, cases()), (0, None)):
            port = free_port()
            process = start_gunicorn(port, cache_seconds)
            try:
                browser = Browser(f"http://127.0.0.1:{port}")
                browser.sign_in(STAFF_EMAIL, os.environ["BENCH_STAFF_PASSWORD"])
                if selected is None:
                    selected = [
                        Case("home dashboard (figures recomputed)", "/admin/", 300, is_list=False)
                    ]
                for case in selected:
                    rows.append((case, measure(browser, case, options.warmup, options.requests)))
            finally:
                stop(process)
    finally:
        if not options.keep:
            host, user = server()
            run("dropdb", "-h", host, "-U", user, "--force", DATABASE)
    load_after = os.getloadavg()
    print()
    ok = table(rows)
    print()
    print(
        f"{options.requests} requests per page after {options.warmup} warm-up, one gunicorn "
        f"sync worker; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after "
        f"({os.cpu_count()} CPUs). SQL = statements per request (X-SQL-Statements)."
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
