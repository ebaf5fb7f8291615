"""Defect 11: the merchant's key is written only into a private directory, created safely, never through a
path another user prepared."""

import os
import stat
import tempfile
from types import SimpleNamespace

from miniprograms.payments.wechatpay_v2 import client_cert_files

CERT = "-----BEGIN CERTIFICATE-----\nMIIfake\n-----END CERTIFICATE-----\n"
KEY = "-----BEGIN PRIVATE KEY-----\nMIIsecret\n-----END PRIVATE KEY-----\n"


def _app(appid="wxcertapp00000001", key=KEY):
    return SimpleNamespace(appid=appid, mch_cert_pem=CERT, mch_cert_key_pem=key)


def test_a_planted_symlink_in_the_old_shared_folder_is_never_followed(tmp_path):
    # an attacker prepares the folder and file names the old code used, as symlinks to a file they can read
    import hashlib

    digest = hashlib.sha256((CERT + KEY).encode()).hexdigest()[:16]
    shared = os.path.join(tempfile.gettempdir(), f"ekr-wxpay-{os.getuid()}")
    os.makedirs(shared, exist_ok=True)
    trap = tmp_path / "attacker-reads-this"
    trap.write_text("")
    planted = []
    for suffix in ("cert", "key"):
        for name in (f"wxcertapp00000001-{digest}-{suffix}.pem.tmp", f"wxcertapp00000001-{digest}-{suffix}.pem"):
            path = os.path.join(shared, name)
            if os.path.lexists(path):
                os.unlink(path)
            os.symlink(trap, path)
            planted.append(path)
    try:
        cert_path, key_path = client_cert_files(_app())
        assert trap.read_text() == ""  # nothing was written through the symlinks
        assert os.path.dirname(key_path) != shared
        assert open(key_path).read() == KEY and open(cert_path).read() == CERT
    finally:
        for path in planted:
            os.unlink(path)


def test_the_directory_and_files_are_private_and_reused(tmp_path):
    cert_path, key_path = client_cert_files(_app())
    folder = os.stat(os.path.dirname(key_path))
    assert folder.st_uid == os.getuid() and stat.S_IMODE(folder.st_mode) == 0o700
    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600 and not os.path.islink(key_path)
    assert client_cert_files(_app()) == (cert_path, key_path)  # once per process and content
    other = client_cert_files(_app(key=KEY.replace("secret", "rotated")))
    assert other[1] != key_path and open(other[1]).read().count("rotated") == 1
