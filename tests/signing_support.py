"""Fixtures' helpers for the signing API tests: a home, keys, the app and sample documents."""

from __future__ import annotations

import io

from pyhanko.pdf_utils import generic, writer


def sample_pdf(pages: int = 1, padding: int = 0) -> bytes:
    """A small real PDF built with pyHanko's writer (``padding`` bytes of extra content)."""
    w = writer.PdfFileWriter()
    for n in range(pages):
        text = f"BT /F1 12 Tf 50 700 Td (Zaswiadczenie strona {n + 1}) Tj ET\n".encode()
        text += b"% " + b"x" * padding + b"\n" if padding else b""
        stream = w.add_object(generic.StreamObject(stream_data=text))
        w.insert_page(writer.PageObject(contents=stream, media_box=[0, 0, 595, 842]))
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def resident_with_key(ctx):
    """A resident's signing certificate from ``ctx``'s CA, and its software key (playing the
    resident's token): for signatures made outside the signing API."""
    from conftest import RESIDENT, make_csr
    from cryptography.hazmat.primitives.asymmetric import ec

    from ca.issuance import IssuanceRequest, Issuer

    private = ec.generate_private_key(ec.SECP256R1())
    issued = Issuer(ctx).issue(IssuanceRequest("resident-signing", make_csr(private),
                                               dict(RESIDENT), "test"))
    return private, issued


def revoke_later(ctx, serial: str, reason: str) -> None:
    """Revoke ``serial`` five minutes after now (after any time-stamp made so far), then let a
    minute pass, as a relying party would check later."""
    from ca.revocation import RevocationRequest, Revoker
    ctx.clock.advance(minutes=5)
    Revoker(ctx).revoke(RevocationRequest(serial, reason, "operator:test"))
    ctx.clock.advance(minutes=1)


def verdicts_around_revocation(served, signed: bytes, serial: str, reason: str, verify
                               ) -> tuple[dict, dict]:
    """The verify API's report of ``signed``'s first signature before and after its certificate
    ``serial`` is revoked for ``reason`` (later than any time-stamp), fetching OCSP from the
    ``served`` home; ``verify(client, key, body)`` is the test module's own call."""
    from ra.apikeys import create_api_key
    from regca.roles import in_process_timestamper, signing_app
    app = signing_app(served, timestamper=in_process_timestamper(served), fetch_revocation=True)
    key = create_api_key(served, "eod", ["verify"], None)
    before = verify(app.test_client(), key, signed)["signatures"][0]
    revoke_later(served, serial, reason)
    return before, verify(app.test_client(), key, signed)["signatures"][0]


def jst_seals(ctx, *teryts: str) -> dict:
    """Each JST's own seal (``regca seal create``'s core), made once per home: its keys seal
    with it. Returns the certificates by TERYT."""
    from cryptography import x509

    from ca.jst_seals import create_seal
    from ca.store import service_certificates as generations

    made = {}
    for teryt in teryts:
        with ctx.db.reading() as s:
            active = generations.active(s, "seal", teryt)
        made[teryt] = (x509.load_der_x509_certificate(active.der) if active
                       else create_seal(ctx, teryt, "test").certificate)
    return made
