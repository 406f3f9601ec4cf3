"""The demo consortium `mykey dev` starts with: two municipalities, three businesses, a partner.

Municipalities 14130 (Kawasaki) and 13116 (Toshima), as in the deck's ledger table; a library, a
museum and a store, each with its own terminals; a card-issuer partner converting 1:1; a platform
verifier key; residents with MyKey IDs and points (DEMOA001 holds 4,000 points in 14130 and
5,000 in 13116, the deck's row A01).

Every key here is a THROWAWAY TEST KEY derived from a public seed string (`demo_key`): anyone can
recompute it, so it must never guard anything of value. That is what lets `mykey dev`, the API's
demo pages and the tests act as any member without a key file.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3 import Web3
from web3.contract.contract import ContractFunction

from contracts.client import LedgerClient
from contracts.deploy import Deployment, deploy_ledger
from contracts.domain import (
    MunicipalityCode,
    MykeyId,
    TerminalKind,
    Use,
    mykey_id_bytes,
    uses_mask,
)
from contracts.events import decode_logs
from contracts.transactions import PlannedTransaction, address_of, call_data, fund, send_batch

DEMO_SEED = "mykey-ledger throwaway demo key"
FUNDING_WEI = 10**18
"""Gas money for demo accounts on a chain that charges gas (the dev ledger charges none)."""

ACTIVITY_VOLUNTEERING = 1
ACTIVITY_EVENT_PARTICIPATION = 2
ACTIVITY_HEALTH_WALK = 3


def demo_key(role: str) -> str:
    """Return the throwaway test private key of demo `role` (public: derived from DEMO_SEED)."""
    return "0x" + keccak(text=f"{DEMO_SEED}: {role}").hex()


@dataclass(frozen=True)
class DemoMunicipality:
    """A demo municipality: its admin (also treasurer) and its granting terminals."""

    code: MunicipalityCode
    name: str
    admin_key: str
    management_terminal_key: str
    mobile_terminal_key: str
    voucher_terminal_key: str


@dataclass(frozen=True)
class DemoBusiness:
    """A demo business and its terminals by kind."""

    business_id: int
    name: str
    admin_key: str
    terminal_keys: dict[TerminalKind, str]


@dataclass(frozen=True)
class DemoPartner:
    """A demo partner company."""

    partner_id: int
    name: str
    admin_key: str


@dataclass(frozen=True)
class DemoConsortium:
    """Everything `deploy_demo` made: addresses, ids and the throwaway keys that act for each."""

    deployment: Deployment
    platform_key: str
    verifier_key: str
    municipalities: dict[MunicipalityCode, DemoMunicipality]
    businesses: dict[str, DemoBusiness]
    partner: DemoPartner
    residents: dict[MykeyId, MunicipalityCode] = field(default_factory=dict)

    @property
    def verifier_address(self) -> ChecksumAddress:
        """The platform verifier's address."""
        return address_of(self.verifier_key)


DEMO_MUNICIPALITIES = (("14130", "Kawasaki"), ("13116", "Toshima"))
DEMO_RESIDENTS: tuple[tuple[MykeyId, str], ...] = (
    (MykeyId("DEMOA001"), "14130"),
    (MykeyId("DEMOB002"), "13116"),
    (MykeyId("DEMOC003"), "14130"),
)


def _keys_of(code: str, name: str) -> DemoMunicipality:
    prefix = f"municipality {code}"
    return DemoMunicipality(
        code=MunicipalityCode(int(code)),
        name=name,
        admin_key=demo_key(f"{prefix} admin"),
        management_terminal_key=demo_key(f"{prefix} management terminal"),
        mobile_terminal_key=demo_key(f"{prefix} mobile granting terminal"),
        voucher_terminal_key=demo_key(f"{prefix} voucher terminal"),
    )


DEMO_BUSINESSES: tuple[tuple[str, str, tuple[TerminalKind, ...]], ...] = (
    ("library", "Demo Library", (TerminalKind.SERVICE_ID_LOOKUP, TerminalKind.POINT_USE)),
    ("museum", "Demo Museum", (TerminalKind.POINT_USE,)),
    ("store", "Demo Store", (TerminalKind.POINT_USE, TerminalKind.VOUCHER_ISSUE)),
)
PARTNER_NAME = "Demo Card Co."
STEP_GAS = 600_000
"""Gas for each demo set-up step: a bound, not a charge (the dev ledger's gas price is 0)."""


def _step(key: str, function: ContractFunction, label: str) -> PlannedTransaction:
    return PlannedTransaction(
        key, to_checksum_address(function.address), call_data(function), STEP_GAS, label
    )


def _all_keys(municipalities: list[DemoMunicipality]) -> list[str]:
    keys = [demo_key("platform verifier"), demo_key(f"partner {PARTNER_NAME} admin")]
    for m in municipalities:
        keys += [
            m.admin_key,
            m.management_terminal_key,
            m.mobile_terminal_key,
            m.voucher_terminal_key,
        ]
    for _, name, kinds in DEMO_BUSINESSES:
        keys.append(demo_key(f"business {name} admin"))
        keys += [demo_key(f"business {name} terminal {kind.name}") for kind in kinds]
    return keys


def deploy_demo(
    w3: Web3, deployer_key: str, *, with_points: bool = True, gas_limit: int | None = None
) -> DemoConsortium:
    """Deploy the contracts and the demo consortium on `w3`; return what it made.

    `deployer_key` becomes the platform operator and pays gas for the demo accounts when the
    chain charges gas. With `with_points`, residents get the deck's example balances and one
    pending conversion. Steps that do not depend on each other go out together (a handful of
    blocks in all). `gas_limit` is kept for callers that fix gas; set-up steps use STEP_GAS.
    Raises TransactionFailed naming the step that failed.
    """
    del gas_limit  # every batched step has its own fixed bound
    deployment = deploy_ledger(w3, deployer_key)
    client = LedgerClient(w3, deployment)
    consortium, registry, ledger = (
        client.consortium.functions,
        client.registry.functions,
        client.ledger.functions,
    )
    municipalities = [_keys_of(code, name) for code, name in DEMO_MUNICIPALITIES]
    for key in _all_keys(municipalities):
        fund(w3, deployer_key, address_of(key), FUNDING_WEI)

    # 1. The platform admits everyone, names its verifier and registers the residents.
    verifier_key = demo_key("platform verifier")
    partner_key = demo_key(f"partner {PARTNER_NAME} admin")
    platform_steps = [
        _step(deployer_key, consortium.setVerifier(address_of(verifier_key), True), "verifier")
    ]
    for (code, _), m in zip(DEMO_MUNICIPALITIES, municipalities, strict=True):
        platform_steps.append(
            _step(
                deployer_key,
                consortium.admitMunicipality(
                    code, address_of(m.admin_key), 365, 180, 7 * 86_400, True
                ),
                f"admit {code}",
            )
        )
    for _, name, _kinds in DEMO_BUSINESSES:
        admin = address_of(demo_key(f"business {name} admin"))
        platform_steps.append(
            _step(deployer_key, consortium.admitBusiness(name, admin), f"admit {name}")
        )
    platform_steps.append(
        _step(
            deployer_key,
            consortium.admitPartner(PARTNER_NAME, address_of(partner_key), 1, 1),
            "admit partner",
        )
    )
    for mykey_id, home in DEMO_RESIDENTS:
        platform_steps.append(
            _step(deployer_key, registry.register(mykey_id_bytes(mykey_id), int(home)), mykey_id)
        )
    receipts = send_batch(w3, platform_steps)
    events = [event for receipt in receipts for event in decode_logs(deployment, receipt["logs"])]
    business_ids = {
        e.args["admin"]: int(e.args["business"]) for e in events if e.name == "BusinessAdmitted"
    }
    (partner_id,) = [int(e.args["partner"]) for e in events if e.name == "PartnerAdmitted"]

    # 2. Every member registers its own terminals; municipalities choose accepting businesses.
    businesses: dict[str, DemoBusiness] = {}
    member_steps = []
    for m in municipalities:
        member_steps += [
            _step(
                m.admin_key,
                consortium.registerTerminal(
                    address_of(m.management_terminal_key), TerminalKind.GRANTING, True
                ),
                f"{m.code} management terminal",
            ),
            _step(
                m.admin_key,
                consortium.registerTerminal(
                    address_of(m.mobile_terminal_key), TerminalKind.GRANTING, False
                ),
                f"{m.code} mobile terminal",
            ),
            _step(
                m.admin_key,
                consortium.registerTerminal(
                    address_of(m.voucher_terminal_key), TerminalKind.VOUCHER_ISSUE, False
                ),
                f"{m.code} voucher terminal",
            ),
        ]
    for short, name, kinds in DEMO_BUSINESSES:
        admin_key = demo_key(f"business {name} admin")
        keys = {kind: demo_key(f"business {name} terminal {kind.name}") for kind in kinds}
        businesses[short] = DemoBusiness(business_ids[address_of(admin_key)], name, admin_key, keys)
        member_steps += [
            _step(
                admin_key,
                consortium.registerTerminal(address_of(key), int(kind), False),
                f"{name} {kind.name}",
            )
            for kind, key in keys.items()
        ]
    kawasaki, toshima = municipalities
    acceptance = [
        (kawasaki, "library", uses_mask(Use.FACILITY)),
        (kawasaki, "museum", uses_mask(Use.FACILITY, Use.TOURISM)),
        (kawasaki, "store", uses_mask(Use.LOCAL_STORE, Use.ONLINE_PURCHASE)),
        (toshima, "store", uses_mask(Use.LOCAL_STORE, Use.ONLINE_PURCHASE)),
    ]
    member_steps += [
        _step(
            m.admin_key,
            consortium.setBusinessAcceptance(int(m.code), businesses[short].business_id, uses),
            f"{m.code} accepts {short}",
        )
        for m, short, uses in acceptance
    ]
    send_batch(w3, member_steps)

    # 3. The deck's example balances (row A01) and one conversion waiting in reserve.
    if with_points:
        zero = b"\x00" * 32
        send_batch(
            w3,
            [
                _step(
                    kawasaki.management_terminal_key,
                    ledger.grant(
                        b"DEMOA001", int(kawasaki.code), 0, 4_000, ACTIVITY_VOLUNTEERING, zero
                    ),
                    "grant DEMOA001 14130",
                ),
                _step(
                    toshima.management_terminal_key,
                    ledger.grant(
                        b"DEMOA001", int(toshima.code), 0, 5_000, ACTIVITY_EVENT_PARTICIPATION, zero
                    ),
                    "grant DEMOA001 13116",
                ),
                _step(
                    toshima.mobile_terminal_key,
                    ledger.grant(
                        b"DEMOB002", int(toshima.code), 0, 500, ACTIVITY_HEALTH_WALK, zero
                    ),
                    "grant DEMOB002 13116",
                ),
                _step(partner_key, ledger.convert(b"DEMOC003", 1_000, zero), "convert DEMOC003"),
            ],
        )
    return DemoConsortium(
        deployment=deployment,
        platform_key=deployer_key,
        verifier_key=verifier_key,
        municipalities={m.code: m for m in municipalities},
        businesses=businesses,
        partner=DemoPartner(partner_id=partner_id, name=PARTNER_NAME, admin_key=partner_key),
        residents={mykey_id: MunicipalityCode(int(home)) for mykey_id, home in DEMO_RESIDENTS},
    )
