"""Where alerts are kept: SQL through SQLModel (SQLite by default, PostgreSQL in production)."""
