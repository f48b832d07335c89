"""Showing JSON columns (job params and results, Stripe payloads) as escaped, indented text."""

from __future__ import annotations

import json
from typing import Any

from markupsafe import Markup, escape


def pretty_json(view: Any, context: Any, model: Any, name: str) -> Markup:
    """A formatter: the column's JSON, pretty-printed and escaped, in a ``<pre>``."""
    value = getattr(model, name)
    if value is None or value == {}:
        return Markup("")
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    return Markup('<pre class="bo-json">') + escape(text) + Markup("</pre>")
