"""The rotation deadline and the combined pem file of kubelet client-certificate rotation."""

from __future__ import annotations

import datetime
import random

import pytest

from kubeling.kubelet.certrotation import rotation_deadline, split_pem
from kubeling.pki.certs import CertRequest, KeyType, cert_to_pem, generate_key, issue, key_to_pem, new_ca

NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
CA_KEY = generate_key(KeyType.ECDSA)
CA = new_ca(CA_KEY, common_name="ca", days=3650, now=NOW)
KEY = generate_key(KeyType.ECDSA)
CERT = issue(
    CertRequest("system:node:n"), public_key=KEY.public_key(), ca_cert=CA, ca_key=CA_KEY, days=100, now=NOW
)


def test_deadline_is_between_70_and_90_percent_of_the_lifetime() -> None:
    start, life = CERT.not_valid_before_utc, CERT.not_valid_after_utc - CERT.not_valid_before_utc
    rng = random.Random(1)
    deadlines = [rotation_deadline(CERT, rng) for _ in range(200)]
    assert all(start + life * 0.7 <= d <= start + life * 0.9 for d in deadlines)
    assert len(set(deadlines)) > 100  # jittered, so nodes do not all renew at once


def test_split_pem_in_either_order() -> None:
    cert_pem, key_pem = cert_to_pem(CERT), key_to_pem(KEY)
    assert split_pem(cert_pem + key_pem) == (cert_pem, key_pem)
    assert split_pem(key_pem + cert_pem) == (cert_pem, key_pem)
    with pytest.raises(ValueError):
        split_pem(cert_pem)
