"""The registry's error type."""

from __future__ import annotations


class RegistryError(RuntimeError):
    """A registry operation cannot proceed; the message names the model/version and the fix."""
