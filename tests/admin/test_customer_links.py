"""Links from the customer page to other lists, filtered to the customer: built from the
list view's own filters when the view exists, absent (never broken) when it does not."""

from __future__ import annotations

import re

from dashboard.admin.user_lists import user_list_url
from dashboard.extensions import db
from tests.conftest import sign_in_with_forms
from tests.factories import make_payment, make_staff, make_user


def _payments_link(client, user_id: str):
    page = client.get(f"/admin/customer/{user_id}").get_data(as_text=True)
    return re.search(r'<a href="([^"]+)" id="bo-payments-all">', page)


def test_the_payments_section_links_to_the_customers_payments(app):
    carol = make_user(email="carol@example.com")
    other = make_user(email="other@example.com")
    make_payment(carol, stripe_payment_intent_id="pi_carol")
    make_payment(other, stripe_payment_intent_id="pi_other")
    db.session.commit()
    client = app.test_client()
    assert sign_in_with_forms(client, make_staff("SUPPORT")).status_code == 302
    link = _payments_link(client, carol.id)
    listing = client.get(link.group(1).replace("&amp;", "&"))
    assert listing.status_code == 200
    body = listing.get_data(as_text=True)
    assert "pi_carol" in body and "pi_other" not in body


def test_no_link_to_a_view_that_is_not_registered(app):
    user = make_user()
    with app.test_request_context():
        assert user_list_url("payments", user_id=user.id, email=user.email) is None
