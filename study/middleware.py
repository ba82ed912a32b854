"""The one place where malformed requests are refused before any view or database sees them.

- a NUL byte (or an overlong value) in the path: 404, since no page has such a name;
- a NUL byte or an overlong value in the query string or a form: 400;
- a body in a charset Python does not know, or a url-encoded form in another charset than UTF-8 (which
  Django refuses with an exception that its CSRF failure path raises again): 400;
- a declared body larger than the view accepts: 413, answered before the body is read, so a 1 GB
  upload is refused at once instead of being read until the worker times out.

Forms of upload views and the admin are left to the forms that read them (Django's form fields refuse
NUL): reading them here would fix their upload handlers before the view can set its own.
"""

import codecs
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import BadRequest, SuspiciousOperation
from django.http.multipartparser import MultiPartParserError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string

MAX_PATH_CHARS = 1024
MAX_QUERY_VALUE_CHARS = 2048


def refusal(request: HttpRequest, status: int, message: str) -> HttpResponse:
    """A short page saying why the request was refused (JSON `problems` for the upload page's script)."""
    if request.headers.get("x-requested-with") == "XMLHttpRequest":
        return JsonResponse({"problems": [{"file": "(request)", "problem": message}]}, status=status)
    body = render_to_string("study/refused.html", {"status": status, "message": message})
    return HttpResponse(body, status=status, content_type="text/html; charset=utf-8")


def _has_bad_value(lists, max_chars: int) -> bool:
    """True if a key or value of a QueryDict's `lists()` holds a NUL byte, or a value passes `max_chars`."""
    return any(
        "\x00" in key or any("\x00" in v or len(v) > max_chars for v in values) for key, values in lists
    )


class RefuseBadRequestsMiddleware:
    """Refuses NUL bytes, overlong values and unknown charsets (see the module docstring)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "\x00" in request.path or len(request.path) > MAX_PATH_CHARS:
            return refusal(request, 404, "There is no page at this address.")
        charset = (request.content_params or {}).get("charset")
        if charset is not None:
            try:
                known = codecs.lookup(charset).name
            except LookupError:
                return refusal(request, 400, f"The request's character set {charset[:40]!r} is not known.")
            if request.content_type == "application/x-www-form-urlencoded" and known != "utf-8":
                return refusal(request, 400, "Forms must be sent in UTF-8.")
        if _has_bad_value(request.GET.lists(), MAX_QUERY_VALUE_CHARS):
            return refusal(request, 400, "The address holds a value that is not valid.")
        return self.get_response(request)


def max_request_bytes(limit_setting: str) -> Callable:
    """Mark a view that accepts request bodies up to the setting `limit_setting` (bytes)."""

    def mark(view: Callable) -> Callable:
        view.max_request_bytes_setting = limit_setting
        return view

    return mark


class RequestBodyMiddleware:
    """413 for a declared body past the view's limit (DATA_UPLOAD_MAX_MEMORY_SIZE unless the view is
    marked with `max_request_bytes`, or ADMIN_UPLOAD_MAX_BYTES in the admin); 400 for a form with a NUL
    byte or that Django cannot parse (upload views and the admin: their forms check their fields). Runs
    before the CSRF check, which reads the body."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view, args, kwargs) -> HttpResponse | None:
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return refusal(request, 400, "The request's Content-Length is not a number.")
        setting = getattr(view, "max_request_bytes_setting", None)
        if setting is None and request.resolver_match and request.resolver_match.app_name == "admin":
            setting = "ADMIN_UPLOAD_MAX_BYTES"
        limit = getattr(settings, setting or "DATA_UPLOAD_MAX_MEMORY_SIZE")
        if declared > limit:
            return refusal(request, 413, f"The request is larger than the limit of {limit:,} bytes.")
        if request.method == "POST" and setting is None:  # upload views set their own upload handlers
            try:
                bad = _has_bad_value(request.POST.lists(), limit)
            except (BadRequest, SuspiciousOperation, UnicodeDecodeError, MultiPartParserError) as error:
                return refusal(request, 400, f"The form cannot be read ({error}).")
            if bad:
                return refusal(request, 400, "The form holds a value that is not valid.")
        return None
