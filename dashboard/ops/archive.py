"""Backup files: names, manifests, checksums, and writes that never leave half a file.

A backup is two files side by side in the backup folder:

    backoffice-<database>-<UTC time>-<revision>.pgdump   (or .sqlite3)
    backoffice-<database>-<UTC time>-<revision>.manifest.json

Both are written under a hidden temporary name, flushed to disk and renamed, archive first:
a backup without its manifest is incomplete and never counts as one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from dashboard.ops import BackupError

EXTENSIONS = {"postgresql": ".pgdump", "sqlite": ".sqlite3"}
MANIFEST_SUFFIX = ".manifest.json"
MANIFEST_FORMAT = 1
STAMP_FORMAT = "%Y%m%dT%H%M%S"
STEM_RE = re.compile(
    r"^backoffice-(?P<database>[A-Za-z0-9_.-]+?)-(?P<stamp>\d{8}T\d{6}\.\d{3}Z)-(?P<revision>\w+)$"
)
# Backups hold every customer's data: readable by their owner only.
FILE_MODE = 0o600
DIRECTORY_MODE = 0o700

ERR_NO_ARCHIVE = "no backup archive at {path}"
ERR_NO_MANIFEST = (
    "{path} has no manifest beside it ({manifest}); without it the archive cannot be "
    "checked. Was the backup interrupted?"
)
ERR_BAD_MANIFEST = "the manifest {path} is not a Backoffice backup manifest: {problem}"
ERR_CHECKSUM = (
    "{path} is corrupted or was changed after the backup: its SHA-256 checksum is {actual}, "
    "the manifest says {expected}. Do not restore it; use another backup."
)
ERR_SIZE = (
    "{path} is corrupted or incomplete: it has {actual:,} bytes, the manifest says {expected:,}. "
    "Do not restore it; use another backup."
)


@dataclass
class Manifest:
    """What a backup holds, written beside the archive as JSON."""

    backend: str
    archive: str
    created_at: str
    revision: str
    database: str
    tables: dict[str, int]
    archive_bytes: int = 0
    sha256: str = ""
    database_bytes: int | None = None
    server_version: str | None = None
    tool: str | None = None
    duration_seconds: float | None = None
    format: int = MANIFEST_FORMAT
    total_rows: int = field(init=False)

    def __post_init__(self) -> None:
        self.total_rows = sum(self.tables.values())

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, *, path: Path) -> Manifest:
        try:
            data = json.loads(text)
            if data.get("format") != MANIFEST_FORMAT:
                raise ValueError(f"unknown format {data.get('format')!r}")
            data.pop("total_rows", None)
            manifest = cls(**data)
            if manifest.backend not in EXTENSIONS or not isinstance(manifest.tables, dict):
                raise ValueError("backend or tables missing")
        except (ValueError, TypeError, AttributeError) as exc:
            raise BackupError(ERR_BAD_MANIFEST.format(path=path, problem=exc)) from None
        return manifest


@dataclass(frozen=True)
class BackupFiles:
    """One backup as found in a folder; ``archive`` or ``manifest`` is None if missing."""

    stem: str
    database: str
    archive: Path | None
    manifest: Path | None

    @property
    def complete(self) -> bool:
        return self.archive is not None and self.manifest is not None


def safe_part(value: str) -> str:
    """``value`` reduced to characters that are safe in a file name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", value).strip("._-") or "database"


def archive_name(*, backend: str, database: str, revision: str, created_at: datetime) -> str:
    stamp = f"{created_at:{STAMP_FORMAT}}.{created_at.microsecond // 1000:03d}Z"
    revision_part = re.sub(r"\W+", "_", revision)
    return f"backoffice-{safe_part(database)}-{stamp}-{revision_part}{EXTENSIONS[backend]}"


def manifest_path(archive: Path) -> Path:
    return archive.with_name(archive.name.rsplit(".", 1)[0] + MANIFEST_SUFFIX)


def load_backup(path: Path) -> tuple[Path, Manifest]:
    """The archive and its manifest, given the path of either. Raises BackupError if one
    is missing or the manifest is unreadable."""
    path = Path(path)
    if path.name.endswith(MANIFEST_SUFFIX):
        if not path.is_file():
            raise BackupError(ERR_NO_ARCHIVE.format(path=path))
        manifest = Manifest.from_json(path.read_text(), path=path)
        archive = path.with_name(manifest.archive)
        if not archive.is_file():
            raise BackupError(ERR_NO_ARCHIVE.format(path=archive))
        return archive, manifest
    manifest_file = manifest_path(path)
    if not path.is_file():
        raise BackupError(ERR_NO_ARCHIVE.format(path=path))
    if not manifest_file.is_file():
        raise BackupError(ERR_NO_MANIFEST.format(path=path, manifest=manifest_file.name))
    return path, Manifest.from_json(manifest_file.read_text(), path=manifest_file)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def check_archive(archive: Path, manifest: Manifest) -> None:
    """Raise BackupError unless the archive has the size and checksum its manifest records."""
    size = archive.stat().st_size
    if size != manifest.archive_bytes:
        raise BackupError(
            ERR_SIZE.format(path=archive, actual=size, expected=manifest.archive_bytes)
        )
    actual = sha256_of(archive)
    if actual != manifest.sha256:
        raise BackupError(
            ERR_CHECKSUM.format(path=archive, actual=actual, expected=manifest.sha256)
        )


def temporary_path(final: Path) -> Path:
    """A hidden name beside ``final`` that no listing mistakes for a backup."""
    return final.with_name(f".{final.name}.{secrets.token_hex(4)}.partial")


@contextmanager
def removed_on_failure(*paths: Path) -> Iterator[None]:
    """Delete ``paths`` if the block fails or is interrupted (Ctrl-C included)."""
    try:
        yield
    except BaseException:
        for path in paths:
            path.unlink(missing_ok=True)
        raise


def commit_file(temporary: Path, final: Path) -> None:
    """Flush ``temporary`` to disk and rename it to ``final``; the rename is atomic, so
    ``final`` is either absent or whole, even after a power cut."""
    os.chmod(temporary, FILE_MODE)
    with open(temporary, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, final)
    directory = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def write_manifest(archive: Path, manifest: Manifest) -> Path:
    final = manifest_path(archive)
    temporary = temporary_path(final)
    with removed_on_failure(temporary):
        temporary.write_text(manifest.to_json())
        commit_file(temporary, final)
    return final


def ensure_directory(directory: Path) -> Path:
    if not directory.exists():
        directory.mkdir(parents=True, mode=DIRECTORY_MODE)
    if not directory.is_dir():
        raise BackupError(f"{directory} is not a folder")
    if not os.access(directory, os.W_OK):
        raise BackupError(f"cannot write to the backup folder {directory}")
    return directory


def list_backups(directory: Path) -> list[BackupFiles]:
    """Every backup (complete or not) in ``directory``, oldest first."""
    found: dict[str, dict[str, Any]] = {}
    if not directory.is_dir():
        return []
    for path in directory.iterdir():
        if path.name.endswith(MANIFEST_SUFFIX):
            stem, kind = path.name[: -len(MANIFEST_SUFFIX)], "manifest"
        elif path.suffix in EXTENSIONS.values():
            stem, kind = path.stem, "archive"
        else:
            continue
        match = STEM_RE.match(stem)
        if match:
            entry = found.setdefault(stem, {"database": match["database"], "stamp": match["stamp"]})
            entry[kind] = path
    ordered = sorted(found.items(), key=lambda item: (item[1]["stamp"], item[0]))
    return [
        BackupFiles(stem, entry["database"], entry.get("archive"), entry.get("manifest"))
        for stem, entry in ordered
    ]
