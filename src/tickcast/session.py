"""Sans-I/O state of one native connection: validates commands, enforces plan limits.

Text in (``receive_text``), outputs out (``outputs_to_send``): frames to queue, streams to attach
or detach, or a close. The server carries the outputs out; nothing here awaits.

Rules:
- every Subscribe is checked whole before anything is attached: one bad stream rejects it;
- a stream is attached at most once per connection; subscribing again replaces its view;
- a client over its command rate gets ``rate_limited`` errors and, past a hard limit, is closed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tickcast.auth.plans import Plan
from tickcast.clock import Clock
from tickcast.dialects.native.wire import protocol as native
from tickcast.errors import InvalidMessage, ProtocolError
from tickcast.model import FULL_VIEW, StreamKey, StreamPosition, View


@dataclass(frozen=True, slots=True)
class Attach:
    id: int | str
    streams: tuple[tuple[StreamKey, View, StreamPosition | native.TimeStart | None], ...]


@dataclass(frozen=True, slots=True)
class Detach:
    id: int | str
    streams: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Send:
    frame: bytes


@dataclass(frozen=True, slots=True)
class Close:
    code: int
    reason: str


Output = Attach | Detach | Send | Close


@dataclass(frozen=True, slots=True)
class RateLimit:
    """Token bucket for client commands."""

    per_second: float = 20.0
    burst: int = 50
    hard_limit: int = 200
    """Refused commands (since the bucket was last full) after which the connection closes."""

    @classmethod
    def for_plan(cls, plan: Plan) -> RateLimit:
        """The plan's ``requests_per_minute`` as a bucket with a burst of 10 s worth (min 20)."""
        per_second = plan.requests_per_minute / 60
        return cls(per_second=per_second, burst=max(20, round(per_second * 10)))


class Session:
    __slots__ = (
        "_clock",
        "_known",
        "_outputs",
        "_rate",
        "_refill_ns",
        "_refused",
        "_tokens",
        "closed",
        "plan",
        "subscriptions",
    )
    """Slotted, and no outputs list while none wait: one per idle connection
    (docs/performance.md, idle memory)."""

    def __init__(
        self,
        *,
        plan: Plan,
        known: Callable[[StreamKey], bool],
        clock: Clock,
        rate: RateLimit | None = None,
    ) -> None:
        self.plan = plan
        self._known = known
        self._clock = clock
        self._rate = rate or RateLimit.for_plan(plan)
        self._tokens = float(self._rate.burst)
        self._refill_ns = clock.monotonic_ns()
        self._refused = 0
        self.subscriptions: dict[str, View] = {}
        self._outputs: list[Output] | None = None
        self.closed = False

    def outputs_to_send(self) -> list[Output]:
        outputs, self._outputs = self._outputs, None
        return [] if outputs is None else outputs

    def _emit(self, output: Output) -> None:
        if self._outputs is None:
            self._outputs = [output]
        else:
            self._outputs.append(output)

    def receive_text(self, text: str | bytes) -> None:
        if self.closed:
            return
        if not self._take_token():
            return
        try:
            command = native.parse_command(text)
        except InvalidMessage as error:
            self._send(native.invalid_message_frame(error.message))
            return
        except ProtocolError as error:
            self._send(native.invalid_message_frame(error.message))
            return
        match command:
            case native.Ping():
                self._send(native.pong_frame(command.id))
            case native.Subscribe():
                self._subscribe(command)
            case native.Unsubscribe():
                self._unsubscribe(command)

    def _send(self, frame: bytes) -> None:
        self._emit(Send(frame))

    def _take_token(self) -> bool:
        now = self._clock.monotonic_ns()
        elapsed = (now - self._refill_ns) / 1e9
        self._refill_ns = now
        self._tokens = min(self._rate.burst, self._tokens + elapsed * self._rate.per_second)
        if self._tokens >= self._rate.burst:
            self._refused = 0  # quiet long enough to refill: forgive earlier refusals
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        self._refused += 1
        if self._refused >= self._rate.hard_limit:
            self.closed = True
            self._emit(Close(1008, "rate limit exceeded"))
        elif self._refused == 1 or self._refused % 10 == 0:
            self._send(native.error_frame(None, "rate_limited", "too many messages, slow down"))
        return False

    def _check(self, command: native.Subscribe) -> list[StreamKey] | None:
        keys: list[StreamKey] = []
        for text in command.streams:
            try:
                key = StreamKey.parse(text)
            except ValueError as error:
                self._refuse(command.id, "unknown_stream", f"{text[:200]}: {error}")
                return None
            if not self._known(key):
                self._refuse(command.id, "unknown_stream", f"unknown stream {text!r}")
                return None
            if not self.plan.allows_stream(key):
                message = f"plan {self.plan.name!r} does not include {text!r}"
                self._refuse(command.id, "not_entitled", message)
                return None
            keys.append(key)
        new = {str(key) for key in keys} - self.subscriptions.keys()
        if len(self.subscriptions) + len(new) > self.plan.max_subscriptions:
            limit = self.plan.max_subscriptions
            message = f"at most {limit} subscriptions per connection on plan {self.plan.name!r}"
            self._refuse(command.id, "subscription_limit", message)
            return None
        return keys

    def _refuse(self, id: int | str, code: str, message: str) -> None:
        self._send(native.error_frame(id, code, message))

    def _subscribe(self, command: native.Subscribe) -> None:
        keys = self._check(command)
        if keys is None:
            return
        full = command.depth is None and command.party is None
        view = FULL_VIEW if full else View(depth=command.depth, party=command.party)
        requests = []
        for key in keys:
            stream = str(key)
            self.subscriptions[stream] = view
            requests.append((key, view, command.resume.get(stream)))
        self._emit(Attach(command.id, tuple(requests)))

    def _unsubscribe(self, command: native.Unsubscribe) -> None:
        removed = tuple(s for s in command.streams if self.subscriptions.pop(s, None) is not None)
        self._emit(Detach(command.id, removed))
        self._send(native.unsubscribed_frame(command.id, removed))
