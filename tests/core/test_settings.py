import pytest

from config.settings import DEV_SECRET_KEY, Settings, SettingsError


def test_defaults_are_embedded_sqlite_and_inprocess_queue():
    s = Settings.from_env({})
    assert s.is_sqlite
    assert s.redis_url == ""
    assert s.timezone == "Asia/Ho_Chi_Minh"
    assert s.s10_service_indicator == "RA"


def test_each_variable_is_read():
    s = Settings.from_env({
        "DATABASE_URL": "postgresql://x@h/db", "REDIS_URL": "redis://h:6379/1", "SECRET_KEY": "k" * 40,
        "LABEL_SIGNING_KEY": "l" * 40, "LABEL_SIGNING_KEYS_PREVIOUS": "old1,old2",
        "PUBLIC_BASE_URL": "https://post.example/", "S10_SERVICE_INDICATOR": "eh", "PORT": "8080",
    })
    assert s.database_url == "postgresql://x@h/db"
    assert s.public_base_url == "https://post.example"
    assert s.s10_service_indicator == "EH"
    assert s.port == 8080
    assert s.label_keys == (b"l" * 40, b"old1", b"old2")


def test_production_refuses_default_secrets():
    with pytest.raises(SettingsError, match="SECRET_KEY"):
        Settings.from_env({"DOSSIERPOST_ENV": "production"})
    with pytest.raises(SettingsError, match="LABEL_SIGNING_KEY"):
        Settings.from_env({"DOSSIERPOST_ENV": "production", "SECRET_KEY": "s" * 64})
    ok = Settings.from_env({"DOSSIERPOST_ENV": "production", "SECRET_KEY": "s" * 64, "LABEL_SIGNING_KEY": "l" * 64})
    assert ok.is_production
    assert ok.secret_key != DEV_SECRET_KEY


def test_production_refuses_demo_mode():
    with pytest.raises(SettingsError, match="DEMO"):
        Settings.from_env({"DOSSIERPOST_ENV": "production", "SECRET_KEY": "s" * 64,
                           "LABEL_SIGNING_KEY": "l" * 64, "DOSSIERPOST_DEMO": "1"})


@pytest.mark.parametrize(("var", "value"), [("S10_SERVICE_INDICATOR", "R1"), ("S10_SERVICE_INDICATOR", "RRR"),
                                            ("TZ_NAME", "Mars/Olympus"), ("DOSSIERPOST_ENV", "staging")])
def test_bad_values_are_refused_with_the_variable_named(var, value):
    with pytest.raises(SettingsError, match=var):
        Settings.from_env({var: value})


def test_public_base_url_follows_the_port_unless_set():
    assert Settings.from_env({"PORT": "8080"}).public_base_url == "http://127.0.0.1:8080"
    assert Settings.from_env({"PORT": "8080", "PUBLIC_BASE_URL": "https://a.b"}).public_base_url == "https://a.b"
    with pytest.raises(SettingsError, match="PORT"):
        Settings.from_env({"PORT": "eighty"})
