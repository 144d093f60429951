"""Storage: the SQLite schema, its migrations and every SQL statement newsbot runs."""
