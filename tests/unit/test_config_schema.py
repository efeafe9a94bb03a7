import pytest

from lbapp.config.schema import ConfigError, parse_config


def test_seed_document_is_valid():
    cfg = parse_config({
        "backend_servers": ["10.1.0.11:8080", "10.1.0.12:8080"],
        "health_endpoint": "/health",
        "poll_frequency": 5000,
        "algorithm": "round_robin",
    })
    assert [b.name for b in cfg.backend_servers] == ["10.1.0.11:8080", "10.1.0.12:8080"]
    assert cfg.backend_servers[0].port == 8080


def test_weights_map_overrides_backend_weights():
    cfg = parse_config({
        "backend_servers": [{"name": "be1", "address": "10.1.0.11", "port": 8080, "weight": 2},
                            {"name": "be2", "address": "10.1.0.12", "port": 8080}],
        "algorithm": "weighted_round_robin",
        "weights": {"be2": 5},
    })
    assert cfg.effective_weights() == {"be1": 2, "be2": 5}


@pytest.mark.parametrize("doc, field", [
    ({"backend_servers": []}, "backend_servers"),
    ({"backend_servers": ["nohostport"]}, "backend_servers"),
    ({"backend_servers": ["a:1"], "algorithm": "fastest"}, "algorithm"),
    ({"backend_servers": ["a:1"], "health_endpoint": "health"}, "health_endpoint"),
    ({"backend_servers": ["a:1"], "poll_frequency": 0}, "poll_frequency"),
    ({"backend_servers": ["a:1"], "weights": {"zz": 1}}, "weights"),
    ({"backend_servers": ["a:1", "a:1"]}, "unique"),
    ({"backend_servers": ["a:1"], "hash": {"maglev_table_size": 65536}}, "maglev_table_size"),
    ({"backend_servers": ["a:1"], "colour": "red"}, "colour"),
])
def test_bad_documents_name_the_field(doc, field):
    with pytest.raises(ConfigError) as err:
        parse_config(doc, source="etcd:/lblab/lb/payment/config")
    assert "etcd:/lblab/lb/payment/config" in str(err.value)
    assert field in str(err.value)


def test_not_json():
    with pytest.raises(ConfigError, match="not valid JSON"):
        parse_config(b"{oops", source="x")
