"""The pages every page's footer links to: the accessibility statement (ustawa z 4 kwietnia
2019 r. o dostępności cyfrowej, art. 10, in the order of the minister's template), the CP/CPS
and the RODO information clause (art. 13 RODO). Who runs the service comes from
``[enrollment.operator]`` in regca.toml."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template
from markdown_it import MarkdownIt

from ca.errors import ConfigurationError

__all__ = ["bp", "Operator"]

bp = Blueprint("legal", __name__)


class Operator:
    """``[enrollment.operator]``: the public body that runs this centre and its contacts."""

    FIELDS = ("name", "address", "email", "phone", "accessibility_contact", "dpo_email",
              "site_published", "site_updated", "statement_made", "statement_reviewed",
              "building")

    def __init__(self, raw: dict):
        for key, value in raw.items():
            if key not in self.FIELDS:
                raise ConfigurationError(f"enrollment.operator.{key}: unknown setting (known: "
                                         f"{', '.join(self.FIELDS)})")
            if not isinstance(value, str):
                raise ConfigurationError(f"enrollment.operator.{key}: must be a string")
        self.name: str = raw.get("name", "Operator centrum certyfikacji RegCA")
        self.address: str = raw.get("address", "")
        self.email: str = raw.get("email", "")
        self.phone: str = raw.get("phone", "")
        self.accessibility_contact: str = raw.get("accessibility_contact", "")
        self.dpo_email: str = raw.get("dpo_email", self.email)
        self.site_published: str = raw.get("site_published", "2026-12-03")
        self.site_updated: str = raw.get("site_updated", "2026-12-03")
        self.statement_made: str = raw.get("statement_made", "2026-12-03")
        self.statement_reviewed: str = raw.get("statement_reviewed", "2026-12-03")
        self.building: str = raw.get("building", "")


@bp.route("/deklaracja-dostepnosci")
def accessibility():
    return render_template("accessibility.html")


@bp.route("/polityka-certyfikacji")
def policy():
    """The CP/CPS as shipped in policies/ (the same text the tests check against the
    profiles); it is written in English, and the page says so with ``lang="en"``."""
    text = (current_app.config["WEB_SETTINGS"].policies_dir / "cps.md").read_text()
    html = MarkdownIt("commonmark", {"html": False}).enable("table").render(text)
    return render_template("policy.html", body=html)


@bp.route("/rodo")
def privacy():
    return render_template("privacy.html")
