"""The files a secured Mosquitto needs: its configuration, a development CA and server certificate, and the
first dynamic-security document (the console's own client and the roles the console hands out).

`manage.py broker` (and the tests under tests/broker/) run Mosquitto from these; docker compose runs the same
directives from deploy/mosquitto/mosquitto.conf, with `manage.py broker --init-only` writing the document and,
when no real certificate is mounted, the development certificates. Everything here is written once: a
second start keeps the CA the gateways already trust and the accounts the console created since (the
plugin rewrites its document on every change).

Certificates come from the `cryptography` package (already a dependency of the console's stack), not from
the openssl command line, so the same code runs wherever Python does.
"""

import base64
import datetime
import hashlib
import ipaddress
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from acuvim_console.core.local_broker import LocalMosquitto, wait_for_port

DYNSEC_PLUGIN_PATHS = (
    Path("/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so"),  # Debian, Ubuntu
    Path("/usr/lib/aarch64-linux-gnu/mosquitto_dynamic_security.so"),
    Path("/usr/lib/mosquitto_dynamic_security.so"),  # the eclipse-mosquitto image
    Path("/usr/local/lib/mosquitto_dynamic_security.so"),
)
DYNSEC_FILE = "dynamic-security.json"
CA_CERT, CA_KEY = "ca.crt", "ca.key"
SERVER_CERT, SERVER_KEY = "server.crt", "server.key"
CA_DAYS, SERVER_DAYS = 3650, 825
# Mosquitto's own password encoding (mosquitto_ctrl dynsec init writes the same): PBKDF2-SHA512, 12-byte salt.
PBKDF2_ITERATIONS = 101
SALT_BYTES = 12

CONSOLE_ROLE = "console"
PROVISIONING_ROLE = "provisioning"


def dynsec_plugin() -> Path | None:
    """The installed dynamic-security plugin, or None (Debian ships it with the mosquitto package)."""
    return next((path for path in DYNSEC_PLUGIN_PATHS if path.exists()), None)


def encode_password(password: str) -> dict:
    """The `password`/`salt`/`iterations` members of a dynsec client, as the plugin checks them."""
    salt = secrets.token_bytes(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, PBKDF2_ITERATIONS)
    return {
        "password": base64.b64encode(digest).decode(),
        "salt": base64.b64encode(salt).decode(),
        "iterations": PBKDF2_ITERATIONS,
    }


def acl(acltype: str, topic: str, allow: bool = True, priority: int = 0) -> dict:
    return {"acltype": acltype, "topic": topic, "allow": allow, "priority": priority}


def console_role_acls(topic_prefix: str) -> list[dict]:
    """The console reads every topic (the bridge, $SYS), writes commands and its own status, and runs dynsec."""
    control = "$CONTROL/dynamic-security/#"
    return [
        acl("publishClientSend", control),
        acl("publishClientReceive", control),
        acl("subscribePattern", control),
        acl("subscribePattern", "#"),
        acl("publishClientReceive", "#"),
        acl("subscribePattern", "$SYS/#"),
        acl("publishClientReceive", "$SYS/#"),
        acl("unsubscribePattern", "#"),
        acl("publishClientSend", f"{topic_prefix}/+/cmd"),
        acl("publishClientSend", f"{topic_prefix}/_console/#"),
    ]


def provisioning_role_acls() -> list[dict]:
    """A factory-fresh gateway may only announce itself: publish `devices/register/{any id}`, nothing else.

    Each device that gets its own credentials has this role's access to its id withdrawn
    (broker_accounts.DynsecAdmin), so the shared password cannot be used to speak for an accepted device.
    """
    return [acl("publishClientSend", "devices/register/+")]


def device_role_acls(device_id: str, topic_prefix: str) -> list[dict]:
    """Exactly the protocol's ACL (docs/mqtt-protocol.md): write `{prefix}/{id}/#` but `cmd`, write
    `devices/register/{id}`, read and subscribe `{prefix}/{id}/cmd` only. The deny outranks the allow."""
    own = f"{topic_prefix}/{device_id}"
    return [
        acl("publishClientSend", f"{own}/cmd", allow=False, priority=10),
        acl("publishClientSend", f"{own}/#"),
        acl("publishClientSend", f"devices/register/{device_id}"),
        acl("subscribeLiteral", f"{own}/cmd"),
        acl("publishClientReceive", f"{own}/cmd"),
        acl("unsubscribeLiteral", f"{own}/cmd"),
    ]


def initial_dynsec_document(
    console_username: str,
    console_password: str,
    topic_prefix: str,
    provisioning_username: str = "",
    provisioning_password: str = "",
) -> dict:
    """Default deny for everyone (anonymous is off in the config too); the console's client; the
    provisioning role and, when a password is given, the shared provisioning client."""
    clients = [
        {
            "username": console_username,
            "textName": "Acuvim Console (bridge, publisher, account management)",
            "roles": [{"rolename": CONSOLE_ROLE}],
            **encode_password(console_password),
        }
    ]
    if provisioning_username and provisioning_password:
        clients.append(
            {
                "username": provisioning_username,
                "textName": "Factory-fresh gateways: registration only",
                "roles": [{"rolename": PROVISIONING_ROLE}],
                **encode_password(provisioning_password),
            }
        )
    return {
        "clients": clients,
        "groups": [],
        "roles": [
            {"rolename": CONSOLE_ROLE, "acls": console_role_acls(topic_prefix)},
            {"rolename": PROVISIONING_ROLE, "acls": provisioning_role_acls()},
        ],
        "defaultACLAccess": {
            "publishClientSend": False,
            "publishClientReceive": False,
            "subscribe": False,
            "unsubscribe": True,
        },
    }


def _write_private(path: Path, data: bytes) -> None:
    """Write a file only its owner can read (private keys, password hashes)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _subject_alternative_names(hostnames: list[str]) -> x509.SubjectAlternativeName:
    names = []
    for name in hostnames:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            names.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(names)


def write_development_certificates(directory: Path, hostnames: list[str]) -> bool:
    """A CA (`ca.crt`, the file gateways and the console trust) and a server certificate it signs for
    `hostnames`; False, writing nothing, when a CA or a server certificate (a real one) is already there."""
    if (directory / CA_CERT).exists() or (directory / SERVER_CERT).exists():
        return False
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Acuvim Console development CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - datetime.timedelta(minutes=5))
        .not_valid_after(_now() + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                key_encipherment=False, data_encipherment=False, key_agreement=False,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0])]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - datetime.timedelta(minutes=5))
        .not_valid_after(_now() + datetime.timedelta(days=SERVER_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_subject_alternative_names(hostnames), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    pem = serialization.Encoding.PEM
    unencrypted = dict(
        encoding=pem, format=serialization.PrivateFormat.PKCS8, encryption_algorithm=serialization.NoEncryption()
    )
    _write_private(directory / CA_KEY, ca_key.private_bytes(**unencrypted))
    _write_private(directory / SERVER_KEY, server_key.private_bytes(**unencrypted))
    (directory / SERVER_CERT).write_bytes(server_cert.public_bytes(pem) + ca_cert.public_bytes(pem))
    (directory / CA_CERT).write_bytes(ca_cert.public_bytes(pem))
    return True


def write_dynsec_document(path: Path, document: dict) -> bool:
    """Write the first dynamic-security document; False, keeping it, when the broker already has one."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_private(path, json.dumps(document, indent=1).encode())
    return True


@dataclass
class SecuredMosquitto(LocalMosquitto):
    """Mosquitto with dynamic security, anonymous access off, TLS on `tls_host:tls_port` and a plain
    listener on 127.0.0.1:`port` for processes on this machine (the console), all files in `workdir`.

    The TLS certificate and key default to the development ones in `workdir`; `certfile`/`keyfile` point
    at real ones (Let's Encrypt) instead.
    """

    tls_port: int = 8883
    tls_host: str = "0.0.0.0"
    certfile: Path | None = None
    keyfile: Path | None = None

    @property
    def dynsec_path(self) -> Path:
        return self.workdir / DYNSEC_FILE

    @property
    def ca_path(self) -> Path:
        return self.workdir / CA_CERT

    def listener_text(self) -> str:
        plugin = dynsec_plugin()
        if plugin is None:
            raise RuntimeError("Mosquitto's dynamic-security plugin is not installed (mosquitto_dynamic_security.so)")
        certfile = self.certfile or self.workdir / SERVER_CERT
        keyfile = self.keyfile or self.workdir / SERVER_KEY
        return (
            "allow_anonymous false\n"
            f"plugin {plugin}\n"
            f"plugin_opt_config_file {self.dynsec_path}\n"
            f"listener {self.port} 127.0.0.1\n"
            f"listener {self.tls_port} {self.tls_host}\n"
            f"certfile {certfile}\n"
            f"keyfile {keyfile}\n"
            "tls_version tlsv1.2\n"
        )

    def start(self, timeout: float = 10.0) -> "SecuredMosquitto":
        if not self.dynsec_path.exists():
            raise RuntimeError(f"{self.dynsec_path} is missing: write it with write_dynsec_document() first")
        super().start(timeout)
        wait_for_port(self.tls_port, timeout, "127.0.0.1" if self.tls_host in ("0.0.0.0", "") else self.tls_host)
        return self


def prepare(
    directory: Path,
    hostnames: list[str],
    console: tuple[str, str],
    topic_prefix: str,
    provisioning: tuple[str, str],
    *,
    development_certificates: bool = True,
) -> list[str]:
    """Write what a secured broker needs into `directory`, keeping whatever is there; say what was written.

    `console` is the console's own (username, password), `provisioning` the shared account of factory-fresh
    gateways (no account when its password is empty).
    """
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    if development_certificates and write_development_certificates(directory, hostnames):
        written.append(f"Development CA and server certificate for {', '.join(hostnames)} in {directory}")
    document = initial_dynsec_document(*console, topic_prefix, *provisioning)
    if write_dynsec_document(directory / DYNSEC_FILE, document):
        written.append(f"Broker accounts written: console client {console[0]!r}")
    return written


def console_credentials(directory: Path, username: str = "console") -> tuple[str, str]:
    """The embedded console's own broker account: made once (a random password, readable by this user only)
    and read back on every later start, like the secret key."""
    path = directory / "console-credentials.json"
    if path.exists():
        stored = json.loads(path.read_text())
        return stored["username"], stored["password"]
    directory.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(24)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump({"username": username, "password": password}, handle)
    return username, password
