"""The administrator's pages (issue 17): disable and enable a log-in, reset its password or
TOTP, change its role and JST, and the API keys page; each change audited with the
administrator as the actor, and each that takes a right away ending the user's open sessions
at once. Non-administrators get 403; bad input gets a Polish message and changes nothing."""

from __future__ import annotations

import json
import re

import pyotp
import pytest
from sqlalchemy import func, select
from webclient import PASSWORD, Visitor, add_staff, next_totp

from ca.errors import Unauthorized
from ca.store.models import AuditEvent, User
from ra.apikeys import ApiKeys, create_api_key, list_api_keys
from regca.roles import enrollment_app

pytestmark = pytest.mark.hsm

JST_A, JST_B = "0862011", "0861011"
ADMIN = "admin_x"


@pytest.fixture(scope="module")
def web(home_ctx):
    ctx = home_ctx
    secrets_ = {ADMIN: add_staff(ctx, ADMIN, "administrator"),
                "auditor_x": add_staff(ctx, "auditor_x", "auditor")}
    for name in ("off_disable", "off_totp", "off_role", "off_jst", "off_pass", "off_bad",
                 "off_plain", "off_twice", "off_setup", "off_newpass", "off_code",
                 "off_ask_disable", "off_ask_password", "off_ask_totp"):
        secrets_[name] = add_staff(ctx, name, "officer", [JST_A])
    app = enrollment_app(ctx)
    return ctx, app, secrets_


def _login(web, who: str) -> Visitor:
    ctx, app, secrets_ = web
    return Visitor(app, ctx).login(who, secrets_[who])


@pytest.fixture(scope="module")
def admin(web) -> Visitor:
    """One administrator's session for the module: no test here ends it (a log-in is an
    argon2id hash, the slow part of these tests)."""
    return _login(web, ADMIN)


def _post(v: Visitor, path: str, data: dict | None = None):
    return v.post(path, data or {}, form_page="/admin")


def _signed_in(v: Visitor, page: str = "/enrolments") -> bool:
    r = v.get(page)
    assert r.status_code in (200, 302), r.status_code
    return r.status_code == 200


def _events(ctx, action: str, obj: str) -> list[AuditEvent]:
    with ctx.db.reading() as s:
        return list(s.execute(select(AuditEvent).where(AuditEvent.action == action,
                                                       AuditEvent.object == obj)).scalars())


def _event_count(ctx) -> int:
    with ctx.db.reading() as s:
        return s.execute(select(func.count()).select_from(AuditEvent)).scalar_one()


def _user(ctx, username: str) -> User:
    with ctx.db.reading() as s:
        user = s.get(User, username)
        s.expunge(user)
        return user


def _facts(ctx, username: str) -> tuple:
    user = _user(ctx, username)
    return (user.role, user.disabled_at, user.must_change_password, user.totp_secret,
            user.password_hash)


# -- each action ends the user's open session -----------------------------------------------------

def test_disabling_ends_the_open_session_and_refuses_log_in_until_enabled(web, admin):
    ctx, app, secrets_ = web
    officer = _login(web, "off_disable")
    assert _signed_in(officer)
    assert _post(admin, "/admin/users/off_disable/disable").status_code == 303
    assert not _signed_in(officer)
    r = Visitor(app, ctx).post("/login", {"username": "off_disable", "password": PASSWORD})
    assert r.status_code == 401 and "Nieprawidłowa nazwa użytkownika lub hasło" in r.text
    assert "wyłączony" in admin.get("/admin/users/off_disable").text
    [event] = _events(ctx, "user.disable", "user:off_disable")
    assert event.actor == f"user:{ADMIN}" and json.loads(event.details)["sessions_ended"] == 1
    assert _post(admin, "/admin/users/off_disable/enable").status_code == 303
    assert _events(ctx, "user.enable", "user:off_disable")[0].actor == f"user:{ADMIN}"
    assert _signed_in(_login(web, "off_disable"))


def test_a_totp_reset_ends_the_session_and_the_next_log_in_sets_up_a_new_one(web, admin):
    ctx, app, _ = web
    officer = _login(web, "off_totp")
    assert _post(admin, "/admin/users/off_totp/reset-totp").status_code == 303
    assert not _signed_in(officer)
    assert _events(ctx, "user.totp_reset", "user:off_totp")[0].actor == f"user:{ADMIN}"
    v = Visitor(app, ctx)
    r = v.post("/login", {"username": "off_totp", "password": PASSWORD})
    assert r.headers["Location"] == "/login/totp-setup"
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', v.get("/login/totp-setup").text)[1]
    assert secret != web[2]["off_totp"]
    assert v.post("/login/totp-setup", {"code": pyotp.TOTP(secret).at(ctx.now())}
                  ).status_code == 302
    assert _signed_in(v)


def test_a_role_change_ends_the_session_and_the_new_role_applies_at_the_next_log_in(web, admin):
    ctx, _, _ = web
    officer = _login(web, "off_role")
    r = _post(admin, "/admin/users/off_role/role", {"role": "auditor"})
    assert r.status_code == 303
    assert not _signed_in(officer)
    assert _user(ctx, "off_role").role == "auditor"
    [event] = _events(ctx, "user.role_change", "user:off_role")
    details = json.loads(event.details)
    assert event.actor == f"user:{ADMIN}" and details["role"] == "auditor"
    assert details["before"] == {"role": "officer", "organizations": [JST_A]}
    again = _login(web, "off_role")
    assert _signed_in(again, "/audit") and again.get("/enrolments/new").status_code == 403


def test_a_jst_change_ends_the_session_and_the_new_scope_applies(web, admin):
    ctx, _, _ = web
    officer = _login(web, "off_jst")
    r = _post(admin, "/admin/users/off_jst/role", {"role": "officer", "organizations": [JST_B]})
    assert r.status_code == 303
    assert not _signed_in(officer)
    page = _login(web, "off_jst").get("/enrolments/new").text
    assert f'value="{JST_B}"' in page and f'value="{JST_A}"' not in page


def test_a_password_reset_ends_the_session_and_the_user_sets_a_new_password(web, admin):
    ctx, app, secrets_ = web
    officer = _login(web, "off_pass")
    r = _post(admin, "/admin/users/off_pass/reset-password")
    assert r.status_code == 303
    temporary = re.search(r'id="temporary-password">([^<]+)<',
                          admin.get(r.headers["Location"]).text)[1]
    assert temporary not in admin.get("/admin/users/off_pass").text  # shown once
    assert not _signed_in(officer)
    assert _events(ctx, "user.password_reset", "user:off_pass")[0].actor == f"user:{ADMIN}"
    old = Visitor(app, ctx).post("/login", {"username": "off_pass", "password": PASSWORD})
    assert old.status_code == 401
    v = Visitor(app, ctx).login("off_pass", secrets_["off_pass"], password=temporary)
    assert v.get("/enrolments").headers["Location"].startswith("/login")  # not yet
    assert v.get("/login/password").status_code == 200
    for data, words in (({"password": "krotkie", "repeat": "krotkie"}, "co najmniej 12"),
                        ({"password": "nowe haslo 123", "repeat": "inne haslo 123"},
                         "różnią"),
                        ({"password": temporary, "repeat": temporary}, "różnić")):
        r = v.post("/login/password", data)
        assert r.status_code == 400 and words in r.text, r.text
    assert _user(ctx, "off_pass").must_change_password
    r = v.post("/login/password", {"password": "moje nowe haslo", "repeat": "moje nowe haslo"})
    assert r.status_code == 302 and _signed_in(v)
    assert _events(ctx, "user.password_change", "user:off_pass")
    assert not _user(ctx, "off_pass").must_change_password
    assert _signed_in(Visitor(app, ctx).login("off_pass", secrets_["off_pass"],
                                              password="moje nowe haslo"))


# -- API keys -----------------------------------------------------------------------------------

def test_the_api_keys_page_creates_a_key_shown_once_lists_and_revokes_it(web, admin):
    ctx, _, _ = web
    r = admin.post("/admin/api-keys", {"name": "EOD gminy", "scopes": ["sign", "verify"],
                                       "organization": JST_A}, form_page="/admin/api-keys")
    assert r.status_code == 303, r.text
    key = re.search(r'id="api-key"[^>]*>(rca_[a-z0-9]{12}_[A-Za-z0-9_-]{43})<',
                    admin.get(r.headers["Location"]).text)[1]
    key_id, secret = key.split("_")[1], key.split("_", 2)[2]
    principal = ApiKeys(ctx.db, ctx.clock).authenticate(key)
    assert principal.scopes == {"sign", "verify"} and principal.organization_teryt == JST_A
    listing = admin.get("/admin/api-keys").text
    assert f'id="key-{key_id}"' in listing and "EOD gminy" in listing
    assert secret not in listing
    [created] = _events(ctx, "apikey.create", f"apikey:{key_id}")
    assert created.actor == f"user:{ADMIN}"
    r = admin.post(f"/admin/api-keys/{key_id}/revoke", {}, form_page="/admin/api-keys")
    assert r.status_code == 303
    with pytest.raises(Unauthorized):
        ApiKeys(ctx.db, ctx.clock).authenticate(key)
    assert f'id="key-{key_id}"' not in admin.get("/admin/api-keys").text
    assert _events(ctx, "apikey.revoke", f"apikey:{key_id}")[0].actor == f"user:{ADMIN}"


def test_the_api_keys_page_lists_keys_made_by_the_command_line(web, admin):
    ctx, _, _ = web
    key_id = create_api_key(ctx, "z wiersza poleceń", ["issue"], None).split("_")[1]
    assert f'id="key-{key_id}"' in admin.get("/admin/api-keys").text


# -- who may ------------------------------------------------------------------------------------

ACTIONS = [("/admin/users/off_plain/disable", {}),
           ("/admin/users/off_plain/enable", {}),
           ("/admin/users/off_plain/reset-password", {}),
           ("/admin/users/off_plain/reset-totp", {}),
           ("/admin/users/off_plain/role", {"role": "administrator"}),
           ("/admin/api-keys", {"name": "x", "scopes": ["sign"]}),
           ("/admin/api-keys/000000000000/revoke", {})]


@pytest.mark.parametrize("who, page", [("off_plain", "/enrolments"), ("auditor_x", "/audit")])
def test_non_administrators_get_403_for_every_admin_action_and_change_nothing(web, who, page):
    ctx, _, _ = web
    v = _login(web, who)
    token = v.csrf(page)
    before = (_event_count(ctx), _facts(ctx, "off_plain"))
    for path, data in ACTIONS:
        r = v.client.post(path, data={"csrf_token": token, **data})
        assert r.status_code == 403, path
    for path in ("/admin", "/admin/users/off_plain", "/admin/api-keys",
                 *(p for p, _ in ACTIONS if p.endswith(("disable", "reset-password",
                                                        "reset-totp", "revoke")))):
        assert v.get(path).status_code == 403, path
    assert (_event_count(ctx), _facts(ctx, "off_plain")) == before


def test_anonymous_visitors_are_sent_to_log_in(web):
    ctx, app, _ = web
    v = Visitor(app, ctx)
    token = v.csrf("/login")
    r = v.client.post("/admin/users/off_plain/disable", data={"csrf_token": token})
    assert r.status_code == 302 and r.headers["Location"].startswith("/login")
    assert not _user(ctx, "off_plain").disabled_at


# -- bad input ----------------------------------------------------------------------------------

@pytest.mark.parametrize("action", ["disable", "enable", "reset-password", "reset-totp", "role"])
def test_an_unknown_user_gets_a_polish_404_and_nothing_changes(web, admin, action):
    ctx, _, _ = web
    before = _event_count(ctx)
    r = _post(admin, f"/admin/users/nikt_taki/{action}", {"role": "auditor"})
    assert r.status_code == 404 and "Nie ma pracownika o loginie „nikt_taki”" in r.text
    assert _event_count(ctx) == before
    assert admin.get("/admin/users/nikt_taki").status_code == 404
    if action not in ("enable", "role"):  # the confirmation page of no one
        r = admin.get(f"/admin/users/nikt_taki/{action}")
        assert r.status_code == 404 and "Nie ma pracownika o loginie „nikt_taki”" in r.text


@pytest.fixture(scope="module")
def bad_officer(web) -> Visitor:
    """The user whose role the next test tries to change badly: their session must outlive
    every refused attempt."""
    return _login(web, "off_bad")


@pytest.mark.parametrize("data, words", [
    ({"role": ""}, "Wybierz rolę"),
    ({"role": "superuser"}, "Wybierz rolę"),
    ({"role": "officer"}, "co najmniej jednej JST"),
    ({"role": "officer", "organizations": ["0809056"]}, "Wybierz rolę"),
])
def test_a_bad_role_or_jst_is_refused_in_polish_and_nothing_changes(web, admin, bad_officer,
                                                                    data, words):
    ctx, _, _ = web
    officer = bad_officer
    before = _event_count(ctx)
    r = _post(admin, "/admin/users/off_bad/role", data)
    assert r.status_code == 400 and words in r.text and 'role="alert"' in r.text
    user = _user(ctx, "off_bad")
    assert user.role == "officer" and _event_count(ctx) == before
    assert _signed_in(officer)  # a refused change ends no session


def test_an_administrator_cannot_disable_or_demote_themselves(web, admin):
    ctx, _, _ = web
    before = _event_count(ctx)
    r = _post(admin, f"/admin/users/{ADMIN}/disable")
    assert r.status_code == 409 and "Twoje" in r.text
    r = admin.get(f"/admin/users/{ADMIN}/disable")  # nor is asked to confirm it
    assert r.status_code == 409 and "Twoje" in r.text and 'id="what-happens"' not in r.text
    r = _post(admin, f"/admin/users/{ADMIN}/role", {"role": "auditor"})
    assert r.status_code == 409 and "własnej roli" in r.text
    assert _user(ctx, ADMIN).role == "administrator" and not _user(ctx, ADMIN).disabled_at
    assert _event_count(ctx) == before and _signed_in(admin, "/admin")


def test_enabling_an_enabled_user_is_a_polish_conflict(web, admin):
    r = _post(admin, "/admin/users/off_plain/enable")
    assert r.status_code == 409 and "nie jest wyłączone" in r.text


@pytest.mark.parametrize("data, words", [
    ({"name": "", "scopes": ["sign"]}, "Podaj nazwę klucza"),
    ({"name": "bez zakresu"}, "co najmniej jeden zakres"),
    ({"name": "zły zakres", "scopes": ["root"]}, "co najmniej jeden zakres"),
    ({"name": "tylko skrót", "scopes": ["sign-digest"]}, "razem z zakresem sign"),
    ({"name": "obca JST", "scopes": ["sign"], "organization": "0809056"},
     "wybierz JST z listy"),
])
def test_a_bad_api_key_request_is_refused_in_polish_and_creates_nothing(web, admin, data, words):
    ctx, _, _ = web
    before = _event_count(ctx)
    r = admin.post("/admin/api-keys", data, form_page="/admin/api-keys")
    assert r.status_code == 400 and words in r.text and 'id="api-key"' not in r.text
    assert _event_count(ctx) == before


def test_revoking_an_unknown_or_revoked_key_is_a_polish_error(web, admin):
    ctx, _, _ = web
    r = admin.post("/admin/api-keys/000000000000/revoke", {}, form_page="/admin/api-keys")
    assert r.status_code == 404 and "Nie ma klucza API" in r.text
    r = admin.get("/admin/api-keys/000000000000/revoke")
    assert r.status_code == 404 and "Nie ma aktywnego klucza API" in r.text
    key_id = create_api_key(ctx, "raz", ["verify"], None).split("_")[1]
    assert admin.post(f"/admin/api-keys/{key_id}/revoke", {},
                      form_page="/admin/api-keys").status_code == 303
    r = admin.post(f"/admin/api-keys/{key_id}/revoke", {}, form_page="/admin/api-keys")
    assert r.status_code == 409 and "już odwołany" in r.text
    assert admin.get(f"/admin/api-keys/{key_id}/revoke").status_code == 404


# -- confirmation pages (issue 18): what cannot be undone is asked first -----------------------

def _what_happens(page: str) -> str:
    return re.search(r'id="what-happens">(.*?)</div>', page, re.S)[1]


def _links_not_forms(page: str, path: str) -> bool:
    return f'href="{path}"' in page and f'action="{path}"' not in page


@pytest.mark.parametrize("action, event, words", [
    ("disable", "user.disable", ["nie zaloguje się", "sesje zostaną od razu zakończone"]),
    ("reset-password", "user.password_reset", ["nie można cofnąć", "hasło tymczasowe",
                                               "sesje pracownika zostaną zakończone"]),
    ("reset-totp", "user.totp_reset", ["nie można cofnąć", "skonfiguruje nowy",
                                       "sesje pracownika zostaną zakończone"]),
])
def test_an_irreversible_user_action_asks_on_a_page_of_its_own_then_acts_once(
        web, admin, action, event, words):
    ctx, _, _ = web
    username = "off_ask_" + action.removeprefix("reset-")
    path = f"/admin/users/{username}/{action}"
    assert _links_not_forms(admin.get(f"/admin/users/{username}").text, path)
    before = (_event_count(ctx), _facts(ctx, username))
    page = admin.get(path)
    assert page.status_code == 200
    assert re.search(r'id="confirm-user">([^<]+)<', page.text)[1] == username
    told = _what_happens(page.text)
    assert username in told and all(w in told for w in words), told
    assert f'action="{path}"' in page.text and f'href="/admin/users/{username}"' in page.text
    assert (_event_count(ctx), _facts(ctx, username)) == before  # asking changes nothing
    result = admin.post_twice(path, {}, path)  # the confirmation's button, clicked twice
    assert len(_events(ctx, event, f"user:{username}")) == 1
    assert result.startswith(f"/admin/users/{username}?done=")
    assert _facts(ctx, username) != before[1]


def test_revoking_an_api_key_asks_on_a_page_of_its_own_then_revokes_once(web, admin):
    ctx, _, _ = web
    key = create_api_key(ctx, "EOD do odwołania", ["sign", "verify"], JST_A)
    key_id = key.split("_")[1]
    path = f"/admin/api-keys/{key_id}/revoke"
    assert _links_not_forms(admin.get("/admin/api-keys").text, path)
    before = _event_count(ctx)
    page = admin.get(path)
    assert page.status_code == 200
    assert re.search(r'id="confirm-key">([^<]+)<', page.text)[1] == key_id
    assert "EOD do odwołania" in page.text and "sign, verify" in page.text
    told = _what_happens(page.text)
    assert key_id in told and "nie można cofnąć" in told and "odrzucone" in told, told
    assert _event_count(ctx) == before
    ApiKeys(ctx.db, ctx.clock).authenticate(key)  # still works after the question
    result = admin.post_twice(path, {}, path)
    assert result.startswith("/admin/api-keys?done=")
    assert len(_events(ctx, "apikey.revoke", f"apikey:{key_id}")) == 1
    with pytest.raises(Unauthorized):
        ApiKeys(ctx.db, ctx.clock).authenticate(key)


def test_a_disabled_log_in_is_enabled_with_one_click_and_asks_no_confirmation(web, admin):
    """Enabling takes nothing away; disabling an already disabled log-in is refused, not asked."""
    ctx, _, _ = web
    assert _post(admin, "/admin/users/off_ask_disable/disable").status_code in (303, 409)
    page = admin.get("/admin/users/off_ask_disable").text
    assert 'action="/admin/users/off_ask_disable/enable"' in page
    assert 'href="/admin/users/off_ask_disable/disable"' not in page
    r = admin.get("/admin/users/off_ask_disable/disable")
    assert r.status_code == 409 and "jest już wyłączone" in r.text


# -- double submission (issue 18): the same rendered form twice acts once ------------------

def _success(page: str) -> str | None:
    found = re.search(r'id="success"><p>([^<]+)<', page)
    return found[1] if found else None


@pytest.mark.parametrize("path, data, action, obj", [
    ("/admin/users/off_twice/disable", {}, "user.disable", "user:off_twice"),
    ("/admin/users/off_twice/enable", {}, "user.enable", "user:off_twice"),
    ("/admin/users/off_twice/reset-totp", {}, "user.totp_reset", "user:off_twice"),
    ("/admin/users/off_twice/role", {"role": "officer", "organizations": [JST_B]},
     "user.role_change", "user:off_twice"),
    ("/admin/users", {"username": "twice_new", "role": "auditor", "password": PASSWORD},
     "user.create", "user:twice_new"),
])
def test_an_admin_form_submitted_twice_acts_once_and_its_result_page_changes_nothing(
        web, admin, path, data, action, obj):
    ctx, _, _ = web
    result = admin.post_twice(path, data, "/admin/users/off_twice")
    assert len(_events(ctx, action, obj)) == 1
    before = (_event_count(ctx), _facts(ctx, "off_twice"))
    page = admin.get(result)
    assert page.status_code == 200 and _success(page.text)
    assert _success(admin.get(result).text) == _success(page.text)  # a reload: the same
    assert (_event_count(ctx), _facts(ctx, "off_twice")) == before


def test_a_password_reset_submitted_twice_makes_one_temporary_password_shown_again(web, admin):
    ctx, _, _ = web
    result = admin.post_twice("/admin/users/off_twice/reset-password", {}, "/admin/users/off_twice")
    assert len(_events(ctx, "user.password_reset", "user:off_twice")) == 1
    hashed = _user(ctx, "off_twice").password_hash
    shown = re.search(r'id="temporary-password">([^<]+)<', admin.get(result).text)[1]
    assert re.search(r'id="temporary-password">([^<]+)<', admin.get(result).text)[1] == shown
    assert _user(ctx, "off_twice").password_hash == hashed
    assert len(_events(ctx, "user.password_reset", "user:off_twice")) == 1
    assert shown not in admin.get("/admin/users/off_twice").text  # only on its result page
    other = _login(web, "auditor_x")  # nor on anyone else's
    assert other.get(result).status_code == 403


def test_an_api_key_form_submitted_twice_creates_one_key_and_revokes_it_once(web, admin):
    ctx, _, _ = web
    result = admin.post_twice("/admin/api-keys", {"name": "dwa kliknięcia", "scopes": ["verify"]},
                    "/admin/api-keys")
    page = admin.get(result).text
    key = re.search(r'id="api-key"[^>]*>(rca_[a-z0-9]{12}_[A-Za-z0-9_-]{43})<', page)[1]
    key_id = key.split("_")[1]
    again = admin.get(result).text  # the reload shows the same key, makes none
    assert key in again and _success(again) == _success(page)
    listing = admin.get("/admin/api-keys").text
    assert listing.count("dwa kliknięcia") == 1 and key not in listing
    assert len(_events(ctx, "apikey.create", f"apikey:{key_id}")) == 1
    assert [k.id for k in list_api_keys(ctx) if k.name == "dwa kliknięcia"] == [key_id]
    result = admin.post_twice(f"/admin/api-keys/{key_id}/revoke", {}, "/admin/api-keys")
    assert len(_events(ctx, "apikey.revoke", f"apikey:{key_id}")) == 1
    assert admin.get(result).status_code == 200
    assert len(_events(ctx, "apikey.revoke", f"apikey:{key_id}")) == 1


def test_a_jst_added_twice_is_added_once(web, admin):
    ctx, _, _ = web
    result = admin.post_twice("/admin/organizations", {"teryt": "0810011", "name": "Gmina Lubsko"},
                    "/admin")
    assert len(_events(ctx, "organization.add", "organization:0810011")) == 1
    assert "0810011" in admin.get(result).text
    assert len(_events(ctx, "organization.add", "organization:0810011")) == 1


def test_a_totp_set_up_confirmed_twice_enrols_once_and_logs_in(web, admin):
    ctx, app, _ = web
    assert _post(admin, "/admin/users/off_setup/reset-totp").status_code == 303
    v = Visitor(app, ctx)
    assert v.post("/login", {"username": "off_setup", "password": PASSWORD}
                  ).headers["Location"] == "/login/totp-setup"
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', v.get("/login/totp-setup").text)[1]
    home = v.post_twice("/login/totp-setup", {"code": pyotp.TOTP(secret).at(ctx.now())},
                        first_status=302)
    assert home == "/enrolments" and _signed_in(v)
    assert len(_events(ctx, "user.totp_enrol", "user:off_setup")) == 1


def test_a_new_password_sent_twice_is_set_once(web, admin):
    ctx, app, secrets_ = web
    r = _post(admin, "/admin/users/off_newpass/reset-password")
    temporary = re.search(r'id="temporary-password">([^<]+)<',
                          admin.get(r.headers["Location"]).text)[1]
    v = Visitor(app, ctx).login("off_newpass", secrets_["off_newpass"], password=temporary)
    home = v.post_twice("/login/password", {"password": "drugie nowe haslo",
                                            "repeat": "drugie nowe haslo"}, first_status=302)
    assert home == "/enrolments" and _signed_in(v)
    assert len(_events(ctx, "user.password_change", "user:off_newpass")) == 1


def test_a_one_time_code_sent_twice_logs_in_once_and_counts_no_failure(web):
    """The second click must not try the spent code again (a failure, a back-off step)."""
    ctx, app, secrets_ = web
    v = Visitor(app, ctx)
    assert v.post("/login", {"username": "off_code", "password": PASSWORD}
                  ).headers["Location"] == "/login/totp"
    home = v.post_twice("/login/totp", {"code": next_totp(ctx, secrets_["off_code"])},
                        first_status=302)
    assert home == "/enrolments" and _signed_in(v)
    logins = [(e.outcome, json.loads(e.details or "{}").get("second_factor"))
              for e in _events(ctx, "login", "user:off_code")]
    assert logins.count(("success", "totp")) == 1
    assert not [outcome for outcome, _ in logins if outcome != "success"]
