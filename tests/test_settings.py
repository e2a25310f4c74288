"""core.settings: laptop defaults, the hosted switch, and overrides from the environment."""

import pytest

from core.settings import HOSTED, Settings, load_settings


def test_defaults_are_the_laptop_settings():
    s = load_settings({})
    assert s == Settings() and not s.hosted
    assert (s.max_pixels, s.max_files_per_session, s.max_upload_mb) == (4096 * 4096, 100, 50)


@pytest.mark.parametrize("flag", ["1", "true", "YES", " on "])
def test_hosted_switch_tightens_limits(flag):
    s = load_settings({"EQUISCOPE_HOSTED": flag})
    assert s == HOSTED and s.hosted
    assert s.max_pixels < Settings().max_pixels and s.train_max_epochs < Settings().train_max_epochs


def test_overrides_and_their_errors():
    s = load_settings(
        {"EQUISCOPE_HOSTED": "0", "EQUISCOPE_MAX_FILES": "3", "EQUISCOPE_MAX_PIXELS": "1000"}
    )
    assert (s.hosted, s.max_files_per_session, s.max_pixels) == (False, 3, 1000)
    with pytest.raises(ValueError, match="EQUISCOPE_MAX_FILES must be a whole number, not 'many'"):
        load_settings({"EQUISCOPE_MAX_FILES": "many"})
    with pytest.raises(ValueError, match="EQUISCOPE_MAX_UPLOAD_MB must be positive, not 0"):
        load_settings({"EQUISCOPE_MAX_UPLOAD_MB": "0"})


def test_streamlit_config_hardening_matches_the_settings():
    import tomllib

    from conftest import ROOT

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    server = config["server"]
    assert server["maxUploadSize"] == Settings().max_upload_mb == HOSTED.max_upload_mb
    assert server["enableXsrfProtection"] is True and server["headless"] is True
    assert server["runOnSave"] is False and server["fileWatcherType"] == "none"
