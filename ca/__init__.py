"""RegCA core: keys in PKCS#11, profiles, identity checks, issuance, revocation, audit.

Nothing in here imports Flask or the services that stand on it (DESIGN.md, "The shape").
"""
