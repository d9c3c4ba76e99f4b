"""The documented account model behind accounts, margin levels and ledger movements.

The simulator has positions but no collateral, so the Vega dialect derives them:

* every party starts with a GENERAL account per settlement asset (each market's quote asset,
  e.g. ``usdt``) holding :data:`DEPOSIT` (1,000,000 units) in :data:`ASSET_DECIMALS` decimals;
* margin levels of a position: maintenance = 10 % of ``|open volume| × mark price``; search
  level 1.1×, initial margin 1.2×, collateral release 1.4× the maintenance margin;
* the MARGIN account of (party, market) holds the initial margin; each change of it moves
  funds between the party's GENERAL and MARGIN accounts (TRANSFER_TYPE_MARGIN_LOW when the
  margin grows, MARGIN_HIGH when it is released);
* realised PnL moves between the market's SETTLEMENT account and the party's GENERAL account
  (TRANSFER_TYPE_MTM_WIN / MTM_LOSS). GENERAL = DEPOSIT + realised PnL − margin.

Pure: fed with ``Position`` events, it returns the messages to stream.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tickcast.dialects.vega.wire.ids import asset_hex, market_hex
from tickcast.dialects.vega.wire.jsonpb import I64, Enum, Message
from tickcast.model import Market, Position
from tickcast.model.numbers import rescale

ASSET_DECIMALS = 6
DEPOSIT = 1_000_000 * 10**ASSET_DECIMALS
MAINTENANCE_PERCENT = 10

ACCOUNT_SETTLEMENT = Enum(2, "ACCOUNT_TYPE_SETTLEMENT")
ACCOUNT_MARGIN = Enum(3, "ACCOUNT_TYPE_MARGIN")
ACCOUNT_GENERAL = Enum(4, "ACCOUNT_TYPE_GENERAL")
ACCOUNT_TYPES: dict[str, int] = {
    "ACCOUNT_TYPE_UNSPECIFIED": 0,
    "ACCOUNT_TYPE_INSURANCE": 1,
    "ACCOUNT_TYPE_SETTLEMENT": 2,
    "ACCOUNT_TYPE_MARGIN": 3,
    "ACCOUNT_TYPE_GENERAL": 4,
    "ACCOUNT_TYPE_FEES_INFRASTRUCTURE": 5,
    "ACCOUNT_TYPE_FEES_LIQUIDITY": 6,
    "ACCOUNT_TYPE_FEES_MAKER": 7,
    "ACCOUNT_TYPE_BOND": 9,
    "ACCOUNT_TYPE_EXTERNAL": 10,
    "ACCOUNT_TYPE_GLOBAL_INSURANCE": 11,
    "ACCOUNT_TYPE_GLOBAL_REWARD": 12,
    "ACCOUNT_TYPE_PENDING_TRANSFERS": 13,
}
TRANSFER_MTM_LOSS = Enum(4, "TRANSFER_TYPE_MTM_LOSS")
TRANSFER_MTM_WIN = Enum(5, "TRANSFER_TYPE_MTM_WIN")
TRANSFER_MARGIN_LOW = Enum(6, "TRANSFER_TYPE_MARGIN_LOW")
TRANSFER_MARGIN_HIGH = Enum(7, "TRANSFER_TYPE_MARGIN_HIGH")
MARGIN_MODE_CROSS = Enum(1, "MARGIN_MODE_CROSS_MARGIN")
NETWORK_OWNER = "network"
"""Owner of market-level accounts (SETTLEMENT), as the data-node names system accounts."""


@dataclass(frozen=True, slots=True)
class Account:
    """One account and its balance; ``market`` is the tickcast id ("" for GENERAL)."""

    owner: str
    asset: str
    market: str
    type: Enum
    balance: int

    def details(self) -> Message:
        """vega.AccountDetails."""
        return {
            "assetId": asset_hex(self.asset),
            "type": self.type,
            "owner": self.owner,
            "marketId": market_hex(self.market) if self.market else "",
        }

    def message(self) -> Message:
        """vega.AccountBalance."""
        return {
            "owner": self.owner,
            "balance": str(self.balance),
            "asset": asset_hex(self.asset),
            "marketId": market_hex(self.market) if self.market else "",
            "type": self.type,
        }


@dataclass(slots=True)
class AccountUpdate:
    """What one position change produced."""

    party: str
    market: Market
    margin_levels: Message
    accounts: list[Account] = field(default_factory=list)
    ledger: Message | None = None


def to_asset(amount: int, market: Market) -> int:
    """An amount in the market's price decimals, in the asset's decimals."""
    return rescale(amount, market.price_decimals, ASSET_DECIMALS)


def maintenance_margin(market: Market, open_volume: int, mark: int) -> int:
    """10 % of the position's notional at ``mark``, in asset decimals."""
    scale = market.price_decimals + market.size_decimals
    notional = rescale(abs(open_volume) * mark, scale, ASSET_DECIMALS)
    return notional * MAINTENANCE_PERCENT // 100


class AccountModel:
    """Balances of every party, driven by ``Position`` events."""

    def __init__(self, parties: list[str], assets: list[str]) -> None:
        self._general: dict[tuple[str, str], int] = {
            (party, asset): DEPOSIT for party in parties for asset in assets
        }
        self._margin: dict[tuple[str, str], int] = {}
        self._realised: dict[tuple[str, str], int] = {}
        self._settlement: dict[str, int] = {}

    def accounts(self, markets: dict[str, Market]) -> list[Account]:
        """Every GENERAL and MARGIN account (the accounts snapshot)."""
        out = [
            Account(party, asset, "", ACCOUNT_GENERAL, balance)
            for (party, asset), balance in self._general.items()
        ]
        for (party, market_id), balance in self._margin.items():
            asset = markets[market_id].quote
            out.append(Account(party, asset, market_id, ACCOUNT_MARGIN, balance))
        return out

    def apply(self, market: Market, event: Position) -> AccountUpdate:
        party, asset = event.party, market.quote
        key = (party, market.id)
        maintenance = maintenance_margin(market, event.open_volume, event.mark_price)
        initial = maintenance * 12 // 10
        levels: Message = {
            "maintenanceMargin": str(maintenance),
            "searchLevel": str(maintenance * 11 // 10),
            "initialMargin": str(initial),
            "collateralReleaseLevel": str(maintenance * 14 // 10),
            "partyId": party,
            "marketId": market_hex(market.id),
            "asset": asset_hex(asset),
            "timestamp": I64(event.time_ns),
            "marginMode": MARGIN_MODE_CROSS,
        }
        update = AccountUpdate(party, market, levels)
        general_key = (party, asset)
        general = self._general.setdefault(general_key, DEPOSIT)
        margin_before = self._margin.get(key, 0)
        realised = to_asset(event.realised_pnl, market)
        pnl = realised - self._realised.get(key, 0)
        self._realised[key] = realised
        settlement = self._settlement.get(market.id, 0)
        entries: list[Message] = []
        general_account = Account(party, asset, "", ACCOUNT_GENERAL, general)
        settlement_account = Account(NETWORK_OWNER, asset, market.id, ACCOUNT_SETTLEMENT, 0)
        if pnl:
            general += pnl
            settlement -= pnl
            win = pnl > 0
            source, target = (
                (settlement_account, general_account)
                if win
                else (general_account, settlement_account)
            )
            entries.append(
                _entry(
                    source,
                    target,
                    abs(pnl),
                    TRANSFER_MTM_WIN if win else TRANSFER_MTM_LOSS,
                    event.time_ns,
                    settlement if win else general,
                    general if win else settlement,
                )
            )
        margin_account = Account(party, asset, market.id, ACCOUNT_MARGIN, margin_before)
        delta = initial - margin_before
        if delta:
            general -= delta
            low = delta > 0
            source, target = (
                (general_account, margin_account) if low else (margin_account, general_account)
            )
            entries.append(
                _entry(
                    source,
                    target,
                    abs(delta),
                    TRANSFER_MARGIN_LOW if low else TRANSFER_MARGIN_HIGH,
                    event.time_ns,
                    general if low else initial,
                    initial if low else general,
                )
            )
        self._general[general_key] = general
        self._margin[key] = initial
        self._settlement[market.id] = settlement
        update.accounts = [
            Account(party, asset, "", ACCOUNT_GENERAL, general),
            Account(party, asset, market.id, ACCOUNT_MARGIN, initial),
        ]
        if entries:
            balances: list[Message] = [
                {"account": account.details(), "balance": str(account.balance)}
                for account in update.accounts
            ]
            if pnl:
                settled = Account(NETWORK_OWNER, asset, market.id, ACCOUNT_SETTLEMENT, settlement)
                balances.append({"account": settled.details(), "balance": str(settlement)})
            update.ledger = {"entries": entries, "balances": balances}
        return update


def _entry(
    source: Account,
    target: Account,
    amount: int,
    kind: Enum,
    time_ns: int,
    from_balance: int,
    to_balance: int,
) -> Message:
    """vega.LedgerEntry."""
    return {
        "fromAccount": source.details(),
        "toAccount": target.details(),
        "amount": str(amount),
        "type": kind,
        "timestamp": I64(time_ns),
        "fromAccountBalance": str(from_balance),
        "toAccountBalance": str(to_balance),
    }
