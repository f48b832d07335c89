"""A local stand-in for the OpenAI API: a real HTTP server (pytest-httpserver on 127.0.0.1,
ephemeral port) answering with realistic Responses and Images payloads, so the real
``openai`` SDK is exercised end to end (respx cannot intercept openai 3.x's httpx2).

Use the ``openai_server`` fixture (import it into a test module); it points the app's
OPENAI_* settings at the server with one fast retry and short timeouts, and MEDIA_ROOT at a
temporary folder.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, current_app
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from dashboard.services.posts.ai import AiSettings

API_KEY = "sk-test-0123456789abcdefSECRET"
RESPONSES_PATH = "/v1/responses"
IMAGES_PATH = "/v1/images/generations"
FAST_RETRY = {"retry-after-ms": "1"}  # the SDK honours it: retries take a millisecond


def tiny_png() -> bytes:
    """A valid 1x1 RGB PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\x2a\x6f\xb5")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


PNG = tiny_png()

GOOD_DRAFT: dict[str, Any] = {
    "title": "Sourdough at Home: A Beginner's Guide to Baking Your Very First Loaf",
    "meta_description": (
        "Bake your first sourdough loaf at home: feed a starter, shape the dough and get a "
        "crisp crust with this step-by-step beginner's guide."
    ),
    "slug": "sourdough-at-home-beginners-guide",
    "body_markdown": (
        "# Sourdough at Home: A Beginner's Guide to Baking Your Very First Loaf\n\n"
        "Sourdough needs flour, water, salt and patience. This guide walks you through it.\n\n"
        "## Feed your starter\n\nFeed it twice a day for a week.\n\n"
        "### Signs it is ready\n\n- It doubles in size\n- It smells pleasantly sour\n\n"
        "## Shape and bake\n\nBake at 250 °C in a covered pot for 20 minutes, then uncovered."
    ),
    "keywords": ["sourdough bread", "sourdough starter", "bread baking", "Sourdough Bread"],
    "image_prompt": "A rustic sourdough loaf on a wooden board, morning light, photograph",
    "image_alt": "A freshly baked sourdough loaf with a crisp, scored crust on a wooden board",
}


def response_payload(
    content: list[dict[str, Any]], *, status: str = "completed", incomplete: str | None = None
) -> dict[str, Any]:
    """A Responses API object as api.openai.com returns it for a structured output call."""
    return {
        "id": "resp_68f0c0ffee",
        "object": "response",
        "created_at": 1764115200,
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": {"reason": incomplete} if incomplete else None,
        "instructions": "(policy)",
        "max_output_tokens": 16000,
        "max_tool_calls": None,
        "model": "gpt-5.5-2026-04-23",
        "output": [
            {"id": "rs_68f0c0ffee01", "type": "reasoning", "summary": []},
            {
                "id": "msg_68f0c0ffee02",
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": content,
            },
        ],
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": "medium", "summary": None},
        "safety_identifier": "(hash)",
        "service_tier": "default",
        "store": False,
        "temperature": 1.0,
        "text": {
            "format": {"type": "json_schema", "name": "BlogDraft", "schema": {}, "strict": True},
            "verbosity": "medium",
        },
        "tool_choice": "auto",
        "tools": [],
        "top_logprobs": 0,
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": {
            "input_tokens": 812,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 1450,
            "output_tokens_details": {"reasoning_tokens": 320},
            "total_tokens": 2262,
        },
        "user": None,
        "metadata": {},
    }


def draft_response(draft: dict[str, Any] | None = None, *, text: str | None = None) -> dict:
    body = text if text is not None else json.dumps(draft or GOOD_DRAFT)
    return response_payload([{"type": "output_text", "text": body, "annotations": []}])


def refusal_response(reason: str = "I'm sorry, but I can't help with that.") -> dict:
    return response_payload([{"type": "refusal", "refusal": reason}])


def image_payload(data: bytes = PNG) -> dict[str, Any]:
    return {
        "created": 1764115230,
        "background": "opaque",
        "data": [{"b64_json": base64.b64encode(data).decode()}],
        "output_format": "png",
        "quality": "high",
        "size": "1536x1024",
        "usage": {
            "input_tokens": 50,
            "input_tokens_details": {"image_tokens": 0, "text_tokens": 50},
            "output_tokens": 6208,
            "total_tokens": 6258,
        },
    }


def error_payload(message: str, kind: str, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def json_response(payload: dict, status: int = 200, headers: dict | None = None) -> Response:
    return Response(
        json.dumps(payload), status=status, headers=headers, content_type="application/json"
    )


def requests_to(server: HTTPServer, path: str, user_id: str) -> list[dict[str, Any]]:
    """The JSON bodies the SDK sent to ``path`` for ``user_id`` (by their safety
    identifier, so a late answer from an earlier test never counts), in order."""
    identifier = hashlib.sha256(user_id.encode()).hexdigest()
    bodies = [json.loads(request.get_data()) for request, _ in server.log if request.path == path]
    return [body for body in bodies if body.get("safety_identifier") == identifier]


@pytest.fixture(scope="session")
def openai_http() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    try:
        yield server
    finally:
        server.clear()
        server.stop()


@pytest.fixture
def openai_server(
    openai_http: HTTPServer, session_app: Flask, tmp_path, monkeypatch
) -> Iterator[HTTPServer]:
    """The fake API with the app pointed at it; a successful generation by default
    (override with ``server.clear()`` and new expectations)."""
    openai_http.clear()
    settings = {
        "OPENAI_API_KEY": API_KEY,
        "OPENAI_BASE_URL": openai_http.url_for("/v1"),
        "OPENAI_MAX_RETRIES": 1,
        "OPENAI_TIMEOUT": 5,
        "MEDIA_ROOT": str(tmp_path / "media"),
        "MEDIA_BASE_URL": "https://cdn.example.com/media/",
    }
    for name, value in settings.items():
        monkeypatch.setitem(session_app.config, name, value)
    serve(openai_http)
    session_app.extensions.pop("inline_jobs", None)
    yield openai_http
    openai_http.clear()
    session_app.extensions.pop("inline_jobs", None)


def ok_draft(request: Request) -> Response:
    return json_response(draft_response())


def ok_image(request: Request) -> Response:
    return json_response(image_payload())


def serve(server: HTTPServer, *, text=ok_draft, image=ok_image) -> None:  # noqa: ANN001
    """Answer the Responses and Images endpoints with these handlers (request → Response)."""
    server.clear_all_handlers()
    server.expect_request(RESPONSES_PATH, method="POST").respond_with_handler(text)
    server.expect_request(IMAGES_PATH, method="POST").respond_with_handler(image)


def ai_settings() -> AiSettings:
    """The current app's OpenAI settings, built as its doors build them."""
    return AiSettings.from_config(current_app.config)
