"""Stored media: the local store and the staff preview route."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import ConfigError
from dashboard import create_app
from dashboard.media_views import media_preview_url
from dashboard.services.posts.media import (
    LocalMediaStore,
    MediaSettings,
    StorageError,
    media_store,
)
from tests.conftest import settings_for
from tests.factories import make_staff
from tests.fake_openai import PNG


@pytest.fixture
def store(tmp_path) -> LocalMediaStore:
    return LocalMediaStore(root=tmp_path / "media", base_url="https://cdn.example.com/media/")


def test_save_writes_a_new_file_and_returns_its_public_url(store):
    url = store.save(PNG, "Sourdough at Home!.png")
    key = store.key_for_url(url)
    assert url == f"https://cdn.example.com/media/{key}"
    assert key.split("/")[-1].startswith("sourdough-at-home-") and key.endswith(".png")
    with store.open(key) as stream:
        assert stream.read() == PNG
    files = [p for p in store.root.rglob("*") if p.is_file()]
    assert files == [store.root / key]  # no partial file left beside it
    assert oct(files[0].stat().st_mode & 0o777) == "0o644"


def test_the_same_name_never_overwrites(store):
    first, second = store.save(b"\x89PNG\r\n\x1a\nfirst", "a.png"), store.save(PNG, "a.png")
    assert first != second
    with store.open(store.key_for_url(first)) as stream:
        assert stream.read().endswith(b"first")


def test_delete_removes_a_file_and_tolerates_a_missing_one(store):
    key = store.key_for_url(store.save(PNG, "x.webp"))
    store.delete(key)
    store.delete(key)
    with pytest.raises(FileNotFoundError):
        store.open(key)


@pytest.mark.parametrize("name", ["x.svg", "x.html", "x", "x.png.exe"])
def test_only_image_files_are_stored(store, name):
    with pytest.raises(StorageError, match="Only .png/.jpg/.webp"):
        store.save(PNG, name)


@pytest.mark.parametrize(
    "key", ["../secret.png", "2026/01/../../x.png", "/etc/passwd", "2026/01/X.png", "a.png"]
)
def test_keys_outside_the_layout_are_refused(store, key):
    with pytest.raises(StorageError):
        store.open(key)


@pytest.mark.parametrize(
    "url",
    [None, "", "https://elsewhere.example/media/2026/01/a-0123.png", "https://cdn.example.com/x"],
)
def test_foreign_urls_have_no_key(store, url):
    assert store.key_for_url(url) is None


def test_a_disk_error_is_a_readable_storage_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StorageError, match="The image could not be stored: Not a directory"):
        LocalMediaStore(root=blocker, base_url="/media/").save(PNG, "a.png")


def test_an_unknown_backend_stops_the_app_at_start(tmp_path):
    with pytest.raises(ConfigError, match="MEDIA_BACKEND must be one of local"):
        create_app(settings_for(f"sqlite:///{tmp_path / 'x.db'}", MEDIA_BACKEND="ftp"))


@pytest.fixture
def stored(app, tmp_path, monkeypatch) -> str:
    monkeypatch.setitem(app.config, "MEDIA_ROOT", str(tmp_path / "media"))
    monkeypatch.setitem(app.config, "MEDIA_BASE_URL", "/media/")
    return media_store(MediaSettings.from_app(app)).save(PNG, "preview.png")


@pytest.fixture
def staff_client(app, sign_in):
    client = app.test_client()
    assert sign_in(client, make_staff("EDITOR")).status_code == 302
    return client


def test_signed_in_staff_get_the_file(staff_client, stored):
    response = staff_client.get(stored)
    assert response.status_code == 200 and response.data == PNG
    assert response.mimetype == "image/png"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "private, max-age=300"


def test_the_preview_url_of_a_stored_image_is_served_here(app, stored):
    with app.test_request_context():
        assert media_preview_url(stored) == stored
        assert media_preview_url("https://elsewhere.example/a.png") is None


def test_anonymous_visitors_are_sent_to_sign_in(client, stored):
    response = client.get(stored)
    assert response.status_code == 302 and response.location.startswith("/auth/sign-in")


@pytest.mark.parametrize(
    "path", ["/media/2026/01/missing-0123456789abcdef.png", "/media/../config.py", "/media/a"]
)
def test_missing_or_malformed_keys_are_404(staff_client, stored, path):
    assert staff_client.get(path).status_code == 404


def test_the_media_folder_defaults_to_the_instance_folder(app, monkeypatch):
    monkeypatch.setitem(app.config, "MEDIA_ROOT", None)
    assert media_store(MediaSettings.from_app(app)).root == Path(app.instance_path) / "media"
