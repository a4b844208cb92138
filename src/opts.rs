//! The display options (`Opts`): what the flags ask and keys change at
//! run time. Below render and keys (whose `Ui` holds them), so that keys
//! does not reach render for them.

use crate::vocab::AgeFmt;

/// Display options that keys can change at run time.
#[derive(Clone, Debug)]
pub struct Opts {
    pub bytes: bool,
    pub raw: bool,
    pub iec: bool,
    pub age: AgeFmt,
    pub show_id: bool,
    pub show_state: bool,
    /// The conntrack mark column (`--mark`, key `m`).
    pub show_mark: bool,
    pub wide: bool,
    pub numeric_local: bool,
    pub numeric_remote: bool,
    pub numeric_port: bool,
    /// `-r`/`-R` (privacy.rs decides what they hide).
    pub privacy: crate::privacy::Privacy,
    pub color: bool,
    /// The locale is UTF-8: arrows instead of ASCII `^`/`v`.
    pub utf8: bool,
}

impl Opts {
    pub fn from_config(c: &crate::cli::Config) -> Opts {
        Opts {
            bytes: c.bytes,
            raw: c.raw,
            iec: c.iec,
            age: c.age,
            show_id: c.show_id,
            show_state: c.show_state,
            show_mark: c.show_mark,
            wide: c.wide,
            numeric_local: c.numeric_local,
            numeric_remote: c.numeric_remote,
            numeric_port: c.numeric_port,
            privacy: crate::privacy::Privacy::of(c),
            color: c.color,
            utf8: false,
        }
    }
}
