"""``regca audit export``: the log as files that a verifier with nothing but the root
certificate checks offline (regca/offline_verify.py).

The directory holds ``entries.json`` (``{"entries": [{"index", "leaf"}]}``, as
``/transparency/v1/entries`` gives them), ``tree-heads.json`` (a list of signed tree heads as
``/transparency/v1/sth`` gives them, oldest first), ``certificates/<serial>.der`` (every
certificate signed) and ``ca/root.pem``, ``ca/issuing.pem`` (the time-stamps' chain).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding

from ca.audit import Event
from ca.context import CaContext
from ca.store import certificates as cert_store
from ca.store import transparency as log_store
from ca.transparency import head_of

__all__ = ["Exported", "export_log"]


@dataclass(frozen=True)
class Exported:
    entries: int
    tree_heads: int
    certificates: int


def export_log(ctx: CaContext, out: Path) -> Exported:
    out.mkdir(parents=True, exist_ok=True)
    (out / "certificates").mkdir(exist_ok=True)
    (out / "ca").mkdir(exist_ok=True)
    with ctx.db.reading() as s:
        size, _ = log_store.head(s)
        entries = log_store.entries(s, 0, size - 1) if size else []
        heads = [head_of(r).to_json() for r in log_store.tree_heads(s)]
        count = 0
        for serial, stored in log_store.certificate_ders(s):
            der = cert_store.der_of(ctx.fields, serial, stored)  # a resident's: sealed
            (out / "certificates" / f"{serial}.der").write_bytes(der)
            count += 1
    (out / "entries.json").write_text(json.dumps({"entries": [
        {"index": i, "leaf": base64.b64encode(e).decode()} for i, e in entries]}))
    (out / "tree-heads.json").write_text(json.dumps(heads, indent=1))
    for name, profile in (("root", "root-ca"), ("issuing", "issuing-ca")):
        cert = ctx.certificate_of(profile)
        (out / "ca" / f"{name}.pem").write_bytes(cert.public_bytes(Encoding.PEM))
    with ctx.db.transaction() as s:  # like the auditor's CSV, an export is itself audited
        ctx.audit(s, Event(actor="operator", action="audit.export", object="audit:log",
                           details={"entries": len(entries), "tree_heads": len(heads),
                                    "certificates": count}))
    return Exported(len(entries), len(heads), count)
