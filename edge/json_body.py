"""JSON request bodies read with limits: size (the app's ``MAX_CONTENT_LENGTH``, answered 413)
and nesting depth, checked before parsing, so that 100,000 nested ``[`` cost a scan and a 400,
never the parser's recursion (a RecursionError, a 500)."""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Request

from ca.errors import Malformed

__all__ = ["MAX_DEPTH", "json_object", "nesting_depth"]

# Deeper than any request of the contract needs (a subject is 3 levels down).
MAX_DEPTH = 16
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")


def nesting_depth(data: bytes, limit: int = MAX_DEPTH) -> int:
    """How deep arrays and objects nest in ``data`` (strings skipped), counted up to just past
    ``limit``."""
    depth = deepest = 0
    for m in _BRACKET.finditer(_STRING.sub(b'""', data)):
        if m.group() in (b"[", b"{"):
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    break
        else:
            depth -= 1
    return deepest


def json_object(request: Request, max_depth: int = MAX_DEPTH) -> dict[str, Any]:
    """The body as a JSON object, or Malformed saying why not."""
    if not request.is_json:
        raise Malformed("the body must be a JSON object (Content-Type: application/json)")
    data = request.get_data(cache=False)  # over MAX_CONTENT_LENGTH: RequestEntityTooLarge
    if nesting_depth(data, max_depth) > max_depth:
        raise Malformed(f"the JSON body nests arrays or objects too deep (at most {max_depth})")
    try:
        body = json.loads(data)
    except (ValueError, RecursionError):
        body = None
    if not isinstance(body, dict):
        raise Malformed("the body must be a JSON object (Content-Type: application/json)")
    return body
