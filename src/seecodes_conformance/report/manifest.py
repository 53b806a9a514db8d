"""The certification bundle: SHA-256 of every report file and of the served /openapi.json.

``manifest.json`` lists the digests; with ``--signing-key`` it is signed into ``manifest.sig``:
an Ed25519 private key (PEM) gives a signature anyone can check with the public key printed in
the .sig file (compare it with the vendor's published key); any other key file is an HMAC-SHA256
secret, checkable by whoever holds the same secret. Check a bundle with::

    python -m seecodes_conformance.report.manifest REPORT_DIR [--key PUBLIC_KEY_PEM_OR_SECRET]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import sys
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
SCHEMA = "seecodes-manifest/1"


class SigningKeyError(ValueError):
    """The signing key cannot be used; the message never contains key material."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def bundle_files(run_dir: Path) -> list[Path]:
    """Every file the manifest covers: all files of the folder except the manifest itself."""
    skip = {MANIFEST, SIGNATURE}
    return sorted(p for p in run_dir.rglob("*") if p.is_file() and p.name not in skip)


def build(run_dir: Path, facts: dict[str, Any]) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "algorithm": "sha256",
        **facts,
        "files": {p.relative_to(run_dir).as_posix(): sha256_file(p) for p in bundle_files(run_dir)},
    }


def _load_key(path: Path) -> tuple[str, Any]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SigningKeyError(f"cannot read the signing key {path}: {exc.strerror}") from None
    if b"-----BEGIN" in data and b"PRIVATE KEY-----" in data:
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as exc:
            raise SigningKeyError(f"the signing key {path} is not a usable PEM key: "
                                  f"{type(exc).__name__}") from None  # fmt: skip
        if not isinstance(key, Ed25519PrivateKey):
            raise SigningKeyError(f"the signing key {path} must be Ed25519 (or an HMAC secret)")
        return "ed25519", key
    secret = data.strip()
    if len(secret) < 16:
        raise SigningKeyError(f"the HMAC secret in {path} is shorter than 16 bytes")
    return "hmac-sha256", secret


def check_key(key_path: Path) -> None:
    """Fail early (at start-up, not after the run) on a key that cannot sign."""
    _load_key(key_path)


def sign(manifest_bytes: bytes, key_path: Path) -> dict[str, str]:
    kind, key = _load_key(key_path)
    if kind == "ed25519":
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return {
            "algorithm": kind,
            "signature": base64.b64encode(key.sign(manifest_bytes)).decode(),
            "public_key": public.decode(),
        }
    mac = hmac.new(key, manifest_bytes, hashlib.sha256).digest()
    return {"algorithm": kind, "signature": base64.b64encode(mac).decode()}


def write(run_dir: Path, facts: dict[str, Any], key_path: Path | None) -> list[Path]:
    manifest_bytes = (json.dumps(build(run_dir, facts), indent=2) + "\n").encode()
    (run_dir / MANIFEST).write_bytes(manifest_bytes)
    written = [run_dir / MANIFEST]
    if key_path is not None:
        signature = sign(manifest_bytes, key_path)
        (run_dir / SIGNATURE).write_text(json.dumps(signature, indent=2) + "\n", "utf-8")
        written.append(run_dir / SIGNATURE)
    return written


def _check_signature(run_dir: Path, manifest_bytes: bytes, key: Path | None) -> list[str]:
    sig_path = run_dir / SIGNATURE
    if not sig_path.is_file():
        return [] if key is None else ["a key was given but the bundle is not signed"]
    sig = json.loads(sig_path.read_text("utf-8"))
    signature = base64.b64decode(sig.get("signature", ""))
    if sig.get("algorithm") == "ed25519":
        pem = sig.get("public_key", "").encode()
        if key is not None and key.read_bytes().strip() != pem.strip():
            return ["the bundle was signed with a different Ed25519 key than the one given"]
        public = serialization.load_pem_public_key(pem)
        if not isinstance(public, Ed25519PublicKey):
            return ["manifest.sig: the public key is not Ed25519"]
        try:
            public.verify(signature, manifest_bytes)
        except InvalidSignature:
            return ["manifest.sig: the signature does not match manifest.json"]
        return []
    if sig.get("algorithm") == "hmac-sha256":
        if key is None:
            return ["an HMAC-signed bundle needs --key (the shared secret) to be checked"]
        expected = hmac.new(key.read_bytes().strip(), manifest_bytes, hashlib.sha256).digest()
        return (
            []
            if hmac.compare_digest(expected, signature)
            else ["manifest.sig: the HMAC does not match manifest.json (or the secret differs)"]
        )
    return [f"manifest.sig: unknown algorithm {sig.get('algorithm')!r}"]


def verify(run_dir: Path, key: Path | None = None) -> list[str]:
    """Problems with a bundle (empty: every digest and the signature check out)."""
    manifest_path = run_dir / MANIFEST
    if not manifest_path.is_file():
        return [f"{run_dir} has no {MANIFEST}"]
    manifest_bytes = manifest_path.read_bytes()
    listed: dict[str, str] = json.loads(manifest_bytes).get("files", {})
    problems = []
    present = {p.relative_to(run_dir).as_posix() for p in bundle_files(run_dir)}
    for name in sorted(present - set(listed)):
        problems.append(f"{name} is not in the manifest")
    for name, digest in sorted(listed.items()):
        path = run_dir / name
        if not path.is_file():
            problems.append(f"{name} is missing")
        elif sha256_file(path) != digest:
            problems.append(f"{name} was changed (SHA-256 differs)")
    return problems + _check_signature(run_dir, manifest_bytes, key)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check a SeeCodes certification bundle.")
    parser.add_argument("report_dir", type=Path)
    parser.add_argument("--key", type=Path, help="trusted Ed25519 public key PEM, or HMAC secret")
    args = parser.parse_args(argv)
    problems = verify(args.report_dir, args.key)
    for problem in problems:
        print(f"- {problem}")
    if not problems:
        print(f"{args.report_dir}: every digest and the signature check out")
        if args.key is None and (args.report_dir / SIGNATURE).is_file():
            print(
                "note: checked with the public key inside the bundle; pass --key to check "
                "that it is the vendor's published key"
            )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
