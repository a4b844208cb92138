//! Who nftop runs as after start (`--user`, default `nobody`): the name
//! looked up in /etc/passwd (read through infile.rs, as root, before the
//! switch), or numbers given as `UID[:GID]`. Not getpwnam: musl's pulls
//! its nscd client and stdio parser into a binary that counts its bytes.

use crate::error::{Error, Result};

pub const DEFAULT: &str = "nobody";
const NOBODY: u32 = 65534;
const PASSWD: &str = "/etc/passwd";

/// The uid and gid of `spec` (a user name or `UID[:GID]`; None:
/// `nobody`).
pub fn resolve(spec: Option<&str>) -> Result<(u32, u32)> {
    let name = spec.unwrap_or(DEFAULT);
    if spec.is_some() && !crate::sys::is_root() {
        return Err(Error::usage(format!(
            "--user {name} needs nftop started as root (started by a user with file capabilities, it stays that user)"
        )));
    }
    if let Some(ids) = numeric(name) {
        return ids.ok_or_else(|| bad(name));
    }
    let text = match crate::infile::read_text(PASSWD, false, 1 << 20) {
        Ok(t) => t,
        Err(_) if spec.is_none() => String::new(),
        Err(r) => {
            return Err(Error::system(format!(
                "cannot look up user '{name}': {PASSWD} refused: {} (give --user UID:GID)",
                r.reason()
            )))
        }
    };
    match find(&text, name) {
        Some(ids) => Ok(ids),
        None if spec.is_some() => Err(bad(name)),
        // No nobody in passwd (a minimal initramfs): the kernel's own
        // overflow id, which is what nobody is everywhere.
        None => Ok((NOBODY, NOBODY)),
    }
}

fn bad(name: &str) -> Error {
    Error::usage(format!(
        "invalid value '{name}' for '--user': want a user in {PASSWD} or UID[:GID], not root"
    ))
}

/// `UID[:GID]` (GID defaults to UID): Some(None) when numeric but root
/// or malformed, None when not numeric (a name).
fn numeric(s: &str) -> Option<Option<(u32, u32)>> {
    if !s.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let (u, g) = s.split_once(':').unwrap_or((s, s));
    let ids = u.parse::<u32>().ok().zip(g.parse::<u32>().ok());
    Some(ids.filter(|&(u, g)| u != 0 && g != 0))
}

/// The uid and gid of `name` in passwd text (`name:x:uid:gid:...`); root
/// (uid or gid 0) is no answer: the point is to stop being it.
pub fn find(passwd: &str, name: &str) -> Option<(u32, u32)> {
    // Byte splits, not str patterns: the smaller code on a router.
    let num = |f: Option<&[u8]>| std::str::from_utf8(f?).ok()?.parse::<u32>().ok();
    passwd.as_bytes().split(|&b| b == b'\n').find_map(|l| {
        let mut f = l.split(|&b| b == b':');
        if f.next() != Some(name.as_bytes()) {
            return None;
        }
        f.next();
        let (uid, gid) = (num(f.next())?, num(f.next())?);
        (uid != 0 && gid != 0).then_some((uid, gid))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd_and_numbers() {
        let p = "root:x:0:0:root:/root:/bin/ash\n\
                 nobody:*:65534:65534:nobody:/var:/bin/false\n\
                 dnsmasq:x:453:453:dnsmasq:/var:/bin/false\n\
                 toor:x:0:5::/:/bin/sh\n\
                 broken:x:12\n";
        assert_eq!(find(p, "nobody"), Some((65534, 65534)));
        assert_eq!(find(p, "dnsmasq"), Some((453, 453)));
        assert_eq!(find(p, "root"), None);
        assert_eq!(find(p, "toor"), None, "uid 0 under another name");
        assert_eq!(find(p, "broken"), None);
        assert_eq!(find(p, "nobod"), None);
        assert_eq!(numeric("65534"), Some(Some((65534, 65534))));
        assert_eq!(numeric("1000:100"), Some(Some((1000, 100))));
        assert_eq!(numeric("0"), Some(None));
        assert_eq!(numeric("1000:0"), Some(None));
        assert_eq!(numeric("1x"), Some(None));
        assert_eq!(numeric("nobody"), None);
        assert_eq!(
            resolve(Some("0")).unwrap_err().kind,
            crate::error::Kind::Usage
        );
    }
}
