import pytest

from lbapp.lbserver.settings import SettingsError, load_settings, parse_hostport, parse_settings

MINIMAL = {
    "name": "lb1",
    "lb_id": "payment",
    "listen": ["0.0.0.0:80"],
    "admin_listen": "127.0.0.1:9100",
    "etcd_endpoints": ["http://10.3.0.11:2379"],
}


def test_minimal_settings_take_defaults():
    s = parse_settings(dict(MINIMAL))
    assert s.redis_url is None
    assert s.drain_grace_ms == 3000
    assert s.max_connections == 10_000
    assert s.listen_addresses == [("0.0.0.0", 80)]
    assert s.admin_addresses == [("127.0.0.1", 9100)]
    assert s.request_head_timeout_ms == 10_000 and not s.admin_allow_wildcard


def test_full_file(tmp_path):
    path = tmp_path / "lb1.yaml"
    path.write_text(
        "name: lb1\nlb_id: payment\nlisten: ['0.0.0.0:80', '[::]:80']\n"
        "admin_listen: 127.0.0.1:9100\n"
        "etcd_endpoints: [http://10.3.0.11:2379, http://10.3.0.12:2379]\n"
        "redis_url: redis://10.3.0.21:6379/0\ndrain_grace_ms: 500\nmax_connections: 100\n"
        "log_file: /tmp/lb1.log\nlog_level: DEBUG\n")
    s = load_settings(path)
    assert s.listen_addresses == [("0.0.0.0", 80), ("::", 80)]
    assert s.log_level == "debug"
    assert s.drain_grace_ms == 500


@pytest.mark.parametrize("change, field", [
    ({"listen": ["nohost"]}, "listen"),
    ({"listen": []}, "listen"),
    ({"listen": ["0.0.0.0:70000"]}, "listen"),
    ({"listen": ["::1:80"]}, "listen"),
    ({"admin_listen": "9100"}, "admin_listen"),
    ({"admin_listen": []}, "admin_listen"),
    ({"request_head_timeout_ms": 0}, "request_head_timeout_ms"),
    ({"etcd_endpoints": ["10.0.0.1:2379"]}, "etcd_endpoints"),
    ({"etcd_endpoints": []}, "etcd_endpoints"),
    ({"redis_url": "http://x:6379"}, "redis_url"),
    ({"name": "lb 1"}, "name"),
    ({"lb_id": ""}, "lb_id"),
    ({"max_connections": 0}, "max_connections"),
    ({"drain_grace_ms": -1}, "drain_grace_ms"),
    ({"log_level": "loud"}, "log_level"),
    ({"colour": "red"}, "colour"),
])
def test_bad_settings_name_the_file_and_field(change, field, tmp_path):
    import yaml
    path = tmp_path / "lb.yaml"
    path.write_text(yaml.safe_dump({**MINIMAL, **change}))
    with pytest.raises(SettingsError) as err:
        load_settings(path)
    assert str(path) in str(err.value)
    assert field in str(err.value)


def test_missing_required_field():
    doc = dict(MINIMAL)
    del doc["lb_id"]
    with pytest.raises(SettingsError, match="lb_id"):
        parse_settings(doc, source="lb1.yaml")


def test_not_yaml_and_not_mapping(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(SettingsError, match="not valid YAML"):
        load_settings(bad)
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n- b\n")
    with pytest.raises(SettingsError, match="mapping"):
        load_settings(listing)
    with pytest.raises(SettingsError, match="cannot read"):
        load_settings(tmp_path / "absent.yaml")


@pytest.mark.parametrize("text, expected", [
    ("127.0.0.1:80", ("127.0.0.1", 80)),
    ("[::1]:8080", ("::1", 8080)),
    ("localhost:1", ("localhost", 1)),
])
def test_parse_hostport(text, expected):
    assert parse_hostport(text) == expected


def test_documented_example_is_valid():
    import yaml

    from lbapp.lbserver import settings as module
    doc = module.__doc__
    example = doc[doc.index("Example::") + len("Example::"):doc.index("Only the first")]
    s = parse_settings(yaml.safe_load(example), source="settings docstring")
    assert s.name == "lb1" and s.redis_url.startswith("redis://")


def test_admin_listen_takes_one_address_or_a_list():
    s = parse_settings({**MINIMAL, "admin_listen": ["127.0.0.1:9100", "10.2.0.101:9100"]})
    assert s.admin_addresses == [("127.0.0.1", 9100), ("10.2.0.101", 9100)]
    assert s.admin_list == ["127.0.0.1:9100", "10.2.0.101:9100"]


@pytest.mark.parametrize("admin, listen, words", [
    # a wildcard admin answers on the VIP too: a client could drain the LB
    ("0.0.0.0:9100", ["0.0.0.0:80"], "every address"),
    ("[::]:9100", ["0.0.0.0:80"], "every address"),
    (["127.0.0.1:9100", "0.0.0.0:9101"], ["10.0.0.100:80"], "every address"),
    # the data plane's own address, or its port on a wildcard data-plane address
    ("10.0.0.100:80", ["10.0.0.100:80"], "overlaps the data-plane address 10.0.0.100:80"),
    ("127.0.0.1:80", ["0.0.0.0:80"], "overlaps the data-plane address 0.0.0.0:80"),
    ("localhost:8080", ["127.0.0.1:8080"], "overlaps"),
    # names could resolve to anything (`0` is 0.0.0.0 to bind())
    ("0:9100", ["0.0.0.0:80"], "not a name"),
    ("admin.example:9100", ["0.0.0.0:80"], "not a name"),
    (["127.0.0.1:9100", "127.0.0.1:9100"], ["0.0.0.0:80"], "repeat"),
])
def test_admin_listen_off_the_data_plane(admin, listen, words):
    with pytest.raises(SettingsError) as err:
        parse_settings({**MINIMAL, "admin_listen": admin, "listen": listen}, source="lb1.yaml")
    assert "lb1.yaml" in str(err.value) and "admin_listen" in str(err.value)
    assert words in str(err.value)


def test_wildcard_admin_only_when_allowed_and_never_on_a_data_plane_port():
    s = parse_settings({**MINIMAL, "admin_listen": "0.0.0.0:9100", "admin_allow_wildcard": True})
    assert s.admin_addresses == [("0.0.0.0", 9100)]
    with pytest.raises(SettingsError, match="overlaps the data-plane address 10.0.0.1:80"):
        parse_settings({**MINIMAL, "admin_listen": "0.0.0.0:80", "admin_allow_wildcard": True,
                        "listen": ["10.0.0.1:80"]})
