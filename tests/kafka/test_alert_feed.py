from streams.kafka.alert_feed import AlertFilter, NewestAlerts


def alert(alert_id: str, version: int, severity: str = "MEDIUM", office_code: str = "VNHPH01") -> dict:
    return {"alert_id": alert_id, "version": version, "severity": severity, "office_code": office_code}


def test_a_newer_version_replaces_and_an_equal_or_older_one_is_not_news():
    newest = NewestAlerts()
    assert newest.offer(alert("A", 2))
    assert not newest.offer(alert("A", 2, severity="HIGH"))
    assert not newest.offer(alert("A", 1))
    assert newest.offer(alert("A", 3))
    assert newest.alerts["A"]["version"] == 3


def test_alerts_are_kept_in_the_order_they_last_changed_and_the_longest_unchanged_go_first():
    newest = NewestAlerts(capacity=2)
    for offered in (alert("A", 1), alert("B", 1), alert("A", 2), alert("C", 1)):
        newest.offer(offered)
    assert list(newest.alerts) == ["A", "C"]


def test_the_filter_takes_an_office_and_a_severity_floor():
    at_least_high = AlertFilter(office="VNHPH01", min_severity="HIGH")
    assert at_least_high.accepts(alert("A", 1, severity="HIGH"))
    assert at_least_high.accepts(alert("A", 1, severity="CRITICAL"))
    assert not at_least_high.accepts(alert("A", 1, severity="MEDIUM"))
    assert not at_least_high.accepts(alert("A", 1, severity="CRITICAL", office_code="VNCLI01"))
    assert AlertFilter().accepts(alert("A", 1, severity="LOW"))
