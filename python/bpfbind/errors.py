"""The exceptions bpfbind raises: an OSError hierarchy that keeps errno and names the
bpf(2) command that failed; a verifier rejection carries the whole verifier log."""

from __future__ import annotations

__all__ = [
    "BindMapUnsupported",
    "BpfError",
    "BpfNotFoundError",
    "BpfPermissionError",
    "CoreRelocationError",
    "InvalidArgumentError",
    "ObjectFormatError",
    "ReadOnlyError",
    "UnsupportedFeatureError",
    "VerifierError",
]


class BpfError(OSError):
    """A bpf(2) command failed. ``errno`` is the kernel's answer, ``command`` the
    command (``"BPF_PROG_LOAD"``, ...) or None."""

    command: str | None = None


class BpfPermissionError(BpfError, PermissionError):
    """EPERM/EACCES: bpf(2) needs root or CAP_BPF (plus CAP_PERFMON/CAP_NET_ADMIN)."""


class BpfNotFoundError(BpfError, FileNotFoundError):
    """No program, map or pin by that id or path."""


class VerifierError(BpfError):
    """The verifier rejected a program; ``log`` is its whole log."""

    program: str = ""
    log: str = ""


class ObjectFormatError(BpfError):
    """The object file is malformed; ``section`` and ``offset`` say where."""

    section: str = ""
    offset: int = 0


class BindMapUnsupported(BpfError):
    """The kernel has no BPF_PROG_BIND_MAP (Linux before 5.10)."""


class UnsupportedFeatureError(BpfError):
    """A valid object uses something bpfbind cannot load yet; ``feature`` names it."""

    feature: str = ""


class CoreRelocationError(BpfError):
    """A CO-RE relocation could not be applied against the target BTF (libbpf refuses
    the same object); ``program`` names the program."""

    program: str = ""


class InvalidArgumentError(BpfError, ValueError):
    """A call that does not make sense (an fd that is not a program, a key of the wrong
    size): ``errno`` EINVAL; also a ValueError."""


class ReadOnlyError(AttributeError):
    """A write to a skeleton view that cannot change: a frozen map after load, or
    metadata. An AttributeError (assignment refused), the one error that is not an
    OSError: Python forbids a class that is both."""
