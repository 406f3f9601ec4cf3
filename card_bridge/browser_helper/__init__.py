"""The card helper: lets a registration page in the resident's browser use a card reader on the PC.

A browser cannot talk to PC/SC, so `mykey card helper` runs a small HTTP server on 127.0.0.1 that
answers the page's JPKI challenge with the card in the reader (`server.py`). It answers only pages
whose origin is on its allow list (`origins.py`), signs only a registration statement issued for
that very page (`signing_rule.py`, `registration_statement.py`), and runs one card operation at
a time (`card_desk.py`).

This `__init__` imports nothing heavy, so the API's page settings can read `config.DEFAULT_PORT`
(and the platform can build a `registration_statement`) without loading aiohttp or pyscard.
"""
