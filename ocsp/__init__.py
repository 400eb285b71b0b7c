"""RegCA ocsp service."""
