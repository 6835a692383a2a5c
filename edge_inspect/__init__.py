"""edge-inspect: an edge inspection daemon for AOI cameras."""

__version__ = "0.1.0"

__all__ = ["__version__"]
