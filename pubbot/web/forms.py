"""
Form bodies (C{application/x-www-form-urlencoded}) parsed in bounded work.

twisted.web parses every POST form body into C{request.args} before any
resource runs, with a Python loop over each C{%XX}: 2 MiB of escapes held
the reactor over half a second, for anyone, on any path. pubbot's site
turns that off (L{pubbot.web.limits.LimitedSite}); resources that take
forms read the one field they need with L{form_field}: C-speed passes over
a body they have bounded themselves.
"""

from __future__ import annotations

import codecs
import re

#: Most fields in a form body.
MAX_FIELDS = 10

_BAD_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")


class FormError(ValueError):
    """A malformed form body; the message says how."""


def unquote_form(data: bytes) -> bytes:
    """
    Form unescaping ("+" is a space, C{%XX} a byte) in a few C-speed passes
    (urllib's unquote is a Python loop: 200 ms a MiB of escapes); a C{%}
    without two hex digits raises L{FormError}.
    """
    data = data.replace(b"+", b" ")
    if b"%" not in data:
        return data
    if _BAD_ESCAPE.search(data):
        raise FormError("malformed percent escape in form body")
    return codecs.escape_decode(data.replace(b"\\", b"\\\\").replace(b"%", b"\\x"))[0]


def form_field(body: bytes, name: bytes, max_fields: int = MAX_FIELDS) -> bytes | None:
    """
    The first value of field C{name} in a form body, unescaped; None when
    it has none. L{FormError} when the body is malformed (a field without
    "=", a bad escape) or has more than C{max_fields} fields.
    """
    fields = body.split(b"&", max_fields)
    if len(fields) > max_fields:
        raise FormError("more than %d form fields" % (max_fields,))
    if not all(b"=" in field for field in fields):
        raise FormError("malformed form body")
    for field in fields:
        key, _, value = field.partition(b"=")
        if unquote_form(key) == name:
            return unquote_form(value)
    return None
