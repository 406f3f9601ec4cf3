"""PC/SC and JPKI: the My Number Card's user-authentication function, and the platform's checks.

Layers, bottom up: `apdu` (command bytes and response parsing, sans-io), `allow_list` (what may
ever be sent), `channel` (the one function that transmits, behind the allow-list), `transport`
(the Protocols a reader must meet), `pcsc` (pyscard: the only module that imports `smartcard`),
`jpki` (read certificates, PIN, sign), `cli` (`mykey card ...`). `virtual_card` is a test and demo
card behind vpcd; `platform_checks` is what the API applies to a card's answer.

Only the JPKI application is ever selected; the 12-digit Individual Number is never read.
"""
