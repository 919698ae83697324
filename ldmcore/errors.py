"""Errors a user can cause. Each carries a one-line message naming the path, file or key.

The CLI prints ``str(error)`` and exits 2; the Python API raises the same object.
"""


class LdmError(Exception):
    """Base of every error ldmcore raises on purpose."""


class SpecError(LdmError):
    """A graph spec is malformed, invalid, or its ports do not fit together."""


class PluginError(LdmError):
    """A plugin failed to load or registered something invalid."""


class CheckpointError(LdmError):
    """A checkpoint is missing, corrupt, unsafe, or does not match the model."""


class DataError(LdmError):
    """A dataset or batch is missing, empty, unreadable or lacks a key."""


class SamplingError(LdmError):
    """Sampling arguments are out of range (steps, eta, strength, mask shape...)."""
