"""This node's copy of the pre-signed OCSP responses: files in its home, so the responder
keeps answering ``good``/``revoked`` while the database is away.

Every response is signed and stored in the database first; the revocation-status jobs copy
what changed into the mirror every few seconds (``ca.ocsp_cache.sync_mirror``) and a worker
adds the responses it signs on a miss. The responder reads it only when the database does not
answer, and serves only a response still within its validity (ocsp/app.py checks nextUpdate).
Plain files, one DER response each (``<hash>/<last two hex digits>/<serial>.der``), written
aside and renamed into place: any number of processes write and read them without locks, and
losing them loses nothing the database does not hold.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Iterable
from pathlib import Path

from cryptography.x509 import ocsp

from ca.ocsp_signer import HASHES
from ca.store.ocsp import ResponseRow

__all__ = ["ResponseMirror"]


def _times(der: bytes) -> tuple[dt.datetime, dt.datetime]:
    response = ocsp.load_der_ocsp_response(der)
    return response.this_update_utc, response.next_update_utc


class ResponseMirror:
    """Responses by (serial, hash algorithm)."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def _path(self, serial: str, hash_algorithm: str) -> Path:
        if hash_algorithm not in HASHES or not serial.isalnum():
            raise ValueError(f"no mirrored response for {hash_algorithm} {serial!r}")
        return self.root / hash_algorithm / serial[-2:] / f"{serial}.der"

    def get(self, serial: str, hash_algorithm: str):
        """``(der, this_update, next_update)`` or None."""
        try:
            der = self._path(serial, hash_algorithm).read_bytes()
        except (FileNotFoundError, ValueError):
            return None
        return (der, *_times(der))

    def replace(self, responses: Iterable[ResponseRow], dropped: Iterable[str] = (),
                synced_to: dt.datetime | None = None) -> None:
        """Forget every response of the ``dropped`` serials (revoked, so an older ``good``
        must go), store ``responses`` (never over a newer one) and, with ``synced_to``,
        remember how far the database has been copied."""
        for serial in dropped:
            for algorithm in HASHES:
                self._path(serial, algorithm).unlink(missing_ok=True)
        for r in responses:
            path = self._path(r.serial, r.hash_algorithm)
            held = self.get(r.serial, r.hash_algorithm)
            if held is not None and held[1] > r.this_update:
                continue
            self._write(path, r.der)
        if synced_to is not None:
            self._write(self.root / "synced-to", synced_to.isoformat().encode())

    def synced_to(self) -> dt.datetime | None:
        try:
            return dt.datetime.fromisoformat((self.root / "synced-to").read_text())
        except FileNotFoundError:
            return None

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        aside = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
        aside.write_bytes(data)
        os.replace(aside, path)
