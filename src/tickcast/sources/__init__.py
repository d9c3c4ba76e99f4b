"""Market-data sources; the simulated exchange is the embedded default."""

from tickcast.sources.base import EventSink, PrimedSource, Source
from tickcast.sources.simulator import CALM_RATE, STRESS_RATE, Simulator

__all__ = ["CALM_RATE", "STRESS_RATE", "EventSink", "PrimedSource", "Simulator", "Source"]
