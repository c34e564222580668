"""Settings come from ETEAM_* variables over an optional TOML file; secrets never from the file."""

from pathlib import Path

import pytest

from eteam.settings import MailboxSettings, load_settings


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ETEAM_CONFIG", raising=False)
    settings = load_settings()
    assert settings.database_url == "sqlite:///var/eteam.db"
    assert settings.team_address == "contactus@ladwp.example"
    assert settings.is_own_address("Anyone@LADWP.example")


def test_toml_file_then_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "eteam.toml"
    config.write_text(
        'database_url = "sqlite:///from-file.db"\nour_domain = "dwp.example"\n'
        '[[mailboxes]]\nname = "contact"\nuser = "eteam"\nfolders = ["INBOX"]\n'
    )
    monkeypatch.setenv("ETEAM_CONFIG", str(config))
    monkeypatch.setenv("ETEAM_DATABASE_URL", "sqlite:///from-env.db")
    settings = load_settings()
    assert settings.database_url == "sqlite:///from-env.db"
    assert settings.our_domain == "dwp.example"
    assert settings.mailboxes[0].name == "contact"


def test_missing_config_file_says_what_to_do(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ETEAM_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(FileNotFoundError, match="unset ETEAM_CONFIG"):
        load_settings()


def test_mailbox_password_from_environment_or_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    box = MailboxSettings(name="contact", user="eteam", password_env="TEST_IMAP_PW")
    monkeypatch.delenv("TEST_IMAP_PW", raising=False)
    with pytest.raises(ValueError, match="TEST_IMAP_PW"):
        box.password()
    monkeypatch.setenv("TEST_IMAP_PW", "s3cret")
    assert box.password() == "s3cret"
    secret = tmp_path / "pw"
    secret.write_text("from-file\n")
    assert MailboxSettings(name="c", user="u", password_file=secret).password() == "from-file"


def test_password_in_config_file_is_refused() -> None:
    with pytest.raises(ValueError, match="must not be in the config file"):
        MailboxSettings(name="c", user="u", password="hunter2")  # type: ignore[call-arg]
