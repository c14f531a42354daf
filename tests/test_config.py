import pytest

from openmmo.config import ConfigError, Environment, load_settings

GOOD_SECRET = "x" * 40


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in (
        "SERVER_PORT",
        "WORLD_ZONE_ID",
        "JWT_SECRET",
        "OPENMMO_ENV",
        "DB_HOST",
        "DATABASE_URL",
        "LOG_LEVEL",
        "MAX_PLAYERS",
        "DB_PASSWORD",
    ):
        monkeypatch.delenv(name, raising=False)


def test_defaults_follow_the_seed_ports():
    settings = load_settings()
    assert (settings.server_port, settings.health_port, settings.metrics_port) == (8080, 8081, 9090)
    assert settings.sqlalchemy_url().startswith("sqlite+aiosqlite:///")


def test_environment_wins_over_the_yaml_file(tmp_path, monkeypatch):
    config = tmp_path / "server.yaml"
    config.write_text("server_port: 9000\nworld_zone_id: 2\nmax_players: 50\n")
    monkeypatch.setenv("SERVER_PORT", "9100")
    settings = load_settings(config)
    assert (settings.server_port, settings.world_zone_id, settings.max_players) == (9100, 2, 50)


def test_db_settings_build_a_postgres_url(monkeypatch):
    monkeypatch.setenv("DB_HOST", "postgres")
    monkeypatch.setenv("DB_PASSWORD", "p@ss/word")
    url = load_settings().sqlalchemy_url()
    assert url == "postgresql+asyncpg://openmmo:p%40ss%2Fword@postgres:5432/openmmo"
    assert "p@ss" not in repr(load_settings())


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"SERVER_PORT": "eighty"}, "SERVER_PORT"),
        ({"SERVER_PORT": "70000"}, "SERVER_PORT"),
        ({"WORLD_ZONE_ID": "0"}, "WORLD_ZONE_ID"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL"),
        ({"JWT_SECRET": "short"}, "JWT_SECRET"),
    ],
)
def test_invalid_settings_fail_with_one_message_naming_the_setting(monkeypatch, env, named):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert named in str(raised.value)
    assert "short" not in str(raised.value) or named != "JWT_SECRET"  # secrets not echoed


def test_unknown_yaml_keys_and_bad_yaml_are_reported(tmp_path):
    typo = tmp_path / "typo.yaml"
    typo.write_text("server_prot: 1\n")
    with pytest.raises(ConfigError, match="SERVER_PROT: unknown setting"):
        load_settings(typo)
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(broken)
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "missing.yaml")


def test_production_with_a_secret_and_log_level_case(monkeypatch):
    monkeypatch.setenv("OPENMMO_ENV", "production")
    monkeypatch.setenv("JWT_SECRET", GOOD_SECRET)
    monkeypatch.setenv("LOG_LEVEL", "INFO")
    settings = load_settings()
    assert settings.environment is Environment.PRODUCTION
    assert settings.log_level == "info"


def test_previous_secrets_are_parsed_and_checked(monkeypatch):
    monkeypatch.setenv("JWT_PREVIOUS_SECRETS", f"old={GOOD_SECRET}")
    assert load_settings().previous_jwt_keys() == {"old": GOOD_SECRET}
    monkeypatch.setenv("JWT_PREVIOUS_SECRETS", "nonsense")
    with pytest.raises(ConfigError, match="JWT_PREVIOUS_SECRETS"):
        load_settings()


def test_production_roles_need_a_signing_key_but_migrations_do_not(monkeypatch):
    monkeypatch.setenv("OPENMMO_ENV", "production")
    settings = load_settings()  # enough for `openmmo migrate`
    with pytest.raises(ConfigError, match="JWT_SECRET"):
        settings.require_signing_key()
