"""The time-stamp authority: the one place RegCA makes RFC 3161 tokens.

Both ways in use it: ``POST /tsa`` (tsa/app.py) and the signing API's in-process time-stamper
(signing/timestamping.py). Every token carries the TSA policy OID of policies/oids.toml, a serial
from the TSA's own counter (ca/tsaserials.py) and the TSA key's signature, and is on record in
the store before the caller gets it: a token whose row is not committed is never handed out.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence

from cryptography import x509
from sqlalchemy.exc import SQLAlchemyError

from ca.clock import Clock
from ca.errors import HsmUnavailable, RegCAError
from ca.policy import TsaPolicy
from ca.services import RoleKey
from ca.store.db import Database
from ca.tsaserials import SerialAllocator
from tsa.errors import Rejected
from tsa.journal import TokenJournal
from tsa.request import TimestampRequest
from tsa.token import IssuedToken, TokenSigner

__all__ = ["TimeStampAuthority"]

log = logging.getLogger(__name__)


class TimeStampAuthority:
    """Issues tokens for parsed requests; refusals are ``Rejected`` (RFC 3161 failInfo).

    It holds the TSA's own key (``key``, role ``tsa``) and the CA certificates between its
    certificate and the root (``intermediates``); of the store it uses its serial counter and
    its journal only. No other key. The composition builds it (regca/roles.py).
    """

    def __init__(self, db: Database, policy: TsaPolicy, key: RoleKey,
                 intermediates: Sequence[x509.Certificate], clock: Clock):
        self.policy = policy
        self.clock = clock
        self.serials = SerialAllocator(db, policy.serial_block)
        self.journal = TokenJournal(db)
        self.key = key
        self.intermediates = list(intermediates)
        self._signer: TokenSigner | None = None
        self._signer_pid = -1
        self._signer_certificate: x509.Certificate | None = None
        self._lock = threading.Lock()

    def signer(self) -> TokenSigner:
        """This process's signer, built after the fork (PKCS#11 sessions never cross one) and
        again when the TSA key rolls over (the key follows its active generation)."""
        with self._lock:
            certificate, key = self.key.pair()  # refuses a certificate for another key
            if (self._signer is None or self._signer_pid != os.getpid()
                    or self._signer_certificate is not certificate):
                self._signer = TokenSigner(certificate, key, self.policy, self.intermediates)
                self._signer_pid, self._signer_certificate = os.getpid(), certificate
            return self._signer

    def issue(self, request: TimestampRequest, requester: str) -> IssuedToken:
        """A signed token for ``request``, already committed to the record.

        ``requester`` names the caller in the record: ``apikey:<id>``, ``ip:<address>`` or
        ``in-process:<front>``.
        """
        try:
            signer = self.signer()
            gen_time = self.clock.now()
            if not signer.not_before <= gen_time < signer.not_after:
                # RFC 3161 §4 (and ETSI EN 319 421 §7.7.2): no tokens outside the TSU
                # certificate's validity.
                log.error("time-stamp not issued: the TSA certificate is not valid at %s",
                          gen_time)
                raise Rejected("system_failure", "the TSA certificate is not valid now", 503)
            serial = self.serials.next()
            token = signer.sign(request, serial, gen_time)
        except HsmUnavailable as exc:
            log.error("time-stamp not issued: %s", exc.message)
            raise Rejected("system_failure", "the TSA key is unavailable", 503) from None
        except (SQLAlchemyError, RegCAError) as exc:
            log.error("time-stamp not issued: %s", exc)
            raise Rejected("system_failure", "the TSA is unavailable", 503) from None
        self._record(token, request, requester)
        return token

    def _record(self, token: IssuedToken, request: TimestampRequest, requester: str) -> None:
        """Commit the token's row; the token is withheld (system_failure) if that fails."""
        try:
            self.journal.record({
                "serial": token.serial, "gen_time": token.gen_time,
                "policy": self.policy.policy_oid, "hash_algorithm": request.hash_algorithm,
                "message_imprint": request.hashed_message.hex(),
                "nonce": None if request.nonce is None else format(request.nonce, "x"),
                "requester": requester[:200],
            })
        except Exception as exc:  # noqa: BLE001 - whatever failed, the row is not committed
            log.error("time-stamp %d withheld: its record was not written: %s",
                      token.serial, exc)
            raise Rejected("system_failure", "the TSA could not record the token", 503) from None
