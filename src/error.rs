//! The one error type of nftop.
//!
//! Every message is one lowercase line that quotes what the user typed (or
//! what the kernel said) and, where there is one, names the fix. The kind
//! decides the exit code: usage errors exit 2 (like ripgrep and lexopt
//! based tools), everything else exits 1.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Bad flag or value: exit code 2.
    Usage,
    /// Missing privilege (CAP_NET_ADMIN): exit code 1.
    Permission,
    /// The kernel cannot do what we need (module missing, protocol error).
    System,
    /// A closed output pipe: exit 0 silently (`nftop -c | head -1`).
    BrokenPipe,
}

#[derive(Debug)]
pub struct Error {
    pub kind: Kind,
    pub msg: String,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn usage(msg: impl Into<String>) -> Error {
        Error {
            kind: Kind::Usage,
            msg: msg.into(),
        }
    }

    pub fn system(msg: impl Into<String>) -> Error {
        Error {
            kind: Kind::System,
            msg: msg.into(),
        }
    }

    pub fn permission(msg: impl Into<String>) -> Error {
        Error {
            kind: Kind::Permission,
            msg: msg.into(),
        }
    }

    /// An I/O error while writing output. A closed pipe is not an error
    /// for a `top`-like tool whose reader went away.
    pub fn output(err: std::io::Error) -> Error {
        if err.kind() == std::io::ErrorKind::BrokenPipe {
            Error {
                kind: Kind::BrokenPipe,
                msg: String::new(),
            }
        } else {
            Error::system(format!("cannot write output: {err}"))
        }
    }

    pub fn exit_code(&self) -> i32 {
        match self.kind {
            Kind::Usage => 2,
            Kind::BrokenPipe => 0,
            Kind::Permission | Kind::System => 1,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl From<lexopt::Error> for Error {
    /// lexopt's own messages, each quoting the input, but with values
    /// shown as text: its Display quotes them with `{:?}`, and the Debug
    /// formatting of strings costs 3 KB of the mipsel binary.
    fn from(e: lexopt::Error) -> Error {
        use lexopt::Error as E;
        let q = |v: &std::ffi::OsStr| v.to_string_lossy().into_owned();
        Error::usage(match e {
            E::MissingValue { option: Some(o) } => format!("missing argument for option '{o}'"),
            E::MissingValue { option: None } => "missing argument".into(),
            E::UnexpectedOption(o) => format!("invalid option '{o}'"),
            E::UnexpectedArgument(v) => format!("unexpected argument '{}'", q(&v)),
            E::UnexpectedValue { option, value } => {
                format!("option '{option}' takes no value (got '{}')", q(&value))
            }
            E::NonUnicodeValue(v) => format!("argument '{}' is not valid UTF-8", q(&v)),
            // nftop parses values itself (with messages naming the fix):
            // lexopt never sees a parser or a custom error of ours.
            E::ParsingFailed { value, .. } => format!("cannot parse '{value}'"),
            E::Custom(_) => "invalid arguments".into(),
        })
    }
}
