"""What a character is, what a post costs, and slugs."""

from __future__ import annotations

import pytest

from dashboard.core.errors import BackofficeError
from dashboard.services.posts.generation import (
    ERR_EMPTY,
    post_character_count,
    post_generation_preview,
)
from dashboard.services.posts.text import (
    post_generation_cost,
    post_slugify,
    post_text_from_upload,
    post_unique_slug,
)
from tests.factories import make_post, make_user
from tests.fake_openai import ai_settings

pytestmark = pytest.mark.backends("postgresql", "sqlite")

E_ACUTE = "\u00e9"  # é as one code point
E_COMBINING = "e\u0301"  # é as e + combining acute accent: two code points
THUMBS_UP = "\U0001f44d"  # one code point, two UTF-16 units, four UTF-8 bytes
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # one glyph, five code points


@pytest.mark.parametrize(
    ("text", "characters", "cost"),
    [
        ("a", 1, 1),
        ("a" * 15_000, 15_000, 1),
        ("a" * 15_001, 15_001, 2),
        ("a" * 30_000, 30_000, 2),
        ("a" * 30_001, 30_001, 3),
        # Surrounding whitespace is not counted; inner whitespace is.
        ("\n\t  " + "a b" * 5_000 + "  \r\n", 15_000, 1),
        # CRLF counts as one character, as does a lone CR: 7,500 lines of "x\n" plus "x".
        ("x\r\n" * 7_500 + "x", 15_001, 2),
        ("x\r" * 7_000 + "x", 14_001, 1),
        # Code points, not bytes (UTF-8 é is 2 bytes) nor UTF-16 units (👍 is 2).
        (E_ACUTE * 15_000, 15_000, 1),
        (THUMBS_UP * 15_000, 15_000, 1),
        (THUMBS_UP * 15_001, 15_001, 2),
        # A combining accent is a code point of its own.
        (E_COMBINING * 7_500, 15_000, 1),
        (E_COMBINING * 7_501, 15_002, 2),
        (FAMILY * 3_000, 15_000, 1),
        ("Größe, 日本語, عربى", 16, 1),
        # NUL cannot be stored by PostgreSQL: removed before counting.
        ("a\x00b", 2, 1),
    ],
)
def test_characters_and_cost(text, characters, cost):
    assert post_character_count(text) == characters
    assert post_generation_cost(text) == cost


@pytest.mark.parametrize("text", ["", " ", "\r\n", "\t\n \x00"])
def test_empty_text_has_no_cost(text):
    assert post_character_count(text) == 0
    with pytest.raises(BackofficeError, match=ERR_EMPTY):
        post_generation_cost(text)


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("Hello World", "hello-world"),
        ("  Ten   tips -- for   BETTER bread!  ", "ten-tips-for-better-bread"),
        ("Crème brûlée à Paris", "creme-brulee-a-paris"),
        ("Straße, Æsir, Søren, Łódź, œuvre", "strasse-aesir-soren-lodz-oeuvre"),
        ("Don't stop: it’s 2026", "dont-stop-its-2026"),
        (f"Cafe{E_COMBINING[1:]} {THUMBS_UP} time", "cafe-time"),
        ("日本語のタイトル", ""),
        ("---", ""),
    ],
)
def test_slugify(title, slug):
    assert post_slugify(title) == slug


def test_slugify_cuts_long_titles_at_a_word_boundary():
    slug = post_slugify("word " * 30)
    assert len(slug) <= 60 and slug.endswith("word") and "--" not in slug
    assert post_slugify("a" * 80) == "a" * 60
    assert post_slugify("alpha beta gamma", max_length=12) == "alpha-beta"


def test_unique_slug_appends_the_next_free_number(app):
    user = make_user()
    assert post_unique_slug("My Post") == "my-post"
    make_post(user, slug="my-post")
    assert post_unique_slug("My Post") == "my-post-2"
    make_post(user, slug="my-post-2")
    make_post(user, slug="my-post-4")
    make_post(user, slug="my-post-office")  # shares the prefix, not the slug
    assert post_unique_slug("my-post") == "my-post-3"


def test_unique_slug_ignores_the_post_being_renamed(app):
    post = make_post(make_user(), slug="kept")
    assert post_unique_slug("Kept", exclude_post_id=post.id) == "kept"
    assert post_unique_slug("Kept") == "kept-2"


def test_unique_slug_of_nothing_is_post(app):
    assert post_unique_slug("日本語") == "post"
    make_post(make_user(), slug="post")
    assert post_unique_slug("") == "post-2"


@pytest.mark.parametrize(
    ("filename", "data", "expected"),
    [
        ("notes.txt", "Crème brûlée\r\n".encode(), "Crème brûlée\r\n"),
        ("NOTES.MD", "\ufeff# Title".encode(), "# Title"),  # byte-order mark dropped
        ("a.markdown", b"", ""),
    ],
)
def test_uploaded_text_files_are_read_as_utf8(filename, data, expected):
    assert post_text_from_upload(filename=filename, data=data) == expected


@pytest.mark.parametrize(
    ("filename", "data", "message"),
    [
        ("essay.docx", b"PK\x03\x04", "Upload a .txt or .md file, not 'essay.docx'."),
        ("latin1.txt", "Crème".encode("latin-1"), "not UTF-8 text (unreadable byte at position 3)"),
        ("big.txt", b"a" * 1_000_001, "The file is 1,000,001 bytes; at most 1,000,000"),
    ],
)
def test_unusable_uploads_are_refused_clearly(filename, data, message):
    with pytest.raises(BackofficeError) as refused:
        post_text_from_upload(filename=filename, data=data)
    assert message in refused.value.message


@pytest.mark.parametrize(
    ("text", "tokens", "configured", "expected"),
    [
        ("a" * 15_001, 5, True, (15_001, 2, 5, None)),
        ("a" * 15_001, 1, True, (15_001, 2, 1, "costs 2 tokens, but preview@example.com has 1")),
        ("  \r\n", 5, True, (0, 0, 5, ERR_EMPTY)),
        ("a" * 150_001, 99, True, (150_001, 11, 99, "at most 150,000 can be generated")),
        ("a", 5, False, (1, 1, 5, "not configured")),
    ],
)
def test_the_preview_shows_the_numbers_the_charge_will_use(
    app, monkeypatch, text, tokens, configured, expected
):
    monkeypatch.setitem(app.config, "OPENAI_API_KEY", "sk-test" if configured else None)
    user = make_user(tokens=tokens, email="preview@example.com")
    preview = post_generation_preview(user_id=user.id, text=text, ai=ai_settings())
    characters, cost, balance, problem = expected
    assert (preview.characters, preview.cost, preview.balance) == (characters, cost, balance)
    if problem is None:
        assert preview.problem is None
    else:
        assert problem in preview.problem
