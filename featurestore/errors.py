"""Errors raised by the feature store; each names the group and, where there is one, the column."""


class FeatureStoreError(Exception):
    """Base class of every error the feature store raises on purpose."""


class SpecError(FeatureStoreError, ValueError):
    """A feature group, source or training-set spec is invalid."""


class SchemaMismatchError(FeatureStoreError, ValueError):
    """Data handed to the store does not match the group's declared schema; nothing was written."""


class DataValidationError(FeatureStoreError, ValueError):
    """Data handed to the store breaks a rule (null key, duplicate key and time, ...); nothing was written."""


class InvalidKeyError(DataValidationError):
    """An entity key (in a lookup or a delete) is missing or not of the group's key type; nothing coerced."""
