"""Sign-in and what a session lets through, by direct HTTP calls to a worker (no browser)."""

import pytest

from tests.builders import alert
from tests.web_client import PASSWORD, ControlRoomClient

pytestmark = pytest.mark.e2e

@pytest.fixture(scope="module")
def signed_in_world(two_workers):
    """The package's first worker, with one alert at ana's office and one at another."""
    deployed, worker, _ = two_workers
    at_a, at_b = alert(office_code="VNHPH01"), alert(office_code="VNCLI01")
    deployed.publish_alerts([at_a, at_b])
    return deployed, worker, at_a, at_b


def test_without_a_session_only_health_ready_and_metrics_answer(signed_in_world):
    _, worker, _, _ = signed_in_world
    client = ControlRoomClient(worker.url)
    for path in ("/health", "/ready", "/metrics", "/sign-in"):
        assert client.request("GET", path)[0] == 200, path
    assert client.get_json("/control-room/api/alerts")[0] == 401
    assert client.get_json("/control-room/api/me")[0] == 401
    status, headers, _ = client.request("GET", "/control-room/")
    assert (status, headers["Location"]) == (303, "/sign-in?next=/control-room/")
    assert client.request("GET", "/control-room/static/control_room.js")[0] == 303
    status, headers, _ = client.request("GET", "/sign-in")
    policy = headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_an_officer_sees_only_the_alerts_of_their_office_and_a_supervisor_all(signed_in_world):
    _, worker, at_a, at_b = signed_in_world
    ana, sam = ControlRoomClient(worker.url), ControlRoomClient(worker.url)
    assert ana.sign_in("ana", PASSWORD) == 303
    assert sam.sign_in("sam", PASSWORD) == 303
    ours = {at_a["alert_id"], at_b["alert_id"]}
    everything = sam.wait_json("/control-room/api/alerts", lambda d: ours <= {a["alert_id"] for a in d["alerts"]})
    assert ours <= {a["alert_id"] for a in everything["alerts"]}
    status, mine = ana.get_json("/control-room/api/alerts")
    assert status == 200 and at_a["alert_id"] in {a["alert_id"] for a in mine["alerts"]}
    assert {a["office_code"] for a in mine["alerts"]} == {"VNHPH01"}
    # asking for the other office by name changes nothing
    assert ana.get_json("/control-room/api/alerts?office=VNCLI01")[1]["alerts"] == []
    assert ana.get_json("/control-room/api/me")[1]["user"] == {
        "username": "ana", "role": "OFFICER", "offices": ["VNHPH01"]}
    cookie = next(iter(ana.cookies))
    assert cookie.has_nonstandard_attr("HttpOnly") and cookie.get_nonstandard_attr("SameSite") == "Strict"
    assert cookie.expires is not None


def test_an_action_without_its_csrf_token_is_refused(signed_in_world):
    _, worker, _, _ = signed_in_world
    ana = ControlRoomClient(worker.url)
    assert ana.sign_in("ana", PASSWORD) == 303
    assert ana.post_json("/sign-out", {}, csrf=False)[0] == 403
    ana.csrf_token = "x" * 43
    assert ana.post_json("/sign-out", {})[0] == 403
    assert ana.get_json("/control-room/api/me")[0] == 200  # still signed in
    ana.csrf_token = ana.get_json("/control-room/api/me")[1]["csrf_token"]
    assert ana.post_json("/sign-out", {})[0] == 200
    assert ana.get_json("/control-room/api/me")[0] == 401


def test_a_sign_in_from_another_site_is_refused_and_next_never_leaves_the_site(signed_in_world):
    _, worker, _, _ = signed_in_world
    client = ControlRoomClient(worker.url)
    form = b"username=ana&password=correct+horse+battery&next=%2F%2Fevil.example%2F"
    status, _, _ = client.request("POST", "/sign-in", form, {"Content-Type": "application/x-www-form-urlencoded",
                                                             "Origin": "http://evil.example"})
    assert status == 403
    status, headers, _ = client.request("POST", "/sign-in", form,
                                        {"Content-Type": "application/x-www-form-urlencoded"})
    assert (status, headers["Location"]) == (303, "/control-room/")
