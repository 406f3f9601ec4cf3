"""A virtual My Number Card for tests and demos: the JPKI application behind vpcd.

`card` models the card (bytes in, bytes out), `issuance` makes a test CA and the card's auth
certificate at run time with `cryptography` (no J-LIS material), `vpcd` connects the model to the
vpcd reader driver so pcscd sees a card, and `python -m card_bridge.virtual_card` (or
`mykey card emulate`) runs one from the command line.
"""
