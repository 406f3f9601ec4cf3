"""PC/SC and JPKI: the My Number Card's user-authentication function, and the platform's checks.

Only `card_bridge.pcsc` imports pyscard. The 12-digit Individual Number is never read.
"""
