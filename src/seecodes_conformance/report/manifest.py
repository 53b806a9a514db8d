"""The certification bundle: SHA-256 of every report file and of the served /openapi.json.

``manifest.json`` lists the digests; with ``--signing-key`` it is signed into ``manifest.sig``:
an Ed25519 private key (PEM) gives a signature anyone can check with the public key printed in
the .sig file (compare it with the vendor's published key); any other key file is an HMAC-SHA256
secret, checkable by whoever holds the same secret. Check a bundle with::

    python -m seecodes_conformance.report.manifest REPORT_DIR [--key PUBLIC_KEY_PEM_OR_SECRET]

and print the public key to publish (or to check with) from the signing key with::

    python -m seecodes_conformance.report.manifest --public-key SIGNING_KEY_PEM > public.pem

The checker says when a bundle is unsigned, and tells a private key given where the public key
belongs (with whether its public half matches) from a key that is simply not the signer's.
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
    if b"-----BEGIN" in data and b"PUBLIC KEY-----" in data:
        raise SigningKeyError(
            f"the signing key {path} is a public key: signing needs the Ed25519 private key "
            "(the public key is what checkers use)"
        )
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


def public_key_pem(private_key_path: Path) -> str:
    """The public half of an Ed25519 signing key, as the PEM a checker passes to --key."""
    kind, key = _load_key(private_key_path)
    if kind != "ed25519":
        raise SigningKeyError(
            f"{private_key_path} is not an Ed25519 private key (an HMAC secret has no public half)"
        )
    return _public_pem(key.public_key())


def _public_pem(public: Ed25519PublicKey) -> str:
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def signature_algorithm(run_dir: Path) -> str | None:
    """How the bundle is signed ("ed25519", "hmac-sha256"), None when it is unsigned."""
    sig_path = run_dir / SIGNATURE
    if not sig_path.is_file():
        return None
    try:
        return str(json.loads(sig_path.read_text("utf-8")).get("algorithm"))
    except (ValueError, AttributeError):
        return "unreadable"


def _given_public_key(key: Path, signer: Ed25519PublicKey) -> str | None:
    """Why ``key`` cannot check an Ed25519 signature by ``signer``, or None when it is the
    signer's public key. A private key is told apart from a wrong key."""
    data = key.read_bytes()
    raw = signer.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    if b"PRIVATE KEY-----" in data:
        try:
            private = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError):
            return f"--key {key} is a private key (not a usable one); pass the public key"
        if not isinstance(private, Ed25519PrivateKey):
            return f"--key {key} is a private key, and not an Ed25519 one; pass the public key"
        mine = private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        half = "matches" if mine == raw else "does not match"
        return (
            f"--key {key} is a private key, not the public key: print its public half with "
            f"`python -m seecodes_conformance.report.manifest --public-key {key}` and pass that "
            f"(its public half {half} the key that signed this bundle)"
        )
    try:
        public = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        return (
            f"--key {key} is not a PEM public key; this bundle is signed with Ed25519 and is "
            "checked with the signer's public key"
        )
    if not isinstance(public, Ed25519PublicKey):
        return f"--key {key} is a public key but not an Ed25519 one"
    given = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    if not hmac.compare_digest(given, raw):
        return f"the bundle was signed with a different Ed25519 key than --key {key}"
    return None


def _check_signature(run_dir: Path, manifest_bytes: bytes, key: Path | None) -> list[str]:
    sig_path = run_dir / SIGNATURE
    if key is not None and not key.is_file():
        return [f"--key {key}: no such file"]
    if not sig_path.is_file():
        unsigned = f"the bundle is unsigned (no {SIGNATURE}): there is no signature to check"
        return [] if key is None else [unsigned + " with --key"]
    sig = json.loads(sig_path.read_text("utf-8"))
    signature = base64.b64decode(sig.get("signature", ""))
    if sig.get("algorithm") == "ed25519":
        pem = sig.get("public_key", "").encode()
        public = serialization.load_pem_public_key(pem)
        if not isinstance(public, Ed25519PublicKey):
            return ["manifest.sig: the public key is not Ed25519"]
        if key is not None:
            wrong = _given_public_key(key, public)
            if wrong:
                return [wrong]
        try:
            public.verify(signature, manifest_bytes)
        except InvalidSignature:
            return ["manifest.sig: the signature does not match manifest.json"]
        return []
    if sig.get("algorithm") == "hmac-sha256":
        if key is None:
            return ["an HMAC-signed bundle needs --key (the shared secret) to be checked"]
        if b"-----BEGIN" in key.read_bytes():
            return [
                f"the bundle is HMAC-signed: --key must be the shared secret, not the PEM {key}"
            ]
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
    parser.add_argument("report_dir", type=Path, nargs="?", help="the run's report folder")
    parser.add_argument("--key", type=Path, help="trusted Ed25519 public key PEM, or HMAC secret")
    parser.add_argument(
        "--public-key",
        type=Path,
        metavar="SIGNING_KEY",
        help="print the public key (PEM) of an Ed25519 signing key and exit",
    )
    args = parser.parse_args(argv)
    if args.public_key is not None:
        try:
            print(public_key_pem(args.public_key), end="")
        except SigningKeyError as exc:
            print(f"- {exc}", file=sys.stderr)
            return 1
        return 0
    if args.report_dir is None:
        parser.error("give the report folder to check (or --public-key SIGNING_KEY)")
    problems = verify(args.report_dir, args.key)
    for problem in problems:
        print(f"- {problem}")
    if problems:
        return 1
    algorithm = signature_algorithm(args.report_dir)
    if algorithm is None:
        print(
            f"{args.report_dir}: every digest checks out, but the bundle is unsigned (no "
            f"{SIGNATURE}): it does not show who wrote it"
        )
    else:
        print(f"{args.report_dir}: every digest and the {algorithm} signature check out")
        if args.key is None:
            print(
                "note: checked with the public key inside the bundle; pass --key to check "
                "that it is the vendor's published key"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
