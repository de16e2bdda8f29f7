# SPDX-License-Identifier: Apache-2.0
"""Test PKI for --tls, made with the openssl CLI.

In the cert dir:
  ca.pem, ca.key          a CA (EC P-256, 10 years); kept across runs and
                          profiles, so clients can trust one ca.pem
  server.pem, server.key  the server cert for the requested profile:
    good         signed by the CA, SAN DNS:localhost, IP:127.0.0.1, IP:::1
                 (+ --san extras), valid from yesterday for 800 days
    expired      as good, but valid Jan 2020 only (notAfter in the past)
    self-signed  same names, but self-signed (not issued by the CA)
    wrong-host   signed by the CA, SAN only DNS:wrong.example
    no-ip-san    as good, but only the DNS names (no IP SANs: an IP-literal URL
                 must fail verification)
    no-san       signed by the CA, subject CN=localhost and no subjectAltName at
                 all (a client must not fall back to the CN: RFC 9525)
  server.profile.json     which profile/SANs server.pem was made for
Existing files are reused when they still fit the request and verify;
otherwise the server cert (and, if the CA is unusable, the CA) is rebuilt.
A lock file serializes servers starting on the same directory.
Needs an OpenSSL 1.1.1+ `openssl` (not LibreSSL); DEVSERVER_OPENSSL may name it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import ipaddress
import json
import logging
import os
import secrets
import shutil
import subprocess
import tempfile

log = logging.getLogger("devserver.certs")

PROFILES = ("good", "expired", "self-signed", "wrong-host", "no-ip-san", "no-san")
DEFAULT_SANS = ("DNS:localhost", "IP:127.0.0.1", "IP:::1")


class CertError(RuntimeError):
    pass


def normalize_san(value: str) -> str:
    """'DNS:x', 'IP:1.2.3.4', or a bare name/address -> 'DNS:..'/'IP:..'."""
    value = value.strip()
    kind, sep, rest = value.partition(":")
    if sep and kind.upper() in ("DNS", "IP"):
        if kind.upper() == "IP":
            try:
                return "IP:" + str(ipaddress.ip_address(rest.strip("[]")))
            except ValueError:
                raise CertError(f"--san {value!r}: not an IP address") from None
        if not rest:
            raise CertError(f"--san {value!r}: empty name")
        return "DNS:" + rest
    try:
        return "IP:" + str(ipaddress.ip_address(value.strip("[]")))
    except ValueError:
        if not value:
            raise CertError("--san: empty value") from None
        return "DNS:" + value



def _openssl(*args: str, stdin: bytes | None = None, check: bool = True
             ) -> subprocess.CompletedProcess:
    exe = os.environ.get("DEVSERVER_OPENSSL") or shutil.which("openssl")
    if exe is None:
        raise CertError("--tls needs the openssl command-line tool (not found on PATH; "
                        "or set DEVSERVER_OPENSSL)")
    proc = subprocess.run([exe, *args], input=stdin, capture_output=True, timeout=60)
    if check and proc.returncode != 0:
        detail = proc.stderr.decode("utf-8", "replace").strip()
        raise CertError(f"openssl {args[0]} failed ({proc.returncode}): {detail}")
    return proc


def _pubkey_of_cert(cert: str) -> bytes:
    return _openssl("x509", "-in", cert, "-noout", "-pubkey").stdout


def _pubkey_of_key(key: str) -> bytes:
    return _openssl("pkey", "-in", key, "-pubout").stdout


def _pair_ok(cert: str, key: str) -> bool:
    if not (os.path.isfile(cert) and os.path.isfile(key)):
        return False
    try:
        return _pubkey_of_cert(cert) == _pubkey_of_key(key)
    except CertError:
        return False


def _verifies(ca: str, cert: str, *extra: str) -> bool:
    proc = _openssl("verify", "-CAfile", ca, *extra, cert, check=False)
    return proc.returncode == 0


def _valid_for(cert: str, seconds: int) -> bool:
    proc = _openssl("x509", "-in", cert, "-noout", "-checkend", str(seconds),
                    check=False)
    return proc.returncode == 0


def _write_private(path: str) -> None:
    os.chmod(path, 0o600)


def _make_ca(d: str) -> None:
    ca_key, ca_pem = os.path.join(d, "ca.key"), os.path.join(d, "ca.pem")
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", ca_key, "-out", ca_pem, "-days", "3650", "-sha256",
             "-subj", f"/CN=liblayercode devserver test CA {secrets.token_hex(3)}",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             "-addext", "subjectKeyIdentifier=hash")
    _write_private(ca_key)
    log.info("generated test CA %s", ca_pem)


def _leaf_extensions(sans: list[str]) -> str:
    return ("basicConstraints = critical,CA:FALSE\n"
            "keyUsage = critical,digitalSignature\n"
            "extendedKeyUsage = serverAuth\n"
            "subjectKeyIdentifier = hash\n"
            + ("subjectAltName = " + ",".join(sans) + "\n" if sans else ""))


def _utc(t: dt.datetime) -> str:
    return t.strftime("%Y%m%d%H%M%SZ")


def _sign_with_ca(d: str, work: str, csr: str, out: str, sans: list[str],
                  start: dt.datetime, end: dt.datetime) -> None:
    """Issue `csr` with explicit notBefore/notAfter via `openssl ca`."""
    db = os.path.join(work, "db")
    os.mkdir(db)
    open(os.path.join(db, "index.txt"), "w").close()
    with open(os.path.join(db, "serial"), "w") as fh:
        # 32 hex digits (openssl wants an even count), positive, random.
        fh.write("%032X\n" % (secrets.randbits(123) | (1 << 124)))
    cnf = os.path.join(work, "ca.cnf")
    with open(cnf, "w") as fh:
        fh.write(
            "[ ca ]\ndefault_ca = devca\n"
            "[ devca ]\n"
            f"database = {db}/index.txt\nnew_certs_dir = {db}\nserial = {db}/serial\n"
            "default_md = sha256\npolicy = pol\nunique_subject = no\n"
            "email_in_dn = no\n"
            "[ pol ]\ncommonName = supplied\n"
            "[ leaf ]\n" + _leaf_extensions(sans)
            + "authorityKeyIdentifier = keyid\n")
    _openssl("ca", "-batch", "-notext", "-config", cnf, "-extensions", "leaf",
             "-cert", os.path.join(d, "ca.pem"), "-keyfile", os.path.join(d, "ca.key"),
             "-in", csr, "-out", out, "-startdate", _utc(start), "-enddate", _utc(end))


def _make_server(d: str, profile: str, sans: list[str]) -> None:
    key_out, pem_out = os.path.join(d, "server.key"), os.path.join(d, "server.pem")
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    if profile == "wrong-host":
        names = ["DNS:wrong.example"]
    elif profile == "no-ip-san":
        names = [n for n in sans if not n.startswith("IP:")] or ["DNS:localhost"]
    elif profile == "no-san":
        names = []
    else:
        names = sans
    cn = names[0].partition(":")[2] if names else "localhost"
    with tempfile.TemporaryDirectory(dir=d, prefix=".work-") as work:
        key = os.path.join(work, "server.key")
        pem = os.path.join(work, "server.pem")
        if profile == "self-signed":
            ext = os.path.join(work, "leaf.cnf")
            with open(ext, "w") as fh:
                fh.write("[ req ]\ndistinguished_name = dn\n[ dn ]\n[ leaf ]\n"
                         + _leaf_extensions(names))
            _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
                     "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", pem,
                     "-days", "800", "-sha256", "-subj", f"/CN={cn}",
                     "-config", ext, "-extensions", "leaf")
        else:
            csr = os.path.join(work, "server.csr")
            _openssl("req", "-new", "-newkey", "ec", "-pkeyopt",
                     "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", csr,
                     "-subj", f"/CN={cn}")
            if profile == "expired":
                start = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)
                end = dt.datetime(2020, 2, 1, tzinfo=dt.timezone.utc)
            else:
                start = now - dt.timedelta(days=1)
                end = now + dt.timedelta(days=800)
            _sign_with_ca(d, work, csr, pem, names, start, end)
        _write_private(key)
        os.replace(key, key_out)
        os.replace(pem, pem_out)
    with open(os.path.join(d, "server.profile.json"), "w") as fh:
        json.dump({"profile": profile, "sans": sans}, fh)
    log.info("generated %s server certificate %s", profile, pem_out)


def _server_fits(d: str, profile: str, sans: list[str]) -> bool:
    pem, key = os.path.join(d, "server.pem"), os.path.join(d, "server.key")
    ca = os.path.join(d, "ca.pem")
    try:
        with open(os.path.join(d, "server.profile.json")) as fh:
            marker = json.load(fh)
    except (OSError, ValueError):
        return False
    if marker != {"profile": profile, "sans": sans} or not _pair_ok(pem, key):
        return False
    if profile in ("good", "wrong-host", "no-ip-san", "no-san"):
        return _verifies(ca, pem) and _valid_for(pem, 86400)
    if profile == "expired":
        return _verifies(ca, pem, "-no_check_time") and not _valid_for(pem, 0)
    return not _verifies(ca, pem, "-no_check_time")     # self-signed


@contextlib.contextmanager
def _locked(d: str):
    with open(os.path.join(d, ".lock"), "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_certs(cert_dir: str, profile: str, extra_sans: list[str]) -> dict:
    """Make sure cert_dir holds a CA and a server cert for `profile`.

    Returns {"ca_file", "cert_file", "key_file"}. Raises CertError.
    """
    if profile not in PROFILES:
        raise CertError(f"unknown cert profile {profile!r}")
    sans: list[str] = []
    for san in list(DEFAULT_SANS) + [normalize_san(s) for s in extra_sans]:
        if san not in sans:
            sans.append(san)
    os.makedirs(cert_dir, exist_ok=True)
    d = os.path.abspath(cert_dir)
    ca_pem, ca_key = os.path.join(d, "ca.pem"), os.path.join(d, "ca.key")
    with _locked(d):
        if not (_pair_ok(ca_pem, ca_key) and _valid_for(ca_pem, 86400)):
            _make_ca(d)
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(d, "server.profile.json"))
        if not _server_fits(d, profile, sans):
            _make_server(d, profile, sans)
        else:
            log.info("reusing %s server certificate in %s", profile, d)
    return {"ca_file": ca_pem, "cert_file": os.path.join(d, "server.pem"),
            "key_file": os.path.join(d, "server.key")}
