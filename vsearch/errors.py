"""Exceptions raised by the vsearch library. The CLI turns them into messages and exit codes."""


class VsearchError(Exception):
    """Base class: every error the library raises on purpose."""


class UnknownModelError(VsearchError):
    """A model name that the registry cannot resolve."""


class ModelUnavailableError(VsearchError):
    """A known model whose weights cannot be had here (no network, missing package)."""


class CheckpointError(VsearchError):
    """A checkpoint file that is missing, damaged or not written by vsearch."""


class CollectionNotFoundError(VsearchError):
    """No collection by that name under the index home."""


class AmbiguousCollectionError(VsearchError):
    """Several collections exist and none was named."""


class CollectionFormatError(VsearchError):
    """A collection on disk that is damaged or of an unsupported format version."""


class ManifestDamagedError(CollectionFormatError):
    """A manifest.json that cannot be read or holds what no vsearch writes (a path where a file
    name belongs, a word where a number belongs): `vsearch reindex` rebuilds it."""


class ModelMismatchError(VsearchError):
    """A query or ingest with a model other than the one the collection was built with."""


class QueryError(VsearchError):
    """A query that cannot be run as given (bad --where, unknown id, empty text corpus…)."""


class NothingIngestedError(VsearchError):
    """An ingest that found no image it could read."""


class InvalidOptionError(VsearchError):
    """An option value that cannot work (unknown index kind, k < 1, …), refused before any work."""


class StorageError(VsearchError):
    """Writing a collection failed (disk full, read-only or permission denied); the previous
    generation is intact."""


class ImageError(VsearchError):
    """A file that cannot be read or decoded as an image; `reason` is the short why a user reads."""

    def __init__(self, reason: str, path: str | None = None):
        super().__init__(reason)
        self.reason, self.path = reason, path

    def __str__(self) -> str:
        return f"cannot read image {self.path}: {self.reason}" if self.path else self.reason
