"""Model packages: manifest schema, loading with sha256 verification, writing."""

from edge_inspect.model.manifest import Manifest
from edge_inspect.model.package import ModelPackage, load_package, write_manifest

__all__ = ["Manifest", "ModelPackage", "load_package", "write_manifest"]
