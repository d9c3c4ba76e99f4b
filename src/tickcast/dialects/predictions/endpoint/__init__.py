"""The prediction service's I/O: ``/ws`` (``ws``), live prediction streams (``live``), the
model routes (``models``) and the service (``service``); ``dialect`` mounts it."""

from tickcast.dialects.predictions.endpoint.mount import dialect

__all__ = ["dialect"]
