"""Benchmark of the Stripe sync against a fake Stripe on 127.0.0.1.

The fake (tests/fakes/stripe_server.py, in a process of its own) holds 100 products, 300
prices, 20,000 customers, 20,000 subscriptions and 60,000 invoices with their payments.
Printed:
- floor: the time the SDK takes merely to page through the same listings (same params,
  typed objects through ``auto_paging_iter``), and the raw floor: the same paging the way the
  sync does it (``StripeClient.raw_request``, plain JSON, next page prefetched);
- the first full resync into an empty PostgreSQL database (only the users exist), and a
  second one right after (targets: <= 1.5x and <= 1.2x the floor);
- webhook throughput: signed events/s through POST /webhooks/stripe under gunicorn
  (target >= 200/s). Half are subscription events, a third of which find the subscription
  changed on Stripe (write, role recompute, audit); half are invoice.paid. Every event
  re-fetches its object from the fake.

Run from the repository root (2 cores: the figures move with the machine's load, which is
printed):
    python bench/stripe_sync.py [--customers N] [--events N] [--workers N] [--threads N]
It creates the database bo_bench_stripe on the server of BENCH_DATABASE_URL (default
postgresql://postgres@127.0.0.1:5432/postgres) and drops it afterwards.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import random
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
import sqlalchemy as sa  # noqa: E402
import stripe  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from tests.fakes.stripe_server import FakeStripe  # noqa: E402

DB_NAME = "bo_bench_stripe"
SECRET = "whsec_bench_backoffice"
DAY = 86400
STATUSES = [
    ("active", 70),
    ("trialing", 5),
    ("past_due", 5),
    ("unpaid", 2),
    ("canceled", 15),
    ("incomplete_expired", 3),
]
LISTINGS = [
    ("products", {}),
    ("prices", {}),
    ("customers", {}),
    ("subscriptions", {"status": "all"}),
    ("invoices", {"expand": ["data.payments"]}),
]


def build_fake(customers: int, seed: int = 7) -> FakeStripe:
    rng = random.Random(seed)
    fake = FakeStripe()
    fake.record_requests = False
    now = int(time.time())
    products = [
        fake.add_product(f"Plan {i}", tokens=100 + i, active=i % 10 != 9) for i in range(100)
    ]
    prices = [
        fake.add_price(p, unit_amount=500 + 100 * k, interval=("month", "year", "month")[k])
        for p in products
        for k in range(3)
    ]
    weights = [w for _, w in STATUSES]
    for number in range(customers):
        customer = fake.add_customer(
            f"user{number}@bench.example", user_id=f"benchuser{number:06d}"
        )
        status = rng.choices([s for s, _ in STATUSES], weights)[0]
        start = now - rng.randint(1, 25) * DAY
        sub = fake.add_subscription(
            customer, rng.choice(prices[:240]), status=status, start=start, end=start + 30 * DAY
        )
        for back in (2, 1, 0):
            period = (start - back * 30 * DAY, start - back * 30 * DAY + 30 * DAY)
            paid = back > 0 or status in ("active", "trialing", "canceled")
            fake.add_invoice(sub, status="paid" if paid else "open", period=period)
    return fake


def serve_fake(customers: int, ready: mp.Queue, commands: mp.Queue) -> None:
    fake = build_fake(customers).start()
    ready.put((fake.url, fake.api_key))
    while True:
        count = commands.get()  # change this many subscriptions "on Stripe", newest first
        with fake.lock:
            for sub_id in list(reversed(fake.store.order["subscriptions"]))[:count]:
                sub = fake.get(sub_id)
                sub["status"] = "past_due" if sub["status"] == "active" else "active"
        ready.put(count)


def admin_engine(admin_url: str) -> sa.Engine:
    from dashboard.database import resolve_database_url

    return sa.create_engine(
        resolve_database_url(admin_url, "instance"), isolation_level="AUTOCOMMIT"
    )


def create_database(admin_url: str) -> str:
    engine = admin_engine(admin_url)
    with engine.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)'))
        connection.execute(sa.text(f'CREATE DATABASE "{DB_NAME}"'))
    engine.dispose()
    return make_url(admin_url).set(database=DB_NAME).render_as_string(hide_password=False)


def drop_database(admin_url: str) -> None:
    engine = admin_engine(admin_url)
    with engine.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)'))
    engine.dispose()


def seed_users(app, customers: int) -> None:  # noqa: ANN001
    from dashboard.extensions import db
    from dashboard.models import User, utcnow

    now = utcnow()
    rows = [
        {"id": f"benchuser{n:06d}", "email": f"user{n}@bench.example", "updated_at": now}
        for n in range(customers)
    ]
    with app.app_context():
        for start in range(0, len(rows), 5000):
            db.session.execute(sa.insert(User), rows[start : start + 5000])
        db.session.commit()


def floor_seconds(url: str, key: str) -> tuple[float, int]:
    """The SDK paging through the listings with its typed objects (auto_paging_iter)."""
    client = stripe.StripeClient(key, base_addresses={"api": url}, max_network_retries=0)
    started, seen = time.perf_counter(), 0
    for resource, params in LISTINGS:
        listing = getattr(client.v1, resource).list({"limit": 100, **params})
        for _ in listing.auto_paging_iter():
            seen += 1
    return time.perf_counter() - started, seen


def raw_floor_seconds(url: str, key: str) -> float:
    """The SDK paging through the same listings the way the sync does: raw_request and
    JSON, no StripeObjects, next page prefetched (the gateway's own list_pages)."""
    from dashboard.services.stripe.gateway import Gateway

    gateway = Gateway(key=key, api_base=url, timeout=30, retries=0, retry_base=0.5)
    started = time.perf_counter()
    for resource, params in LISTINGS:
        for _ in gateway.list_pages(resource, params):
            pass
    return time.perf_counter() - started


def resync_seconds(app) -> tuple[float, dict]:  # noqa: ANN001
    from dashboard.core.actor import Actor
    from dashboard.extensions import db
    from dashboard.services.stripe.gateway import StripeSettings
    from dashboard.services.stripe.resync import stripe_resync

    with app.app_context():
        started = time.perf_counter()
        report = stripe_resync(
            actor=Actor.system("bench"), settings=StripeSettings.from_config(app.config)
        )
        seconds = time.perf_counter() - started
        db.session.remove()
    return seconds, report.to_dict()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sample_events(url: str, key: str, count: int) -> list[bytes]:
    """Half subscription events (the caller changes a third of them on Stripe first, so
    they write, recompute the user and audit), half invoice events."""
    client = stripe.StripeClient(key, base_addresses={"api": url})
    subs = [
        s.to_dict(for_json=True)
        for s in client.v1.subscriptions.list({"limit": 100, "status": "all"}).auto_paging_iter()
    ][: count // 2]
    invoices = [
        i.to_dict(for_json=True) for i in client.v1.invoices.list({"limit": 100}).auto_paging_iter()
    ][: count - len(subs)]
    now = int(time.time())
    bodies = []
    for number, (kind, obj) in enumerate(
        [("customer.subscription.updated", s) for s in subs]
        + [("invoice.paid", i) for i in invoices]
    ):
        event = {
            "id": f"evt_bench{number:07d}",
            "object": "event",
            "api_version": "2026-10-28.endive",
            "created": now,
            "data": {"object": obj},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": kind,
        }
        bodies.append(json.dumps(event).encode())
    random.Random(3).shuffle(bodies)
    return bodies


def _post(port: int, body: bytes, signature: str) -> int:
    # http.client, not requests: the sender should cost little next to the server it measures.
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(
            "POST",
            "/webhooks/stripe",
            body=body,
            headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
        )
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def webhook_rate(
    db_url: str,
    fake_url: str,
    key: str,
    bodies: list[bytes],
    workers: int,
    clients: int,
    threads: int = 1,
) -> tuple[float, dict[int, int]]:
    """Events/s through gunicorn; the bodies are signed beforehand, as Stripe signs them."""
    port = free_port()
    env = {
        **os.environ,
        "BACKOFFICE_ENV": "development",
        "DATABASE_URL": db_url,
        "STRIPE_SECRET_KEY": key,
        "STRIPE_API_BASE": fake_url,
        "STRIPE_WEBHOOK_SECRETS": SECRET,
        "LOG_LEVEL": "WARNING",
    }
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "-w",
        str(workers),
        "-b",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
        "wsgi:app",
    ]
    if threads > 1:
        command[3:3] = ["--threads", str(threads)]
    server = subprocess.Popen(command, cwd=ROOT, env=env)
    try:
        for _ in range(100):
            try:
                requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.1)
        signed = [
            (body, stripe.WebhookSignature.generate_signature_header(body.decode(), SECRET))
            for body in bodies
        ]
        for body, signature in signed[:20]:  # warm up the workers
            _post(port, body, signature)
        statuses: dict[int, int] = {}
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=clients) as pool:
            for status in pool.map(lambda item: _post(port, *item), signed[20:]):
                statuses[status] = statuses.get(status, 0) + 1
        rate = (len(bodies) - 20) / (time.perf_counter() - started)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return rate, statuses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--events", type=int, default=3_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker")
    args = parser.parse_args()
    admin_url = os.environ.get(
        "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    ready: mp.Queue = mp.Queue()
    commands: mp.Queue = mp.Queue()
    print(f"Building the fake Stripe ({args.customers:,} customers)...", flush=True)
    fake = mp.get_context("fork").Process(
        target=serve_fake, args=(args.customers, ready, commands), daemon=True
    )
    fake.start()
    fake_url, key = ready.get(timeout=600)
    db_url = create_database(admin_url)
    app = None
    try:
        from flask_migrate import upgrade

        from dashboard import create_app

        app = create_app(
            {
                "BACKOFFICE_ENV": "development",
                "DATABASE_URL": db_url,
                "STRIPE_SECRET_KEY": key,
                "STRIPE_API_BASE": fake_url,
                "STRIPE_WEBHOOK_SECRETS": [SECRET],
            }
        )
        with app.app_context():
            upgrade()
        seed_users(app, args.customers)
        floor, objects = floor_seconds(fake_url, key)
        raw = raw_floor_seconds(fake_url, key)
        print(f"floor (SDK paging only, {objects:,} objects): {floor:8.1f}s", flush=True)
        print(f"raw floor (SDK raw_request paging, as the sync pages): {raw:8.1f}s", flush=True)
        first, report = resync_seconds(app)
        print(
            f"first full resync:  {first:8.1f}s = {first / floor:.2f}x floor (target <= 1.5x), "
            f"{first / raw:.2f}x raw floor"
        )
        summary = {k: (v["created"], v["updated"], v["failed"]) for k, v in report["types"].items()}
        print(
            f"  created/updated/failed: {summary}; token grants: "
            f"{report['types']['payments']['granted']:,}",
            flush=True,
        )
        second, report = resync_seconds(app)
        changed = sum(v["created"] + v["updated"] for v in report["types"].values())
        print(
            f"second full resync: {second:8.1f}s = {second / floor:.2f}x floor (target <= 1.2x), "
            f"{second / raw:.2f}x raw floor; {changed} created or updated",
            flush=True,
        )
        with app.app_context():  # as autovacuum would after a bulk load
            from dashboard.extensions import db

            with db.engine.connect() as connection:
                connection.execution_options(isolation_level="AUTOCOMMIT").execute(
                    sa.text("ANALYZE")
                )
        bodies = sample_events(fake_url, key, args.events)
        commands.put(args.events // 6)
        changed = ready.get(timeout=60)
        rate, statuses = webhook_rate(
            db_url, fake_url, key, bodies, args.workers, args.clients, args.threads
        )
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(
            f"(load average {load} on {os.cpu_count()} cores, other users included)\n"
            f"webhooks: {rate:8.0f} events/s with {args.workers} gunicorn workers "
            f"x {args.threads} thread(s), "
            f"{args.clients} concurrent senders (target >= 200/s); {changed} of the events "
            f"change a subscription; statuses {statuses}"
        )
    finally:
        from dashboard.extensions import db

        if app is not None:
            with app.app_context():
                db.engine.dispose()
        drop_database(admin_url)
        fake.terminate()


if __name__ == "__main__":
    main()
