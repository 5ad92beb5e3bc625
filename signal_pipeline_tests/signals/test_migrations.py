from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from signal_pipeline.signals import migrations
from signal_pipeline.signals.db import DatabaseURL, Dialect, UnsupportedDatabaseURLError
from signal_pipeline.signals.store import SignalStore


def _objects(url: str) -> set[str]:
    """Names of tables, views and indexes in the database."""
    store = SignalStore(url, auto_upgrade=False)
    try:
        if store.dialect.name == "sqlite":
            rows = store.fetch("SELECT name FROM sqlite_master")
        else:
            rows = store.fetch(
                "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' "
                "UNION SELECT indexname FROM pg_indexes WHERE schemaname = 'public' "
                "UNION SELECT viewname FROM pg_views WHERE schemaname = 'public'"
            )
        return {r["name"] for r in rows}
    finally:
        store.close()


def test_upgrade_applies_every_version_once(store_url: str) -> None:
    assert migrations.upgrade(store_url) == [1, 2, 3]
    assert migrations.upgrade(store_url) == []
    assert migrations.is_current(store_url)
    names = _objects(store_url)
    expected = {
        "trading_signals",
        "signals_archive",
        "signal_outcomes",
        "signal_symbols",
        "schema_migrations",
        "idx_signals_symbol_time",
        "idx_signals_active",
        "uq_signals_idempotency_key",
        "all_signals",
        "signal_results",
    }
    assert expected <= names


def test_concurrent_upgrades_apply_each_version_once(store_url: str) -> None:
    results: list[list[int]] = []
    threads = [
        threading.Thread(target=lambda: results.append(migrations.upgrade(store_url)))
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(v for r in results for v in r) == [1, 2, 3]


def test_edited_migration_is_refused(tmp_path: Path) -> None:
    sql_dir = tmp_path / "sql"
    shutil.copytree(migrations.SQL_DIR, sql_dir)
    url = f"sqlite:///{tmp_path / 's.db'}"
    migrations.upgrade(url, sql_dir=sql_dir)
    path = sql_dir / "migrations" / "sqlite" / "0001_trading_signals.sql"
    path.write_text(path.read_text() + "\n-- edited\n")
    with pytest.raises(migrations.MigrationError, match="edited after it was applied"):
        migrations.upgrade(url, sql_dir=sql_dir)


def test_misnumbered_migrations_are_refused(tmp_path: Path) -> None:
    folder = tmp_path / "migrations" / "sqlite"
    folder.mkdir(parents=True)
    (folder / "0002_gap.sql").write_text("SELECT 1;")
    with pytest.raises(migrations.MigrationError, match=r"numbered 1\.\.n"):
        migrations.available_migrations("sqlite", tmp_path)


def test_both_dialects_have_the_same_versions() -> None:
    pg = [(m.version, m.name) for m in migrations.available_migrations("postgresql")]
    lite = [(m.version, m.name) for m in migrations.available_migrations("sqlite")]
    assert pg == lite


@pytest.mark.parametrize("url", ["mysql://x/y", "sqlite://", "signals.db"])
def test_bad_urls_name_the_url(url: str) -> None:
    with pytest.raises(UnsupportedDatabaseURLError, match="URL"):
        DatabaseURL.parse(url)


def test_url_redaction_hides_password() -> None:
    url = DatabaseURL.parse("postgresql+psycopg://bob:secret@db:5432/signals")
    assert url.redacted() == "postgresql://bob@db:5432/signals"
    assert Dialect(url).sql("a = :x AND b::text = ':y'") == "a = %(x)s AND b::text = ':y'"
