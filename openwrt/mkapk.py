#!/usr/bin/env python3
"""Writes an apk v3 feed (OpenWrt 25.12 and later) from static binaries:

    openwrt/mkapk.py [--unsigned] OUTDIR VERSION ARCH=BINARY [ARCH=BINARY ...]

Per architecture: OUTDIR/<arch>/nftop-<version>-r<release>.apk and
OUTDIR/<arch>/packages.adb, the index the router's
/etc/apk/repositories.d/customfeeds.list names; OUTDIR/nftop.pem is the
public key for the router's /etc/apk/keys/. The index is signed (apk
refuses an unsigned one unless told --allow-untrusted): with NFTOP_APK_KEY
(a PEM EC P-256 private key), else with NFTOP_KEY_DIR/nftop-apk.key
(NFTOP_KEY_DIR defaults to dist/keys), created once and kept. --unsigned
writes an index without a signature, and only when asked.

The package holds what OpenWrt's SDK puts into one (include/package-pack.mk
with `apk mkpkg`): the same files as the .ipk of openwrt/mkfeed.sh, plus
/lib/apk/packages/nftop.list, .conffiles and .conffiles_static (the file
list OpenWrt's default_postinst/default_prerm read to enable or stop the
service, and the conffiles sysupgrade keeps), and the post-install,
post-upgrade and pre-deinstall scripts package-pack.mk writes. Packages are
unsigned, as OpenWrt's are: apk trusts them through the signed index, which
holds the SHA-256 of each package's ADB block.

Format (apk-tools doc/apk-v3.5.scd, src/adb.h, src/apk_adb.[ch], mkpkg and
mkndx): "ADBd" and a raw deflate stream of "ADB." + schema + blocks; a
block is a 32-bit tag (2 bits type, 30 bits length including the tag)
padded to 8 bytes: ADB (the metadata), SIG (signatures of the ADB block),
DATA (one per non-empty file: path index, file index, contents). Values are
32-bit tags (4 bits type, 28 bits value or offset into the ADB block).
Python 3 standard library and the openssl command only; reproducible: the
same inputs give the same bytes, apart from the (randomised) ECDSA
signature in packages.adb.
"""

import hashlib
import os
import re
import struct
import subprocess
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
NAME = "nftop"

# Value types (the top 4 bits of a value's tag).
T_INT, T_INT32, T_INT64 = 0x10000000, 0x20000000, 0x30000000
T_BLOB8, T_BLOB16, T_BLOB32 = 0x80000000, 0x90000000, 0xA0000000
T_ARRAY, T_OBJECT = 0xD0000000, 0xE0000000
NULL = 0
# Block types and schemas.
B_ADB, B_SIG, B_DATA = 0, 1, 2
SCHEMA_PACKAGE = 0x676B6370  # "pckg"
SCHEMA_INDEX = 0x78646E69  # "indx"
DIGEST_SHA512 = 4  # APK_DIGEST_SHA512, the hash a v0 signature signs
# Field numbers (src/apk_adb.h).
PI = dict(name=1, version=2, hashes=3, description=4, arch=5, license=6, origin=7,
          maintainer=8, url=9, installed_size=12, file_size=13, depends=15)
ACL_MODE, ACL_USER, ACL_GROUP = 1, 2, 3
FI_NAME, FI_ACL, FI_SIZE, FI_MTIME, FI_HASH = 1, 2, 3, 4, 5
DI_NAME, DI_ACL, DI_FILES = 1, 2, 3
SCRIPT = {"post-install": 3, "pre-deinstall": 4, "post-upgrade": 7}
PKG_INFO, PKG_PATHS, PKG_SCRIPTS = 1, 2, 3
NDX_DESCRIPTION, NDX_PACKAGES = 1, 2
# An EC P-256 public key as DER SubjectPublicKeyInfo: this prefix, then
# the 65-byte uncompressed point, which is what apk hashes for a key id.
P256_SPKI = bytes.fromhex("3059301306072a8648ce3d020106082a8648ce3d030107034200")


def die(msg, code=1):
    print("mkapk: " + msg, file=sys.stderr)
    sys.exit(code)


class Adb:
    """The ADB block being written: a header (compat version, version,
    reserved, root value) and values appended after it, each aligned to its
    size; children are written before the objects that point at them."""

    def __init__(self):
        self.buf = bytearray(8)

    def _put(self, data, align):
        self.buf += bytes(-len(self.buf) % align)
        off = len(self.buf)
        if off > 0x0FFFFFFF:
            die("metadata too large for an ADB block")
        self.buf += data
        return off

    def blob(self, b):
        if isinstance(b, str):
            b = b.encode()
        if not b:
            return NULL
        if len(b) <= 0xFF:
            return T_BLOB8 | self._put(struct.pack("<B", len(b)) + b, 1)
        if len(b) <= 0xFFFF:
            return T_BLOB16 | self._put(struct.pack("<H", len(b)) + b, 2)
        return T_BLOB32 | self._put(struct.pack("<I", len(b)) + b, 4)

    def int(self, v):
        if v < 0x10000000:
            return T_INT | v
        if v < 1 << 32:
            return T_INT32 | self._put(struct.pack("<I", v), 4)
        return T_INT64 | self._put(struct.pack("<Q", v), 4)

    def _slots(self, kind, vals):
        # Slot 0 is the slot count; trailing empty fields are left out.
        while vals and vals[-1] == NULL:
            vals = vals[:-1]
        if not vals:
            return NULL
        return kind | self._put(struct.pack("<%dI" % (len(vals) + 1), len(vals) + 1, *vals), 4)

    def obj(self, fields):
        """An object from {field number: value}."""
        n = max(fields, default=0)
        return self._slots(T_OBJECT, [fields.get(i, NULL) for i in range(1, n + 1)])

    def arr(self, vals):
        return self._slots(T_ARRAY, list(vals))

    def root(self, val):
        struct.pack_into("<I", self.buf, 4, val)


def block(kind, payload):
    raw = struct.pack("<I", (kind << 30) | (4 + len(payload))) + payload
    return raw + bytes(-len(raw) % 8)


def adb_file(schema, blocks):
    """A compressed ADB file, as `apk mkpkg`/`apk mkndx` write by default:
    "ADBd" and raw deflate (level 9) of the header and the blocks."""
    z = zlib.compressobj(9, zlib.DEFLATED, -15, 8, zlib.Z_DEFAULT_STRATEGY)
    raw = b"ADB." + struct.pack("<I", schema) + b"".join(blocks)
    return b"ADBd" + z.compress(raw) + z.flush()


def makefile_field(text, key):
    m = re.search(r"^\s*%s:=(.*)$" % re.escape(key), text, re.M)
    if not m:
        die("openwrt/Makefile has no %s" % key)
    return m.group(1).strip()


def makefile_define(text, name):
    m = re.search(r"^define %s\n(.*?)^endef" % re.escape(name), text, re.M | re.S)
    if not m:
        die("openwrt/Makefile has no define %s" % name)
    return m.group(1)


def metadata(release_version):
    """Package info as OpenWrt's package-pack.mk passes it to apk mkpkg,
    from the SDK package's Makefile (the prebuilt and the SDK-built package
    cannot say different things)."""
    mk = open(os.path.join(HERE, "Makefile")).read()
    # $(strip) of the description define: one line of single spaces;
    # OpenWrt cuts it to 256 bytes.
    desc = " ".join(makefile_define(mk, "Package/%s/description" % NAME).split())
    desc = desc.encode()[:256].decode("utf-8", "ignore")
    # DEPENDS: the +packages (RUST_ARCH_DEPENDS restricts architectures and
    # names no package); libc is what every OpenWrt package depends on.
    deps = [d[1:] for d in makefile_field(mk, "DEPENDS").split() if d.startswith("+")]
    conffiles = makefile_define(mk, "Package/%s/conffiles" % NAME).split()
    return {
        "name": NAME,
        "version": release_version,
        "description": desc,
        "license": makefile_field(mk, "PKG_LICENSE"),
        "origin": NAME,
        "maintainer": makefile_field(mk, "PKG_MAINTAINER"),
        "url": makefile_field(mk, "URL"),
        "depends": sorted(set(["libc"] + deps)),
    }, conffiles


def scripts():
    """package-pack.mk's scripts for a package without its own
    postinst/prerm: default_postinst enables and starts every
    /etc/init.d script of the package's file list (nftop's start_service
    does nothing until nftop.main.enabled=1), default_prerm stops and
    disables it. The upgrade variant keeps the enabled state."""
    post_install = (
        "#!/bin/sh\n"
        '[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0\n'
        "[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0\n"
        ". ${IPKG_INSTROOT}/lib/functions.sh\n"
        'export root="${IPKG_INSTROOT}"\n'
        'export pkgname="%s"\n'
        "add_group_and_user\n"
        "default_postinst\n" % NAME
    )
    body = post_install.split("\n", 1)[1]
    return {
        "post-install": post_install,
        "post-upgrade": "#!/bin/sh\nexport PKG_UPGRADE=1\n" + body,
        "pre-deinstall": (
            "#!/bin/sh\n"
            "[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0\n"
            ". ${IPKG_INSTROOT}/lib/functions.sh\n"
            'export root="${IPKG_INSTROOT}"\n'
            'export pkgname="%s"\n'
            "default_prerm\n" % NAME
        ),
    }


# What the ELF header must say for each OpenWrt architecture (the names
# mkfeed.sh uses): e_machine, 64-bit, big-endian. A mipsel binary in the
# mips_24kc feed would install fine and never run.
ARCHES = {
    "x86_64": (62, True, False),
    "i386_pentium4": (3, False, False),
    "aarch64_cortex-a53": (183, True, False),
    "aarch64_generic": (183, True, False),
    "arm_cortex-a7_neon-vfpv4": (40, False, False),
    "arm_cortex-a15_neon-vfpv4": (40, False, False),
    "mipsel_24kc": (8, False, False),
    "mips_24kc": (8, False, True),
    "riscv64_riscv64": (243, True, False),
}
MACHINES = {3: "Intel 80386", 8: "MIPS", 40: "ARM", 62: "X86-64", 183: "AArch64", 243: "RISC-V"}


def check_elf(path, arch):
    try:
        data = open(path, "rb").read()
    except OSError as e:
        die("%s: %s" % (path, e.strerror))
    if len(data) < 16 or data[:4] != b"\x7fELF" or data[4] not in (1, 2) or data[5] not in (1, 2):
        die("%s is not an ELF file" % path)
    wide, big = data[4] == 2, data[5] == 2
    if len(data) < (64 if wide else 52):
        die("%s is not an ELF file (short header)" % path)
    e = ">" if big else "<"
    machine = struct.unpack_from(e + "H", data, 18)[0]
    if (machine, wide, big) != ARCHES[arch]:
        die("%s is a %s (%s endian) binary, not one for %s"
            % (path, MACHINES.get(machine, "machine %d" % machine), "big" if big else "little", arch))
    if wide:
        phoff = struct.unpack_from(e + "Q", data, 32)[0]
        phentsize, phnum = struct.unpack_from(e + "HH", data, 54)
    else:
        phoff = struct.unpack_from(e + "I", data, 28)[0]
        phentsize, phnum = struct.unpack_from(e + "HH", data, 42)
    for i in range(phnum):
        at = phoff + i * phentsize
        if at + 4 <= len(data) and struct.unpack_from(e + "I", data, at)[0] == 3:  # PT_INTERP
            die("%s is dynamically linked (has an ELF interpreter): refusing to package it" % path)
    return data


def payload(binary):
    """{path without the leading slash: (mode, bytes)}: the .ipk's files
    (the man page gzipped by gzip -9n, as mkfeed.sh does: the same bytes)."""
    man = subprocess.run(["gzip", "-9nc", os.path.join(HERE, "nftop.8")],
                         check=True, stdout=subprocess.PIPE).stdout
    files = {
        "usr/sbin/nftop": (0o755, binary),
        "usr/share/man/man8/nftop.8.gz": (0o644, man),
        "etc/init.d/nftop": (0o755, open(os.path.join(HERE, "files/nftop.init"), "rb").read()),
        "etc/config/nftop": (0o644, open(os.path.join(HERE, "files/nftop.config"), "rb").read()),
    }
    return files


def apk_metadata_files(files, conffiles):
    meta = "lib/apk/packages/%s." % NAME
    listing = "".join("/%s\n" % p for p in sorted(files))
    conf = "".join("%s\n" % c for c in conffiles)
    static = "".join("%s %s\n" % (c, hashlib.sha256(files[c[1:]][1]).hexdigest()) for c in conffiles)
    return {
        meta + "list": (0o644, listing.encode()),
        meta + "conffiles": (0o644, conf.encode()),
        meta + "conffiles_static": (0o644, static.encode()),
    }


def pkginfo(db, info, extra):
    f = {
        PI["name"]: db.blob(info["name"]),
        PI["version"]: db.blob(info["version"]),
        PI["description"]: db.blob(info["description"]),
        PI["arch"]: db.blob(info["arch"]),
        PI["license"]: db.blob(info["license"]),
        PI["origin"]: db.blob(info["origin"]),
        PI["maintainer"]: db.blob(info["maintainer"]),
        PI["url"]: db.blob(info["url"]),
        PI["installed_size"]: db.int(info["installed_size"]),
        PI["depends"]: db.arr(db.obj({1: db.blob(d)}) for d in info["depends"]),
    }
    f.update(extra)
    return db.obj(f)


def package(info, files, mtime):
    """(the .apk's bytes, its ADB block): the package as `apk mkpkg` builds
    it, with every directory listed (as mkpkg's default compat level does)
    and the 20-byte unique id in info.hashes."""
    dirs = {""}
    for p in files:
        d = os.path.dirname(p)
        while d:
            dirs.add(d)
            d = os.path.dirname(d)
    dirs = sorted(dirs)  # bytewise, as apk sorts; the root ("") first
    db = Adb()
    root_acl = db.obj({ACL_MODE: db.int(0o755), ACL_USER: db.blob("root"), ACL_GROUP: db.blob("root")})
    paths, data = [], []
    for pi, d in enumerate(dirs, 1):
        names = sorted(os.path.basename(p) for p in files if os.path.dirname(p) == d)
        entries = []
        for fi, n in enumerate(names, 1):
            mode, content = files[os.path.join(d, n)]
            acl = db.obj({ACL_MODE: db.int(mode), ACL_USER: db.blob("root"), ACL_GROUP: db.blob("root")})
            entries.append(db.obj({
                FI_NAME: db.blob(n),
                FI_ACL: acl,
                FI_SIZE: db.int(len(content)),
                FI_MTIME: db.int(mtime),
                FI_HASH: db.blob(hashlib.sha256(content).digest()),
            }))
            if content:
                data.append(block(B_DATA, struct.pack("<II", pi, fi) + content))
        paths.append(db.obj({DI_NAME: db.blob(d), DI_ACL: root_acl, DI_FILES: db.arr(entries)}))
    uid = db.blob(bytes(20))
    info_val = pkginfo(db, info, {PI["hashes"]: uid})
    script_vals = {SCRIPT[k]: db.blob(v) for k, v in scripts().items()}
    db.root(db.obj({PKG_INFO: info_val, PKG_PATHS: db.arr(paths), PKG_SCRIPTS: db.obj(script_vals)}))
    # The unique id: the first 20 bytes of the SHA-256 of the ADB block
    # written with a zero id (what mkpkg does).
    at = (uid & 0x0FFFFFFF) + 1
    db.buf[at:at + 20] = hashlib.sha256(bytes(db.buf)).digest()[:20]
    adb = bytes(db.buf)
    return adb_file(SCHEMA_PACKAGE, [block(B_ADB, adb)] + data), adb


def openssl(args, stdin=None):
    r = subprocess.run(["openssl"] + args, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        die("openssl %s: %s" % (" ".join(args), r.stderr.decode(errors="replace").strip()))
    return r.stdout


def key_id(key):
    """apk's key id: the first 16 bytes of the SHA-512 of the public key
    as i2d_PublicKey writes it (for EC, the uncompressed point)."""
    der = openssl(["pkey", "-in", key, "-pubout", "-outform", "DER"])
    if len(der) != len(P256_SPKI) + 65 or not der.startswith(P256_SPKI):
        die("%s is not an EC P-256 private key (make one: openssl ecparam -name prime256v1 -genkey -noout -out KEY)" % key)
    return hashlib.sha512(der[len(P256_SPKI):]).digest()[:16]


def signature(key, schema, adb):
    """A v0 signature block's payload: version 0, hash SHA-512, key id,
    then ECDSA (SHA-512) over the schema, those 18 bytes and the SHA-512
    of the ADB block (adb.c: adb_trust_write_signatures)."""
    head = bytes([0, DIGEST_SHA512]) + key_id(key)
    msg = struct.pack("<I", schema) + head + hashlib.sha512(adb).digest()
    return head + openssl(["dgst", "-sha512", "-sign", key], stdin=msg)


def index(packages, description, key):
    db = Adb()
    entries = []
    for info, adb, size in packages:
        entries.append(pkginfo(db, info, {
            PI["hashes"]: db.blob(hashlib.sha256(adb).digest()),
            PI["file_size"]: db.int(size),
        }))
    db.root(db.obj({NDX_DESCRIPTION: db.blob(description), NDX_PACKAGES: db.arr(entries)}))
    adb = bytes(db.buf)
    blocks = [block(B_ADB, adb)]
    if key:
        blocks.append(block(B_SIG, signature(key, SCHEMA_INDEX, adb)))
    return adb_file(SCHEMA_INDEX, blocks)


def signing_key():
    key = os.environ.get("NFTOP_APK_KEY")
    if key:
        if not os.path.isfile(key):
            die("NFTOP_APK_KEY=%s: no such file" % key, 2)
        return key
    keydir = os.environ.get("NFTOP_KEY_DIR") or "dist/keys"
    key = os.path.join(keydir, "nftop-apk.key")
    if not os.path.isfile(key):
        os.makedirs(keydir, exist_ok=True)
        old = os.umask(0o077)
        try:
            openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key])
        finally:
            os.umask(old)
        print("apk feed: created the signing key %s: keep it" % key)
    return key


def write(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def main(argv):
    unsigned = False
    if argv and argv[0] == "--unsigned":
        unsigned, argv = True, argv[1:]
    if len(argv) < 3 or argv[0].startswith("-"):
        die("usage: mkapk.py [--unsigned] OUTDIR VERSION ARCH=BINARY [ARCH=BINARY ...]", 2)
    out, version, specs = argv[0], argv[1], argv[2:]
    mk = open(os.path.join(HERE, "Makefile")).read()
    release = makefile_field(mk, "PKG_RELEASE")
    full = "%s-r%s" % (version, release)
    if not re.fullmatch(r"[0-9]+(\.[0-9]+)*-r[0-9]+", full):
        die("version '%s' is not an apk version (N.N.N-rN)" % full, 2)
    info0, conffiles = metadata(full)
    mtime = int(os.environ.get("SOURCE_DATE_EPOCH") or 1700000000)
    jobs = []
    for spec in specs:
        arch, _, binary = spec.partition("=")
        if arch not in ARCHES:
            die("unknown OpenWrt architecture '%s'" % arch, 2)
        jobs.append((arch, check_elf(binary, arch)))
    key = None if unsigned else signing_key()
    os.makedirs(out, exist_ok=True)
    if key:
        write(os.path.join(out, "nftop.pem"), openssl(["pkey", "-in", key, "-pubout"]))
    for arch, binary in jobs:
        files = payload(binary)
        files.update(apk_metadata_files(files, conffiles))
        info = dict(info0, arch=arch, installed_size=sum(len(c) for _, c in files.values()))
        apk, adb = package(info, files, mtime)
        d = os.path.join(out, arch)
        os.makedirs(d, exist_ok=True)
        name = "%s-%s.apk" % (NAME, full)
        write(os.path.join(d, name), apk)
        write(os.path.join(d, "packages.adb"),
              index([(info, adb, len(apk))], "nftop %s %s" % (full, arch), key))
        print("apk feed: %s (%d bytes)" % (os.path.join(d, name), len(apk)))
    if key:
        print("apk feed: packages.adb signed with %s. On the router (OpenWrt 25.12 and later), with %s copied there:"
              % (key, os.path.join(out, "nftop.pem")))
        print("  cp nftop.pem /etc/apk/keys/")
    else:
        print("apk feed: UNSIGNED (--unsigned): the router needs apk --allow-untrusted")
    print("  echo 'https://YOUR.SERVER/PATH/ARCH/packages.adb' >> /etc/apk/repositories.d/customfeeds.list")
    print("  apk update && apk add nftop")


if __name__ == "__main__":
    main(sys.argv[1:])
