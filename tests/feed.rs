//! The OpenWrt feed writer (openwrt/mkfeed.sh): archive layout, control
//! fields, the index, and refusals (unknown architecture, a binary for
//! another CPU, a dynamic binary). The packaged "binaries" are ELF headers
//! with the right machine and byte order for each architecture, so the
//! tests run without the cross builds.

use std::path::{Path, PathBuf};
use std::process::Command;

fn tmp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("nftop-feed-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A static executable's ELF header (no program headers, so no
/// interpreter) for an OpenWrt architecture: what `readelf -h` reads.
pub(crate) fn elf_for(dir: &Path, arch: &str) -> PathBuf {
    // (64-bit, big-endian, e_machine)
    let (wide, big, machine): (bool, bool, u16) = match arch {
        "x86_64" => (true, false, 62),
        "aarch64_cortex-a53" | "aarch64_generic" => (true, false, 183),
        "arm_cortex-a7_neon-vfpv4" => (false, false, 40),
        "mipsel_24kc" => (false, false, 8),
        "mips_24kc" => (false, true, 8),
        a => panic!("no ELF stub for {a}"),
    };
    let u16b = |v: u16| {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let mut h = vec![0x7f, b'E', b'L', b'F', 1 + wide as u8, 1 + big as u8, 1];
    h.resize(16, 0);
    h.extend_from_slice(&u16b(2)); // e_type: EXEC
    h.extend_from_slice(&u16b(machine));
    h.extend_from_slice(&if big {
        1u32.to_be_bytes()
    } else {
        1u32.to_le_bytes()
    });
    let ehsize: u16 = if wide { 64 } else { 52 };
    // entry, phoff, shoff (addresses: 8 or 4 bytes each), flags.
    h.resize(h.len() + if wide { 24 } else { 12 } + 4, 0);
    h.extend_from_slice(&u16b(ehsize));
    h.resize(ehsize as usize, 0);
    let path = dir.join(format!("elf-{arch}"));
    std::fs::write(&path, h).unwrap();
    path
}

/// mkfeed with its default signing key kept beside `out` (not in dist/).
fn mkfeed(out: &Path, specs: &[String]) -> std::process::Output {
    Command::new("sh")
        .arg(crate::common::root().join("openwrt/mkfeed.sh"))
        .arg(out)
        .arg("9.8.7")
        .args(specs)
        .env_remove("NFTOP_SIGN_KEY")
        .env("NFTOP_KEY_DIR", out.with_extension("keys"))
        .output()
        .unwrap()
}

fn tar_list(archive: &Path) -> Vec<String> {
    let o = Command::new("tar")
        .arg("tzf")
        .arg(archive)
        .output()
        .unwrap();
    assert!(o.status.success(), "{} is a gzip tar", archive.display());
    String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

/// Unpacks an .ipk (a gzip tar) into `into`; returns `into`.
fn unpack(ipk: &Path, into: &Path) -> PathBuf {
    std::fs::create_dir_all(into).unwrap();
    let ok = Command::new("tar")
        .arg("xzf")
        .arg(ipk)
        .arg("-C")
        .arg(into)
        .status();
    assert!(ok.is_ok_and(|s| s.success()), "{} unpacks", ipk.display());
    into.to_path_buf()
}

fn tar_cat(archive: &Path, member: &str) -> Vec<u8> {
    let o = Command::new("tar")
        .arg("xzOf")
        .arg(archive)
        .arg(member)
        .output()
        .unwrap();
    assert!(o.status.success(), "{member} in {}", archive.display());
    o.stdout
}

#[test]
fn feed_layout_control_fields_and_index_for_every_architecture() {
    let dir = tmp("ok");
    let arches = [
        "x86_64",
        "aarch64_cortex-a53",
        "aarch64_generic",
        "arm_cortex-a7_neon-vfpv4",
        "mipsel_24kc",
        "mips_24kc",
    ];
    let specs: Vec<String> = arches
        .iter()
        .map(|a| format!("{a}={}", elf_for(&dir, a).display()))
        .collect();
    let feed = dir.join("feed");
    let o = mkfeed(&feed, &specs);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for arch in arches {
        let ipk = feed.join(arch).join(format!("nftop_9.8.7_{arch}.ipk"));
        let mut outer = tar_list(&ipk);
        outer.sort();
        assert_eq!(
            outer,
            vec!["./control.tar.gz", "./data.tar.gz", "./debian-binary"],
            "{arch}"
        );
        let x = unpack(&ipk, &dir.join(format!("x-{arch}")));
        assert_eq!(std::fs::read(x.join("debian-binary")).unwrap(), b"2.0\n");
        let control = String::from_utf8(tar_cat(&x.join("control.tar.gz"), "./control")).unwrap();
        let field = |k: &str| {
            control
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{k}: ")).map(String::from))
        };
        assert_eq!(field("Package").as_deref(), Some("nftop"));
        assert_eq!(field("Version").as_deref(), Some("9.8.7"));
        assert_eq!(field("Architecture").as_deref(), Some(arch));
        assert!(field("Depends")
            .unwrap()
            .contains("kmod-nf-conntrack-netlink"));
        for k in ["License", "Section", "URL", "Installed-Size", "Description"] {
            assert!(field(k).is_some(), "{arch}: control lacks {k}");
        }
        let last_field = control.lines().rfind(|l| !l.starts_with(' ')).unwrap();
        assert!(
            last_field.starts_with("Description: "),
            "Description comes last: {control}"
        );
        let data = tar_list(&x.join("data.tar.gz"));
        assert!(data.contains(&"./usr/sbin/nftop".to_string()), "{data:?}");
        let man = tar_cat(&x.join("data.tar.gz"), "./usr/share/man/man8/nftop.8.gz");
        // gzip, and small: it grows with the flags (4.1 KB in December 2026, with 47 of
        // them); the bound catches a wrong file, not a long option.
        assert!(
            man.starts_with(&[0x1f, 0x8b]) && man.len() < 6144,
            "{arch}: man page"
        );
        let size: u64 = field("Installed-Size").unwrap().parse().unwrap();
        assert!(size >= std::fs::metadata(elf_for(&dir, arch)).unwrap().len());
        // The index: the control paragraph plus Filename, Size, SHA256sum.
        let idx = std::fs::read_to_string(feed.join(arch).join("Packages")).unwrap();
        let ifield = |k: &str| {
            idx.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}: ")).map(String::from))
                .unwrap()
        };
        assert_eq!(ifield("Filename"), format!("nftop_9.8.7_{arch}.ipk"));
        assert_eq!(
            ifield("Size").parse::<u64>().unwrap(),
            std::fs::metadata(&ipk).unwrap().len()
        );
        let sha = Command::new("sha256sum").arg(&ipk).output().unwrap();
        assert_eq!(
            ifield("SHA256sum"),
            String::from_utf8(sha.stdout)
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
        );
        let gz = Command::new("gzip")
            .arg("-dc")
            .arg(feed.join(arch).join("Packages.gz"))
            .output()
            .unwrap();
        assert_eq!(gz.stdout, idx.as_bytes());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn feed_refuses_unknown_architectures_wrong_cpus_and_dynamic_binaries() {
    let dir = tmp("bad");
    let bin = elf_for(&dir, "mipsel_24kc");
    let o = mkfeed(&dir.join("f1"), &[format!("mipsel_24k={}", bin.display())]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("unknown OpenWrt architecture 'mipsel_24k'")
    );
    // Another CPU, or the other byte order of the same one.
    for (arch, from) in [("mips_24kc", "mipsel_24kc"), ("mipsel_24kc", "x86_64")] {
        let o = mkfeed(
            &dir.join("f3"),
            &[format!("{arch}={}", elf_for(&dir, from).display())],
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{from} as {arch}: {err}");
        assert!(err.contains(&format!("not one for {arch}")), "{err}");
    }
    // The test binary itself is dynamically linked.
    let dynamic = std::env::current_exe().unwrap();
    let o = mkfeed(&dir.join("f2"), &[format!("x86_64={}", dynamic.display())]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("dynamically linked"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn versions_agree() {
    let o = Command::new("make")
        .arg("-s")
        .arg("version-check")
        .current_dir(crate::common::root())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// `signify-openbsd -V` of `dir`'s Packages against Packages.sig.
fn verifies(public: &Path, dir: &Path) -> bool {
    Command::new("signify-openbsd")
        .arg("-V")
        .arg("-p")
        .arg(public)
        .arg("-m")
        .arg(dir.join("Packages"))
        .arg("-x")
        .arg(dir.join("Packages.sig"))
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A signed feed: Packages.sig verifies with the public key (usign, which
/// routers use, reads signify's ed25519 keys and signatures).
#[test]
fn signed_feed_verifies() {
    let dir = tmp("sig");
    let bin = elf_for(&dir, "mipsel_24kc");
    let (public, secret) = (dir.join("k.pub"), dir.join("k.sec"));
    let g = Command::new("signify-openbsd")
        .arg("-G")
        .arg("-n")
        .arg("-p")
        .arg(&public)
        .arg("-s")
        .arg(&secret)
        .status();
    assert!(
        g.is_ok_and(|s| s.success()),
        "signify-openbsd -G (make deps installs it)"
    );
    let feed = dir.join("feed");
    let o = Command::new("sh")
        .arg(crate::common::root().join("openwrt/mkfeed.sh"))
        .arg(&feed)
        .arg("1.2.3")
        .arg(format!("mipsel_24kc={}", bin.display()))
        .env("NFTOP_SIGN_KEY", &secret)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let d = feed.join("mipsel_24kc");
    assert!(verifies(&public, &d), "Packages.sig verifies");
    // A changed index must not verify.
    std::fs::write(d.join("Packages"), b"Package: evil\n").unwrap();
    assert!(!verifies(&public, &d), "a changed index must not verify");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The man page describes every flag `nftop -h` lists, short and long.
#[test]
fn man_page_covers_every_flag_of_the_help() {
    let help = Command::new(crate::common::bin())
        .arg("-h")
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    let man = std::fs::read_to_string(crate::common::root().join("openwrt/nftop.8")).unwrap();
    // troff writes a literal minus as "\-".
    let man = man.replace("\\-", "-");
    let mut flags = 0;
    for word in help.split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == ']') {
        let flag = word.trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
        let is_flag = (flag.starts_with("--") && flag.len() > 3)
            || (flag.len() == 2 && flag.starts_with('-') && flag != "--");
        if is_flag {
            flags += 1;
            assert!(
                man.contains(flag),
                "openwrt/nftop.8 does not describe {flag}"
            );
        }
    }
    assert!(flags > 40, "found only {flags} flags in nftop -h");
}

/// The flags in a piece of text: `-x` (one letter or digit) and `--long`,
/// each cut from its argument and punctuation.
fn flags_in(text: &str) -> std::collections::BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|w| {
            let long = w.len() > 3 && w.starts_with("--") && w.as_bytes()[2].is_ascii_lowercase();
            let short =
                w.len() == 2 && w.starts_with('-') && w.as_bytes()[1].is_ascii_alphanumeric();
            long || short
        })
        .map(str::to_string)
        .collect()
}

/// One flag list in three places (issue 22: they drifted apart): every
/// flag of `nftop -h` is in the README's flag table and in the man page's
/// OPTIONS, and neither names a flag the binary lacks. Only the option
/// column of the help counts (`-a, --age 0|1|2`), so the test also sees a
/// flag that the help describes but no other text mentions.
#[test]
fn readme_flag_table_and_man_page_name_exactly_the_flags_of_the_help() {
    let out = Command::new(crate::common::bin())
        .arg("-h")
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    // Option lines start with a flag; the option column ends at the first
    // run of two spaces.
    let help: std::collections::BTreeSet<String> = help
        .lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with('-'))
        .flat_map(|l| flags_in(l.split("  ").next().unwrap()))
        .collect();
    assert!(
        help.len() > 70,
        "only {} flags in nftop -h: {help:?}",
        help.len()
    );

    let root = crate::common::root();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    // The table: the rows of the "## Flags" section; a row's first cell
    // holds its flags.
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with("Flags\n"))
        .expect("README has a \"## Flags\" section");
    let table: std::collections::BTreeSet<String> = section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .flat_map(|l| flags_in(l.split(" | ").next().unwrap()))
        .collect();
    // Elsewhere in the README a long flag must be real too (link targets
    // such as `#json-lines---json` are not flags).
    let mut prose = String::new();
    for (i, part) in readme.split("](").enumerate() {
        prose.push_str(if i == 0 {
            part
        } else {
            part.split_once(')').map_or("", |p| p.1)
        });
        prose.push(' ');
    }
    let readme_long: Vec<String> = flags_in(&prose)
        .into_iter()
        .filter(|f| f.starts_with("--"))
        .collect();

    let man = std::fs::read_to_string(root.join("openwrt/nftop.8")).unwrap();
    let man = man.replace("\\-", "-");
    let options = man
        .split(".SH OPTIONS")
        .nth(1)
        .and_then(|s| s.split(".SH ").next())
        .expect("the man page has an OPTIONS section");
    // The flags of the .TP items: the lines that follow a ".TP".
    let mut man_items = std::collections::BTreeSet::new();
    let mut lines = options.lines();
    while let Some(l) = lines.next() {
        if l == ".TP" {
            man_items.extend(flags_in(lines.next().unwrap_or("")));
        }
    }
    let man_long: Vec<String> = flags_in(&man)
        .into_iter()
        .filter(|f| f.starts_with("--"))
        .collect();

    for f in &help {
        assert!(table.contains(f), "README's flag table lacks {f}");
        assert!(
            man_items.contains(f),
            "openwrt/nftop.8 OPTIONS has no item for {f}"
        );
    }
    for f in &table {
        assert!(
            help.contains(f),
            "README's flag table names {f}, which nftop -h lacks"
        );
    }
    for f in &man_items {
        assert!(
            help.contains(f),
            "openwrt/nftop.8 OPTIONS names {f}, which nftop -h lacks"
        );
    }
    for f in readme_long.iter().chain(&man_long) {
        assert!(
            help.contains(f),
            "the README or man page names {f}, which nftop -h lacks"
        );
    }
}

/// Signing is the normal path: without NFTOP_SIGN_KEY a key pair is made
/// once and kept, the index is signed, and the router's two commands are
/// printed.
#[test]
fn unsigned_by_default_means_signed_with_a_kept_key() {
    let dir = tmp("defkey");
    let spec = vec![format!(
        "mipsel_24kc={}",
        elf_for(&dir, "mipsel_24kc").display()
    )];
    let feed = dir.join("feed");
    let o = mkfeed(&feed, &spec);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        out.contains("opkg-key add") && out.contains("customfeeds.conf"),
        "{out}"
    );
    let public = feed.with_extension("keys").join("nftop.pub");
    assert!(verifies(&public, &feed.join("mipsel_24kc")));
    let first = std::fs::read(&public).unwrap();
    let o = mkfeed(&feed, &spec);
    assert!(o.status.success());
    assert_eq!(std::fs::read(&public).unwrap(), first, "the key is kept");
    assert!(!String::from_utf8_lossy(&o.stdout).contains("created the signing key"));
    assert!(verifies(&public, &feed.join("mipsel_24kc")));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `openwrt/Makefile`, in the sense the SDK reads it: a `VAR:=value`.
fn makefile_field(mk: &str, key: &str) -> String {
    mk.lines()
        .find_map(|l| l.trim_start().strip_prefix(&format!("{key}:=")))
        .unwrap_or_else(|| panic!("openwrt/Makefile has no {key}"))
        .trim()
        .to_string()
}

/// The prebuilt package and the SDK package cannot drift: the same files
/// (the install section's destinations), the same version, dependencies,
/// license and URL.
#[test]
fn prebuilt_package_matches_the_sdk_makefile() {
    let root = crate::common::root();
    let mk = std::fs::read_to_string(root.join("openwrt/Makefile")).unwrap();
    // Files the install section writes: every $(1)/... that is not a
    // directory made by INSTALL_DIR.
    let install: String = mk
        .split("define Package/nftop/install")
        .nth(1)
        .and_then(|s| s.split("endef").next())
        .expect("a Package/nftop/install section")
        .to_string();
    let mut files: Vec<String> = install
        .lines()
        .filter(|l| !l.contains("$(INSTALL_DIR)"))
        .flat_map(|l| l.split_whitespace())
        .filter_map(|w| w.strip_prefix("$(1)"))
        .map(|p| format!(".{p}"))
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "./etc/config/nftop",
            "./etc/init.d/nftop",
            "./usr/sbin/nftop",
            "./usr/share/man/man8/nftop.8.gz"
        ]
    );
    let conffiles = mk
        .split("define Package/nftop/conffiles")
        .nth(1)
        .and_then(|s| s.split("endef").next())
        .expect("a Package/nftop/conffiles section");
    assert_eq!(conffiles.trim(), "/etc/config/nftop");
    assert!(
        root.join(makefile_field(&mk, "PKG_LICENSE_FILES"))
            .is_file(),
        "PKG_LICENSE_FILES names a file of the repository"
    );
    assert!(
        makefile_field(&mk, "PKG_MAINTAINER").contains(" <")
            && makefile_field(&mk, "PKG_MAINTAINER").ends_with('>'),
        "maintainer as Name <email>"
    );

    let dir = tmp("sdk");
    let spec = vec![format!("x86_64={}", elf_for(&dir, "x86_64").display())];
    // The Makefile's version, as the feed is built for it.
    let version = makefile_field(&mk, "PKG_VERSION");
    let o = Command::new("sh")
        .arg(root.join("openwrt/mkfeed.sh"))
        .arg(dir.join("feed"))
        .arg(&version)
        .args(&spec)
        .env("NFTOP_KEY_DIR", dir.join("keys"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ipk = dir.join(format!("feed/x86_64/nftop_{version}_x86_64.ipk"));
    let x = unpack(&ipk, &dir.join("x"));
    let mut data: Vec<String> = tar_list(&x.join("data.tar.gz"))
        .into_iter()
        .filter(|p| !p.ends_with('/'))
        .collect();
    data.sort();
    assert_eq!(data, files, "the ipk holds what the SDK installs");
    let control = String::from_utf8(tar_cat(&x.join("control.tar.gz"), "./control")).unwrap();
    let field = |k: &str| {
        control
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{k}: ")).map(String::from))
            .unwrap_or_default()
    };
    assert_eq!(field("Version"), version);
    let conf = String::from_utf8(tar_cat(&x.join("control.tar.gz"), "./conffiles")).unwrap();
    assert_eq!(
        conf, "/etc/config/nftop\n",
        "the UCI file survives upgrades"
    );
    assert_eq!(field("License"), makefile_field(&mk, "PKG_LICENSE"));
    assert_eq!(field("URL"), makefile_field(&mk, "URL"));
    let deps: Vec<String> = makefile_field(&mk, "DEPENDS")
        .split_whitespace()
        .filter_map(|d| d.strip_prefix('+'))
        .map(String::from)
        .collect();
    assert_eq!(field("Depends"), format!("libc, {}", deps.join(", ")));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `make dist`'s tarball: the same bytes twice, owner 0, one mtime, the license and the vendored crates in, openwrt/Makefile
/// out, and it builds with no network and an empty cargo home.
#[test]
fn source_tarball_is_reproducible_and_builds_offline() {
    let root = crate::common::root();
    let dir = tmp("dist");
    let run = |out: &Path| {
        let o = Command::new("sh")
            .arg(root.join("openwrt/mkdist.sh"))
            .arg(out)
            .arg("9.8.7")
            .current_dir(&root)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap().trim().to_string()
    };
    let (a, b) = (run(&dir.join("a")), run(&dir.join("b")));
    assert_eq!(a, b, "reproducible");
    let tgz = dir.join("a/nftop-9.8.7.tar.gz");
    assert_eq!(
        std::fs::read(&tgz).unwrap(),
        std::fs::read(dir.join("b/nftop-9.8.7.tar.gz")).unwrap()
    );
    let list = tar_list(&tgz);
    for want in [
        "nftop-9.8.7/LICENSE",
        "nftop-9.8.7/Cargo.lock",
        "nftop-9.8.7/openwrt/nftop.8",
    ] {
        assert!(list.iter().any(|p| p == want), "{want}");
    }
    assert!(list
        .iter()
        .any(|p| p.starts_with("nftop-9.8.7/vendor/libc-")));
    assert!(!list.iter().any(|p| p == "nftop-9.8.7/openwrt/Makefile"));
    // Beside it the package directory for a feed or an SDK: the tracked
    // recipe (PKG_HASH:=skip) with the tarball's hash and this version.
    let mk = std::fs::read_to_string(dir.join("a/openwrt/Makefile")).unwrap();
    // The tarball is HEAD's tree: compare with HEAD's files, not the work
    // tree's (which may hold uncommitted edits).
    let head = |f: &str| {
        let o = Command::new("git")
            .args(["show", &format!("HEAD:{f}")])
            .current_dir(&root)
            .output()
            .unwrap();
        assert!(o.status.success(), "git show HEAD:{f}");
        o.stdout
    };
    let tracked = String::from_utf8(head("openwrt/Makefile")).unwrap();
    assert!(
        tracked.lines().any(|l| l == "PKG_HASH:=skip"),
        "tracked placeholder"
    );
    assert!(mk.lines().any(|l| l == format!("PKG_HASH:={a}")), "{mk}");
    assert!(mk.lines().any(|l| l == "PKG_VERSION:=9.8.7"), "{mk}");
    let strip = |s: &str| {
        s.lines()
            .filter(|l| !l.starts_with("PKG_HASH:=") && !l.starts_with("PKG_VERSION:="))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        strip(&mk),
        strip(&tracked),
        "only the hash and version differ"
    );
    for f in ["nftop.init", "nftop.config"] {
        assert_eq!(
            std::fs::read(dir.join("a/openwrt/files").join(f)).unwrap(),
            head(&format!("openwrt/files/{f}"))
        );
    }
    let verbose = Command::new("tar").arg("tvzf").arg(&tgz).output().unwrap();
    for l in String::from_utf8(verbose.stdout).unwrap().lines() {
        assert!(l.contains(" 0/0 ") && l.contains("2023-11-14"), "{l}");
    }
    // Offline: an empty cargo home, no network needed.
    assert!(Command::new("tar")
        .arg("xzf")
        .arg(&tgz)
        .arg("-C")
        .arg(&dir)
        .status()
        .unwrap()
        .success());
    let o = Command::new("cargo")
        .args(["check", "--offline", "--locked", "--lib", "--quiet"])
        .current_dir(dir.join("nftop-9.8.7"))
        .env("CARGO_HOME", dir.join("cargo-home"))
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "offline build: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
