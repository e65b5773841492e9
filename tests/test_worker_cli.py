"""`flockwatch worker` fails fast and clearly when what it needs is not there."""

from __future__ import annotations

import pytest

from support.cli import run_cli


@pytest.mark.kafka
def test_an_unreachable_store_is_a_clear_error_without_the_password(broker: str) -> None:
    r = run_cli("worker", "--broker", broker, "--metrics-port", "-1",
                "--database-url", "postgresql://flock:s3cret@127.0.0.1:1/alerts", timeout=60)
    err = r.stderr.decode()
    assert r.returncode == 1, err
    assert err.startswith("Error: cannot open the alert store postgresql+psycopg://flock:***@127.0.0.1:1/alerts")
    assert "s3cret" not in err and "Traceback" not in err


def test_every_option_names_its_environment_variable() -> None:
    r = run_cli("worker", "--help", env={"COLUMNS": "200"})
    out = r.stdout.decode()
    assert r.returncode == 0
    for env in ("FLOCKWATCH_BROKER", "FLOCKWATCH_EVENTS_TOPIC", "FLOCKWATCH_GROUP", "FLOCKWATCH_DATABASE_URL",
                "FLOCKWATCH_METRICS_PORT", "FLOCKWATCH_BATCH_SIZE", "FLOCKWATCH_SESSION_TIMEOUT"):
        assert env in out


@pytest.mark.parametrize(("env", "option"), [("FLOCKWATCH_BATCH_WITHIN", "--batch-within"),
                                             ("FLOCKWATCH_BATCH_SIZE", "--batch-size")])
def test_a_batch_within_or_size_of_zero_is_refused(env: str, option: str) -> None:
    # Faust reads a `within` of 0 as "no timeout": a partial batch waited for ever (nothing
    # processed at low traffic) and SIGTERM then hung in Faust's wait for its records.
    # A batch size of 0 ran one event per batch: a typo, refused like any bad value.
    r = run_cli("worker", "--broker", "127.0.0.1:1", "--metrics-port", "-1", env={env: "0"}, timeout=30)
    err = r.stderr.decode()
    assert r.returncode == 2, err
    assert option in err and "Traceback" not in err


@pytest.mark.kafka
def test_an_unusable_data_dir_or_sqlite_path_is_a_one_line_error(broker: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    for args in (("--data-dir", str(a_file / "data"), "--database-url", f"sqlite:///{tmp_path / 'a.db'}"),
                 ("--data-dir", str(tmp_path / "data"), "--database-url", f"sqlite:///{a_file / 'a.db'}")):
        r = run_cli("worker", "--broker", broker, "--metrics-port", "-1", *args, timeout=60)
        err = r.stderr.decode()
        assert r.returncode == 1, err
        assert "Traceback" not in err and err.startswith("Error: ") and str(a_file) in err, err
