"""Token personalisation and the token lifecycle from the officer's pages, onto SoftHSM2 tokens
in a store of their own (the officer's workstation), judged by pkcs11-tool."""

from __future__ import annotations

import re
import subprocess

import pytest
from conftest import RESIDENT, make_home
from tokens import MODULE, SO_PIN, SoftToken, make_token
from webclient import Visitor, add_staff, issued_serials, record_enrolment

from ca.store import certificates as cert_store
from enrollment_web.web import WebSettings
from regca.roles import enrollment_app

pytestmark = pytest.mark.hsm

BOTH = ["resident-signing", "resident-authentication"]


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    ctx = make_home(tmp_path_factory.mktemp("tokweb") / "home")
    secret = add_staff(ctx, "officer_t", "officer", ["0862011"])
    yield ctx, secret
    ctx.db.dispose()


@pytest.fixture
def station(home, tmp_path):
    """The officer's workstation: its token store, and the web app configured to reach it."""
    ctx, secret = home
    token = make_token(tmp_path / "station", label="Karta 1")
    settings = WebSettings(ctx.settings)
    settings.token_softhsm_conf = str(token.conf)
    app = enrollment_app(ctx, WEB_SETTINGS=settings)
    officer = Visitor(app, ctx).login("officer_t", secret)
    return ctx, officer, token


def _second_token(token: SoftToken, label: str, pin: str = "654321") -> SoftToken:
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", label, "--so-pin",
                    SO_PIN, "--pin", pin], env=token.env, check=True, capture_output=True)
    return SoftToken(token.conf, label, pin)


def _enrol(officer: Visitor) -> int:
    return record_enrolment(officer, {"kind": "resident", "organization_teryt": "0862011",
                                      "revocation_password": "haslo-123456", **RESIDENT})[0]


def _followed(officer: Visitor, r):
    """The result page a form's redirect leads to (the form page itself when it refused)."""
    return officer.get(r.headers["Location"]) if r.status_code == 303 else r


def _personalise(officer: Visitor, enrolment_id: int, label: str, pin: str,
                 profiles=BOTH):
    return _followed(officer, officer.post(
        f"/enrolments/{enrolment_id}/token",
        {"profiles": profiles, "token_label": label, "pin": pin},
        form_page=f"/enrolments/{enrolment_id}"))


def _report(officer: Visitor, token_id: int, state: str, form_state: str | None = None):
    """A report, sent from its confirmation page (or another's, once this one is gone)."""
    return officer.post(f"/tokens/{token_id}/report/{state}", {},
                        form_page=f"/tokens/{token_id}/report/{form_state or state}")


def _token_id(officer: Visitor, enrolment_id: int) -> int:
    return int(re.findall(r'href="/tokens/(\d+)"', officer.get(
        f"/enrolments/{enrolment_id}").text)[-1])


def test_officer_puts_signing_and_authentication_keys_on_one_token(station):
    ctx, officer, token = station
    enrolment_id = _enrol(officer)
    r = _personalise(officer, enrolment_id, token.label, token.pin)
    assert r.status_code == 200, r.text
    serials = issued_serials(r.text)
    assert len(serials) == 2
    objects = token.objects()
    keys = {o["id"]: o for o in objects if o["kind"].startswith("Private Key")}
    certs = {o["id"]: o for o in objects if o["kind"].startswith("Certificate")}
    assert {k["label"] for k in keys.values()} == set(BOTH)
    for key_id, key in keys.items():
        assert "never extractable" in key["access"] and certs[key_id]["label"] == key["label"]
    page = officer.get(f"/tokens/{_token_id(officer, enrolment_id)}").text
    assert 'data-state="active">w użyciu' in page
    found = officer.get("/enrolments", query_string={"q": token.label.lower()}).text
    assert f'href="/enrolments/{enrolment_id}"' in found
    # the registry knows the token by its CK_TOKEN_INFO serial number, as pkcs11-tool shows it
    listed = subprocess.run(["pkcs11-tool", "--module", MODULE, "--list-token-slots"],
                            env=token.env, capture_output=True, text=True).stdout
    serial = re.search(r"Numer seryjny tokenu</dt><dd>([0-9a-f]+)<", page)[1]
    assert re.search(rf"serial num\s*: {serial}\n", listed)


@pytest.mark.parametrize("case", ["wrong_pin", "absent_token"])
def test_token_problem_is_shown_on_the_page_and_changes_nothing(station, case):
    ctx, officer, token = station
    enrolment_id = _enrol(officer)
    before = token.objects()
    r = _personalise(officer, enrolment_id,
                     "Brak karty" if case == "absent_token" else token.label,
                     "000000" if case == "wrong_pin" else token.pin)
    assert r.status_code == 400 and 'role="alert"' in r.text
    assert ("Nieprawidłowy PIN tokenu" if case == "wrong_pin"
            else "W czytniku nie ma tokenu o tej etykiecie") in r.text
    field = "pin" if case == "wrong_pin" else "token_label"
    assert re.search(rf'<input[^>]*aria-describedby="{field}-error"[^>]*aria-invalid="true"',
                     r.text)
    assert "wrong PIN" not in r.text and "no token labelled" not in r.text
    assert token.objects() == before
    assert "Jeszcze nie wydano certyfikatu" in officer.get(f"/enrolments/{enrolment_id}").text


def test_report_lost_revokes_the_tokens_certificates_for_key_compromise(station):
    ctx, officer, token = station
    enrolment_id = _enrol(officer)
    r = _personalise(officer, enrolment_id, token.label, token.pin)
    serials = issued_serials(r.text)
    token_id = _token_id(officer, enrolment_id)
    confirm = officer.get(f"/tokens/{token_id}/report/lost").text
    assert "utrata lub kompromitacja klucza" in confirm and "keyCompromise" not in confirm
    assert all(serial in confirm for serial in serials)
    r = _report(officer, token_id, "lost")
    assert r.status_code == 303
    page = officer.get(r.headers["Location"]).text
    assert 'data-state="lost">utracony' in page and "certyfikaty unieważniono" in page
    with ctx.db.reading() as s:
        rows = [cert_store.get(s, serial) for serial in serials]
    assert [(row.status, row.revocation_reason) for row in rows] == [
        ("revoked", "keyCompromise")] * 2
    again = _report(officer, token_id, "lost", form_state="destroyed")
    assert again.status_code == 409


def test_unblock_with_so_pin_sets_a_new_user_pin(station):
    ctx, officer, token = station
    enrolment_id = _enrol(officer)
    _personalise(officer, enrolment_id, token.label, token.pin, ["resident-signing"])
    token_id = _token_id(officer, enrolment_id)
    _report(officer, token_id, "blocked")
    wrong = officer.post(f"/tokens/{token_id}/unblock", {"so_pin": "11111111",
                                                          "new_pin": "2468"},
                         form_page=f"/tokens/{token_id}")
    assert wrong.status_code == 400 and "Nieprawidłowy PIN SO" in wrong.text
    r = officer.post(f"/tokens/{token_id}/unblock", {"so_pin": SO_PIN, "new_pin": "2468"},
                     form_page=f"/tokens/{token_id}")
    assert r.status_code == 303
    assert 'data-state="active"' in officer.get(f"/tokens/{token_id}").text
    renewed = SoftToken(token.conf, token.label, "2468")
    assert any(o["kind"].startswith("Private Key") for o in renewed.objects())
    with pytest.raises(subprocess.CalledProcessError):
        token.objects()  # the old PIN no longer logs in


def test_replace_moves_the_profiles_to_a_new_token(station):
    ctx, officer, token = station
    enrolment_id = _enrol(officer)
    r = _personalise(officer, enrolment_id, token.label, token.pin)
    old_serials = issued_serials(r.text)
    token_id = _token_id(officer, enrolment_id)
    spare = _second_token(token, "Karta 2")
    r = officer.post(f"/tokens/{token_id}/replace",
                     {"token_label": spare.label, "pin": spare.pin},
                     form_page=f"/tokens/{token_id}")
    assert r.status_code == 303, re.findall(r'role="alert"><p>([^<]*)', r.text)
    new_id = int(re.search(r"/tokens/(\d+)", r.headers["Location"])[1])
    assert new_id != token_id
    assert 'data-state="replaced"' in officer.get(f"/tokens/{token_id}").text
    labels = {o["label"] for o in spare.objects() if o["kind"].startswith("Private Key")}
    assert labels == set(BOTH)
    with ctx.db.reading() as s:
        assert {cert_store.get(s, x).revocation_reason for x in old_serials} == {"superseded"}


def test_renew_on_the_same_token_keeps_old_key_beside_the_new(station):
    ctx, officer, token = station
    enrolment_id = _enrol(officer)
    r = _personalise(officer, enrolment_id, token.label, token.pin, ["resident-signing"])
    old_serial = issued_serials(r.text)[0]
    token_id = _token_id(officer, enrolment_id)
    r = officer.post(f"/tokens/{token_id}/renew",
                     {"renew-token_label": token.label, "renew-pin": token.pin},
                     form_page=f"/tokens/{token_id}")
    assert r.status_code == 303, r.text
    labels = sorted(o["label"] for o in token.objects() if o["kind"].startswith("Private Key"))
    assert labels == ["resident-signing", "resident-signing-2"]
    with ctx.db.reading() as s:
        assert cert_store.get(s, old_serial).revocation_reason == "superseded"
    page = officer.get(f"/tokens/{token_id}").text
    assert 'data-state="active"' in page and page.count('<code class="wrap">') == 2


def test_resident_collects_a_token_certificate_with_the_pickup_code(station):
    ctx, officer, token = station
    enrolment_id, code = record_enrolment(officer, {
        "kind": "resident", "organization_teryt": "0862011",
        "revocation_password": "haslo-123456", **RESIDENT})
    _personalise(officer, enrolment_id, token.label, token.pin, ["resident-signing"])
    resident = Visitor(officer.client.application, ctx)
    resident.pickup(code)
    page = resident.get("/my").text
    serial = re.search(r"<code>([0-9a-f]+)</code>", page)[1]
    assert "Podpis mieszkańca" in page
    assert resident.get(f"/my/certificates/{serial}.p7b").status_code == 200


def _letter_puk(officer: Visitor, page: str) -> str:
    """The SO PIN (PUK), read from the PIN/PUK letter the page offers to print."""
    sealed = re.search(r'id="pin-letter">.*?name="sealed" type="hidden" value="([^"]+)"',
                       page, re.S)[1]
    r = officer.post("/printouts/pin-letter", {"sealed": sealed}, form_page="/enrolments")
    assert r.status_code == 200 and r.mimetype == "application/pdf"
    text = subprocess.run(["pdftotext", "-", "-"], input=r.data, capture_output=True,
                          check=True).stdout.decode()
    assert "PIN: 4321" in text and "Kody PIN i PUK" in text
    return re.search(r"PUK \(PIN administratora\): (\d{8})", text)[1]


def test_blank_token_is_initialised_and_its_so_pin_printed_not_shown(station):
    ctx, officer, token = station
    enrolment_id = _enrol(officer)
    r = _followed(officer, officer.post(f"/enrolments/{enrolment_id}/token",
                                        {"profiles": ["resident-signing"],
                                         "token_label": "Nowa karta", "pin": "4321",
                                         "initialise": "y"},
                                        form_page=f"/enrolments/{enrolment_id}"))
    assert r.status_code == 200, r.text
    so_pin = _letter_puk(officer, r.text)
    assert so_pin not in r.text
    fresh = SoftToken(token.conf, "Nowa karta", "4321", so_pin)
    assert [o["label"] for o in fresh.objects() if o["kind"].startswith("Private Key")] == [
        "resident-signing"]
    token_id = _token_id(officer, enrolment_id)
    assert so_pin not in officer.get(f"/tokens/{token_id}").text
    r = officer.post(f"/tokens/{token_id}/unblock", {"so_pin": so_pin, "new_pin": "8642"},
                     form_page=f"/tokens/{token_id}")
    assert r.status_code == 303
    again = officer.post(f"/enrolments/{enrolment_id}/token",
                         {"profiles": ["resident-signing"], "token_label": "Nowa karta",
                          "pin": "4321", "initialise": "y"},
                         form_page=f"/enrolments/{enrolment_id}")
    assert again.status_code == 400 and "jest już zainicjowany" in again.text


def test_full_token_is_named_on_the_page_and_changes_nothing(home, tmp_path):
    ctx, secret = home
    store = tmp_path / "full"
    store.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(store)],
                      capture_output=True).returncode != 0:
        pytest.skip("a full token is simulated with a tiny tmpfs, which needs root to mount")
    try:
        token = make_token(store, label="Pelna karta")
        settings = WebSettings(ctx.settings)
        settings.token_softhsm_conf = str(token.conf)
        app = enrollment_app(ctx, WEB_SETTINGS=settings)
        officer = Visitor(app, ctx).login("officer_t", secret)
        enrolment_id = _enrol(officer)
        before = token.objects()
        with open(store / "tokens" / "filler", "wb") as f:
            try:
                f.write(b"\0" * 1024 * 1024)
            except OSError:
                pass
        r = _personalise(officer, enrolment_id, token.label, token.pin)
        (store / "tokens" / "filler").unlink()
        assert r.status_code == 400 and "nie ma miejsca" in r.text and 'role="alert"' in r.text
        assert token.objects() == before
        assert "Jeszcze nie wydano" in officer.get(f"/enrolments/{enrolment_id}").text
    finally:
        subprocess.run(["umount", str(store)], check=False)



def test_a_loss_reported_twice_from_one_form_is_reported_and_revoked_once(station):
    """A double click on the confirmation page (issue 18): the same form key twice."""
    from sqlalchemy import func, select

    from ca.store.models import AuditEvent
    ctx, officer, token = station
    enrolment_id = _enrol(officer)
    [serial] = issued_serials(_personalise(officer, enrolment_id, token.label, token.pin,
                                           ["resident-signing"]).text)
    token_id = _token_id(officer, enrolment_id)

    def events() -> tuple[int, int]:
        with ctx.db.reading() as s:
            return tuple(s.execute(select(func.count()).select_from(AuditEvent).where(
                AuditEvent.action == action, AuditEvent.object == obj)).scalar_one()
                for action, obj in (("token.lost", f"token:{token_id}"),
                                    ("certificate.revoke", f"certificate:{serial}")))
    tokens = officer.form_tokens(f"/tokens/{token_id}/report/lost")
    first = officer.client.post(f"/tokens/{token_id}/report/lost", data=tokens)
    second = officer.client.post(f"/tokens/{token_id}/report/lost", data=tokens)
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert events() == (1, 1)
    for _ in range(2):  # the result page, and its reload
        page = officer.get(first.headers["Location"]).text
        assert "certyfikaty unieważniono" in page and 'data-state="lost"' in page
    assert events() == (1, 1)
