"""Accounts, margins and ledger movements derived from positions (the Vega dialect's documented
account model, docs/dialects/vega.md#the-account-model). Pure.

A pipeline stage at ``Step.DERIVE``, and only while somebody needs it: the balances depend on
each (party, market)'s latest position alone (GENERAL = deposit + realised PnL - margin, MARGIN =
the initial margin of the latest position, SETTLEMENT = - the realised PnL of the market), so
``activate()`` rebuilds them from the positions the state keeper holds, and while inactive a
``Position`` event costs nothing here. While active, each position change yields an
:class:`~tickcast.dialects.vega.wire.accounts.AccountUpdate` (margin levels, the two accounts, the
ledger transfers) in ``updates``, in event order, for the dialect to encode.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from tickcast.dialects.vega.wire.accounts import (
    ACCOUNT_GENERAL,
    ACCOUNT_MARGIN,
    ACCOUNT_SETTLEMENT,
    DEPOSIT,
    NETWORK_OWNER,
    TRANSFER_MARGIN_HIGH,
    TRANSFER_MARGIN_LOW,
    TRANSFER_MTM_LOSS,
    TRANSFER_MTM_WIN,
    Account,
    AccountUpdate,
    Transfer,
    maintenance_margin,
    to_asset,
)
from tickcast.model import Envelope, Market, Position, StreamKey, StreamKind
from tickcast.state.keeper import StateKeeper


class Accounts:
    """Balances of every party, driven by ``Position`` events while active."""

    def __init__(
        self, keeper: StateKeeper, markets: Mapping[str, Market], parties: Iterable[str]
    ) -> None:
        self._keeper = keeper
        self._markets = markets
        """By tickcast id (shared with the caller: markets added later are seen)."""
        self._parties = list(parties)
        self._assets = sorted({market.quote for market in markets.values()})
        self.active = False
        self.updates: list[AccountUpdate] = []
        """What the last batch's position changes produced, in order (while active)."""
        self._general: dict[tuple[str, str], int] = {}
        self._margin: dict[tuple[str, str], int] = {}
        self._realised: dict[tuple[str, str], int] = {}
        self._settlement: dict[str, int] = {}

    def activate(self) -> None:
        """Start keeping balances: rebuilt from the latest position of each (party, market)."""
        if self.active:
            return
        self._reset()
        self.active = True
        for market in list(self._markets.values()):
            snapshot = self._keeper.snapshot(str(StreamKey(StreamKind.POSITIONS, market.id)))
            for event in snapshot.events if snapshot is not None else ():
                if isinstance(event, Position):
                    self.apply(market, event)

    def deactivate(self) -> None:
        """Nobody needs the balances any more: forget them (``activate`` rebuilds them)."""
        self.active = False
        self._reset()
        self._general = {}

    def _reset(self) -> None:
        self._general = {
            (party, asset): DEPOSIT for party in self._parties for asset in self._assets
        }
        self._margin = {}
        self._realised = {}
        self._settlement = {}
        self.updates = []

    def __call__(self, envelopes: Sequence[Envelope]) -> None:
        """The pipeline stage."""
        if not self.active:
            return
        updates: list[AccountUpdate] = []
        for envelope in envelopes:
            event = envelope.event
            if isinstance(event, Position):
                market = self._markets.get(event.market)
                if market is not None:
                    updates.append(self.apply(market, event))
        self.updates = updates

    def accounts(self) -> list[Account]:
        """Every GENERAL and MARGIN account (the accounts snapshot)."""
        out = [
            Account(party, asset, "", ACCOUNT_GENERAL, balance)
            for (party, asset), balance in self._general.items()
        ]
        for (party, market_id), balance in self._margin.items():
            asset = self._markets[market_id].quote
            out.append(Account(party, asset, market_id, ACCOUNT_MARGIN, balance))
        return out

    def apply(self, market: Market, event: Position) -> AccountUpdate:
        party, asset = event.party, market.quote
        key = (party, market.id)
        maintenance = maintenance_margin(market, event.open_volume, event.mark_price)
        update = AccountUpdate(party, market, maintenance, event.time_ns)
        initial = update.initial
        general_key = (party, asset)
        general = self._general.setdefault(general_key, DEPOSIT)
        margin_before = self._margin.get(key, 0)
        realised = to_asset(event.realised_pnl, market)
        pnl = realised - self._realised.get(key, 0)
        self._realised[key] = realised
        settlement = self._settlement.get(market.id, 0)
        general_account = Account(party, asset, "", ACCOUNT_GENERAL, general)
        if pnl:
            general, settlement = self._settle(update, general_account, pnl, settlement)
        margin_account = Account(party, asset, market.id, ACCOUNT_MARGIN, margin_before)
        delta = initial - margin_before
        if delta:
            general -= delta
            low = delta > 0
            update.transfers.append(
                Transfer(
                    *((general_account, margin_account) if low else
                      (margin_account, general_account)),
                    abs(delta),
                    TRANSFER_MARGIN_LOW if low else TRANSFER_MARGIN_HIGH,
                    event.time_ns,
                    general if low else initial,
                    initial if low else general,
                )
            )  # fmt: skip
        self._general[general_key] = general
        self._margin[key] = initial
        self._settlement[market.id] = settlement
        update.accounts = [
            Account(party, asset, "", ACCOUNT_GENERAL, general),
            Account(party, asset, market.id, ACCOUNT_MARGIN, initial),
        ]
        return update

    @staticmethod
    def _settle(
        update: AccountUpdate, general_account: Account, pnl: int, settlement: int
    ) -> tuple[int, int]:
        """Realised PnL moves between the market's SETTLEMENT and the party's GENERAL account;
        returns both balances after."""
        market, asset, time_ns = update.market, update.market.quote, update.time_ns
        general = general_account.balance + pnl
        settlement -= pnl
        settlement_account = Account(NETWORK_OWNER, asset, market.id, ACCOUNT_SETTLEMENT, 0)
        win = pnl > 0
        update.transfers.append(
            Transfer(
                *((settlement_account, general_account) if win else
                  (general_account, settlement_account)),
                abs(pnl),
                TRANSFER_MTM_WIN if win else TRANSFER_MTM_LOSS,
                time_ns,
                settlement if win else general,
                general if win else settlement,
            )
        )  # fmt: skip
        update.settlement = Account(NETWORK_OWNER, asset, market.id, ACCOUNT_SETTLEMENT, settlement)
        return general, settlement
