"""The TOTP set-up page's QR code: the otpauth:// URI as an inline SVG (segno), so a phone's
authenticator app reads it instead of the officer typing 32 characters. Inline, so it needs no
image route and the page's Content-Security-Policy stays ``default-src 'self'``."""

from __future__ import annotations

import segno
from flask import Blueprint
from markupsafe import Markup

__all__ = ["bp", "qr_svg"]

bp = Blueprint("totp_qr", __name__)


@bp.app_template_global("totp_qr")
def qr_svg(uri: str) -> Markup:
    code = segno.make(uri, error="m")
    svg = code.svg_inline(scale=5, border=4, dark="#000", light="#fff",
                          title="Kod QR klucza TOTP", svgclass="totp-qr")
    return Markup(svg)  # noqa: S704 - segno's own SVG of the URI, no markup from the visitor
