"""The sealed fields' keys over a home's life (ca/field_crypto.py).

A home made before TOTP secrets and PESELs were encrypted at rest (or before the certificates
whose subject carries a PESEL were sealed) gets there at ``regca serve``'s start-up: its
key-encryption key, a data key, every clear value sealed, and the database rewritten so that
the clear values are gone from its files, not only from its rows. Each step finds what an
earlier, interrupted start-up left done and goes on from there.

``regca fields rotate`` makes a new data key and seals every value again with it (a worker's
memory that held the old one was exposed, say). Earlier data keys stay, wrapped: a worker that
sealed with one in the seconds before it saw the new key (``RECHECK``) still opens what it wrote,
and the next rotation seals that value again.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass

from ca.audit import Event
from ca.config import HSM_CONFIG_DIR
from ca.context import CaContext
from ca.errors import ConfigurationError
from ca.field_crypto import KEK_ROLE, SEALED_PREFIX, FieldCipher, pesel_of, totp_secret_of
from ca.store import certificates as cert_store
from ca.store import data_keys as store
from regca.bootstrap import record_data_key

__all__ = ["SealReport", "seal_clear_fields", "rotate_data_key"]


@dataclass(frozen=True)
class SealReport:
    ctx: CaContext  # the home as it is now (re-read when its regca.toml gained the key)
    kek_added: bool = False
    data_key: int | None = None  # a data key made here
    totp_secrets: int = 0
    pesels: int = 0
    certificates: int = 0  # rows whose subject carries a PESEL (ca/store/certificates.py)

    @property
    def changed(self) -> bool:
        return bool(self.kek_added or self.data_key or self.totp_secrets or self.pesels
                    or self.certificates)


def _add_kek_to_config(ctx: CaContext) -> CaContext:
    """The ``kek`` role, as hsm-config/pkcs11.toml ships it, appended to regca.toml."""
    shipped = tomllib.loads((HSM_CONFIG_DIR / "pkcs11.toml").read_text())["keys"][KEK_ROLE]
    if shipped["token"] not in ctx.settings.hsm.tokens:
        raise ConfigurationError(f"hsm.tokens.{shipped['token']}: needed for the {KEK_ROLE} "
                                 "key, not configured in this home")
    text = f"\n[hsm.keys.{KEK_ROLE}]\n" + "".join(f'{k} = "{v}"\n' for k, v in shipped.items())
    ctx.settings.config_file.write_text(ctx.settings.config_file.read_text() + text)
    reopened = CaContext.open(ctx.settings.home, ctx.clock)
    reopened.__dict__["db"] = ctx.db  # one pool per process
    return reopened


def _generate_kek(ctx: CaContext) -> None:
    ctx.hsm.generate_key(KEK_ROLE)  # HsmUnavailable, naming why, if the HSM is away
    key = ctx.settings.hsm.key(KEK_ROLE)
    with ctx.db.transaction() as s:
        ctx.audit(s, Event(actor="operator", action="key.generate", object=f"key:{KEK_ROLE}",
                           details={"label": key.label, "algorithm": key.algorithm,
                                    "token": ctx.settings.hsm.tokens[key.token].label}))


def seal_clear_fields(ctx: CaContext) -> SealReport:
    """Bring ``ctx``'s home to fields encrypted at rest; what was done. Run while no worker
    serves (the compaction at the end needs the database to itself). A home already there
    needs no HSM for this, so a start-up while the HSM is away goes on as before."""
    # Step 1: the key-encryption key in regca.toml and, before its first data key, in the
    # token.
    if KEK_ROLE not in ctx.settings.hsm.keys:
        ctx = _add_kek_to_config(ctx)
    has_key = store.newest(ctx.db) is not None
    kek_added, data_key = False, None
    if not has_key:
        if not ctx.hsm.only(KEK_ROLE).ping():
            _generate_kek(ctx)
            kek_added = True
        # Step 2: a data key wrapped by it.
        data_key = record_data_key(ctx, "operator")
    # Step 3: every clear value sealed to its row, in one transaction; PESELs get their keyed
    # reference, what exact searches compare.
    fields, people = ctx.fields, ctx.people
    with ctx.db.transaction() as s:
        users = store.clear_totp_users(s, SEALED_PREFIX)
        for user in users:
            user.totp_secret = fields.seal(user.totp_secret, totp_secret_of(user.username))
        enrolments = store.clear_pesel_enrolments(s, SEALED_PREFIX)
        for e in enrolments:
            if people.keyed:
                e.person_ref = people.ref(e.pesel_sealed)
            e.pesel_sealed = fields.seal(e.pesel_sealed, pesel_of(e.id))
        # certificates whose subject has a PESEL: masked, with its reference; TBS, DER sealed
        certificates = [c for c in cert_store.rows_with_pesel(s)
                        if cert_store.seal_row(fields, c, people.subject(c.subject))]
        if users or enrolments or certificates:
            ctx.audit(s, Event(actor="operator", action="fields.seal", object="database",
                               details={"totp_secrets": len(users), "pesels": len(enrolments),
                                        "certificates": len(certificates)}))
    # Step 4: the replaced clear values out of the database's files.
    if (users or enrolments or certificates) and not ctx.db.compact(store.SEALED_TABLES):
        raise ConfigurationError(f"database {ctx.db.safe_url}: another process holds it open, "
                                 "so the clear values sealed now stay in its WAL; stop it and "
                                 "start again")
    return SealReport(ctx, kek_added, data_key, len(users), len(enrolments), len(certificates))


def rotate_data_key(ctx: CaContext) -> tuple[int, int]:
    """A new data key, every sealed value sealed again with it, and the database compacted so
    that the values under the old key are gone from its files; (new key id, values)."""
    # Step 1: the new data key, newest from now on.
    key_id = record_data_key(ctx, "operator")
    fields = FieldCipher.of(ctx.db, ctx.hsm, ctx.settings.hsm.keys)  # sees the new key
    if fields.current_key_id() != key_id:
        raise ConfigurationError(f"data key {key_id} is not the newest: another rotation ran")
    # Step 2: each value opened with the key it names and sealed with the new one.
    with ctx.db.transaction() as s:
        users = store.totp_users(s)
        for user in users:
            place = totp_secret_of(user.username)
            user.totp_secret = fields.seal(fields.open(user.totp_secret, place), place)
        enrolments = store.pesel_enrolments(s)
        for e in enrolments:
            place = pesel_of(e.id)
            e.pesel_sealed = fields.seal(fields.open(e.pesel_sealed, place), place)
        certificates = [c for c in cert_store.rows_with_pesel(s)
                        if cert_store.reseal_row(fields, c)]
        ctx.audit(s, Event(actor="operator", action="fields.rotate", object=f"data_key:{key_id}",
                           details={"totp_secrets": len(users), "pesels": len(enrolments),
                                    "certificates": len(certificates)}))
    # Step 3: the old ciphertexts out of the files too (a served SQLite home's WAL may keep
    # some until its next checkpoint empties it: they stay sealed under the old key).
    ctx.db.compact(store.SEALED_TABLES)
    return key_id, len(users) + len(enrolments) + len(certificates)
