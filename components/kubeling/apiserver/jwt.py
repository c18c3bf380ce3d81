"""Compact JWS (JWT) signing and verification with ``cryptography``.

ServiceAccount tokens are JWTs signed with the cluster's ``sa.key`` (RS256 for
RSA keys, ES256 for P-256 keys), as upstream issues them.  The key id is the
base64url SHA-256 of the public key's DER, which is also what the JWKS
endpoint publishes, so external verifiers can match keys.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

import orjson
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


class InvalidToken(Exception):
    pass


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def key_id(public_key: PublicKey) -> str:
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return b64url(hashlib.sha256(der).digest())


def algorithm(key: PrivateKey | PublicKey) -> str:
    return "RS256" if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey) else "ES256"


def sign(claims: dict[str, Any], key: PrivateKey) -> str:
    header = {"alg": algorithm(key), "kid": key_id(key.public_key())}
    signing_input = f"{b64url(orjson.dumps(header))}.{b64url(orjson.dumps(claims))}".encode()
    if isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    else:
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return f"{signing_input.decode()}.{b64url(signature)}"


def verify(token: str, keys: list[PublicKey]) -> dict[str, Any]:
    """The claims of a token signed by one of ``keys``; InvalidToken otherwise.

    Time-based and audience checks belong to the caller.
    """
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidToken("not a JWT")
    try:
        header = orjson.loads(b64url_decode(parts[0]))
        claims = orjson.loads(b64url_decode(parts[1]))
        signature = b64url_decode(parts[2])
    except (ValueError, orjson.JSONDecodeError):
        raise InvalidToken("malformed JWT") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise InvalidToken("malformed JWT")
    signing_input = f"{parts[0]}.{parts[1]}".encode()
    for key in keys:
        if header.get("alg") != algorithm(key):
            continue
        try:
            if isinstance(key, rsa.RSAPublicKey):
                key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
            else:
                if len(signature) != 64:
                    continue
                der = encode_dss_signature(
                    int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
                )
                key.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            continue
        return claims
    raise InvalidToken("signature does not match any trusted key")


def jwk(public_key: PublicKey) -> dict[str, str]:
    """The public key as a JSON Web Key (for /openid/v1/jwks)."""
    base = {"use": "sig", "kid": key_id(public_key), "alg": algorithm(public_key)}
    if isinstance(public_key, rsa.RSAPublicKey):
        numbers = public_key.public_numbers()
        size = (numbers.n.bit_length() + 7) // 8
        return {
            **base,
            "kty": "RSA",
            "n": b64url(numbers.n.to_bytes(size, "big")),
            "e": b64url(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
        }
    numbers = public_key.public_numbers()
    return {
        **base,
        "kty": "EC",
        "crv": "P-256",
        "x": b64url(numbers.x.to_bytes(32, "big")),
        "y": b64url(numbers.y.to_bytes(32, "big")),
    }


def load_private_key(pem: bytes) -> PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError("service account signing key must be RSA or ECDSA")
    return key


_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----.*?-----END \1-----", re.S)


def load_public_keys(pem: bytes) -> list[PublicKey]:
    """Every public key in a PEM file (public keys, certificates or private keys)."""
    keys: list[PublicKey] = []
    for match in _PEM_BLOCK.finditer(pem):
        label, block = match.group(1), match.group(0)
        if label == b"CERTIFICATE":
            key = x509.load_pem_x509_certificate(block).public_key()
        elif label.endswith(b"PRIVATE KEY"):
            key = serialization.load_pem_private_key(block, password=None).public_key()
        else:
            key = serialization.load_pem_public_key(block)
        if isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
            keys.append(key)
    return keys
