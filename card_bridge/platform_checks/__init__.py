"""The platform's side of JPKI authentication: the checks the API applies to what a card returns.

`challenges` issues single-use, short-lived challenges; `certificates` checks an auth
certificate against the configured JPKI trust anchor and the operator's CRL; `authentication`
puts both together with the signature check; `binding` maps a certificate to a MyKey ID through
an opaque keyed identifier kept off-chain. Every refusal is its own exception class in `refusals`
with a stable `reason` word the API can put into a problem-details response.
"""
