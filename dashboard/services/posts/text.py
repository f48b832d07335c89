"""What a customer's text is for post generation: what a character is, what a post costs,
how an uploaded file is read, and slugs.

Characters, the one definition used for the preview, the charge and
``BlogPost.characterCount``: the number of Unicode code points of the text after line
endings are normalised to "\\n" (CRLF and lone CR), NUL characters are removed (PostgreSQL
cannot store them) and surrounding whitespace is stripped. Nothing else is normalised: "é"
typed as one code point counts 1, as "e" plus a combining accent 2; an emoji counts its
code points (👍 is 1, a family joined by zero-width joiners 5 or more). The normalised text
is what ``originalText`` stores, so ``characterCount == len(originalText)``.

Cost: ``ceil(characters / 15,000)`` tokens; 1 to 15,000 characters cost 1, 15,001 cost 2.
Empty text is refused.
"""

from __future__ import annotations

import re
import unicodedata

import sqlalchemy as sa

from dashboard.core.errors import BackofficeError
from dashboard.extensions import db
from dashboard.models import BlogPost

ERR_EMPTY = "The text is empty: paste or upload the customer's text first."
ERR_UPLOAD_TYPE = "Upload a .txt or .md file, not {name!r}."
ERR_UPLOAD_SIZE = "The file is {size:,} bytes; at most {limit:,} bytes can be uploaded."
ERR_UPLOAD_ENCODING = (
    "The file is not UTF-8 text (unreadable byte at position {position:,}); "
    "save it as UTF-8 and upload it again."
)

CHARACTERS_PER_TOKEN = 15_000
SLUG_MAX_LENGTH = 60
UPLOAD_EXTENSIONS = (".txt", ".md", ".markdown")
UPLOAD_MAX_BYTES = 1_000_000

# Letters NFKD does not decompose into ASCII.
_TRANSLITERATE = str.maketrans(
    {
        "ß": "ss",
        "æ": "ae",
        "Æ": "AE",
        "œ": "oe",
        "Œ": "OE",
        "ø": "o",
        "Ø": "O",
        "đ": "d",
        "Đ": "D",
        "ð": "d",
        "Ð": "D",
        "þ": "th",
        "Þ": "TH",
        "ł": "l",
        "Ł": "L",
        "ı": "i",
        "'": None,
        "’": None,
    }
)


def post_text_normalise(text: str) -> str:
    """The text as it is counted and stored (see the module docstring)."""
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "").strip()


def post_character_count(text: str) -> int:
    """The number of characters of ``text``, as the module docstring defines them."""
    return len(post_text_normalise(text))


def post_cost_of(characters: int) -> int:
    """Tokens ``characters`` characters cost; BackofficeError for none."""
    if characters <= 0:
        raise BackofficeError(ERR_EMPTY)
    return -(-characters // CHARACTERS_PER_TOKEN)


def post_generation_cost(text: str) -> int:
    """Tokens a generation from ``text`` costs: ceil(characters / 15,000). Raises
    BackofficeError for empty (or whitespace-only) text."""
    return post_cost_of(post_character_count(text))


def post_text_from_upload(*, filename: str, data: bytes) -> str:
    """The text of an uploaded .txt/.md file: UTF-8 (a byte-order mark is dropped), at most
    UPLOAD_MAX_BYTES. Raises BackofficeError naming what is wrong with the file."""
    name = (filename or "").strip()
    if not name.lower().endswith(UPLOAD_EXTENSIONS):
        raise BackofficeError(ERR_UPLOAD_TYPE.format(name=name))
    if len(data) > UPLOAD_MAX_BYTES:
        raise BackofficeError(ERR_UPLOAD_SIZE.format(size=len(data), limit=UPLOAD_MAX_BYTES))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BackofficeError(ERR_UPLOAD_ENCODING.format(position=exc.start + 1)) from None


def post_slugify(title: str, *, max_length: int = SLUG_MAX_LENGTH) -> str:
    """Lowercase ASCII words of ``title`` joined by hyphens, accents transliterated
    ("Crème brûlée à Paris" → "creme-brulee-a-paris"), cut to ``max_length`` at a word
    boundary. Characters with no ASCII form are dropped; the result may be empty."""
    ascii_text = (
        unicodedata.normalize("NFKD", title.translate(_TRANSLITERATE))
        .encode("ascii", "ignore")
        .decode("ascii")
    )
    slug = "-".join(re.findall(r"[a-z0-9]+", ascii_text.lower()))
    if len(slug) > max_length:
        cut = slug[: max_length + 1]
        slug = cut.rsplit("-", 1)[0] if "-" in cut else slug[:max_length]
    return slug.strip("-")


def post_unique_slug(
    base: str, *, exclude_post_id: str | None = None, max_length: int = SLUG_MAX_LENGTH
) -> str:
    """``base`` slugified (or "post" if nothing is left), with "-2", "-3", ... appended
    when another post has it; ``exclude_post_id`` is the post being renamed, whose own slug
    does not count. Only a hint under concurrency: the unique index BlogPost_slug_key has
    the last word, so a caller that inserts retries on its IntegrityError."""
    slug = post_slugify(base, max_length=max_length) or "post"
    query = sa.select(BlogPost.slug).where(
        sa.or_(BlogPost.slug == slug, BlogPost.slug.like(f"{slug}-%"))
    )
    if exclude_post_id is not None:
        query = query.where(BlogPost.id != exclude_post_id)
    taken = set(db.session.execute(query).scalars())
    candidate, number = slug, 1
    while candidate in taken:
        number += 1
        candidate = f"{slug}-{number}"
    return candidate
