import pytest
from hypothesis import given, strategies as st

from lbapp.console import edits
from lbapp.console.auth import Auth
from lbapp.console.edits import EditError
from lbapp.console.settings import SettingsError, parse_settings

SEED = {"backend_servers": ["10.1.0.11:8080", "10.1.0.12:8080"], "health_endpoint": "/health",
        "poll_frequency": 5000, "algorithm": "round_robin"}


def refused(function, *args, **kwargs) -> EditError:
    with pytest.raises(EditError) as caught:
        function(*args, **kwargs)
    return caught.value


def test_add_backend_keeps_the_seed_shape_and_refuses_duplicates():
    new = edits.add_backend(SEED, "10.1.0.13:8080")
    assert new["backend_servers"][-1] == "10.1.0.13:8080" and SEED["backend_servers"][-1] != \
        "10.1.0.13:8080"
    new = edits.add_backend(SEED, {"address": "10.1.0.14", "port": 80, "weight": 2})
    assert new["backend_servers"][-1] == {"address": "10.1.0.14", "port": 80, "weight": 2,
                                          "name": "10.1.0.14:80"}
    edits.validate(new)
    assert refused(edits.add_backend, SEED, "10.1.0.11:8080").status == 409
    assert refused(edits.add_backend, SEED, {"address": "h"}).field == "port"
    assert refused(edits.add_backend, SEED, {"address": "h", "port": 0}).field == "port"
    assert refused(edits.add_backend, SEED, {"address": "h", "port": 1, "colour": 1}).field == \
        "colour"
    assert refused(edits.add_backend, SEED, ["h:1"]).status == 400


def test_remove_backend_also_drops_its_weight():
    doc = {**SEED, "weights": {"10.1.0.11:8080": 3}}
    new = edits.remove_backend(doc, "10.1.0.11:8080")
    assert new["backend_servers"] == ["10.1.0.12:8080"] and "weights" not in new
    error = refused(edits.remove_backend, doc, "nope")
    assert (error.status, error.field, error.reason) == (404, "backend", "unknown_backend")
    last = edits.remove_backend(new, "10.1.0.12:8080")
    assert refused(edits.validate, last).field == "backend_servers"


@pytest.mark.parametrize("value", [-1, 1001, 2.5, "3", True, None, [1]])
def test_set_weights_refuses_what_is_not_a_weight(value):
    error = refused(edits.set_weights, SEED, {"10.1.0.11:8080": value})
    assert (error.status, error.field) == (422, "weights.10.1.0.11:8080")


def test_set_weights_merges_and_names_unknown_backends():
    new = edits.set_weights({**SEED, "weights": {"10.1.0.12:8080": 2}}, {"10.1.0.11:8080": 0})
    assert new["weights"] == {"10.1.0.12:8080": 2, "10.1.0.11:8080": 0}
    assert refused(edits.set_weights, SEED, {"be9": 1}).field == "weights.be9"
    assert refused(edits.set_weights, SEED, {}).status == 422


def test_set_algorithm():
    new = edits.set_algorithm(SEED, {"algorithm": "maglev", "hash": {"key": "path"}})
    assert new["algorithm"] == "maglev" and new["hash"] == {"key": "path"}
    edits.validate(new)
    error = refused(edits.set_algorithm, SEED, {"algorithm": "fastest"})
    assert (error.field, error.reason) == ("algorithm", "unknown_algorithm")
    assert "maglev" in error.message
    bad_hash = edits.set_algorithm(SEED, {"algorithm": "maglev", "hash": {"key": "nope"}})
    assert refused(edits.validate, bad_hash).field == "hash.key"


def test_merge_patch_rfc7386():
    assert edits.merge_patch({"a": {"b": 1, "c": 2}, "d": 1}, {"a": {"b": None, "e": 3},
                                                               "d": [1]}) == {
        "a": {"c": 2, "e": 3}, "d": [1]}
    assert refused(edits.merge_patch, SEED, [1]).status == 400


def test_validate_is_strict():
    assert refused(edits.validate, {**SEED, "poll_frequency": "5000"}).field == "poll_frequency"
    assert refused(edits.validate, {**SEED, "poll_frequency": 5000.0}).field == "poll_frequency"
    edits.validate(SEED)


def test_diff():
    assert edits.diff({"a": 1, "b": {"c": 1}, "gone": 1}, {"a": 2, "b": {"c": 1}, "new": 1}) == [
        {"field": "a", "before": 1, "after": 2}, {"field": "gone", "before": 1},
        {"field": "new", "after": 1}]


@given(st.dictionaries(st.sampled_from(["10.1.0.11:8080", "10.1.0.12:8080", "x"]),
                       st.integers(-10, 2000) | st.floats() | st.text(max_size=3),
                       max_size=3))
def test_set_weights_result_is_always_valid_or_refused(weights):
    try:
        new = edits.set_weights(SEED, weights)
    except EditError as exc:
        assert 400 <= exc.status < 500 and exc.field
        return
    edits.validate(new)


def test_auth_session_and_csrf():
    class Request:
        def __init__(self, cookie, headers=None):
            self.cookies = {"lblab_console": cookie}
            self.headers = headers or {}
    auth = Auth("t" * 20)
    session = auth.new_session("alice")
    request = Request(session)
    assert auth.session_user(request) == "alice"
    assert auth.csrf_ok(request, auth.csrf_token(request))
    assert not auth.csrf_ok(request, "0" * 64)
    assert auth.session_user(Request(session.replace("alice", "mallory"))) is None
    assert Auth("u" * 20).session_user(request) is None  # another token, another lab
    assert auth.bearer_user(Request("", {"Authorization": "Bearer " + "t" * 20})) == "api"
    assert auth.bearer_user(Request("", {"Authorization": "Bearer nope"})) is None
    assert auth.bearer_user(Request("", {"Authorization": "Basic " + "t" * 20})) is None


def test_settings_errors_name_the_field(tmp_path):
    base = {"listen": "127.0.0.1:8080", "etcd_endpoints": ["http://127.0.0.1:2379"],
            "token_file": str(tmp_path / "t")}
    parse_settings(base)
    for field, value in [("listen", "8080"), ("etcd_endpoints", ["127.0.0.1:2379"]),
                         ("redis_url", "http://x"), ("lb_servers", {"a b": {}}),
                         ("colour", 1), ("max_body_bytes", 1)]:
        with pytest.raises(SettingsError, match=field):
            parse_settings({**base, field: value}, "console.yaml")
    settings = parse_settings(base)
    with pytest.raises(SettingsError, match="token_file"):
        settings.read_token()
    (tmp_path / "t").write_text("short")
    with pytest.raises(SettingsError, match="16 characters"):
        settings.read_token()
