"""Load a model package folder: parse the manifest, verify every file's sha256, pick the artifact."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from edge_inspect.errors import ModelPackageError
from edge_inspect.model.manifest import MANIFEST_NAME, Artifact, Manifest
from edge_inspect.types import ModelIdentity

_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def hash_tree(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` except the manifest, keyed by POSIX relative path."""
    return {
        p.relative_to(root).as_posix(): sha256_file(p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != MANIFEST_NAME and "__pycache__" not in p.parts
    }


@dataclass(frozen=True)
class ModelPackage:
    root: Path
    manifest: Manifest

    def artifact(self, variant: str | None = None) -> tuple[str, Artifact]:
        name = variant or self.manifest.default_variant
        try:
            return name, self.manifest.artifacts[name]
        except KeyError:
            raise ModelPackageError(
                f"{self.root / MANIFEST_NAME}: no artifact {name!r}; "
                f"the package has {sorted(self.manifest.artifacts)}"
            ) from None

    def artifact_path(self, variant: str | None = None) -> Path:
        return self.root / self.artifact(variant)[1].path

    def identity(self, variant: str | None = None) -> ModelIdentity:
        name, art = self.artifact(variant)
        return ModelIdentity(
            name=self.manifest.name,
            version=self.manifest.version,
            sha256=self.manifest.files[art.path],
            variant=name,
        )


def read_manifest(root: Path) -> Manifest:
    path = root / MANIFEST_NAME
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelPackageError(f"{root}: not a model package (no {MANIFEST_NAME})") from None
    except (OSError, yaml.YAMLError) as exc:
        raise ModelPackageError(f"{path}: cannot read: {exc}") from exc
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        lines = []
        for error in exc.errors(include_url=False):
            where = ".".join(map(str, error["loc"]))
            message = str(error["msg"]).removeprefix("Value error, ")
            lines.append(f"{path}: {where}: {message}" if where else f"{path}: {message}")
        raise ModelPackageError("\n".join(lines)) from exc


def load_package(root: str | Path, *, verify: bool = True) -> ModelPackage:
    """Load the package at ``root``; with ``verify``, refuse one whose files do not match their sha256."""
    root = Path(root)
    if not root.is_dir():
        raise ModelPackageError(f"{root}: model package folder not found")
    manifest = read_manifest(root)
    real_root = root.resolve()
    for rel in manifest.files:
        resolved = (root / rel).resolve()
        if not resolved.is_relative_to(real_root):
            raise ModelPackageError(
                f"{root / rel}: lies outside the package folder ({resolved}); every file the engine reads "
                "must be inside the package and hashed"
            )
    if verify:
        for rel, expected in sorted(manifest.files.items()):
            path = root / rel
            if not path.is_file():
                raise ModelPackageError(f"{path}: listed in {MANIFEST_NAME} but missing")
            actual = sha256_file(path)
            if actual != expected:
                raise ModelPackageError(
                    f"{path}: sha256 mismatch (manifest {expected[:12]}..., file {actual[:12]}...): "
                    "the package was modified or corrupted; refusing to load it"
                )
    return ModelPackage(root=root, manifest=manifest)


def write_manifest(root: Path, manifest_data: dict[str, Any]) -> Manifest:
    """Validate ``manifest_data`` with fresh hashes of ``root``'s files and write ``manifest.yaml``."""
    data = dict(manifest_data)
    data["files"] = hash_tree(root)
    manifest = Manifest.model_validate(data)
    text = yaml.safe_dump(manifest.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
    (root / MANIFEST_NAME).write_text(text, encoding="utf-8")
    return manifest
