"""The time-stamping policy: what this TSA promises, from ``policies/`` and the home's regca.toml.

The policy OID comes from ``policies/oids.toml`` (one source with the CPS); the operator may
tune the promises in a ``[tsa]`` table of regca.toml (accuracy, SHA-1, request size). Bad values
fail at start-up with the field and the reason (STYLE.md, "Errors").
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from ca.config import Settings
from ca.errors import ConfigurationError

__all__ = ["TSA_HASHES", "TsaPolicy", "load_oids", "load_tsa_policy"]

# Hashes a time-stamp request may use (RFC 3161 §2.4.1). SHA-1 is only collision-weak, but
# ETSI TS 119 312 no longer lists it for new time-stamps, so it needs an explicit opt-in.
TSA_HASHES = ("sha256", "sha384", "sha512")


@dataclass(frozen=True)
class TsaPolicy:
    policy_oid: str
    hash_algorithms: frozenset[str]
    accuracy_millis: int  # RFC 3161 §2.4.2 accuracy, stated in every token
    max_request_bytes: int
    serial_block: int  # serials reserved per database round trip (see ca/tsaserials.py)

    def __post_init__(self):
        if self.accuracy_millis <= 0:
            raise ValueError("accuracy must be positive (RFC 3161 §2.4.2)")
        if not 64 <= self.max_request_bytes <= 1 << 20:
            raise ValueError("max_request_bytes must be between 64 and 1 MiB")
        if not 1 <= self.serial_block <= 100_000:
            raise ValueError("serial_block must be between 1 and 100000")


def load_oids(policies_dir: Path) -> dict:
    path = policies_dir / "oids.toml"
    try:
        return tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"{path}: {exc}") from None


def _tsa_table(settings: Settings) -> dict:
    try:
        raw = tomllib.loads(settings.config_file.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"{settings.config_file}: {exc}") from None
    table = raw.get("tsa", {})
    if not isinstance(table, dict):
        raise ConfigurationError("tsa: expected a table")
    return table


def _number(table: dict, key: str, default: float) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigurationError(f"tsa.{key}: expected a number, got {value!r}")
    return value


def load_tsa_policy(settings: Settings) -> TsaPolicy:
    """The policy for this home: ``[tsa]`` keys ``accuracy_seconds`` (default 1),
    ``allow_sha1`` (default false), ``max_request_bytes`` (default 8192), ``serial_block``."""
    oid = load_oids(settings.policies_dir).get("tsa_policy")
    if not isinstance(oid, str) or not all(p.isdigit() for p in oid.split(".")):
        raise ConfigurationError(f"{settings.policies_dir / 'oids.toml'}: tsa_policy must be "
                                 "a dotted OID")
    table = _tsa_table(settings)
    allow_sha1 = table.get("allow_sha1", False)
    if not isinstance(allow_sha1, bool):
        raise ConfigurationError(f"tsa.allow_sha1: expected true or false, got {allow_sha1!r}")
    hashes = frozenset(TSA_HASHES + (("sha1",) if allow_sha1 else ()))
    try:
        return TsaPolicy(
            policy_oid=oid,
            hash_algorithms=hashes,
            accuracy_millis=round(_number(table, "accuracy_seconds", 1) * 1000),
            max_request_bytes=int(_number(table, "max_request_bytes", 8192)),
            serial_block=int(_number(table, "serial_block", 200)),
        )
    except ValueError as exc:
        raise ConfigurationError(f"tsa: {exc}") from None
