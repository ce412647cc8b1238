"""The control room as officers use it, in a real Chromium, on two workers of one group."""

import time

import pytest

from streams.tools.users import add_user
from tests.browser import needs_chromium
from tests.builders import alert, shipment_alerts
from tests.web_client import PASSWORD, ControlRoomClient

pytestmark = [pytest.mark.e2e, needs_chromium]


def row(page, doc):
    return page.locator(f"tr.case:has-text('{doc}')")


def test_an_officer_acts_on_their_office_and_a_supervisor_on_the_other_worker_sees_it_within_2_s(
        two_workers, signed_in_page):
    deployed, first, second = two_workers
    to_take, to_dispose, elsewhere = shipment_alerts(), shipment_alerts(), shipment_alerts(office="VNCLI01")
    deployed.publish_alerts(to_take + to_dispose + elsewhere)
    docs = [group[0]["transport_doc_no"] for group in (to_take, to_dispose, elsewhere)]
    officer = signed_in_page(first.url, "ana", PASSWORD)
    supervisor = signed_in_page(second.url, "sam", PASSWORD)
    for doc in docs[:2]:
        officer.wait_for_selector(f"tr.case:has-text('{doc}')")
    supervisor.wait_for_selector(f"tr.case:has-text('{docs[2]}')")
    assert row(officer, docs[2]).count() == 0  # another office's case never reaches the officer's page
    assert "CRITICAL" in row(officer, docs[0]).get_attribute("class")  # CRITICAL cases stand out

    row(officer, docs[0]).click()
    officer.wait_for_selector("#panel:not([hidden])")
    assert "EXIT_WITHOUT_CLEARANCE 80 + SEAL_BROKEN 70 -> 94" in officer.locator("#panel-score").inner_text()
    started = time.monotonic()
    officer.click("button[data-action=TAKE]")
    row(officer, docs[1]).click()
    officer.wait_for_selector(f"#panel-title:has-text('{docs[1]}')")
    officer.select_option("#outcome", "FALSE_ALERT")
    officer.fill("#note", "seal replaced at origin, papers in order")
    officer.click("button[data-action=DISPOSE]")
    supervisor.select_option("#state", "all")
    supervisor.wait_for_selector(f"tr.case:has-text('{docs[0]}'):has-text('taken')", timeout=2_500)
    supervisor.wait_for_selector(f"tr.case:has-text('{docs[1]}'):has-text('disposed')", timeout=2_500)
    assert time.monotonic() - started < 3.0  # two clicks and both changes seen on the other worker
    assert "ana" in row(supervisor, docs[0]).inner_text()
    row(supervisor, docs[1]).click()
    supervisor.wait_for_selector("#audit li")
    assert "ana · dispose FALSE_ALERT: seal replaced at origin, papers in order" in \
        supervisor.locator("#audit").inner_text()
    assert officer.locator("#action-error").inner_text() == ""


def test_an_action_without_the_csrf_token_is_refused_from_the_page(two_workers, signed_in_page):
    deployed, first, _ = two_workers
    alerts = shipment_alerts()
    deployed.publish_alerts(alerts)
    page = signed_in_page(first.url, "ana", PASSWORD)
    page.wait_for_selector(f"tr.case:has-text('{alerts[0]['transport_doc_no']}')")
    case_id = row(page, alerts[0]["transport_doc_no"]).get_attribute("data-id")
    statuses = page.evaluate("""async (caseId) => {
        const url = `/control-room/api/cases/${caseId}/actions`;
        const body = JSON.stringify({action: "TAKE"});
        const without = await fetch(url, {method: "POST", headers: {"Content-Type": "application/json"}, body});
        const forged = await fetch(url, {method: "POST", body,
            headers: {"Content-Type": "application/json", "X-CSRF-Token": "forged"}});
        return [without.status, forged.status];
    }""", case_id)
    assert statuses == [403, 403]


def test_hostile_strings_in_alerts_stay_inert_text(two_workers, signed_in_page):
    deployed, first, _ = two_workers
    doc = "BL\"><img src=x onerror=\"window.hacked=1\">'x"
    hostile = alert(office_code="VNHPH01", transport_doc_no=doc, subject_id=doc, alert_id="A\"'><b>bold</b>",
                    explanation="<img src=x onerror=window.hacked=2> <script>window.hacked=3</script>",
                    evidence=[{"name": "<svg onload=window.hacked=4>", "observed": "\" onmouseover=\"x",
                               "expected": "</td></tr><tr><td>"}])
    deployed.publish_alerts([hostile])
    page = signed_in_page(first.url, "ana", PASSWORD)
    page.wait_for_selector("tr.case:has-text('onerror')")
    page.locator("tr.case:has-text('onerror')").click()
    page.wait_for_selector("#alerts .alert")
    assert page.evaluate("window.hacked") is None
    assert page.locator("img, svg, script:not([src]), b:has-text('bold')").count() == 0
    assert doc in page.locator("tr.case:has-text('onerror')").inner_text()
    assert "<img src=x onerror=window.hacked=2>" in page.locator("#alerts").inner_text()
    assert "</td></tr><tr><td>" in page.locator("#alerts").inner_text()


def test_wrong_passwords_repeated_are_rate_limited_at_the_form_and_the_api(deployment, new_page):
    # A deployment of its own: the limit locks this address out, for every user name.
    deployed = deployment(sign_in_max_failures=3)
    add_user(deployed.settings, "ana", "officer", ["VNHPH01"], PASSWORD)
    add_user(deployed.settings, "sam", "supervisor", [], PASSWORD)
    worker = deployed.start_worker()
    page = new_page()
    for expected in ["Wrong user name or password."] * 3 + ["Too many wrong passwords"]:
        page.goto(worker.url + "/sign-in")
        page.fill("input[name=username]", "ana")
        page.fill("input[name=password]", "not the password")
        page.click("button[type=submit]")
        assert expected in page.locator(".error").inner_text()
    page.fill("input[name=username]", "ana")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    assert "Too many wrong passwords" in page.locator(".error").inner_text()
    assert "/sign-in" in page.url
    # the same through the API: the right password is refused too, and so is another user from this address
    client = ControlRoomClient(worker.url)
    assert client.sign_in("ana", PASSWORD) == 429
    assert client.get_json("/control-room/api/me")[0] == 401
    assert client.sign_in("sam", PASSWORD) == 429
