"""The logged-in resident's spendable points per municipality, read from the ledger.

The figure is the ledger's own `balanceOf` at the latest block, so everything the contracts
evaluate lazily is already in it: a reserve past its deadline counts as its home municipality's
points before anyone sweeps it, and expired lots no longer count. Only the resident's own MyKey
ID is ever asked for; an outage is a 503 problem, never a guessed number.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from api.deps import CurrentResident
from api.routes.terminals import ChainDep
from api.schemas.problems import Problem
from contracts.domain import format_code

router = APIRouter(tags=["my page"])


class BalanceOut(BaseModel):
    """Points the resident can spend in one municipality's regular account."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"municipality_code": "14130", "points": 4000}]}
    )
    municipality_code: str = Field(description="5-digit municipality code.")
    points: int = Field(ge=1)


@router.get(
    "/me/balances",
    summary="My points per municipality",
    response_model=list[BalanceOut],
    responses={401: {"model": Problem}, 503: {"model": Problem}},
)
def my_balances(resident: CurrentResident, chain: ChainDep) -> list[BalanceOut]:
    """Non-zero balances, lowest municipality code first (reserves past deadline included)."""
    mykey_id = resident.account.mykey_id
    balances = []
    for code in sorted(chain.ledger.municipalities()):
        points = chain.ledger.balance_of(mykey_id, code)
        if points:
            balances.append(BalanceOut(municipality_code=format_code(code), points=points))
    return balances
