"""The errors of model lookup and model checks (both ``ValueError`` subclasses)."""
from __future__ import annotations


class ModelError(ValueError):
    """A model file is missing or does not match what the pipeline expects."""


class ModelNotFoundError(ModelError, FileNotFoundError):
    """A model file could not be found (also a ``FileNotFoundError``)."""
