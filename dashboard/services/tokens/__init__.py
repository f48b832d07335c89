"""Tokens: every change to a user's balance is a ledger row written with the balance.

``ledger`` applies one change or many under a row lock, by the same rules; ``reconcile``
checks that the ledger explains every balance and books what it does not (balances changed
outside Backoffice); ``bulk`` grants, deducts and expires for whole selections.
"""

from dashboard.services.tokens.bulk import (
    BulkTokenResult,
    tokens_deduct_bulk,
    tokens_expire,
    tokens_grant_bulk,
)
from dashboard.services.tokens.ledger import (
    InsufficientTokens,
    LedgerRequest,
    TokenChange,
    tokens_apply_in_transaction,
    tokens_apply_many_in_transaction,
    tokens_deduct,
    tokens_grant,
)
from dashboard.services.tokens.reconcile import (
    LedgerMismatch,
    explain_targets_in_transaction,
    tokens_check,
    tokens_reconcile,
)

__all__ = [
    "BulkTokenResult",
    "InsufficientTokens",
    "LedgerMismatch",
    "LedgerRequest",
    "TokenChange",
    "explain_targets_in_transaction",
    "tokens_apply_in_transaction",
    "tokens_apply_many_in_transaction",
    "tokens_check",
    "tokens_deduct",
    "tokens_deduct_bulk",
    "tokens_expire",
    "tokens_grant",
    "tokens_grant_bulk",
    "tokens_reconcile",
]
