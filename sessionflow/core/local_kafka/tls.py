"""Throwaway TLS material for the local broker's SASL_SSL listener, made with ``cryptography``.

One self-signed CA signs a broker certificate (SAN: the listener's host, ``127.0.0.1`` and
``localhost``) and a client certificate (for mutual TLS). The CA's private key is never
written: nothing can be signed by it once :func:`write_tls_material` returns. Private keys are
written with mode 600; the client key is encrypted with the given password.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALIDITY = datetime.timedelta(days=825)
_CLOCK_SKEW = datetime.timedelta(minutes=5)


@dataclass(frozen=True)
class TlsFiles:
    """Where the TLS material of one broker lives (all PEM)."""

    ca_file: Path
    """The CA certificate clients trust (public)."""
    broker_keystore: Path
    """The broker's private key followed by its certificate (mode 600)."""
    client_cert: Path
    """A client certificate signed by the CA, for mutual TLS (public)."""
    client_key: Path
    """The client's private key, encrypted with the client key password (mode 600)."""

    @classmethod
    def under(cls, directory: Path) -> TlsFiles:
        """The file names used inside ``directory``."""
        return cls(
            directory / "ca.pem",
            directory / "broker-keystore.pem",
            directory / "client.pem",
            directory / "client-key.pem",
        )

    def exist(self) -> bool:
        """True when every file was written."""
        return all(
            p.is_file()
            for p in (self.ca_file, self.broker_keystore, self.client_cert, self.client_key)
        )


@dataclass(frozen=True)
class _Issuer:
    name: x509.Name
    key: ec.EllipticCurvePrivateKey


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sessionflow local"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _builder(
    subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(now + _VALIDITY)
    )


def new_ca(common_name: str) -> tuple[x509.Certificate, _Issuer]:
    """A self-signed CA certificate and the issuer that signs with its (in-memory) key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(common_name)
    cert = (
        _builder(name, name, key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, _Issuer(name, key)


def _subject_alt_names(hosts: Iterable[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys(hosts):  # unique, in order
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def _leaf(
    issuer: _Issuer, common_name: str, usage: x509.ObjectIdentifier, hosts: Iterable[str] = ()
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        _builder(_name(common_name), issuer.name, key)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    )
    alt_names = _subject_alt_names(hosts)
    if len(alt_names):
        builder = builder.add_extension(alt_names, critical=False)
    return builder.sign(issuer.key, hashes.SHA256()), key


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey, password: str | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password.encode())
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` readable by the owner only (created with mode 600)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(data)


def write_tls_material(directory: Path, hosts: Iterable[str], client_key_password: str) -> TlsFiles:
    """Generate a CA, a broker certificate for ``hosts`` and a client certificate into
    ``directory``; the CA key is discarded. Returns where the files are."""
    directory.mkdir(parents=True, exist_ok=True)
    files = TlsFiles.under(directory)
    ca_cert, issuer = new_ca("sessionflow local CA")
    broker_cert, broker_key = _leaf(
        issuer, "sessionflow local broker", ExtendedKeyUsageOID.SERVER_AUTH, hosts
    )
    client_cert, client_key = _leaf(
        issuer, "sessionflow local client", ExtendedKeyUsageOID.CLIENT_AUTH
    )
    files.ca_file.write_bytes(_pem(ca_cert))
    write_private(files.broker_keystore, _key_pem(broker_key) + _pem(broker_cert))
    files.client_cert.write_bytes(_pem(client_cert))
    write_private(files.client_key, _key_pem(client_key, client_key_password))
    return files


def write_untrusted_ca(path: Path) -> Path:
    """Write the certificate of a fresh CA that signed nothing (for "untrusted CA" checks)."""
    cert, _ = new_ca("sessionflow untrusted CA")
    path.write_bytes(_pem(cert))
    return path
