"""Request bodies: JSON documents wrapped in the resource's name."""

from __future__ import annotations

import json

from agent.controller import exceptions

MAX_DEPTH = 32          # objects and lists nested deeper: 400


def load_json(raw: bytes):
    """The JSON document of a request, or a 400 saying what is wrong with it.

    Beyond JSON itself: nesting at most :data:`MAX_DEPTH` deep, and every string
    (keys too) valid Unicode without NUL (no lone surrogate such as ``\\ud800``,
    which no database can store).
    """
    if not raw or not raw.strip():
        raise exceptions.BadRequest('Request body is empty: a JSON document is required')
    try:
        doc = json.loads(raw)
    except UnicodeDecodeError:
        raise exceptions.BadRequest('Request body is not UTF-8 encoded JSON') from None
    except RecursionError:
        raise exceptions.BadRequest(
            f'Request body is nested deeper than {MAX_DEPTH} levels') from None
    except ValueError as exc:
        raise exceptions.BadRequest(f'Malformed JSON in request body: {exc}') from None
    check_document(doc)
    return doc


def check_document(doc) -> None:
    """Depth and strings of a parsed document (iterative: no recursion to exhaust)."""
    stack = [(doc, 1, '(body)')]
    while stack:
        value, depth, path = stack.pop()
        if isinstance(value, str):
            _check_string(value, path)
            continue
        if not isinstance(value, (dict, list)):
            continue
        if depth > MAX_DEPTH:
            raise exceptions.BadRequest(
                f'Request body is nested deeper than {MAX_DEPTH} levels at {path}')
        if isinstance(value, dict):
            for key, item in value.items():
                _check_string(key, f'{path} key')
                stack.append((item, depth + 1, key if path == '(body)' else f'{path}.{key}'))
        else:
            stack.extend((item, depth + 1, f'{path}[{i}]') for i, item in enumerate(value))


def _check_string(text: str, path: str) -> None:
    if '\x00' in text:
        raise exceptions.InvalidInput(f'Invalid input for {path}: NUL characters are not '
                                      'allowed')
    try:
        text.encode('utf-8')
    except UnicodeEncodeError:
        raise exceptions.InvalidInput(f'Invalid input for {path}: not valid Unicode '
                                      '(a lone surrogate)') from None


def unwrap_one(doc, singular: str) -> dict:
    """``{"network": {...}}`` → the inner dict, for updates."""
    if not isinstance(doc, dict) or singular not in doc:
        got = ', '.join(sorted(doc)) if isinstance(doc, dict) else type(doc).__name__
        raise exceptions.BadRequest(
            f"Resource body required: expected a '{singular}' object in the request "
            f"body, got {got or 'an empty object'}")
    if len(doc) != 1:
        extra = ', '.join(sorted(k for k in doc if k != singular))
        raise exceptions.BadRequest(f"Unexpected keys beside '{singular}': {extra}")
    inner = doc[singular]
    if not isinstance(inner, dict):
        raise exceptions.BadRequest(
            f"'{singular}' must be a JSON object, not {type(inner).__name__}")
    return inner


def unwrap_create(doc, singular: str, plural: str):
    """``{"network": {...}}`` → ([inner], False); ``{"networks": [...]}`` → (list, True)."""
    if isinstance(doc, dict) and plural in doc and singular not in doc:
        if len(doc) != 1:
            extra = ', '.join(sorted(k for k in doc if k != plural))
            raise exceptions.BadRequest(f"Unexpected keys beside '{plural}': {extra}")
        items = doc[plural]
        if not isinstance(items, list) or not items:
            raise exceptions.BadRequest(
                f"'{plural}' must be a non-empty list of {singular} objects")
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise exceptions.BadRequest(
                    f"'{plural}'[{index}] must be a JSON object, not {type(item).__name__}")
        return items, True
    if isinstance(doc, dict) and singular not in doc:
        got = ', '.join(sorted(doc)) or 'an empty object'
        raise exceptions.BadRequest(
            f"Resource body required: expected a '{singular}' object (or a "
            f"'{plural}' list) in the request body, got {got}")
    return [unwrap_one(doc, singular)], False


def plain_object(doc, what: str) -> dict:
    """A body that is a bare JSON object (router interface actions)."""
    if not isinstance(doc, dict):
        raise exceptions.BadRequest(f'{what}: the request body must be a JSON object')
    return doc
