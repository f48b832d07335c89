"""Operations: database backups that are checked by restoring them.

- ``backup``: the service functions (create, verify, restore, prune) that
  ``dashboard.cli.backup`` (``flask backup``) calls.
- ``archive``: file names, manifests, checksums and crash-safe writes.
- ``postgres`` / ``sqlite``: how each backend dumps, restores and counts rows.
"""

from __future__ import annotations

from dashboard.core.errors import BackofficeError


class BackupError(BackofficeError):
    """A backup, verify or restore that cannot be done or went wrong; the message says
    what and, where there is one, what to do about it."""
