"""Tokens: every change to a user's balance is a ledger row written with the balance.

``ledger`` applies one change or many under a row lock and explains balances changed
outside Backoffice; ``bulk`` grants, deducts and expires for whole selections.
"""
