"""The second factor (TOTP, recovery codes), enrolment, and the forced password change."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from dashboard.extensions import db
from dashboard.models import AuditLog
from dashboard.services.staff import passwords, totp
from dashboard.services.staff.sign_in import ERR_SIGN_IN
from tests.conftest import csrf_token
from tests.factories import STAFF_PASSWORD, make_staff, password_policy

pytestmark = pytest.mark.backends("postgresql", "sqlite")

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def actions() -> list[str]:
    return list(db.session.execute(sa.select(AuditLog.action).order_by(AuditLog.id)).scalars())


def post(client, path: str, **data: str):
    return client.post(path, data={**data, "csrf_token": csrf_token(client)})


def signed_in(client) -> bool:
    return client.get("/admin/").status_code == 200


def enrolled_staff(role: str = "ADMIN", codes: list[str] | None = None):
    hashes = [passwords.hash_recovery_code(code, policy=password_policy()) for code in codes or []]
    return make_staff(role, totp_secret=SECRET, recovery_code_hashes=hashes)


def test_enrolled_staff_needs_the_code_after_the_password(app, client, frozen_clock):
    staff = enrolled_staff("EDITOR")
    response = post(client, "/auth/sign-in", email=staff.email, password=STAFF_PASSWORD)
    assert response.location == "/auth/second-factor"
    assert not signed_in(client)  # the password alone is not a sign-in

    response = post(client, "/auth/second-factor", code="000000")
    assert ERR_SIGN_IN in response.get_data(as_text=True) and not signed_in(client)

    code = totp.code_at(SECRET, frozen_clock.current)
    response = post(client, "/auth/second-factor", code=code)
    assert response.status_code == 302 and signed_in(client)
    assert actions()[-2:] == ["auth.sign_in_failed", "auth.sign_in"]
    assert staff.failed_sign_ins == 0


def test_a_code_from_one_step_ago_works_but_never_twice(app, client, frozen_clock, sign_in):
    staff = enrolled_staff()
    code = totp.code_at(SECRET, frozen_clock.current - timedelta(seconds=30))
    assert sign_in(client, staff, code=code).location == "/admin/"
    client.post("/auth/sign-out", data={"csrf_token": csrf_token(client)})

    response = sign_in(client, staff, code=code)
    assert ERR_SIGN_IN in response.get_data(as_text=True) and not signed_in(client)


def test_a_recovery_code_works_once(app, client, frozen_clock, sign_in):
    codes = passwords.generate_recovery_codes(2)
    staff = enrolled_staff(codes=codes)
    assert sign_in(client, staff, code=codes[0].upper()).location == "/admin/"
    assert len(staff.recovery_code_hashes) == 1
    assert "auth.recovery_code_used" in actions()
    client.post("/auth/sign-out", data={"csrf_token": csrf_token(client)})

    response = sign_in(client, staff, code=codes[0])
    assert ERR_SIGN_IN in response.get_data(as_text=True)


def test_wrong_codes_count_towards_the_lockout(app, client, frozen_clock):
    staff = enrolled_staff()
    post(client, "/auth/sign-in", email=staff.email, password=STAFF_PASSWORD)
    for _ in range(5):
        post(client, "/auth/second-factor", code="123456")
    assert staff.locked_until is not None
    right = totp.code_at(SECRET, frozen_clock.current)
    response = post(client, "/auth/second-factor", code=right)
    assert response.location == "/auth/sign-in"  # the sign-in starts over, same message
    assert ERR_SIGN_IN in client.get(response.location).get_data(as_text=True)
    assert not signed_in(client)


def test_the_second_factor_page_needs_a_password_first(app, client):
    response = client.get("/auth/second-factor")
    assert response.status_code == 302 and response.location.startswith("/auth/sign-in")


def test_a_half_finished_sign_in_expires(app, client, frozen_clock):
    staff = enrolled_staff()
    post(client, "/auth/sign-in", email=staff.email, password=STAFF_PASSWORD)
    frozen_clock.advance(minutes=11)
    code = totp.code_at(SECRET, frozen_clock.current)
    response = post(client, "/auth/second-factor", code=code)
    assert response.location.startswith("/auth/sign-in") and not signed_in(client)


def test_admin_must_enrol_when_totp_is_required(app, client, frozen_clock, monkeypatch):
    monkeypatch.setitem(app.config, "REQUIRE_TOTP", True)
    staff = make_staff("ADMIN")
    response = post(client, "/auth/sign-in", email=staff.email, password=STAFF_PASSWORD)
    assert response.location == "/auth/two-step"
    assert not signed_in(client)
    page = client.get("/auth/two-step").get_data(as_text=True)
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page).group(1)
    assert "<svg" in page  # the QR code

    response = post(client, "/auth/two-step", code="000000")
    assert "does not match" in response.get_data(as_text=True) and not signed_in(client)

    response = post(client, "/auth/two-step", code=totp.code_at(secret, frozen_clock.current))
    codes = re.findall(r"<li><code>([a-z0-9-]+)</code></li>", response.get_data(as_text=True))
    assert len(codes) == 10 and signed_in(client)
    assert staff.totp_secret == secret and len(staff.recovery_code_hashes) == 10
    assert codes[0] not in str(staff.recovery_code_hashes)  # stored hashed
    assert actions()[-2:] == ["staff.enroll_totp", "auth.sign_in"]


@pytest.mark.parametrize("role", ["SUPPORT", "EDITOR"])
def test_other_roles_are_not_forced_to_enrol(app, client, monkeypatch, role, sign_in):
    monkeypatch.setitem(app.config, "REQUIRE_TOTP", True)
    assert sign_in(client, make_staff(role)).location == "/admin/"


def test_admin_is_not_forced_to_enrol_when_totp_is_off(app, client, monkeypatch, sign_in):
    monkeypatch.setitem(app.config, "REQUIRE_TOTP", False)
    assert sign_in(client, make_staff("ADMIN")).location == "/admin/"


def test_invited_staff_must_choose_a_password_first(app, client):
    staff = make_staff("SUPPORT", password_change_required=True)
    response = post(client, "/auth/sign-in", email=staff.email, password=STAFF_PASSWORD)
    assert response.location == "/auth/password"
    assert not signed_in(client)

    response = post(client, "/auth/password", new_password="short", confirm="short")
    assert "at least 12 characters" in response.get_data(as_text=True)
    response = post(client, "/auth/password", new_password=STAFF_PASSWORD, confirm=STAFF_PASSWORD)
    assert "different from the current one" in response.get_data(as_text=True)
    new = "a much better passphrase"
    response = post(client, "/auth/password", new_password=new, confirm=new)
    assert response.location == "/admin/" and signed_in(client)
    assert passwords.verify_password(staff.password_hash, new)
    assert not staff.password_change_required
    assert actions()[-2:] == ["staff.change_password", "auth.sign_in"]


def test_signed_in_staff_change_their_password_with_the_current_one(app, client, sign_in):
    staff = make_staff()
    sign_in(client, staff)
    new = "another long passphrase"
    response = post(
        client, "/auth/password", current_password="wrong", new_password=new, confirm=new
    )
    assert "current password is not right" in response.get_data(as_text=True)
    response = post(
        client, "/auth/password", current_password=STAFF_PASSWORD, new_password=new, confirm=new
    )
    assert response.location == "/auth/account"
    assert signed_in(client)  # this session goes on; the others ended
    assert passwords.verify_password(staff.password_hash, new)


def test_account_page_regenerates_recovery_codes(app, client, frozen_clock, sign_in):
    staff = enrolled_staff(codes=["aaaa-bbbb-cccc"])
    sign_in(client, staff, code=totp.code_at(SECRET, frozen_clock.current))
    assert "1 recovery codes left" in client.get("/auth/account").get_data(as_text=True)
    response = post(client, "/auth/recovery-codes")
    codes = re.findall(r"<li><code>([a-z0-9-]+)</code></li>", response.get_data(as_text=True))
    assert len(codes) == 10
    assert passwords.match_recovery_code(staff.recovery_code_hashes, "aaaa-bbbb-cccc") is None
    assert passwords.match_recovery_code(staff.recovery_code_hashes, codes[3]) == 3
    assert actions()[-1] == "staff.regenerate_recovery_codes"


def test_moving_totp_to_a_new_phone_needs_the_password(app, client, frozen_clock, sign_in):
    staff = enrolled_staff()
    sign_in(client, staff, code=totp.code_at(SECRET, frozen_clock.current))
    page = client.get("/auth/two-step").get_data(as_text=True)
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page).group(1)
    frozen_clock.advance(seconds=90)
    code = totp.code_at(secret, frozen_clock.current)
    response = post(client, "/auth/two-step", code=code, password="wrong password")
    assert "current password is not right" in response.get_data(as_text=True)
    assert staff.totp_secret == SECRET
    response = post(client, "/auth/two-step", code=code, password=STAFF_PASSWORD)
    assert response.status_code == 200 and staff.totp_secret == secret
