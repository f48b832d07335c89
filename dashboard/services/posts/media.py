"""Where generated images live: a small storage interface and its local-disk implementation.

A store does four things:
- ``save(data, name)`` writes the bytes under a new unique key derived from ``name`` and
  returns the public URL the public site serves them at (what ``BlogPost.imageUrl`` holds);
- ``open(key)`` reads a stored file back, for staff previews;
- ``delete(key)`` removes one (an image whose post was never saved);
- ``key_for_url(url)`` maps a public URL back to its key, or None for a foreign URL.

``LocalMediaStore`` keeps files under ``MEDIA_ROOT`` (default: ``media`` in the instance
folder) and maps them to ``MEDIA_BASE_URL``: the public site (or its web server) serves
``MEDIA_ROOT`` at that URL. An S3-compatible store implements the same four methods
(``put_object`` to a bucket served by a CDN at ``MEDIA_BASE_URL``, ``get_object``,
``delete_object``) and is chosen by ``MEDIA_BACKEND`` in ``media_store``. The door builds
``MediaSettings`` from the app: ``MediaSettings.from_app(current_app)``.
"""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from config import ConfigError
from dashboard.core.errors import BackofficeError

ERR_STORAGE = "The image could not be stored: {detail}."
ERR_KEY = "Not a stored media file: {key!r}."
ERR_EXTENSION = "Only {allowed} files can be stored, not {name!r}."

BACKENDS = ("local",)
CONTENT_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".webp": "image/webp"}
# year/month/stem-random.ext: lowercase ASCII only, so a key never escapes the root.
KEY_PATTERN = re.compile(r"^\d{4}/\d{2}/[a-z0-9][a-z0-9-]{0,80}\.(png|jpg|webp)$")
STEM_MAX = 40


class StorageError(BackofficeError):
    """A file could not be written or read; the message says why."""


class MediaStore(Protocol):
    def save(self, data: bytes, name: str) -> str: ...

    def open(self, key: str) -> BinaryIO: ...

    def delete(self, key: str) -> None: ...

    def key_for_url(self, url: str | None) -> str | None: ...


def content_type_for(key: str) -> str:
    """The Content-Type of a stored file, from its extension."""
    return CONTENT_TYPES.get(Path(key).suffix.lower(), "application/octet-stream")


def _stem(name: str) -> str:
    words = re.findall(r"[a-z0-9]+", Path(name).stem.lower())
    return "-".join(words)[:STEM_MAX].strip("-") or "image"


@dataclass(frozen=True)
class LocalMediaStore:
    """Files in a folder on this machine, served by the public site at ``base_url``."""

    root: Path
    base_url: str

    def save(self, data: bytes, name: str) -> str:
        """Write ``data`` atomically under ``YYYY/MM/<name>-<random>.<ext>`` and return its
        public URL. The 64-bit random part makes every key new, so nothing is overwritten.
        Raises StorageError for an extension other than .png/.jpg/.webp or a disk error."""
        extension = Path(name).suffix.lower()
        if extension not in CONTENT_TYPES:
            raise StorageError(ERR_EXTENSION.format(allowed="/".join(CONTENT_TYPES), name=name))
        now = datetime.now(UTC)
        key = f"{now:%Y/%m}/{_stem(name)}-{secrets.token_hex(8)}{extension}"
        target = self.root / key
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            # Write beside the target and rename: a reader never sees half a file.
            handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".partial-")
            try:
                with os.fdopen(handle, "wb") as stream:
                    stream.write(data)
                    stream.flush()
                    os.fsync(stream.fileno())
                os.chmod(temporary, 0o644)
                os.replace(temporary, target)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise StorageError(ERR_STORAGE.format(detail=exc.strerror or exc)) from exc
        return f"{self.base_url.rstrip('/')}/{key}"

    def _path(self, key: str) -> Path:
        if not KEY_PATTERN.fullmatch(key):
            raise StorageError(ERR_KEY.format(key=key))
        return self.root / key

    def open(self, key: str) -> BinaryIO:
        """The stored file for reading. Raises StorageError for a malformed key and
        FileNotFoundError for a missing file."""
        return self._path(key).open("rb")

    def delete(self, key: str) -> None:
        """Remove a stored file; a missing file is not an error."""
        self._path(key).unlink(missing_ok=True)

    def key_for_url(self, url: str | None) -> str | None:
        prefix = f"{self.base_url.rstrip('/')}/"
        if not url or not url.startswith(prefix):
            return None
        key = url[len(prefix) :]
        return key if KEY_PATTERN.fullmatch(key) else None


def check_media_config(config: Mapping[str, Any]) -> None:
    """Raise ConfigError at start-up for a storage backend Backoffice does not have."""
    backend = config.get("MEDIA_BACKEND") or "local"
    if backend not in BACKENDS:
        raise ConfigError(f"MEDIA_BACKEND must be one of {', '.join(BACKENDS)}, got {backend!r}")


@dataclass(frozen=True)
class MediaSettings:
    """Where images are stored and served, as plain values."""

    backend: str
    root: Path
    base_url: str

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, instance_path: str) -> MediaSettings:
        """Raises ConfigError for a backend Backoffice does not have."""
        check_media_config(config)
        root = config.get("MEDIA_ROOT") or os.path.join(instance_path, "media")
        return cls(
            backend=config.get("MEDIA_BACKEND") or "local",
            root=Path(root),
            base_url=config.get("MEDIA_BASE_URL") or "/media/",
        )

    @classmethod
    def from_app(cls, app: Any) -> MediaSettings:
        """``from_config`` for a Flask app (its ``config`` and ``instance_path``)."""
        return cls.from_config(app.config, instance_path=app.instance_path)


def media_store(settings: MediaSettings) -> MediaStore:
    """The store ``settings`` describe (built per call: it holds no connection)."""
    return LocalMediaStore(root=settings.root, base_url=settings.base_url)
