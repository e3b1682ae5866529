"""The small fleet web UI: one static page (``fleet/ui/index.html``) that reads the JSON API.

Login: ``POST /ui/login`` with a form field ``token`` checks the token and sets it as an HttpOnly,
SameSite=Strict cookie; GET routes of the API accept that cookie in place of the bearer header
(api.bearer_token), so the page's fetch() calls and the image-page links work without the token
ever appearing in a URL. Everything the page renders goes through textContent; its CSP allows
only inline script/style and requests to the server itself.
"""
from __future__ import annotations

from importlib import resources
from urllib.parse import parse_qs

COOKIE = "layerscan_token"
UI_POLICY = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self';"
             " img-src data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def page() -> str:
    return resources.files("layerscan.fleet").joinpath("ui/index.html").read_text(encoding="utf-8")


def form_token(body: bytes) -> str:
    """The ``token`` field of an urlencoded login form, or ``""``."""
    values = parse_qs(body.decode("utf-8", "replace"), max_num_fields=4).get("token", [""])
    return values[0].strip()
