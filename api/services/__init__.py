"""Service functions: the API's behaviour, keyword-only, over a store session and ports.

Routers parse a request, call one service function, and shape its result; every query and every
rule lives here. A service that writes commits its own transaction, so a refusal that must be
remembered (a wrong password, a duplicate-check error) is stored before it is raised.
"""
