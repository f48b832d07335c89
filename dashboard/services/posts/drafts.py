"""The model's draft is a proposal: these rules re-check and cap it before it is saved.

- title: one line, at most 60 characters (cut at a word boundary); empty fails.
- meta description: one line of 120 to 160 characters. Too long: cut at a word boundary
  and end with "…". Too short: completed with the opening sentences of the body, then cut
  the same way; a draft whose body cannot bring it to 120 fails as invalid output.
- body: Markdown whose H1s (ATX ``#`` and setext ``===``) are demoted to H2 outside code
  fences, since the title is the page's only H1; a first heading repeating the title is
  dropped; empty fails.
- keywords: trimmed, de-duplicated, at most 10 of at most 60 characters.
- image alt text: at most 125 characters (the title when empty); image prompt at most 4,000
  characters (a prompt built from the title when empty).
The slug is re-made from the proposal (or the title) and made unique by ``posts``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dashboard.services.posts.ai import ERR_INVALID, STAGE_WRITING, BlogDraft, GenerationFailed

TITLE_MAX = 60
META_MIN = 120
META_MAX = 160
ALT_MAX = 125
KEYWORDS_MAX = 10
KEYWORD_MAX = 60
IMAGE_PROMPT_MAX = 4000
IMAGE_PROMPT_STYLE = "No text, letters, logos or watermarks in the image."
_TRAILING = " ,;:-–—"
_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_ATX_H1 = re.compile(r"^( {0,3})#(?=\s|$)")
_SETEXT_H1 = re.compile(r"^ {0,3}=+\s*$")
_HEADING = re.compile(r"^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$")


@dataclass(frozen=True)
class CleanDraft:
    title: str
    meta_description: str
    slug_hint: str
    body: str
    keywords: list[str]
    image_prompt: str
    image_alt: str


def _invalid(detail: str) -> GenerationFailed:
    return GenerationFailed(STAGE_WRITING.format(reason=ERR_INVALID.format(detail=detail)))


def one_line(text: str | None) -> str:
    return " ".join((text or "").split())


def shorten(text: str, limit: int, *, ellipsis: bool = False) -> str:
    """``text`` cut to at most ``limit`` characters at a word boundary (mid-word only for a
    single overlong word), without dangling punctuation, with "…" if asked."""
    if len(text) <= limit:
        return text
    room = limit - 1 if ellipsis else limit
    cut = text[: room + 1]
    cut = cut.rsplit(" ", 1)[0] if " " in cut else text[:room]
    cut = cut[:room].rstrip(_TRAILING)
    return cut + "…" if ellipsis else cut


def _sentences(markdown: str) -> list[str]:
    """The body's prose as plain sentences: headings, code and list markers left out."""
    prose, in_code = [], False
    for line in markdown.splitlines():
        if _FENCE.match(line):
            in_code = not in_code
            continue
        if in_code or line.lstrip().startswith(("#", "|", "<")) or _SETEXT_H1.match(line):
            continue
        line = re.sub(r"^\s*([-*+>]|\d+[.)])\s+", "", line)
        line = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", line)
        prose.append(re.sub(r"[*_`]", "", line))
    text = one_line(" ".join(prose))
    return [part for part in re.split(r"(?<=[.!?])\s+", text) if part]


def clean_meta_description(meta: str, body: str) -> str:
    text = one_line(meta)
    for sentence in _sentences(body):
        if len(text) >= META_MIN:
            break
        if sentence not in text:
            text = f"{text} {sentence}".strip()
    text = shorten(text, META_MAX, ellipsis=True)
    if len(text) < META_MIN:
        raise _invalid(f"meta description of {len(text)} characters, at least {META_MIN} needed")
    return text


def demote_h1(markdown: str, *titles: str) -> str:
    """Turn H1s into H2s outside code fences and drop a first heading equal to one of
    ``titles`` (the model's title and the capped one): the page shows the title already."""
    lines = markdown.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out: list[str] = []
    in_code = False
    for line in lines:
        if _FENCE.match(line):
            in_code = not in_code
        elif not in_code and _SETEXT_H1.match(line) and out and out[-1].strip():
            out[-1] = f"## {out[-1].strip()}"
            continue
        elif not in_code:
            line = _ATX_H1.sub(r"\1##", line)
        out.append(line)
    body = "\n".join(out).strip()
    first, _, rest = body.partition("\n")
    heading = _HEADING.match(first)
    if heading and one_line(heading.group(1)).casefold() in {t.casefold() for t in titles}:
        body = rest.strip()
    return body


def clean_keywords(keywords: list[str]) -> list[str]:
    seen: dict[str, str] = {}
    for keyword in keywords:
        word = shorten(one_line(keyword).strip("#,;"), KEYWORD_MAX)
        if word:
            seen.setdefault(word.casefold(), word)
    return list(seen.values())[:KEYWORDS_MAX]


def draft_clean(draft: BlogDraft) -> CleanDraft:
    """Apply the module's rules to the model's draft. Raises GenerationFailed (invalid
    output) for an empty title or body, or a meta description that cannot reach 120."""
    proposed = one_line(draft.title).lstrip("#").strip().strip("\"'“”«»")
    title = shorten(proposed, TITLE_MAX)
    if not title:
        raise _invalid("empty title")
    body = demote_h1(draft.body_markdown or "", proposed, title)
    if not body:
        raise _invalid("empty body")
    prompt = one_line(draft.image_prompt) or f"An editorial illustration for “{title}”."
    return CleanDraft(
        title=title,
        meta_description=clean_meta_description(draft.meta_description, body),
        slug_hint=one_line(draft.slug),
        body=body,
        keywords=clean_keywords(draft.keywords),
        image_prompt=f"{shorten(prompt, IMAGE_PROMPT_MAX - 60)} {IMAGE_PROMPT_STYLE}",
        image_alt=shorten(one_line(draft.image_alt) or title, ALT_MAX),
    )
