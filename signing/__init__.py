"""Signing and verification API: PAdES, XAdES and CAdES seals with the HSM key, and reports."""

from signing.web import create_app

__all__ = ["create_app"]
