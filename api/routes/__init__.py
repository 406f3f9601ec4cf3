"""HTTP routers, one per resource: parse the request, call one service, shape the response."""
