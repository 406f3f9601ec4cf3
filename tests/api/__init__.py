"""Tests of the API: fake ledger and card ports, real SQLite/PostgreSQL, real SMTP."""
