"""The database: SQLAlchemy Core tables, the async engine, and Alembic migrations."""
