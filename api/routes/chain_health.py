"""Operators: the ledger side's health: node head, peers, indexer position and lag."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from api.deps import Operator
from api.errors import ApiError
from api.indexer.follower import ChainIndexer, IndexerThread
from api.routes.terminals import ChainDep

router = APIRouter(tags=["operator"])
MAX_HEALTHY_LAG_BLOCKS = 10


class ChainHealthOut(BaseModel):
    """What a node operator checks first."""

    status: str = Field(description="`ok`, or `degraded` with `problems`.")
    node_head: int | None
    peers: int | None
    indexed_to: int | None = Field(description="Last block whose events are in the store.")
    indexer_lag: int | None = Field(description="Finalized blocks not yet indexed.")
    indexer_error: str | None
    problems: list[str]


@router.get("/operator/chain", summary="Ledger health", response_model=ChainHealthOut)
def chain_health(
    operator: Operator, request: Request, chain: ChainDep, response: Response
) -> ChainHealthOut:
    """Node head and peers, indexer position and lag; 503 with the same body when degraded."""
    problems: list[str] = []
    head: int | None = None
    peers: int | None = None
    try:
        head = chain.ledger.head()
        peers = chain.ledger.peer_count()
    except ApiError as failure:
        problems.append(f"node unreachable: {failure.message.en}")
    indexer: ChainIndexer | None = getattr(request.app.state, "indexer", None)
    follower: IndexerThread | None = getattr(request.app.state, "indexer_thread", None)
    indexed_to = None if indexer is None else indexer.next_block() - 1
    lag = None if head is None or indexed_to is None else max(0, head - indexed_to)
    if lag is not None and lag > MAX_HEALTHY_LAG_BLOCKS:
        problems.append(f"indexer is {lag} blocks behind the finalized head")
    error = None if follower is None else follower.last_error
    if error:
        problems.append(f"indexer: {error}")
    if problems:
        response.status_code = 503
    return ChainHealthOut(
        status="degraded" if problems else "ok",
        node_head=head,
        peers=peers,
        indexed_to=indexed_to,
        indexer_lag=lag,
        indexer_error=error,
        problems=problems,
    )
