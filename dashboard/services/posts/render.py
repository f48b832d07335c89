"""Rendering customer- and AI-written Markdown safely for staff's browsers.

markdown-it-py with raw HTML disabled turns Markdown into HTML; nh3 (an allowlist
sanitizer) then keeps only harmless tags and attributes. Links must be https (or relative)
and get rel="noopener noreferrer nofollow"; images are dropped from the body entirely, so
no staff browser fetches anything from an outside host (the featured image is shown by the
page itself, from Backoffice's own media URL).
"""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

ALLOWED_TAGS = frozenset(
    {
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "p",
        "br",
        "hr",
        "strong",
        "em",
        "b",
        "i",
        "code",
        "pre",
        "blockquote",
        "ul",
        "ol",
        "li",
        "a",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "del",
    }
)
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "th": {"align"}, "td": {"align"}, "ol": {"start"}}
# Dropped together with their content, not just unwrapped.
CLEAN_CONTENT_TAGS = frozenset({"script", "style", "iframe", "object", "embed", "noscript"})

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")
_markdown.enable("strikethrough")


def _only_https_links(tag: str, attribute: str, value: str) -> str | None:
    # Relative links would resolve against Backoffice itself; only absolute https survives.
    if tag == "a" and attribute == "href" and not value.lower().startswith("https://"):
        return None
    return value


def render_markdown(text: str | None) -> Markup:
    """Sanitised HTML for ``text``; safe to place in a page as is."""
    if not text:
        return Markup("")
    html = _markdown.render(text)
    # A title's H1 belongs to the page; demote body H1s so there is exactly one.
    html = html.replace("<h1>", "<h2>").replace("</h1>", "</h2>")
    cleaned = nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(CLEAN_CONTENT_TAGS),
        attributes={tag: set(attrs) for tag, attrs in ALLOWED_ATTRIBUTES.items()},
        url_schemes={"https"},
        link_rel="noopener noreferrer nofollow",
        attribute_filter=_only_https_links,
        strip_comments=True,
    )
    return Markup(cleaned)
