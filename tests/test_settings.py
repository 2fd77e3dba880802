from pathlib import Path

from alertnet.settings import SIM_ACCOUNT_SID, load_settings


def test_defaults_come_from_the_toml_file() -> None:
    settings = load_settings(env={})
    assert settings.api.port == 8080
    assert settings.twilio.sms_from == ("+15735550190", "+15735550191")
    assert settings.twilio_simulated and settings.sendgrid_simulated
    assert settings.twilio_account_sid == SIM_ACCOUNT_SID


def test_environment_overrides_every_level(tmp_path: Path) -> None:
    settings = load_settings(
        env={
            "ALERTNET_API_PORT": "9001",
            "ALERTNET_TWILIO_SMS_FROM": "+15735550111, +15735550112",
            "ALERTNET_TWILIO_ACCOUNT_SID": "AC123",
            "ALERTNET_TWILIO_AUTH_TOKEN": "secret",
            "ALERTNET_PIPELINE_BACKOFF_BASE_SECONDS": "0.25",
            "ALERTNET_DATA_DIR": str(tmp_path),
            "REDIS_URL": "redis://example:6379/3",
        }
    )
    assert settings.api.port == 9001
    assert settings.twilio.sms_from == ("+15735550111", "+15735550112")
    assert not settings.twilio_simulated
    assert settings.twilio_auth_token == "secret"
    assert settings.pipeline.backoff_base_seconds == 0.25
    assert settings.redis_url == "redis://example:6379/3"
    assert settings.signing_key_path.parent == tmp_path


def test_signing_key_lives_outside_the_repo_by_default() -> None:
    settings = load_settings(env={"HOME": "/home/someone"})
    repo = Path(__file__).resolve().parent.parent
    assert repo not in settings.signing_key_path.parents
