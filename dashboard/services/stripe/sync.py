"""The sync engine: one upsert per Stripe object type, shared by the full resync, the
webhook handlers and the on-access refresh.

Each ``stripe_<type>_upsert`` takes a batch of Stripe objects (plain dicts) read at
``fetched_at`` and writes them in the caller's transaction (no commit), returning a
TypeReport (created / updated / unchanged / skipped / failed). Rules:
- Writes are ordered by the time of the read, never by event time (stripe_store).
- A dependency missing locally (an invoice's customer, a subscription's product) is fetched
  from Stripe on demand.
- Customers link to users by ``metadata.userId``, then by email; a customer matching no
  user is kept in ``bo_stripe_unlinked_customer`` and reported, and what depends on it is
  skipped with that reason.
- After subscriptions change, each affected user's role, membership status and plan are
  recomputed (services.membership; ADMIN and BANNED users are never changed).
- A paid subscription invoice whose period has not ended grants the product's
  ``tokens`` once, keyed by the invoice id, with ``tokensExpiresAt`` = the period end.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from dashboard.core.actor import Actor
from dashboard.extensions import db
from dashboard.models import (
    LedgerKind,
    PaymentHistory,
    StripeCustomer,
    StripePrice,
    StripeProduct,
    TokenLedgerEntry,
    UserSubscription,
    cuid,
    utcnow,
)
from dashboard.services.membership import membership_recompute_many_in_transaction
from dashboard.services.stripe.customers import link_customers
from dashboard.services.stripe.gateway import Gateway
from dashboard.services.stripe.mapping import (
    PARTIALLY_REFUNDED,
    REFUNDED,
    InvoiceGrant,
    MappingError,
    invoice_grant,
    invoice_payments,
    payment_intent_row,
    price_row,
    product_row,
    ref_id,
    subscription_price,
    subscription_row,
)
from dashboard.services.stripe.store import (
    TableSpec,
    TypeReport,
    claim_marks,
    pairs,
    split_unchanged,
    upsert_rows,
)
from dashboard.services.tokens.ledger import LedgerRequest, tokens_apply_many_in_transaction

ERR_UNLINKED = "customer {customer} is not linked to a user"
ERR_GONE = "{kind} {object_id} no longer exists on Stripe"

PRODUCTS = TableSpec(
    StripeProduct,
    key="id",
    compared=("name", "description", "active", "tokens", "metadata_"),
    has_updated_at=True,
)
PRICES = TableSpec(
    StripePrice,
    key="id",
    compared=(
        "product_id",
        "unit_amount",
        "currency",
        "interval",
        "interval_count",
        "type",
        "active",
    ),
)
SUBSCRIPTIONS = TableSpec(
    UserSubscription,
    key="stripe_subscription_id",
    compared=(
        "user_id",
        "stripe_product_id",
        "stripe_price_id",
        "status",
        "current_period_start",
        "current_period_end",
        "cancel_at_period_end",
    ),
    insert_only=("id",),
    has_updated_at=True,
)


def _sticky_refund(stored: dict[str, Any], incoming: dict[str, Any]) -> dict[str, Any]:
    # A refund is final on Stripe, and invoice listings do not carry it: never undo it (a
    # partial one only gives way to a full one).
    if stored.get("status") == REFUNDED or (
        stored.get("status") == PARTIALLY_REFUNDED and incoming.get("status") != REFUNDED
    ):
        return {**incoming, "status": stored["status"]}
    return incoming


PAYMENTS = TableSpec(
    PaymentHistory,
    key="stripe_payment_intent_id",
    compared=("user_id", "amount", "currency", "status"),
    insert_only=("id", "created_at"),
    normalise=_sticky_refund,
    update_sql=lambda table, excluded: {
        "status": sa.case(
            (table.c.status == REFUNDED, table.c.status),
            (
                sa.and_(table.c.status == PARTIALLY_REFUNDED, excluded.status != REFUNDED),
                table.c.status,
            ),
            else_=excluded.status,
        )
    },
)


def _map(report: TypeReport, objects: Iterable[dict[str, Any]], mapper: Any) -> list[dict]:
    rows = []
    for obj in objects:
        try:
            rows.append(mapper(obj))
        except MappingError as exc:
            report.fail(obj.get("id", "?"), str(exc))
    return rows


def stripe_products_upsert(*, objects: list[dict[str, Any]], fetched_at: int) -> TypeReport:
    """Upsert products; ``StripeProduct.tokens`` comes from ``metadata.tokens``."""
    report = TypeReport()
    report.add(upsert_rows(PRODUCTS, "product", _map(report, objects, product_row), fetched_at))
    return report


def stripe_objects_gone(*, model: type, object_ids: list[str], fetched_at: int) -> int:
    """Mark products or prices Stripe no longer has (deleted, or no longer listed) inactive,
    unless a later read says otherwise; never deletes a row. Returns how many changed."""
    object_type = "product" if model is StripeProduct else "price"
    winners = claim_marks(object_type, object_ids, fetched_at, deleted=True)
    if not winners:
        return 0
    result = db.session.execute(
        sa.update(model)
        .where(model.id.in_(sorted(winners)), model.active.is_(True))
        .values(active=False)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def ensure_products(gateway: Gateway, product_ids: Iterable[str]) -> set[str]:
    """Fetch products missing locally; return the ids that still cannot be found."""
    wanted = {p for p in product_ids if p}
    if not wanted:
        return set()
    have = set(db.session.scalars(sa.select(StripeProduct.id).where(StripeProduct.id.in_(wanted))))
    missing = set()
    for product_id in sorted(wanted - have):
        fetched = gateway.retrieve("products", product_id)
        if fetched.obj is None:
            missing.add(product_id)
        else:
            stripe_products_upsert(objects=[fetched.obj], fetched_at=fetched.fetched_at)
    return missing


def stripe_prices_upsert(
    *, objects: list[dict[str, Any]], fetched_at: int, gateway: Gateway, only_missing: bool = False
) -> TypeReport:
    """Upsert prices (fetching missing products first). ``only_missing`` writes just the
    prices not stored yet (used for prices embedded in subscriptions)."""
    report = TypeReport()
    rows = _map(report, objects, price_row)
    if only_missing and rows:
        ids = [row["id"] for row in rows]
        have = set(db.session.scalars(sa.select(StripePrice.id).where(StripePrice.id.in_(ids))))
        rows = [row for row in rows if row["id"] not in have]
    gone = ensure_products(gateway, (row["product_id"] for row in rows))
    for row in [r for r in rows if r["product_id"] in gone]:
        report.fail(row["id"], ERR_GONE.format(kind="product", object_id=row["product_id"]))
        rows.remove(row)
    report.add(upsert_rows(PRICES, "price", rows, fetched_at))
    return report


def stripe_customers_upsert(*, objects: list[dict[str, Any]], fetched_at: int) -> TypeReport:
    """Link Stripe customers to users; unlinked ones are recorded and reported (skipped)."""
    report = TypeReport()
    live = [obj for obj in objects if not obj.get("deleted")]
    result = link_customers(live)
    report.created += len(result.created)
    report.unchanged += len(result.unchanged)
    for customer_id, reason in sorted(result.unlinked.items()):
        report.skip(customer_id, reason)
    return report


def customer_users(gateway: Gateway | None, customer_ids: Iterable[str]) -> dict[str, str]:
    """Stripe customer id -> user id, fetching customers not linked yet from Stripe."""
    wanted = sorted({c for c in customer_ids if c})
    if not wanted:
        return {}
    links = StripeCustomer.__table__
    query = sa.select(links.c.stripeCustomerId, links.c.userId)
    found = pairs(query.where(links.c.stripeCustomerId.in_(wanted)))
    missing = [c for c in wanted if c not in found]
    if missing and gateway is not None:
        fetched = [gateway.retrieve("customers", c) for c in missing]
        live = [f.obj for f in fetched if f.obj is not None]
        if live:
            link_customers(live)
            more = query.where(links.c.stripeCustomerId.in_(missing))
            found.update(pairs(more))
    return found


def _recompute(user_ids: Iterable[str], actor: Actor) -> None:
    membership_recompute_many_in_transaction(user_ids=user_ids, actor=actor)


def stripe_subscriptions_upsert(
    *, objects: list[dict[str, Any]], fetched_at: int, gateway: Gateway, actor: Actor
) -> TypeReport:
    """Upsert subscriptions (period from ``items.data[0]``), then recompute the role,
    membership status and plan of every user whose subscriptions changed."""
    report = TypeReport()
    rows, prices = [], {}
    for obj in objects:
        try:
            row = subscription_row(obj)
            prices[row["stripe_price_id"]] = subscription_price(obj)
            rows.append(row)
        except MappingError as exc:
            report.fail(obj.get("id", "?"), str(exc))
    # A subscription's customer never changes, so a stored row keeps its user.
    rows, report.unchanged, stored = split_unchanged(SUBSCRIPTIONS, rows, ignore=("user_id",))
    price_report = stripe_prices_upsert(
        objects=[prices[p] for p in {row["stripe_price_id"] for row in rows}],
        fetched_at=fetched_at,
        gateway=gateway,
        only_missing=True,
    )
    bad_prices = {item["id"]: item["reason"] for item in price_report.failures}
    users = customer_users(gateway, (row["customer"] for row in rows))
    ready = []
    for row in rows:
        user_id = users.get(row["customer"])
        if row["stripe_price_id"] in bad_prices:
            report.fail(row["stripe_subscription_id"], bad_prices[row["stripe_price_id"]])
        elif user_id is None:
            report.skip(row["stripe_subscription_id"], ERR_UNLINKED.format(**row))
        else:
            ready.append({**row, "user_id": user_id, "id": cuid()})
    outcome = upsert_rows(SUBSCRIPTIONS, "subscription", ready, fetched_at, stored)
    report.add(outcome)
    written = set(outcome.written)
    _recompute((r["user_id"] for r in ready if r["stripe_subscription_id"] in written), actor)
    return report


def _payments_upsert(
    report: TypeReport,
    rows: list[dict[str, Any]],
    users: dict[str, str],
    fetched_at: int,
    stored: dict[str, dict[str, Any]] | None = None,
) -> None:
    ready = {}
    for row in rows:
        customer = row.pop("customer")
        user_id = users.get(customer)
        if user_id is None:
            report.skip(row["stripe_payment_intent_id"], ERR_UNLINKED.format(customer=customer))
        else:
            ready[row["stripe_payment_intent_id"]] = {**row, "user_id": user_id, "id": cuid()}
    report.add(upsert_rows(PAYMENTS, "payment", list(ready.values()), fetched_at, stored))


def stripe_invoices_upsert(
    *, objects: list[dict[str, Any]], fetched_at: int, gateway: Gateway, actor: Actor
) -> TypeReport:
    """Record each invoice's payments in PaymentHistory (``invoice.payments``, else the
    legacy ``payment_intent``) and grant the tokens of paid subscription invoices."""
    report = TypeReport()
    rows, grants = [], []
    for invoice in objects:
        customer = ref_id(invoice.get("customer"))
        rows += [{**row, "customer": customer} for row in invoice_payments(invoice)]
        grants.append(invoice_grant(invoice))
    rows, report.unchanged, stored = split_unchanged(PAYMENTS, rows, ignore=("user_id",))
    grants = _grants_due(grants)
    users = customer_users(gateway, {r["customer"] for r in rows} | {g.customer for g in grants})
    _payments_upsert(report, rows, users, fetched_at, stored)
    report.granted += _grant_tokens(gateway, grants, users, actor)
    return report


def stripe_payment_intent_upsert(
    *, obj: dict[str, Any], fetched_at: int, gateway: Gateway
) -> TypeReport:
    """Record one payment intent (a refunded charge makes it "refunded")."""
    report = TypeReport()
    customer = ref_id(obj.get("customer"))
    if not customer:
        report.skip(obj["id"], "payment intent without a customer")
        return report
    users = customer_users(gateway, [customer])
    _payments_upsert(report, [{**payment_intent_row(obj), "customer": customer}], users, fetched_at)
    return report


def _grants_due(grants: list[InvoiceGrant]) -> list[InvoiceGrant]:
    """Paid subscription invoices for a period not over yet, not granted already. (An
    allowance for a period that has ended would expire at once.)"""
    now = utcnow()
    due = [g for g in grants if g.paid and g.product_id and g.period_end and g.period_end > now]
    if not due:
        return []
    ledger = TokenLedgerEntry.__table__
    done = set(
        db.session.scalars(
            sa.select(ledger.c.reference).where(
                ledger.c.kind == LedgerKind.SUBSCRIPTION_GRANT,
                ledger.c.reference.in_([g.invoice_id for g in due]),
            )
        )
    )
    return [g for g in due if g.invoice_id not in done]


def _grant_tokens(
    gateway: Gateway, due: list[InvoiceGrant], users: dict[str, str], actor: Actor
) -> int:
    due = [g for g in due if users.get(g.customer)]
    if not due:
        return 0
    ensure_products(gateway, {g.product_id for g in due})
    allowances = pairs(
        sa.select(StripeProduct.id, StripeProduct.tokens).where(
            StripeProduct.id.in_({g.product_id for g in due})
        )
    )
    requests = [
        LedgerRequest(
            user_id=users[grant.customer],
            delta=allowances[grant.product_id],
            kind=LedgerKind.SUBSCRIPTION_GRANT,
            reason=f"Subscription allowance, invoice {grant.invoice_id}",
            reference=grant.invoice_id,
            expires_at=grant.period_end,
        )
        for grant in sorted(due, key=lambda g: (g.period_end, g.invoice_id))
        if (allowances.get(grant.product_id) or 0) > 0
    ]
    return tokens_apply_many_in_transaction(requests=requests, actor=actor)
