"""The control plane: REST endpoints described by the OpenAPI document."""
