"""The Ed25519 key that signs checkpoints.

The private key lives in a PEM file (``LEDGER_SIGNING_KEY``), created with mode
0600 on first start when absent. Keep it off the database host: whoever holds
both the database and this key can rewrite history and re-sign it.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)


def key_id(public_raw: bytes) -> str:
    """A short, stable name for a public key: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(public_raw).hexdigest()[:16]


@dataclass(frozen=True)
class Signer:
    private_key: Ed25519PrivateKey

    @property
    def public_raw(self) -> bytes:
        return raw_public(self.private_key.public_key())

    @property
    def public_pem(self) -> str:
        return (
            self.private_key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )

    @property
    def key_id(self) -> str:
        return key_id(self.public_raw)

    def sign(self, message: bytes) -> str:
        return self.private_key.sign(message).hex()


def load_or_create(path: str | os.PathLike[str]) -> Signer:
    """The signer whose private key is in ``path``, generating it if absent.
    Safe when several processes start at once (``uvicorn --workers``): the key
    is written to a private temporary file and published with ``link``, which
    fails if the file exists; the loser loads the winner's key, whole."""
    file = Path(path)
    if file.exists():
        return _load(file)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    file.parent.mkdir(parents=True, exist_ok=True)
    temporary = file.with_name(f".{file.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            os.write(descriptor, pem)
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        try:
            os.link(temporary, file)
        except FileExistsError:
            return _load(file)  # another process published its key first
    finally:
        temporary.unlink(missing_ok=True)
    return Signer(key)


def _load(file: Path) -> Signer:
    key = serialization.load_pem_private_key(file.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        msg = f"{file} does not hold an Ed25519 private key."
        raise ValueError(msg)
    return Signer(key)


def public_key_from(text: str) -> Ed25519PublicKey:
    """A public key from PEM or from 64 hex digits (raw)."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_public_key(text.encode())
        if not isinstance(key, Ed25519PublicKey):
            msg = "not an Ed25519 public key"
            raise ValueError(msg)
        return key
    return Ed25519PublicKey.from_public_bytes(bytes.fromhex(text))


def raw_public(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def verify_signature(public_key: Ed25519PublicKey, message: bytes, signature_hex: str) -> bool:
    try:
        public_key.verify(bytes.fromhex(signature_hex), message)
    except (InvalidSignature, ValueError):
        return False
    return True
