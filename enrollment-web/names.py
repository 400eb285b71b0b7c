"""What codes are called on the pages: roles, token states, revocation reasons, event names
and profiles are stored as codes and shown as words (issue 18).

The message ids are English and go through the catalogue (``translations/pl``), so that the
Polish words are one file's business; the codes themselves never reach a page as a label.
"""

from __future__ import annotations

from enrollment_web.i18n import current_language, gettext

__all__ = ["ROLES", "TOKEN_STATES", "REASONS", "OFFICER_REASONS", "EVENTS", "OUTCOMES",
           "role_name", "token_state_name", "reason_name", "event_name", "outcome_name",
           "profile_name"]


def N_(text: str) -> str:  # noqa: N802 - the gettext convention: marked, translated when shown
    return text


ROLES = {"officer": N_("registration officer"), "auditor": N_("auditor"),
         "administrator": N_("administrator"), "resident": N_("resident")}
TOKEN_STATES = {"active": N_("in use"), "blocked": N_("PIN blocked"), "lost": N_("lost"),
                "destroyed": N_("destroyed"), "replaced": N_("replaced by another token")}
# RFC 5280 §5.3.1 reason codes, said the way an office says them.
REASONS = {"unspecified": N_("no reason given"),
           "keyCompromise": N_("key lost or compromised"),
           "affiliationChanged": N_("change of details"),
           "superseded": N_("replaced by a new one"),
           "cessationOfOperation": N_("ceased operating"),
           "certificateHold": N_("suspended"),
           "privilegeWithdrawn": N_("authorisation withdrawn"),
           "removeFromCRL": N_("removed from the revocation list")}
# What an officer may pick: a revocation is final, so no hold and no removal from the CRL.
OFFICER_REASONS = ("keyCompromise", "affiliationChanged", "superseded", "cessationOfOperation",
                   "privilegeWithdrawn", "unspecified")
EVENTS = {
    "enrolment.record": N_("enrolment recorded"),
    "enrolment.pickup_code": N_("new pickup code given"),
    "pickup.redeem": N_("pickup code used"),
    "certificate.issue": N_("certificate issued"),
    "certificate.revoke": N_("certificate revoked"),
    "certificate.download": N_("certificate downloaded"),
    "certificate.abandon": N_("issuance abandoned"),
    "certificate.hold": N_("certificate suspended"),
    "certificate.release": N_("certificate released from suspension"),
    "token.initialise": N_("token initialised"),
    "token.personalise": N_("token personalised"),
    "token.renew": N_("token renewed"),
    "token.unblock": N_("token PIN unblocked"),
    "token.lost": N_("token reported lost"),
    "token.destroyed": N_("token reported destroyed"),
    "token.blocked": N_("token reported PIN-blocked"),
    "sign.pdf": N_("PDF sealed"),
    "sign.xml": N_("XML sealed"),
    "sign.cms": N_("CMS seal made"),
    "sign.digest": N_("digest sealed"),
    "verify": N_("signature verified"),
    "login": N_("log-in"),
    "logout": N_("log-out"),
    "user.create": N_("staff account created"),
    "user.totp_enrol": N_("one-time codes set up"),
    "organization.add": N_("JST added"),
    "enrolment.bulk_import": N_("enrolments imported from a file"),
    "resident.return": N_("resident came back with code and password"),
    "pickup.delivered": N_("pickup code spent by a download"),
    "certificate.renew": N_("certificate renewed"),
    "notice.expiry": N_("expiry notice sent"),
    "user.disable": N_("staff account disabled"),
    "user.enable": N_("staff account enabled"),
    "user.password_reset": N_("temporary password given"),
    "user.password_change": N_("password changed"),
    "user.totp_reset": N_("one-time codes reset"),
    "user.role_change": N_("role changed"),
    "user.notice_address": N_("notice address changed"),
    "organization.update": N_("JST details changed"),
    "organization.activate": N_("JST activated"),
    "organization.deactivate": N_("JST deactivated"),
    "ca.activate": N_("issuing CA activated"),
    "key.data_key": N_("data key made for sealed fields"),
    "fields.seal": N_("stored personal data sealed"),
    "fields.rotate": N_("sealed fields moved to a new data key"),
    "apikey.create": N_("API key created"),
    "apikey.revoke": N_("API key revoked"),
    "audit.export": N_("audit log exported"),
    "crl.publish": N_("CRL published"),
    "key.generate": N_("key generated"),
    "root.ceremony": N_("root CA ceremony"),
    "pki.init": N_("PKI initialised"),
    "service.activate": N_("service activated"),
    "home.backup": N_("backup made"),
    "home.restore": N_("backup restored"),
}
OUTCOMES = {"success": N_("success"), "failure": N_("failure")}


def _named(table: dict[str, str], code: str | None) -> str:
    if code is None:
        return ""
    return gettext(table[code]) if code in table else code


def role_name(code: str | None) -> str:
    return _named(ROLES, code)


def token_state_name(code: str | None) -> str:
    return _named(TOKEN_STATES, code)


def reason_name(code: str | None) -> str:
    return _named(REASONS, code)


def event_name(code: str | None) -> str:
    """A known event by its name; one this list does not know (a newer kind) by its code."""
    return _named(EVENTS, code)


def outcome_name(code: str | None) -> str:
    return _named(OUTCOMES, code)


def profile_name(profile) -> str:
    """A profile (or its name) by its title in the page's language: titles are written
    "Polski / English" in policies/profiles; an unknown name stays as it is."""
    if isinstance(profile, str):
        from enrollment_web.services import store
        found = {p.name: p for p in store().profiles}.get(profile)
        if found is None:
            return profile
        profile = found
    title = getattr(profile, "title", None) or str(profile)
    pl, _, en = title.partition(" / ")
    return (en or pl) if current_language() == "en" else pl
