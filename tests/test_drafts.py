"""The model's draft is re-checked and capped in code before it is saved."""

from __future__ import annotations

import pytest

from dashboard.services.posts.ai import BlogDraft, GenerationFailed
from dashboard.services.posts.drafts import demote_h1, draft_clean, shorten

BODY = (
    "Sourdough needs only flour, water and salt. A starter makes it rise slowly. "
    "The long fermentation gives it flavour and a crisp crust.\n\n## Steps\n\nMix, wait, bake."
)


def _draft(**values: object) -> BlogDraft:
    base = {
        "title": "Sourdough for beginners",
        "meta_description": "A" * 100 + " " + "b" * 40,
        "slug": "sourdough",
        "body_markdown": BODY,
        "keywords": ["sourdough"],
        "image_prompt": "A loaf of bread",
        "image_alt": "A loaf of bread on a board",
    }
    return BlogDraft(**{**base, **values})


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("  Sourdough   for beginners ", "Sourdough for beginners"),
        ("# “Sourdough for beginners”", "Sourdough for beginners"),
        (
            "Sourdough for beginners: everything you need to know about starters and crusts",
            "Sourdough for beginners: everything you need to know about",
        ),
        ("Sourdough, bread, flour, water, salt, time, patience, heat, steam, crust", None),
    ],
)
def test_the_title_is_one_line_of_at_most_60_characters(title, expected):
    cleaned = draft_clean(_draft(title=title)).title
    assert len(cleaned) <= 60 and "\n" not in cleaned
    assert not cleaned.endswith((",", " ", ":"))
    if expected:
        assert cleaned == expected


def test_a_long_meta_description_is_cut_at_a_word_with_an_ellipsis():
    meta = "Learn to bake sourdough at home " * 10
    cleaned = draft_clean(_draft(meta_description=meta)).meta_description
    assert 120 <= len(cleaned) <= 160 and cleaned.endswith("…")
    assert meta.startswith(cleaned[:-1])


def test_a_short_meta_description_is_completed_from_the_body():
    cleaned = draft_clean(_draft(meta_description="Bake sourdough at home.")).meta_description
    assert cleaned.startswith("Bake sourdough at home. Sourdough needs only flour, water and salt.")
    assert 120 <= len(cleaned) <= 160
    assert "#" not in cleaned and "Steps" not in cleaned


def test_a_meta_description_the_body_cannot_complete_fails_as_invalid_output():
    with pytest.raises(GenerationFailed, match="meta description of 24 characters"):
        draft_clean(_draft(meta_description="Too short, by a lot.", body_markdown="## Hi\n\nOk."))


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"title": " # "}, "empty title"),
        ({"body_markdown": "  \n\n "}, "empty body"),
        ({"body_markdown": "# Sourdough for beginners\n"}, "empty body"),
    ],
)
def test_an_unusable_draft_fails_as_invalid_output(values, reason):
    with pytest.raises(GenerationFailed) as failed:
        draft_clean(_draft(**values))
    assert failed.value.message == (
        f"Writing the post failed: the answer was not a usable draft ({reason})."
    )


def test_h1_headings_become_h2_except_in_code_and_a_repeated_title_goes():
    body = (
        "# Sourdough for beginners\n\nIntro.\n\n# Starter\n\nText\n\nCrust\n=====\n\n"
        "```bash\n# a shell comment, not a heading\n```\n\n#hashtag stays\n\n## Already H2"
    )
    cleaned = demote_h1(body, "Sourdough for beginners")
    assert cleaned.splitlines()[0] == "Intro."
    assert "## Starter" in cleaned and "## Crust" in cleaned and "=====" not in cleaned
    assert "# a shell comment, not a heading" in cleaned.splitlines()
    assert "#hashtag stays" in cleaned and "## Already H2" in cleaned
    assert not any(line.startswith("# ") for line in cleaned.splitlines() if "comment" not in line)


def test_keywords_alt_text_and_image_prompt_are_tidied_and_capped():
    cleaned = draft_clean(
        _draft(
            keywords=[" Sourdough ", "sourdough", "", "#bread", *[f"word{n}" for n in range(12)]],
            image_alt="A loaf " * 40,
            image_prompt="  ",
        )
    )
    assert cleaned.keywords[:2] == ["Sourdough", "bread"] and len(cleaned.keywords) == 10
    assert len(cleaned.image_alt) <= 125 and cleaned.image_alt.endswith("loaf")
    assert cleaned.image_prompt.startswith("An editorial illustration for “Sourdough for")
    assert cleaned.image_prompt.endswith("No text, letters, logos or watermarks in the image.")


def test_an_empty_alt_text_falls_back_to_the_title():
    assert draft_clean(_draft(image_alt=" ")).image_alt == "Sourdough for beginners"


@pytest.mark.parametrize(
    ("text", "limit", "ellipsis", "expected"),
    [
        ("short", 10, False, "short"),
        ("one two three", 9, False, "one two"),
        ("one two, three", 9, False, "one two"),
        ("abcdefghijkl", 5, False, "abcde"),
        ("one two three", 9, True, "one two…"),
    ],
)
def test_shorten(text, limit, ellipsis, expected):
    assert shorten(text, limit, ellipsis=ellipsis) == expected
