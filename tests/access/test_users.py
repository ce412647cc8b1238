from streams.access.users import User, UserDirectory, hash_password


def user(role, offices=(), name="ana", password="correct horse battery", changed_at=1):
    return User(username=name, role=role, offices=frozenset(offices), password_hash=hash_password(password),
                changed_at=changed_at)


def test_a_password_is_kept_as_an_argon2id_hash_and_checked_against_it():
    directory = UserDirectory()
    ana = user("OFFICER", ["A"])
    directory.apply("ana", ana.record())
    assert ana.password_hash.startswith("$argon2id$") and "correct horse" not in ana.password_hash
    assert directory.check_password("ana", "correct horse battery") == ana
    assert directory.check_password("ana", "correct horse batterY") is None
    assert directory.check_password("nobody", "correct horse battery") is None
    directory.apply("ana", None)
    assert directory.check_password("ana", "correct horse battery") is None


def test_what_each_role_sees_and_acts_on():
    officer, supervisor = user("OFFICER", ["A"]), user("SUPERVISOR")
    analyst, viewer_of_b, viewer = user("ANALYST"), user("VIEWER", ["B"]), user("VIEWER")
    assert [u.sees_office("A") for u in (officer, supervisor, analyst, viewer_of_b, viewer)] == [
        True, True, True, False, True]
    assert [u.sees_office("B") for u in (officer, supervisor, analyst, viewer_of_b, viewer)] == [
        False, True, True, True, True]
    assert [u.acts_on_office("A") for u in (officer, supervisor, analyst, viewer_of_b, viewer)] == [
        True, True, False, False, False]
    assert not officer.acts_on_office("B")
    assert [u.supervises for u in (officer, supervisor, analyst)] == [False, True, False]
    assert "password_hash" not in officer.public()


def test_a_record_round_trips():
    ana = user("VIEWER", ["B", "A"])
    assert User.from_record(ana.record()) == ana
    assert ana.record()["offices"] == ["A", "B"]
