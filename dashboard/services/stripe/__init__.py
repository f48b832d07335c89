"""Stripe: Backoffice's copy of products, prices, customers, subscriptions and payments.

One sync engine serves the full resync, the webhooks and the on-access refresh. The gateway
is the only caller of the stripe SDK; ``mapping`` turns Stripe objects into rows, ``store``
writes them, ``sync`` applies one object and its consequences (roles, token grants),
``events`` records and replays webhook deliveries, ``handlers`` maps event types to work,
``refresh`` keeps a customer's data fresh, ``resync`` walks every listing.
"""
