"""Helpers for web tests."""

from __future__ import annotations

import re
from typing import Any


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "form has no CSRF token"
    return match.group(1)


def book_via_form(client: Any, data: dict[str, Any]) -> Any:
    page = client.get("/book")
    token = csrf_from(page.get_data(as_text=True))
    return client.post("/book", data={**data, "csrf_token": token})
