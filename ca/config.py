"""A RegCA home: its directory layout and its regca.toml, checked when loaded.

Configuration fails loudly at start-up with the field and the reason (STYLE.md, "Errors").
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

from ca.errors import ConfigurationError, TokenOffline

__all__ = [
    "POLICIES_DIR", "HSM_CONFIG_DIR", "shipped_dir", "TokenConfig", "KeyConfig", "HsmConfig",
    "Settings", "default_home", "load_settings", "write_settings", "write_softhsm_conf",
    "SmtpConfig", "DEFAULT_NOTICE_DAYS",
]


def shipped_dir(package_name: str, folder: str) -> Path:
    """A folder RegCA ships: ``ca/<package_name>`` in an installed wheel (pyproject.toml maps the
    top-level ``<folder>`` there as package data), else ``<folder>`` at the top of the source
    checkout, where the contract keeps it (CONTRACT.md, "Names")."""
    package = Path(str(resources.files("ca")))
    installed = package / package_name
    return installed if installed.is_dir() else package.parent / folder


POLICIES_DIR = shipped_dir("policies", "policies")
HSM_CONFIG_DIR = shipped_dir("hsm_config", "hsm-config")
KEY_ALGORITHMS = ("ec-p256", "ec-p384", "ec-p521", "rsa-2048", "rsa-3072", "rsa-4096",
                  "hmac-sha256",  # a secret key (CKK_GENERIC_SECRET), never a pair
                  "aes-256")  # a secret key-encryption key (CKK_AES) that wraps data keys


@dataclass(frozen=True)
class TokenConfig:
    name: str
    label: str
    pin_env: str | None
    pin_file: Path | None
    # An offline token (the root's) has no PIN in the home or the service's environment: only
    # a ceremony, given the PIN by the operator, logs into it (CP/CPS §5.2.2, §6.2.8).
    offline: bool = False
    ceremony_pin: str | None = field(default=None, repr=False, compare=False)

    def pin(self) -> str:
        """The user PIN: a ceremony's, else the environment's, else the home's PIN file."""
        if self.ceremony_pin is not None:
            return self.ceremony_pin
        if self.offline:
            raise TokenOffline(f"token {self.label!r} is offline: only a root ceremony logs "
                               "into it (regca ceremony ...)")
        if self.pin_env and os.environ.get(self.pin_env):
            return os.environ[self.pin_env]
        if self.pin_file and self.pin_file.exists():
            return self.pin_file.read_text().strip()
        where = f"${self.pin_env}" if self.pin_env else "a pin_file"
        raise ConfigurationError(f"hsm.tokens.{self.name}: no PIN given (set {where})")


@dataclass(frozen=True)
class KeyConfig:
    role: str
    token: str
    label: str
    id: bytes
    algorithm: str

    def generation(self, number: int, scope: str = "") -> KeyConfig:
        """This role's key of generation ``number`` (ca/rollover.py), for the centre (``scope``
        empty) or for one JST (``scope`` its TERYT). Generation 1 of the centre is the key
        configured here; every other one gets a label and CKA_ID of its own, derived so that
        they never collide: ``<label>[-<teryt>]-g<n>`` and ``<id>[<teryt as BCD>]<n, 2 bytes>``."""
        if number < 1 or number > 0xFFFF:
            raise ValueError(f"key generation {number} outside 1..65535")
        if scope and not (scope.isdigit() and len(scope) == 7):
            raise ValueError(f"key scope {scope!r} is not a 7-digit TERYT code")
        if number == 1 and not scope:
            return self
        label = f"{self.label}-{scope}-g{number}" if scope else f"{self.label}-g{number}"
        bcd = bytes.fromhex("0" + scope) if scope else b""
        key_id = self.id + bcd + number.to_bytes(2, "big")
        return replace(self, label=label, id=key_id)


@dataclass(frozen=True)
class HsmConfig:
    module: str
    softhsm_conf: Path | None
    create_tokens: bool
    tokens: dict[str, TokenConfig]
    keys: dict[str, KeyConfig]

    def offline(self, role: str) -> bool:
        """Whether the role's key is on an offline token: one used only at ceremonies."""
        return self.tokens[self.key(role).token].offline

    def with_ceremony_pin(self, token: str, pin: str) -> HsmConfig:
        """This configuration with an offline token's PIN, for one ceremony's process."""
        if token not in self.tokens:
            raise ConfigurationError(f"hsm.tokens.{token}: not configured")
        tokens = {**self.tokens, token: replace(self.tokens[token], ceremony_pin=pin)}
        return replace(self, tokens=tokens)

    def key(self, role: str) -> KeyConfig:
        try:
            return self.keys[role]
        except KeyError:
            raise ConfigurationError(f"hsm.keys.{role}: no key configured for this role") from None


@dataclass(frozen=True)
class SmtpConfig:
    """``[smtp]``: the server the jobs process hands e-mails to (expiry notices, ra/mail.py).
    ``password_file`` (relative to the home) holds the password, so regca.toml holds none."""

    host: str
    port: int
    sender: str  # the ``from`` key: the envelope and header sender
    starttls: bool = False
    user: str | None = None
    password_file: Path | None = None
    timeout: float = 30.0

    def password(self) -> str | None:
        return self.password_file.read_text().strip() if self.password_file else None


DEFAULT_NOTICE_DAYS = (30, 14, 3)  # days before notAfter (issue 18); [expiry_notices] days


@dataclass(frozen=True)
class Settings:
    home: Path
    public_url: str
    database_url: str
    hsm: HsmConfig
    policies_dir: Path
    pending_grace_seconds: int
    operator: dict
    cps_url: str | None = None
    smtp: SmtpConfig | None = None  # None: no e-mail is sent
    expiry_notice_days: tuple[int, ...] = DEFAULT_NOTICE_DAYS

    @property
    def config_file(self) -> Path:
        return self.home / "regca.toml"

    @property
    def crl_dir(self) -> Path:
        return self.home / "crl"

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    @property
    def cache_dir(self) -> Path:
        """This node's own copies of what it serves (the OCSP responses' mirror)."""
        return self.home / "cache"

    @property
    def initialised_marker(self) -> Path:
        return self.home / ".initialised"


def default_home() -> Path:
    return Path(os.environ.get("REGCA_HOME") or "var/demo")


def _require(table: dict, key: str, where: str, kind: type = str):
    value = table.get(key)
    if value is None:
        raise ConfigurationError(f"{where}.{key}: missing")
    if not isinstance(value, kind):
        raise ConfigurationError(f"{where}.{key}: expected {kind.__name__}, got {value!r}")
    return value


def _parse_hsm(home: Path, raw: dict) -> HsmConfig:
    tokens = {}
    for name, t in raw.get("tokens", {}).items():
        where = f"hsm.tokens.{name}"
        pin_file = t.get("pin_file")
        offline = bool(t.get("offline", False))
        if offline and (pin_file or t.get("pin_env")):
            raise ConfigurationError(f"{where}: an offline token takes no pin_file or pin_env "
                                     "(its PIN is given at each ceremony)")
        tokens[name] = TokenConfig(
            name=name,
            label=_require(t, "label", where),
            pin_env=t.get("pin_env"),
            pin_file=(home / pin_file) if pin_file else None,
            offline=offline,
        )
    keys = {}
    for role, k in raw.get("keys", {}).items():
        where = f"hsm.keys.{role}"
        token = _require(k, "token", where)
        if token not in tokens:
            raise ConfigurationError(f"{where}.token: no token named {token!r} in hsm.tokens")
        algorithm = _require(k, "algorithm", where)
        if algorithm not in KEY_ALGORITHMS:
            raise ConfigurationError(
                f"{where}.algorithm: {algorithm!r} is not one of {', '.join(KEY_ALGORITHMS)}")
        try:
            key_id = bytes.fromhex(_require(k, "id", where))
        except ValueError:
            raise ConfigurationError(f"{where}.id: must be hex (the CKA_ID)") from None
        keys[role] = KeyConfig(role, token, _require(k, "label", where), key_id, algorithm)
    conf = raw.get("softhsm_conf")
    return HsmConfig(
        module=_require(raw, "module", "hsm"),
        softhsm_conf=(home / conf) if conf else None,
        create_tokens=bool(raw.get("create_tokens", False)),
        tokens=tokens,
        keys=keys,
    )


def _parse_operator(raw: dict) -> dict:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise ConfigurationError("operator.name: missing (the organisation running the CA)")
    return raw


def _cps_url(raw: dict) -> str | None:
    """``cps_url``: where the operator publishes its CP/CPS, named in every end-entity
    certificate; absent, the copy ``regca serve`` publishes at ``<public_url>/cps``."""
    value = raw.get("cps_url")
    if value is None:
        return None
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise ConfigurationError(f"cps_url: expected an http(s) URL, got {value!r}")
    return value


def _parse_smtp(home: Path, raw) -> SmtpConfig | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ConfigurationError("smtp: expected a table")
    port = raw.get("port", 25)
    if not isinstance(port, int) or not 0 < port < 65536:
        raise ConfigurationError(f"smtp.port: expected 1..65535, got {port!r}")
    sender = _require(raw, "from", "smtp")
    if "@" not in sender or any(c in sender for c in "\r\n"):
        raise ConfigurationError(f"smtp.from: {sender!r} is not an e-mail address")
    starttls = raw.get("starttls", False)
    if not isinstance(starttls, bool):
        raise ConfigurationError(f"smtp.starttls: expected true or false, got {starttls!r}")
    user, password_file = raw.get("user"), raw.get("password_file")
    if user is not None and not isinstance(user, str):
        raise ConfigurationError(f"smtp.user: expected str, got {user!r}")
    if (user is None) != (password_file is None):
        raise ConfigurationError("smtp: give user and password_file together, or neither")
    path = None
    if password_file is not None:
        path = home / str(password_file)
        if not path.is_file():
            raise ConfigurationError(f"smtp.password_file: {path} does not exist")
    timeout = raw.get("timeout", 30)
    if not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ConfigurationError(f"smtp.timeout: expected seconds > 0, got {timeout!r}")
    return SmtpConfig(_require(raw, "host", "smtp"), port, sender, starttls, user, path,
                      float(timeout))


def _notice_days(raw) -> tuple[int, ...]:
    days = (raw or {}).get("days", list(DEFAULT_NOTICE_DAYS))
    if (not isinstance(days, list) or not days
            or not all(isinstance(d, int) and 0 < d <= 365 for d in days)
            or len(set(days)) != len(days)):
        raise ConfigurationError(f"expiry_notices.days: expected distinct whole days 1..365, "
                                 f"got {days!r}")
    return tuple(sorted(days, reverse=True))


def load_settings(home: Path) -> Settings:
    """Read ``home/regca.toml``; the environment may override the database URL."""
    home = home.resolve()
    path = home / "regca.toml"
    if not path.exists():
        raise ConfigurationError(f"{path}: no RegCA home here (run `regca init` first)")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path}: {exc}") from None
    database_url = (os.environ.get("REGCA_DATABASE_URL") or raw.get("database_url")
                    or f"sqlite:///{home / 'regca.db'}")
    policies = raw.get("policies_dir")
    return Settings(
        home=home,
        public_url=_require(raw, "public_url", "regca").rstrip("/"),
        database_url=database_url,
        hsm=_parse_hsm(home, _require(raw, "hsm", "regca", dict)),
        policies_dir=Path(policies) if policies else POLICIES_DIR,
        pending_grace_seconds=int(raw.get("pending_grace_seconds", 300)),
        operator=_parse_operator(raw.get("operator", {})),
        cps_url=_cps_url(raw),
        smtp=_parse_smtp(home, raw.get("smtp")),
        expiry_notice_days=_notice_days(raw.get("expiry_notices")),
    )


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a TOML basic string


def write_settings(path: Path, top: dict, operator: dict, hsm: dict) -> None:
    """Write regca.toml from plain values (top-level scalars, [operator] and [hsm] tables)."""
    lines = ["# RegCA home configuration (see README.md)."]
    lines += [f"{k} = {_toml_value(v)}" for k, v in top.items() if v is not None]
    lines += ["", "[operator]"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in operator.items() if v is not None]
    lines += ["", "[hsm]"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in hsm.items() if not isinstance(v, dict)]
    for section in ("tokens", "keys"):
        for name, table in hsm.get(section, {}).items():
            lines += ["", f"[hsm.{section}.{name}]"]
            lines += [f"{k} = {_toml_value(v)}" for k, v in table.items() if v is not None]
    path.write_text("\n".join(lines) + "\n")


def write_softhsm_conf(conf: Path, tokendir: Path) -> None:
    """A SoftHSM2 configuration (from hsm-config's template) keeping its tokens in ``tokendir``:
    the home's HSM, or a registration workstation's token station."""
    template = (HSM_CONFIG_DIR / "softhsm2.conf.in").read_text()
    tokendir.mkdir(parents=True, exist_ok=True)
    conf.write_text(template.replace("@TOKENDIR@", str(tokendir)))
