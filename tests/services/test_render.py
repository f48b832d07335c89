"""Markdown preview sanitisation: hostile content never reaches staff's browsers."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from dashboard.services.posts.render import render_markdown


class Elements(HTMLParser):
    """Every element and attribute the browser would build from the HTML."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))


SAFE_TAGS = {"p", "a", "h2", "h3", "strong", "em", "ul", "ol", "li", "code", "pre", "br"}


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert(1)</script>",
        "<iframe src='https://evil.example'></iframe>",
        "[click](javascript:alert(1))",
        "[click](JaVaScRiPt:alert(1))",
        "[x](data:text/html;base64,PHNjcmlwdD4=)",
        "![tracker](https://evil.example/pixel.png)",
        "![local](/media/a.png)",
        '<img src=x onerror="alert(1)">',
        "<a href='https://x' onclick='alert(1)'>x</a>",
        "[insecure](http://example.com)",
        "[relative](/admin/user/delete)",
        "<style>body{display:none}</style>",
        "[nested](https://ok.example 'title\" onmouseover=\"x')",
    ],
)
def test_hostile_markdown_is_neutralised(hostile):
    html = str(render_markdown(f"Intro\n\n{hostile}\n\nOutro"))
    for tag, attrs in Elements(html).found:
        assert tag in SAFE_TAGS, html
        assert not any(name.startswith("on") for name in attrs), html
        if tag == "a":
            assert attrs.get("href") is None or attrs["href"].startswith("https://"), html
    assert "Intro" in html and "Outro" in html


def test_ordinary_markdown_renders():
    html = str(
        render_markdown(
            "# Title\n\n## Part\n\nSome **bold** and [a link](https://example.com).\n\n- one\n- two"
        )
    )
    assert "<h1>" not in html and "<h2>Title</h2>" in html and "<h2>Part</h2>" in html
    assert "<strong>bold</strong>" in html
    assert 'href="https://example.com"' in html and 'rel="noopener noreferrer nofollow"' in html
    assert "<li>one</li>" in html


def test_raw_html_is_shown_as_text_not_markup():
    html = str(render_markdown("<b>not bold</b>"))
    assert "<b>" not in html and "&lt;b&gt;" in html


def test_empty_content_renders_nothing():
    assert str(render_markdown("")) == "" and str(render_markdown(None)) == ""
