//! What the privacy options hide (`-r` the local side, `-R` the remote
//! side), decided here for every output: the screen and its detail pane,
//! `-c`, `-M`, JSON, the per-device view, the metrics labels and IPFIX.
//!
//! A connection has two sides. The initiator's holds the original source
//! and the address the replies go back to (the NAT source: the router's
//! WAN address under masquerade); the responder's holds the original
//! destination and the address the replies come from (the NAT
//! destination: the LAN host behind a port forward). The view says which
//! side is local (view.rs `direction`). A device of the per-device view
//! is a local side. Of a hidden side no address, MAC or name is shown, and
//! none is asked of DNS; ports, interfaces and counters stay. Text says
//! `redacted`; IPFIX records carry the unspecified address (0.0.0.0, ::).
//! The keys `r`/`R` change the screen's options only: the exports
//! (metrics, IPFIX) keep the command line's (app/), so a key pressed on
//! the console cannot publish what the service was started to hide.

pub const REDACTED: &str = "redacted";

/// The options: which side is hidden.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Privacy {
    pub local: bool,
    pub remote: bool,
}

/// What is hidden of one connection: its initiator's side (original
/// source, NAT source) and its responder's (original destination, NAT
/// destination).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Hidden {
    pub src: bool,
    pub dst: bool,
}

impl Privacy {
    pub fn of(c: &crate::cli::Config) -> Privacy {
        Privacy {
            local: c.redact_local,
            remote: c.redact_remote,
        }
    }

    /// Whether a local (or remote) side is hidden.
    pub fn hides(self, local: bool) -> bool {
        if local {
            self.local
        } else {
            self.remote
        }
    }

    /// A connection whose local side the view decided: `tx_is_orig` (the
    /// initiator is local), `loopback` (both sides are the router).
    pub fn conn(self, tx_is_orig: bool, loopback: bool) -> Hidden {
        Hidden {
            src: self.hides(tx_is_orig || loopback),
            dst: self.hides(!tx_is_orig || loopback),
        }
    }

    /// The selected connection `id` by its flow at `idx` (the selection's
    /// index at the last draw), whose sides the view set. When that flow
    /// is gone or another, the sides are not known: either option hides
    /// both. Not inlined: the screen and the App ask it in three places.
    #[inline(never)]
    pub fn flow(self, flows: &[crate::flows::Flow], idx: Option<u32>, id: u32) -> Hidden {
        match idx.and_then(|i| flows.get(i as usize)) {
            Some(f) if f.id == id => self.conn(f.tx_is_orig(), f.loopback()),
            _ => {
                let h = self.local || self.remote;
                Hidden { src: h, dst: h }
            }
        }
    }
}

impl Hidden {
    /// (source, destination) of the original tuple, or of the reply tuple
    /// (whose source is the responder's side).
    pub fn tuple(self, reply: bool) -> (bool, bool) {
        if reply {
            (self.dst, self.src)
        } else {
            (self.src, self.dst)
        }
    }
}

/// An address as IPFIX sends it: all zeros when hidden.
pub fn bytes(a: &[u8], hidden: bool) -> &[u8] {
    const ZERO: [u8; 16] = [0; 16];
    if hidden {
        &ZERO[..a.len().min(16)]
    } else {
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fmt_addr_or_redacted;

    #[test]
    fn sides_of_a_connection() {
        let r = Privacy {
            local: true,
            remote: false,
        };
        // A LAN host's upload: the initiator (and its NAT source) local.
        assert_eq!(
            r.conn(true, false),
            Hidden {
                src: true,
                dst: false
            }
        );
        // A port forward: the responder (and its NAT destination) local.
        assert_eq!(
            r.conn(false, false),
            Hidden {
                src: false,
                dst: true
            }
        );
        assert_eq!(
            r.conn(false, true),
            Hidden {
                src: true,
                dst: true
            }
        );
        assert_eq!(r.conn(true, false).tuple(true), (false, true));
        let big_r = Privacy {
            local: false,
            remote: true,
        };
        assert_eq!(
            big_r.conn(true, false),
            Hidden {
                src: false,
                dst: true
            }
        );
        assert_eq!(big_r.conn(true, true), Hidden::default());
        assert_eq!(
            big_r.flow(&[], Some(0), 1),
            Hidden {
                src: true,
                dst: true
            }
        );
        assert_eq!(Privacy::default().flow(&[], None, 1), Hidden::default());
        assert_eq!(bytes(&[192, 0, 2, 1], true), &[0, 0, 0, 0]);
        let mut l = crate::render::Line::new();
        fmt_addr_or_redacted(&mut l, &[192, 0, 2, 1], false);
        fmt_addr_or_redacted(&mut l, &[192, 0, 2, 1], true);
        assert_eq!(l.as_str(), "192.0.2.1redacted");
    }
}
