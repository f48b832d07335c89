"""Domain rules, as plain functions that know nothing of requests or HTML.

Every door into Backoffice (admin views, CLI commands, the Stripe webhook, background jobs)
calls these. A service takes primitives and an ``Actor``, writes its change together with
the audit row in one transaction, and raises ``BackofficeError`` with a message staff can
read when it refuses.
"""
