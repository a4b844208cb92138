//! The apk v3 feed writer (openwrt/mkapk.py) read back by a reader of
//! its own, written here from apk-tools' format description (doc/apk-v3.5,
//! src/adb.h, src/apk_adb.h) and sharing nothing with the writer: an
//! inflater for the "ADBd" compression, the block and value layout (tags,
//! offsets, alignment, bounds), the `pckg` and `indx` schemas, every file's
//! hash against its data block, and the index signature checked with the
//! `openssl` command. The package is compared with the .ipk of
//! openwrt/mkfeed.sh for the same binary. The binaries are the ELF headers
//! of tests/feed.rs (no cross build needed).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::feed::elf_for;

const ARCHES: [&str; 6] = [
    "x86_64",
    "aarch64_cortex-a53",
    "aarch64_generic",
    "arm_cortex-a7_neon-vfpv4",
    "mipsel_24kc",
    "mips_24kc",
];
const PCKG: u32 = 0x676b_6370;
const INDX: u32 = 0x7864_6e69;

fn tmp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("nftop-apk-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs `cmd` with `input` on stdin; its stdout, or None when it fails.
fn pipe(cmd: &mut Command, input: &[u8]) -> Option<Vec<u8>> {
    let mut c = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl (Debian's openssl package)");
    c.stdin.take().unwrap().write_all(input).unwrap();
    let o = c.wait_with_output().unwrap();
    o.status.success().then_some(o.stdout)
}

fn digest(alg: &str, data: &[u8]) -> Vec<u8> {
    pipe(Command::new("openssl").args(["dgst", alg, "-binary"]), data).unwrap()
}

fn openssl(args: &[&str]) {
    let o = Command::new("openssl").args(args).output().unwrap();
    assert!(
        o.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A P-256 private key and its PEM public key.
fn keypair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let (key, pem) = (
        dir.join(format!("{name}.key")),
        dir.join(format!("{name}.pem")),
    );
    let k = key.to_str().unwrap();
    openssl(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        k,
    ]);
    openssl(&["pkey", "-in", k, "-pubout", "-out", pem.to_str().unwrap()]);
    (key, pem)
}

/// mkapk.py OUT 9.8.7 SPECS with `env`, keys kept beside OUT by default.
fn mkapk(
    out: &Path,
    flags: &[&str],
    specs: &[String],
    env: &[(&str, &Path)],
) -> std::process::Output {
    let mut c = Command::new("python3");
    c.arg(crate::common::root().join("openwrt/mkapk.py"))
        .args(flags)
        .arg(out)
        .arg("9.8.7")
        .args(specs)
        .env_remove("NFTOP_APK_KEY")
        .env("NFTOP_KEY_DIR", out.with_extension("keys"));
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("python3")
}

fn specs(dir: &Path, arches: &[&str]) -> Vec<String> {
    arches
        .iter()
        .map(|a| format!("{a}={}", elf_for(dir, a).display()))
        .collect()
}

// ---------------------------------------------------------------------------
// Inflate (RFC 1951), for the raw deflate stream after "ADBd".

struct Bits<'a> {
    d: &'a [u8],
    pos: usize,
    bit: u32,
}

impl Bits<'_> {
    fn bit(&mut self) -> u32 {
        let b = (self.d[self.pos] >> self.bit) & 1;
        self.bit += 1;
        if self.bit == 8 {
            self.bit = 0;
            self.pos += 1;
        }
        b as u32
    }
    fn bits(&mut self, n: u32) -> u32 {
        (0..n).fold(0, |v, i| v | self.bit() << i)
    }
}

/// A canonical Huffman code: symbols per length, symbols in code order.
struct Huff {
    count: [u16; 16],
    symbol: Vec<u16>,
}

fn huff(lengths: &[u8]) -> Huff {
    let mut count = [0u16; 16];
    for &l in lengths {
        count[l as usize] += 1;
    }
    count[0] = 0;
    let mut symbol = Vec::new();
    for len in 1..16u8 {
        for (s, &l) in lengths.iter().enumerate() {
            if l == len {
                symbol.push(s as u16);
            }
        }
    }
    Huff { count, symbol }
}

fn decode(b: &mut Bits, h: &Huff) -> u16 {
    let (mut code, mut first, mut index) = (0i32, 0i32, 0i32);
    for len in 1..16 {
        code |= b.bit() as i32;
        let count = h.count[len] as i32;
        if code - count < first {
            return h.symbol[(index + code - first) as usize];
        }
        index += count;
        first = (first + count) << 1;
        code <<= 1;
    }
    panic!("inflate: bad Huffman code");
}

fn inflate(data: &[u8]) -> Vec<u8> {
    const LBASE: [u16; 29] = [
        3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115,
        131, 163, 195, 227, 258,
    ];
    const LEXT: [u8; 29] = [
        0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
    ];
    const DBASE: [u16; 30] = [
        1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
        2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
    ];
    const DEXT: [u8; 30] = [
        0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12,
        13, 13,
    ];
    const ORDER: [usize; 19] = [
        16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
    ];
    let mut b = Bits {
        d: data,
        pos: 0,
        bit: 0,
    };
    let mut out = Vec::new();
    loop {
        let last = b.bit();
        match b.bits(2) {
            0 => {
                if b.bit != 0 {
                    b.bit = 0;
                    b.pos += 1;
                }
                let len = u16::from_le_bytes([b.d[b.pos], b.d[b.pos + 1]]) as usize;
                let nlen = u16::from_le_bytes([b.d[b.pos + 2], b.d[b.pos + 3]]) as usize;
                assert_eq!(len, !nlen & 0xffff, "inflate: stored block length");
                out.extend_from_slice(&b.d[b.pos + 4..b.pos + 4 + len]);
                b.pos += 4 + len;
            }
            t @ (1 | 2) => {
                let (lit, dist) = if t == 1 {
                    let mut l = [8u8; 288];
                    l[144..256].fill(9);
                    l[256..280].fill(7);
                    (huff(&l), huff(&[5u8; 30]))
                } else {
                    let nlen = b.bits(5) as usize + 257;
                    let ndist = b.bits(5) as usize + 1;
                    let ncode = b.bits(4) as usize + 4;
                    let mut cl = [0u8; 19];
                    for &i in &ORDER[..ncode] {
                        cl[i] = b.bits(3) as u8;
                    }
                    let ch = huff(&cl);
                    let mut lens = Vec::new();
                    while lens.len() < nlen + ndist {
                        let s = decode(&mut b, &ch);
                        let (v, n) = match s {
                            0..=15 => (s as u8, 1),
                            16 => (*lens.last().expect("inflate: repeat"), 3 + b.bits(2)),
                            17 => (0, 3 + b.bits(3)),
                            _ => (0, 11 + b.bits(7)),
                        };
                        lens.extend(std::iter::repeat_n(v, n as usize));
                    }
                    (huff(&lens[..nlen]), huff(&lens[nlen..]))
                };
                loop {
                    let s = decode(&mut b, &lit) as usize;
                    if s < 256 {
                        out.push(s as u8);
                    } else if s == 256 {
                        break;
                    } else {
                        let i = s - 257;
                        let len = LBASE[i] as usize + b.bits(LEXT[i] as u32) as usize;
                        let d = decode(&mut b, &dist) as usize;
                        let back = DBASE[d] as usize + b.bits(DEXT[d] as u32) as usize;
                        assert!(back <= out.len(), "inflate: distance too far back");
                        for _ in 0..len {
                            out.push(out[out.len() - back]);
                        }
                    }
                }
            }
            _ => panic!("inflate: block type 3"),
        }
        if last == 1 {
            return out;
        }
    }
}

// ---------------------------------------------------------------------------
// The ADB container: blocks, then values in the ADB block.

struct AdbFile {
    schema: u32,
    adb: Vec<u8>,
    sigs: Vec<Vec<u8>>,
    /// DATA blocks: (path index, file index, contents).
    data: Vec<(u32, u32, Vec<u8>)>,
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn read_adb_file(bytes: &[u8]) -> AdbFile {
    assert!(bytes.starts_with(b"ADBd"), "compressed with deflate");
    let raw = inflate(&bytes[4..]);
    assert_eq!(&raw[..4], b"ADB.", "ADB magic");
    let mut f = AdbFile {
        schema: u32_at(&raw, 4),
        adb: Vec::new(),
        sigs: Vec::new(),
        data: Vec::new(),
    };
    let mut at = 8;
    let mut seen_adb = false;
    while at < raw.len() {
        assert_eq!(at % 8, 0, "blocks start 8-aligned");
        let tag = u32_at(&raw, at);
        let (kind, size) = (tag >> 30, (tag & 0x3fff_ffff) as usize);
        assert!(
            size >= 4 && at + size <= raw.len(),
            "block size {size} at {at}"
        );
        let payload = raw[at + 4..at + size].to_vec();
        let end = at + size.next_multiple_of(8);
        assert!(end <= raw.len(), "block padding present");
        assert!(raw[at + size..end].iter().all(|&b| b == 0), "zero padding");
        match kind {
            0 => {
                assert!(
                    !seen_adb && f.sigs.is_empty() && f.data.is_empty(),
                    "one ADB block, first"
                );
                seen_adb = true;
                f.adb = payload;
            }
            1 => {
                assert!(seen_adb && f.data.is_empty(), "SIG after ADB, before DATA");
                f.sigs.push(payload);
            }
            2 => {
                assert!(seen_adb, "DATA after ADB");
                assert!(payload.len() >= 8, "DATA block header");
                f.data.push((
                    u32_at(&payload, 0),
                    u32_at(&payload, 4),
                    payload[8..].to_vec(),
                ));
            }
            _ => panic!("block type {kind} (DATAX/extended) at {at}"),
        }
        at = end;
    }
    assert!(seen_adb, "an ADB block");
    assert!(f.adb.len() >= 8, "ADB header");
    assert_eq!(&f.adb[..4], &[0, 0, 0, 0], "compat version 0, version 0");
    f
}

/// A checked view of an ADB block: every value's type, bounds and
/// alignment, and objects read against their schema's field count.
struct Adb<'a>(&'a [u8]);

const BLOB8: u32 = 0x8;
const BLOB16: u32 = 0x9;
const BLOB32: u32 = 0xa;
const ARRAY: u32 = 0xd;
const OBJECT: u32 = 0xe;

impl Adb<'_> {
    fn at(&self, v: u32, align: usize, len: usize) -> usize {
        let off = (v & 0x0fff_ffff) as usize;
        assert!(off >= 8, "value {v:#x} points into the ADB header");
        assert_eq!(off % align, 0, "value {v:#x} is not {align}-aligned");
        assert!(
            off + len <= self.0.len(),
            "value {v:#x} runs past the ADB block"
        );
        off
    }
    fn int(&self, v: u32) -> u64 {
        match v >> 28 {
            0x1 => (v & 0x0fff_ffff) as u64,
            0x2 => u32_at(self.0, self.at(v, 4, 4)) as u64,
            0x3 => {
                let o = self.at(v, 4, 8);
                u64::from_le_bytes(self.0[o..o + 8].try_into().unwrap())
            }
            t => panic!("value {v:#x}: type {t:#x} where an integer belongs"),
        }
    }
    fn blob(&self, v: u32) -> &[u8] {
        let (o, n) = match v >> 28 {
            BLOB8 => {
                let o = self.at(v, 1, 1);
                (o + 1, self.0[o] as usize)
            }
            BLOB16 => {
                let o = self.at(v, 2, 2);
                (
                    o + 2,
                    u16::from_le_bytes([self.0[o], self.0[o + 1]]) as usize,
                )
            }
            BLOB32 => {
                let o = self.at(v, 4, 4);
                (o + 4, u32_at(self.0, o) as usize)
            }
            t => panic!("value {v:#x}: type {t:#x} where a blob belongs"),
        };
        assert!(o + n <= self.0.len(), "blob {v:#x} runs past the ADB block");
        assert!(n > 0, "an empty blob is written as null");
        &self.0[o..o + n]
    }
    /// Slots 1.. of an object or array (slot 0 is the count).
    fn slots(&self, v: u32, kind: u32, max_fields: usize) -> Vec<u32> {
        assert_eq!(v >> 28, kind, "value {v:#x}: want type {kind:#x}");
        let o = self.at(v, 4, 4);
        let n = u32_at(self.0, o) as usize;
        assert!(n >= 2, "object {v:#x} with no fields is written as null");
        self.at(v, 4, 4 * n);
        assert!(
            n <= max_fields,
            "object {v:#x}: {n} slots, schema has {max_fields}"
        );
        (1..n).map(|i| u32_at(self.0, o + 4 * i)).collect()
    }
    fn obj(&self, v: u32, max_fields: usize) -> Obj<'_> {
        Obj(self, self.slots(v, OBJECT, max_fields))
    }
    fn arr(&self, v: u32) -> Vec<u32> {
        self.slots(v, ARRAY, usize::MAX)
    }
    fn root(&self) -> u32 {
        u32_at(self.0, 4)
    }
}

struct Obj<'a>(&'a Adb<'a>, Vec<u32>);

impl Obj<'_> {
    fn raw(&self, field: usize) -> u32 {
        self.1.get(field - 1).copied().unwrap_or(0)
    }
    fn str(&self, field: usize) -> Option<String> {
        let v = self.raw(field);
        (v != 0).then(|| String::from_utf8(self.0.blob(v).to_vec()).unwrap())
    }
    fn bytes(&self, field: usize) -> Option<Vec<u8>> {
        let v = self.raw(field);
        (v != 0).then(|| self.0.blob(v).to_vec())
    }
    fn int(&self, field: usize) -> Option<u64> {
        let v = self.raw(field);
        (v != 0).then(|| self.0.int(v))
    }
    fn arr(&self, field: usize) -> Vec<u32> {
        let v = self.raw(field);
        if v == 0 {
            return Vec::new();
        }
        self.0.arr(v)
    }
}

// Field counts (schema num_fields, slot 0 included) and numbers.
const PKGINFO_SLOTS: usize = 0x16;
const PKG_SLOTS: usize = 6;
const DIR_SLOTS: usize = 4;
const FILE_SLOTS: usize = 7;
const ACL_SLOTS: usize = 5;
const SCRIPT_SLOTS: usize = 8;
const INDEX_SLOTS: usize = 4;
const DEP_SLOTS: usize = 4;

/// A package's info, as both the package and the index hold it.
#[derive(Debug, PartialEq)]
struct Info {
    fields: BTreeMap<&'static str, String>,
    installed_size: u64,
    depends: Vec<String>,
    hashes: Vec<u8>,
    file_size: Option<u64>,
}

fn read_info(a: &Adb, v: u32) -> Info {
    let o = a.obj(v, PKGINFO_SLOTS);
    let mut fields = BTreeMap::new();
    for (k, i) in [
        ("name", 1),
        ("version", 2),
        ("description", 4),
        ("arch", 5),
        ("license", 6),
        ("origin", 7),
        ("maintainer", 8),
        ("url", 9),
    ] {
        fields.insert(k, o.str(i).unwrap_or_else(|| panic!("info has no {k}")));
    }
    let depends = o
        .arr(15)
        .into_iter()
        .map(|d| {
            let dep = a.obj(d, DEP_SLOTS);
            assert_eq!(dep.raw(2), 0, "no version constraint");
            dep.str(1).unwrap()
        })
        .collect();
    Info {
        fields,
        installed_size: o.int(12).expect("installed-size"),
        depends,
        hashes: o.bytes(3).expect("hashes"),
        file_size: o.int(13),
    }
}

/// A file of a package: mode, owner, mtime, contents (from its DATA block).
#[derive(Debug)]
struct File {
    mode: u64,
    mtime: u64,
    data: Vec<u8>,
}

struct Package {
    info: Info,
    files: BTreeMap<String, File>,
    dirs: Vec<(String, u64)>,
    scripts: BTreeMap<&'static str, String>,
}

fn acl(a: &Adb, v: u32) -> u64 {
    let acl = a.obj(v, ACL_SLOTS);
    assert_eq!(acl.str(2).as_deref(), Some("root"), "owner");
    assert_eq!(acl.str(3).as_deref(), Some("root"), "group");
    acl.int(1).expect("mode")
}

fn read_package(f: &AdbFile) -> Package {
    assert_eq!(f.schema, PCKG);
    let a = Adb(&f.adb);
    let root = a.obj(a.root(), PKG_SLOTS);
    let info = read_info(&a, root.raw(1));
    assert_eq!(info.hashes.len(), 20, "a package's unique id is 20 bytes");
    assert_eq!(info.file_size, None);
    let mut files = BTreeMap::new();
    let mut dirs = Vec::new();
    let mut want_data = Vec::new();
    let paths = root.arr(2);
    let mut last_dir: Option<String> = None;
    for (pi, &d) in paths.iter().enumerate() {
        let dir = a.obj(d, DIR_SLOTS);
        let name = dir.str(1).unwrap_or_default();
        assert!(last_dir.as_ref().is_none_or(|l| *l < name), "paths sorted");
        last_dir = Some(name.clone());
        dirs.push((name.clone(), acl(&a, dir.raw(2))));
        let mut last_file = String::new();
        for (fi, &e) in dir.arr(3).iter().enumerate() {
            let file = a.obj(e, FILE_SLOTS);
            let fname = file.str(1).expect("file name");
            assert!(last_file < fname, "files sorted");
            last_file = fname.clone();
            assert_eq!(file.raw(6), 0, "no link target");
            let size = file.int(3).unwrap_or(0);
            let hash = file.bytes(5).expect("file hash");
            assert_eq!(hash.len(), 32, "sha256");
            let path = if name.is_empty() {
                fname
            } else {
                format!("{name}/{fname}")
            };
            if size > 0 {
                want_data.push((pi as u32 + 1, fi as u32 + 1, path.clone(), size, hash));
            } else {
                assert_eq!(hash, digest("-sha256", b""));
            }
            files.insert(
                path,
                File {
                    mode: acl(&a, file.raw(2)),
                    mtime: file.int(4).expect("mtime"),
                    data: Vec::new(),
                },
            );
        }
    }
    // One DATA block per non-empty file, in path and file order, each
    // matching its size and hash.
    assert_eq!(f.data.len(), want_data.len(), "DATA blocks");
    for ((p, i, data), (wp, wi, path, size, hash)) in f.data.iter().zip(want_data) {
        assert_eq!((*p, *i), (wp, wi), "{path}: DATA block indices");
        assert_eq!(data.len() as u64, size, "{path}: size");
        assert_eq!(digest("-sha256", data), hash, "{path}: sha256");
        files.get_mut(&path).unwrap().data = data.clone();
    }
    let s = a.obj(root.raw(3), SCRIPT_SLOTS);
    let mut scripts = BTreeMap::new();
    for (k, i) in [
        ("trigger", 1),
        ("pre-install", 2),
        ("post-install", 3),
        ("pre-deinstall", 4),
        ("post-deinstall", 5),
        ("pre-upgrade", 6),
        ("post-upgrade", 7),
    ] {
        if let Some(t) = s.str(i) {
            scripts.insert(k, t);
        }
    }
    Package {
        info,
        files,
        dirs,
        scripts,
    }
}

/// (description, packages' info) of an index.
fn read_index(f: &AdbFile) -> (String, Vec<Info>) {
    assert_eq!(f.schema, INDX);
    assert!(f.data.is_empty(), "an index has no DATA blocks");
    let a = Adb(&f.adb);
    let root = a.obj(a.root(), INDEX_SLOTS);
    let pkgs = root.arr(2).into_iter().map(|p| read_info(&a, p)).collect();
    (root.str(1).unwrap_or_default(), pkgs)
}

/// apk's v0 signature check (adb.c adb_trust_verify_signature) with the
/// openssl command: the key id is the start of the SHA-512 of the public
/// point; ECDSA/SHA-512 over the schema, the signature header and the
/// SHA-512 of the ADB block.
fn signature_ok(schema: u32, adb: &[u8], sig: &[u8], pem: &Path, dir: &Path) -> bool {
    assert!(sig.len() > 18, "signature block");
    assert_eq!(&sig[..2], &[0, 4], "signature v0 over SHA-512");
    let der = Command::new("openssl")
        .args(["pkey", "-pubin", "-outform", "DER", "-in"])
        .arg(pem)
        .output()
        .unwrap()
        .stdout;
    assert_eq!(der.len(), 91, "a P-256 public key");
    if digest("-sha512", &der[26..])[..16] != sig[2..18] {
        return false;
    }
    let mut msg = schema.to_le_bytes().to_vec();
    msg.extend_from_slice(&sig[..18]);
    msg.extend(digest("-sha512", adb));
    let sigfile = dir.join(format!("sig-{}", std::process::id()));
    std::fs::write(&sigfile, &sig[18..]).unwrap();
    let ok = pipe(
        Command::new("openssl")
            .args(["dgst", "-sha512", "-verify"])
            .arg(pem)
            .arg("-signature")
            .arg(&sigfile),
        &msg,
    )
    .is_some();
    std::fs::remove_file(sigfile).unwrap();
    ok
}

fn makefile() -> String {
    std::fs::read_to_string(crate::common::root().join("openwrt/Makefile")).unwrap()
}

fn mk_field(mk: &str, key: &str) -> String {
    mk.lines()
        .find_map(|l| l.trim_start().strip_prefix(&format!("{key}:=")))
        .unwrap_or_else(|| panic!("openwrt/Makefile has no {key}"))
        .trim()
        .to_string()
}

fn mk_define<'a>(mk: &'a str, name: &str) -> &'a str {
    mk.split(&format!("define {name}\n"))
        .nth(1)
        .and_then(|s| s.split("endef").next())
        .unwrap_or_else(|| panic!("openwrt/Makefile has no define {name}"))
}

/// Files of an .ipk's data.tar.gz: path -> (mode, contents); and its conffiles.
fn ipk_files(ipk: &Path, dir: &Path) -> (BTreeMap<String, (u64, Vec<u8>)>, String) {
    std::fs::create_dir_all(dir).unwrap();
    let x = |a: &Path, to: &Path| {
        std::fs::create_dir_all(to).unwrap();
        assert!(Command::new("tar")
            .arg("xzf")
            .arg(a)
            .arg("-C")
            .arg(to)
            .status()
            .unwrap()
            .success());
    };
    x(ipk, dir);
    x(&dir.join("data.tar.gz"), &dir.join("data"));
    x(&dir.join("control.tar.gz"), &dir.join("control"));
    let mut out = BTreeMap::new();
    let list = Command::new("tar")
        .arg("tvzf")
        .arg(dir.join("data.tar.gz"))
        .output()
        .unwrap();
    for l in String::from_utf8(list.stdout).unwrap().lines() {
        let (perm, path) = (
            l.split_whitespace().next().unwrap(),
            l.rsplit(' ').next().unwrap(),
        );
        let path = path.trim_start_matches("./");
        // Regular files only ("-rwxr-xr-x"), the mode from the 9 letters.
        if let Some(bits) = perm.strip_prefix('-') {
            let mode = bits.chars().fold(0u64, |m, c| (m << 1) | (c != '-') as u64);
            out.insert(
                path.to_string(),
                (mode, std::fs::read(dir.join("data").join(path)).unwrap()),
            );
        }
    }
    let conffiles = std::fs::read_to_string(dir.join("control/conffiles")).unwrap();
    (out, conffiles)
}

#[test]
fn apk_feed_for_every_architecture_holds_what_the_ipk_holds() {
    let dir = tmp("all");
    let specs = specs(&dir, &ARCHES);
    let (key, _) = keypair(&dir, "feed");
    let out = dir.join("apk");
    let o = mkapk(&out, &[], &specs, &[("NFTOP_APK_KEY", &key)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("/etc/apk/keys/") && stdout.contains("customfeeds.list"),
        "{stdout}"
    );
    let ipks = dir.join("ipk");
    let o = Command::new("sh")
        .arg(crate::common::root().join("openwrt/mkfeed.sh"))
        .arg(&ipks)
        .arg("9.8.7")
        .args(&specs)
        .env_remove("NFTOP_SIGN_KEY")
        .env("NFTOP_KEY_DIR", dir.join("usign"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let mk = makefile();
    let version = format!("9.8.7-r{}", mk_field(&mk, "PKG_RELEASE"));
    let description: String = mk_define(&mk, "Package/nftop/description")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        description.len() <= 256,
        "OpenWrt cuts descriptions to 256 bytes"
    );
    let mut deps: Vec<String> = mk_field(&mk, "DEPENDS")
        .split_whitespace()
        .filter_map(|d| d.strip_prefix('+'))
        .map(String::from)
        .chain(["libc".to_string()])
        .collect();
    deps.sort();
    let pem = out.join("nftop.pem");
    for arch in ARCHES {
        let name = format!("nftop-{version}.apk");
        let apk_bytes = std::fs::read(out.join(arch).join(&name)).unwrap();
        let apk = read_adb_file(&apk_bytes);
        assert!(apk.sigs.is_empty(), "packages are unsigned, as OpenWrt's");
        let pkg = read_package(&apk);
        let f = |k: &str| pkg.info.fields[k].as_str();
        assert_eq!(f("name"), "nftop");
        assert_eq!(f("version"), version);
        assert_eq!(f("arch"), arch);
        assert_eq!(f("description"), description);
        assert_eq!(f("license"), mk_field(&mk, "PKG_LICENSE"));
        assert_eq!(f("url"), mk_field(&mk, "URL"));
        assert_eq!(f("maintainer"), mk_field(&mk, "PKG_MAINTAINER"));
        assert_eq!(pkg.info.depends, deps, "{arch}: depends");
        // The unique id: the first 20 bytes of the SHA-256 of the ADB block
        // with a zero id (apk mkpkg's).
        let mut zeroed = apk.adb.clone();
        let at = zeroed
            .windows(21)
            .position(|w| w[0] == 20 && w[1..] == pkg.info.hashes[..])
            .unwrap();
        zeroed[at + 1..at + 21].fill(0);
        assert_eq!(digest("-sha256", &zeroed)[..20], pkg.info.hashes[..]);

        // The same files, bytes and modes as the .ipk, plus OpenWrt's
        // /lib/apk/packages metadata.
        let (ipk, conffiles) = ipk_files(
            &ipks.join(arch).join(format!("nftop_9.8.7_{arch}.ipk")),
            &dir.join(format!("x-{arch}")),
        );
        let meta = ["nftop.conffiles", "nftop.conffiles_static", "nftop.list"]
            .map(|m| format!("lib/apk/packages/{m}"));
        let mut want: Vec<&String> = ipk.keys().chain(meta.iter()).collect();
        want.sort();
        assert_eq!(pkg.files.keys().collect::<Vec<_>>(), want, "{arch}: files");
        for (path, (mode, data)) in &ipk {
            let got = &pkg.files[path];
            assert_eq!(got.mode, *mode, "{arch}: {path} mode");
            assert!(got.data == *data, "{arch}: {path} differs from the ipk's");
            assert_eq!(got.mtime, 1_700_000_000, "{arch}: {path} mtime");
        }
        let text = |p: &str| String::from_utf8(pkg.files[p].data.clone()).unwrap();
        assert_eq!(text(&meta[0]), conffiles, "the ipk's conffiles");
        let listed: String = ipk.keys().map(|p| format!("/{p}\n")).collect();
        assert_eq!(text(&meta[2]), listed, "nftop.list: the files, sorted");
        let statics: String = conffiles
            .lines()
            .map(|c| {
                let h = digest("-sha256", &ipk[&c[1..]].1);
                let hex: String = h.iter().map(|b| format!("{b:02x}")).collect();
                format!("{c} {hex}\n")
            })
            .collect();
        assert_eq!(text(&meta[1]), statics, "nftop.conffiles_static");
        for m in &meta {
            assert_eq!(pkg.files[m].mode, 0o644);
        }
        let sizes: u64 = pkg.files.values().map(|f| f.data.len() as u64).sum();
        assert_eq!(pkg.info.installed_size, sizes);
        // Every directory on the way, root-owned 0755; the root first.
        for (d, mode) in &pkg.dirs {
            assert_eq!(*mode, 0o755, "{d}");
        }
        assert_eq!(pkg.dirs[0].0, "");
        for p in pkg.files.keys() {
            let parent = p.rsplit_once('/').unwrap().0;
            assert!(
                pkg.dirs.iter().any(|(d, _)| d == parent),
                "{p}: its directory"
            );
        }
        // OpenWrt's scripts for a service: enabled and started on install
        // (nftop's start_service does nothing until enabled in UCI),
        // stopped and disabled on removal, left enabled or not on upgrade.
        assert_eq!(
            pkg.scripts.keys().copied().collect::<Vec<_>>(),
            ["post-install", "post-upgrade", "pre-deinstall"]
        );
        for (k, s) in &pkg.scripts {
            assert!(s.starts_with("#!/bin/sh\n"), "{k}");
            assert!(s.contains("export pkgname=\"nftop\"\n"), "{k}");
            assert!(s.contains(". ${IPKG_INSTROOT}/lib/functions.sh\n"), "{k}");
        }
        assert!(pkg.scripts["post-install"].ends_with("default_postinst\n"));
        assert!(pkg.scripts["post-upgrade"].starts_with("#!/bin/sh\nexport PKG_UPGRADE=1\n"));
        assert!(pkg.scripts["pre-deinstall"].ends_with("default_prerm\n"));

        // The index: this package's info with the SHA-256 of its ADB block
        // and the file's size, signed by the key beside the feed.
        let ndx = read_adb_file(&std::fs::read(out.join(arch).join("packages.adb")).unwrap());
        let (desc, pkgs) = read_index(&ndx);
        assert!(desc.contains(arch), "{desc}");
        assert_eq!(pkgs.len(), 1);
        assert_eq!(
            pkgs[0].hashes,
            digest("-sha256", &apk.adb),
            "{arch}: index hash"
        );
        assert_eq!(pkgs[0].file_size, Some(apk_bytes.len() as u64));
        assert_eq!(pkgs[0].fields, pkg.info.fields);
        assert_eq!(pkgs[0].depends, pkg.info.depends);
        assert_eq!(pkgs[0].installed_size, pkg.info.installed_size);
        assert_eq!(ndx.sigs.len(), 1, "one signature");
        assert!(
            signature_ok(INDX, &ndx.adb, &ndx.sigs[0], &pem, &dir),
            "{arch}: the index signature verifies with nftop.pem"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn apk_index_signature_fails_on_a_flipped_byte_or_a_foreign_key() {
    let dir = tmp("sig");
    let (key, pem) = keypair(&dir, "mine");
    let (_, foreign) = keypair(&dir, "foreign");
    let out = dir.join("apk");
    let o = mkapk(
        &out,
        &[],
        &specs(&dir, &["mipsel_24kc"]),
        &[("NFTOP_APK_KEY", &key)],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        std::fs::read(out.join("nftop.pem")).unwrap(),
        std::fs::read(&pem).unwrap()
    );
    let ndx = read_adb_file(&std::fs::read(out.join("mipsel_24kc/packages.adb")).unwrap());
    let sig = &ndx.sigs[0];
    assert!(signature_ok(INDX, &ndx.adb, sig, &pem, &dir));
    assert!(
        !signature_ok(INDX, &ndx.adb, sig, &foreign, &dir),
        "a foreign key"
    );
    // A flipped bit anywhere in the signed block or the signature.
    for at in [8, ndx.adb.len() / 2, ndx.adb.len() - 1] {
        let mut adb = ndx.adb.clone();
        adb[at] ^= 1;
        assert!(
            !signature_ok(INDX, &adb, sig, &pem, &dir),
            "flipped byte {at}"
        );
    }
    let mut bad = sig.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert!(
        !signature_ok(INDX, &ndx.adb, &bad, &pem, &dir),
        "flipped signature"
    );
    assert!(
        !signature_ok(PCKG, &ndx.adb, sig, &pem, &dir),
        "another schema"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Same inputs, same bytes (the signature apart); a key made once and
/// kept when none is given; no signature only when asked for.
#[test]
fn apk_feed_is_reproducible_keeps_its_key_and_is_unsigned_only_on_request() {
    let dir = tmp("repro");
    let spec = specs(&dir, &["aarch64_generic"]);
    let (a, b) = (dir.join("a"), dir.join("b"));
    let keys = dir.join("keys");
    let env: &[(&str, &Path)] = &[("NFTOP_KEY_DIR", &keys)];
    let o = mkapk(&a, &[], &spec, env);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("created the signing key"));
    let o = mkapk(&b, &[], &spec, env);
    assert!(o.status.success());
    assert!(!String::from_utf8_lossy(&o.stdout).contains("created the signing key"));
    let name = format!("nftop-9.8.7-r{}.apk", mk_field(&makefile(), "PKG_RELEASE"));
    let read = |d: &Path, f: &str| std::fs::read(d.join("aarch64_generic").join(f)).unwrap();
    assert!(
        read(&a, &name) == read(&b, &name),
        "the package, byte for byte"
    );
    let (ia, ib) = (
        read_adb_file(&read(&a, "packages.adb")),
        read_adb_file(&read(&b, "packages.adb")),
    );
    assert_eq!(ia.adb, ib.adb, "the index apart from its signature");
    assert_eq!(
        std::fs::read(a.join("nftop.pem")).unwrap(),
        std::fs::read(b.join("nftop.pem")).unwrap(),
        "the key is kept"
    );
    for d in [&a, &b] {
        let ndx = read_adb_file(&read(d, "packages.adb"));
        assert!(signature_ok(
            INDX,
            &ndx.adb,
            &ndx.sigs[0],
            &d.join("nftop.pem"),
            &dir
        ));
    }
    // --unsigned: no SIG block and no public key; the rest the same.
    let u = dir.join("u");
    let o = mkapk(&u, &["--unsigned"], &spec, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("--allow-untrusted"));
    let iu = read_adb_file(&read(&u, "packages.adb"));
    assert!(iu.sigs.is_empty());
    assert_eq!(iu.adb, ia.adb);
    assert!(!u.join("nftop.pem").exists());
    assert!(
        !u.with_extension("keys").exists(),
        "no key made when unsigned"
    );
    assert!(read(&u, &name) == read(&a, &name));
    // A key that is not EC P-256 is refused, not used.
    let rsa = dir.join("rsa.key");
    openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-out",
        rsa.to_str().unwrap(),
    ]);
    let o = mkapk(&dir.join("r"), &[], &spec, &[("NFTOP_APK_KEY", &rsa)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not an EC P-256 private key"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn apk_feed_refuses_unknown_architectures_wrong_cpus_and_dynamic_binaries() {
    let dir = tmp("bad");
    let bin = elf_for(&dir, "mipsel_24kc");
    let o = mkapk(
        &dir.join("f1"),
        &["--unsigned"],
        &[format!("mipsel_24k={}", bin.display())],
        &[],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("unknown OpenWrt architecture 'mipsel_24k'")
    );
    for (arch, from) in [("mips_24kc", "mipsel_24kc"), ("mipsel_24kc", "x86_64")] {
        let o = mkapk(
            &dir.join("f2"),
            &["--unsigned"],
            &[format!("{arch}={}", elf_for(&dir, from).display())],
            &[],
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{from} as {arch}: {err}");
        assert!(err.contains(&format!("not one for {arch}")), "{err}");
    }
    // The test binary itself is dynamically linked.
    let dynamic = std::env::current_exe().unwrap();
    let o = mkapk(
        &dir.join("f3"),
        &["--unsigned"],
        &[format!("x86_64={}", dynamic.display())],
        &[],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("dynamically linked"));
    assert!(!dir.join("f3").join("x86_64").exists(), "nothing written");
    std::fs::remove_dir_all(&dir).unwrap();
}
