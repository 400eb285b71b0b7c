"""Signing and verification API: PAdES, XAdES and CAdES seals with the HSM key, and reports."""

__all__ = ["create_app"]


def __getattr__(name: str):
    """``create_app`` on first use (PEP 562): ``regca trust refresh`` uses the verifiers in this
    package, not its Flask app, and should not wait for Flask to load."""
    if name == "create_app":
        from signing.web import create_app
        return create_app
    raise AttributeError(f"module 'signing' has no attribute {name!r}")
