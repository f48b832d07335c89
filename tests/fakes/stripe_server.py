"""A small fake Stripe API for tests and the benchmark, driven by the real ``stripe`` SDK.

It speaks the current API shape (2025-03-31 "Basil" and later): the billing period lives on
``subscription.items.data[]``, invoices carry their payments in the includable
``invoice.payments`` list. Lists are newest first with ``limit`` (<= 100), ``starting_after``
and ``has_more``; products and prices are listed whether active or archived unless
``active`` is given; subscriptions hide ``canceled`` and ``incomplete_expired`` ones unless
``status=all``; ``expand[]`` follows ids and ``data.`` paths; retrieving an unknown or deleted
object answers 404 ``resource_missing`` (a deleted customer answers ``{"deleted": true}``).

Faults are injected per path prefix (``inject``): an HTTP status with or without
``Stripe-Should-Retry``, and/or a delay. ``on_request`` runs a callback after a response was
computed and before it is sent, so a test can change the world "while Stripe answers".

Writes (``stripe_writes``): refunds, subscription update and cancel. A write with an
``Idempotency-Key`` seen before is answered with the first answer, as Stripe does.

The server binds 127.0.0.1 on an ephemeral port and runs in a daemon thread (``start``).
"""

from __future__ import annotations

import copy
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.fakes import stripe_objects as shapes
from tests.fakes import stripe_writes as writes

API_VERSION = "2026-10-28.endive"
KINDS = {  # URL segment -> id prefix
    "products": "prod",
    "prices": "price",
    "customers": "cus",
    "subscriptions": "sub",
    "invoices": "in",
    "payment_intents": "pi",
    "charges": "ch",
    "invoice_payments": "inpay",
    "refunds": "re",
    "events": "evt",
}
PREFIX_KIND = {prefix: kind for kind, prefix in KINDS.items()}
HIDDEN_SUBSCRIPTION_STATUSES = {"canceled", "incomplete_expired"}


@dataclass
class Fault:
    path: str
    status: int | None = None
    times: int = 1
    should_retry: str | None = None  # "true" / "false" / None: the Stripe-Should-Retry header
    delay: float = 0.0
    method: str = "GET"


@dataclass
class Store:
    objects: dict[str, dict[str, dict]] = field(default_factory=lambda: {k: {} for k in KINDS})
    order: dict[str, list[str]] = field(default_factory=lambda: {k: [] for k in KINDS})
    deleted: dict[str, set[str]] = field(default_factory=lambda: {k: set() for k in KINDS})
    position: dict[str, dict[str, int]] = field(default_factory=lambda: {k: {} for k in KINDS})


def _parse_query(query: str) -> dict[str, Any]:
    """``expand[0]=a&expand[]=b&created[gte]=1&limit=3`` -> {"expand": [a, b], "created":
    {"gte": "1"}, "limit": "3"}."""
    params: dict[str, Any] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if "[" in key:
            base, _, rest = key.partition("[")
            sub = rest.rstrip("]")
            if sub == "" or sub.isdigit():
                params.setdefault(base, []).append(value)
            else:
                params.setdefault(base, {})[sub] = value
        else:
            params[key] = value
    return params


def _error(status: int, kind: str, message: str, code: str | None = None) -> tuple[int, dict]:
    body: dict[str, Any] = {"type": kind, "message": message}
    if code:
        body["code"] = code
    return status, {"error": body}


class FakeStripe:
    """The fake's state plus the HTTP server that serves it."""

    def __init__(self, api_key: str = "sk_test_fake_backoffice", livemode: bool = False) -> None:
        self.api_key = api_key
        self.livemode = livemode
        self.store = Store()
        self.lock = threading.RLock()
        self.faults: list[Fault] = []
        self.hooks: list[tuple[str, Callable[[], None]]] = []
        self.requests: list[tuple[str, str, dict[str, Any]]] = []
        self.record_requests = True
        self.idempotent: dict[str, tuple[int, Any]] = {}  # Idempotency-Key -> first answer
        self._ids = itertools.count(1)
        self._clock = int(time.time()) - 86400
        self._server: ThreadingHTTPServer | None = None

    # -- building the world ------------------------------------------------------------
    def new_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):08d}"

    def tick(self) -> int:
        """A ``created`` timestamp: the fake's clock moves one second per object."""
        self._clock += 1
        return self._clock

    def put(self, obj: dict) -> dict:
        """Insert or replace an object; new ones go to the top of their list."""
        kind = PREFIX_KIND[obj["id"].split("_", 1)[0]]
        with self.lock:
            if obj["id"] not in self.store.objects[kind]:
                self.store.position[kind][obj["id"]] = len(self.store.order[kind])
                self.store.order[kind].append(obj["id"])
            self.store.objects[kind][obj["id"]] = obj
            self.store.deleted[kind].discard(obj["id"])
        return obj

    def get(self, object_id: str) -> dict:
        return self.store.objects[PREFIX_KIND[object_id.split("_", 1)[0]]][object_id]

    def update(self, object_id: str, **changes: Any) -> dict:
        with self.lock:
            obj = self.get(object_id)
            obj.update(changes)
            return obj

    def delete(self, object_id: str) -> None:
        """Deleted objects vanish from lists; retrieving them answers 404 (customers:
        ``deleted: true``)."""
        kind = PREFIX_KIND[object_id.split("_", 1)[0]]
        with self.lock:
            self.store.deleted[kind].add(object_id)

    add_product = shapes.add_product
    add_price = shapes.add_price
    add_customer = shapes.add_customer
    add_subscription = shapes.add_subscription
    add_invoice = shapes.add_invoice
    set_subscription_period = shapes.set_subscription_period

    def event(self, event_type: str, object_id: str, **extra: Any) -> dict:
        """Record an event whose payload is a snapshot of the object now; return it."""
        with self.lock:
            snapshot = copy.deepcopy(self.render(object_id, []))
            event = {
                "id": self.new_id("evt"),
                "object": "event",
                "api_version": API_VERSION,
                "created": extra.pop("created", self.tick()),
                "data": {"object": snapshot, **extra},
                "livemode": self.livemode,
                "pending_webhooks": 1,
                "request": {"id": None, "idempotency_key": None},
                "type": event_type,
            }
            self.put(event)
        return event

    # -- faults and hooks -------------------------------------------------------------
    def inject(self, path: str, **kwargs: Any) -> Fault:
        fault = Fault(path=path, **kwargs)
        with self.lock:
            self.faults.append(fault)
        return fault

    def on_request(self, path: str, callback: Callable[[], None]) -> None:
        """Run ``callback`` once, on the next request to ``path``, after its answer was
        computed and before it is sent."""
        self.hooks.append((path, callback))

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.times > 0 and path.startswith(fault.path) and fault.method == method:
                    fault.times -= 1
                    return fault
        return None

    # -- rendering --------------------------------------------------------------------
    def render(self, object_id: str, expand: list[str]) -> dict:
        obj = self.get(object_id)
        out = dict(obj)
        if out.get("object") == "subscription":
            out["items"] = dict(out["items"])
            out["items"]["data"] = [
                {**item, "price": self.get(item["price"])} for item in out["items"]["data"]
            ]
        if out.get("object") == "invoice" and any(
            p == "payments" or p.startswith("payments.") for p in expand
        ):
            ids = out.get("_payments", [])
            out["payments"] = {
                "object": "list",
                "data": [self.get(i) for i in ids],
                "has_more": False,
                "url": f"/v1/invoice_payments?invoice={out['id']}",
            }
        out.pop("_payments", None)
        for path in expand:
            out = self._expand(out, path.split("."))
        return out

    def _expand(self, node: Any, parts: list[str]) -> Any:
        if not parts or node is None:
            return node
        head, rest = parts[0], parts[1:]
        if isinstance(node, dict) and node.get("object") == "list" and head == "data":
            return {**node, "data": [self._expand(item, rest) for item in node["data"]]}
        if not isinstance(node, dict) or head not in node:
            return node
        value = node[head]
        if isinstance(value, str) and value.split("_", 1)[0] in PREFIX_KIND:
            value = self.render(value, [".".join(rest)] if rest else [])
            return {**node, head: value}
        return {**node, head: self._expand(value, rest)}

    # -- the API ---------------------------------------------------------------------
    def handle(self, method: str, path: str, params: dict[str, Any]) -> tuple[int, Any]:
        parts = [p for p in path.split("/") if p]
        if len(parts) < 2 or parts[0] != "v1" or parts[1] not in KINDS:
            return _error(404, "invalid_request_error", f"Unrecognized request URL ({path}).")
        kind = parts[1]
        expand = params.get("expand", [])
        if isinstance(expand, str):
            expand = [expand]
        if method != "GET":
            return writes.handle_write(self, method, parts, params)
        if len(parts) == 2:
            return 200, self._list(kind, params, expand)
        object_id = parts[2]
        with self.lock:
            exists = object_id in self.store.objects[kind]
            gone = object_id in self.store.deleted[kind]
            if exists and gone and kind == "customers":
                return 200, {"id": object_id, "object": "customer", "deleted": True}
            if not exists or gone:
                singular = kind[:-1].replace("_", " ")
                return _error(
                    404,
                    "invalid_request_error",
                    f"No such {singular}: '{object_id}'",
                    "resource_missing",
                )
            return 200, self.render(object_id, expand)

    def _matches(self, kind: str, obj: dict, params: dict[str, Any]) -> bool:
        if "active" in params and obj.get("active") != (params["active"] == "true"):
            return False
        for key in ("customer", "product", "invoice", "subscription", "email", "payment_intent"):
            if key in params and obj.get(key) != params[key]:
                return False
        wanted_payment = params.get("payment")
        if isinstance(wanted_payment, dict) and any(
            (obj.get("payment") or {}).get(k) != v for k, v in wanted_payment.items()
        ):
            return False
        if kind == "subscriptions":
            status = params.get("status")
            if status is None and obj["status"] in HIDDEN_SUBSCRIPTION_STATUSES:
                return False
            if status not in (None, "all") and obj["status"] != status:
                return False
        if "created" in params:
            bounds = params["created"]
            if "gte" in bounds and obj["created"] < int(bounds["gte"]):
                return False
            if "gt" in bounds and obj["created"] <= int(bounds["gt"]):
                return False
        types = params.get("types") or ([params["type"]] if "type" in params else None)
        return not (kind == "events" and types and obj["type"] not in types)

    def _list(self, kind: str, params: dict[str, Any], expand: list[str]) -> dict:
        limit = max(1, min(100, int(params.get("limit", 10))))
        item_expand = [p[5:] for p in expand if p.startswith("data.")]
        with self.lock:
            order = self.store.order[kind]
            objects = self.store.objects[kind]
            gone = self.store.deleted[kind]
            after = params.get("starting_after")
            position = len(order) - 1
            if after:
                position = self.store.position[kind].get(after, 0) - 1
            found: list[dict] = []
            has_more = False
            while position >= 0:
                object_id = order[position]
                position -= 1
                if object_id in gone or not self._matches(kind, objects[object_id], params):
                    continue
                if len(found) == limit:
                    has_more = True
                    break
                found.append(self.render(object_id, item_expand))
        return {"object": "list", "data": found, "has_more": has_more, "url": f"/v1/{kind}"}

    # -- serving ----------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeStripe:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                return None

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                fake._serve(self, "GET")

            def do_POST(self) -> None:  # noqa: N802
                fake._serve(self, "POST")

            def do_DELETE(self) -> None:  # noqa: N802
                fake._serve(self, "DELETE")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _serve(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length).decode() if length else ""
        split = urlsplit(handler.path)
        params = _parse_query(split.query)
        params.update(_parse_query(raw))  # a POST's form-encoded parameters
        key = handler.headers.get("Idempotency-Key") if method != "GET" else None
        if self.record_requests:
            with self.lock:
                self.requests.append((method, split.path, params))
        headers = {"Request-Id": f"req_{next(self._ids)}", "Content-Type": "application/json"}
        if handler.headers.get("Authorization") != f"Bearer {self.api_key}":
            given = (handler.headers.get("Authorization") or "").removeprefix("Bearer ")
            # Like a careless server, echo the key: Backoffice must scrub it.
            status, body = _error(401, "invalid_request_error", f"Invalid API Key: {given}")
            fault = None
        else:
            fault = self._take_fault(method, split.path)
            if fault and fault.delay:
                time.sleep(fault.delay)
            if fault and fault.status:
                status, body = _error(
                    fault.status,
                    "api_error" if fault.status >= 500 else "invalid_request_error",
                    f"Injected {fault.status}",
                    "rate_limit" if fault.status == 429 else None,
                )
                if fault.should_retry is not None:
                    headers["Stripe-Should-Retry"] = fault.should_retry
            elif key and key in self.idempotent:
                status, body = self.idempotent[key]  # a replay: Stripe's first answer
                headers["Idempotent-Replayed"] = "true"
            else:
                status, body = self.handle(method, split.path, params)
                if key and status < 500:
                    self.idempotent[key] = (status, body)
        payload = json.dumps(body).encode()
        for hook in list(self.hooks):
            if split.path.startswith(hook[0]):
                self.hooks.remove(hook)
                hook[1]()
        head = [f"HTTP/1.1 {status} X"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        head += [f"Content-Length: {len(payload)}", "", ""]
        try:
            handler.wfile.write("\r\n".join(head).encode() + payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeouts)
            handler.close_connection = True
