"""The API's private store: accounts, sessions, service links, outbox and audit log.

Never on-chain. SQLite by default, PostgreSQL by URL, through SQLAlchemy 2.0; the schema is made
only by the versioned migrations in `api.store.migrations`, and `api.store.models` maps it.
"""
