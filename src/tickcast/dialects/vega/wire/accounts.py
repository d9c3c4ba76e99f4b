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

This module holds the model's vocabulary and its vega.proto rendering; the balances themselves
are derived state, kept by ``tickcast.state.accounts.Accounts`` (a pipeline stage).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tickcast.dialects.vega.wire.ids import asset_hex, market_hex
from tickcast.dialects.vega.wire.jsonpb import I64, Enum, Message
from tickcast.model import Market
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


@dataclass(frozen=True, slots=True)
class Transfer:
    """One ledger entry: ``amount`` moved from ``source`` to ``target``."""

    source: Account
    target: Account
    amount: int
    kind: Enum
    time_ns: int
    from_balance: int
    to_balance: int

    def message(self) -> Message:
        """vega.LedgerEntry."""
        return {
            "fromAccount": self.source.details(),
            "toAccount": self.target.details(),
            "amount": str(self.amount),
            "type": self.kind,
            "timestamp": I64(self.time_ns),
            "fromAccountBalance": str(self.from_balance),
            "toAccountBalance": str(self.to_balance),
        }


@dataclass(slots=True)
class AccountUpdate:
    """What one position change produced."""

    party: str
    market: Market
    maintenance: int
    """Maintenance margin, in asset decimals."""
    time_ns: int
    accounts: list[Account] = field(default_factory=list)
    """The party's GENERAL and MARGIN accounts after the change."""
    transfers: list[Transfer] = field(default_factory=list)
    settlement: Account | None = None
    """The market's SETTLEMENT account, when PnL moved."""

    @property
    def initial(self) -> int:
        return self.maintenance * 12 // 10

    @property
    def margin_levels(self) -> Message:
        """vega.MarginLevels."""
        maintenance = self.maintenance
        return {
            "maintenanceMargin": str(maintenance),
            "searchLevel": str(maintenance * 11 // 10),
            "initialMargin": str(self.initial),
            "collateralReleaseLevel": str(maintenance * 14 // 10),
            "partyId": self.party,
            "marketId": market_hex(self.market.id),
            "asset": asset_hex(self.market.quote),
            "timestamp": I64(self.time_ns),
            "marginMode": MARGIN_MODE_CROSS,
        }

    @property
    def ledger(self) -> Message | None:
        """vega.LedgerMovement, or None when no funds moved."""
        if not self.transfers:
            return None
        balances: list[Message] = [
            {"account": account.details(), "balance": str(account.balance)}
            for account in self.accounts
        ]
        if self.settlement is not None:
            balances.append(
                {"account": self.settlement.details(), "balance": str(self.settlement.balance)}
            )
        return {"entries": [t.message() for t in self.transfers], "balances": balances}


def to_asset(amount: int, market: Market) -> int:
    """An amount in the market's price decimals, in the asset's decimals."""
    return rescale(amount, market.price_decimals, ASSET_DECIMALS)


def maintenance_margin(market: Market, open_volume: int, mark: int) -> int:
    """10 % of the position's notional at ``mark``, in asset decimals."""
    scale = market.price_decimals + market.size_decimals
    notional = rescale(abs(open_volume) * mark, scale, ASSET_DECIMALS)
    return notional * MAINTENANCE_PERCENT // 100
