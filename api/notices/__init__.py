"""Notices by e-mail: the outbox (written with the change it announces) and its SMTP sender."""
