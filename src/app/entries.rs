//! Single-entry requests to the kernel: the detail pane's GET (a step of
//! the refresh, asked once per refresh while the pane is open) and the
//! deletes the keys confirm. The socket is opened at the first use.

use crate::conntrack::{Conn, Extra};
use crate::ctentry::{self, EntrySocket};
use crate::flows::{FlowTable, Life};
use crate::keys::Ui;
use crate::render;
use crate::route::Net;

pub(super) struct Entries {
    sock: Option<EntrySocket>,
    /// The refresh the detail pane last asked the kernel about.
    detail_seq: u64,
}

impl Entries {
    pub fn new() -> Entries {
        Entries {
            sock: None,
            detail_seq: u64::MAX,
        }
    }

    /// One request; a socket that cannot be opened answers EIO.
    fn ask(&mut self, kind: u16, c: &Conn) -> (i32, Option<(Conn, Extra)>) {
        if self.sock.is_none() {
            self.sock = EntrySocket::open().ok();
        }
        match &mut self.sock {
            Some(s) => s.ask(kind, c),
            None => (libc::EIO, None),
        }
    }

    /// With the detail pane open, the kernel is asked for the selected
    /// entry once per refresh `seq` (and again while unanswered).
    pub fn detail(&mut self, ui: &mut Ui, seq: u64) {
        let sel = &mut ui.sel;
        let unasked = sel.answer.is_none() && sel.errno == 0;
        if sel.detail && (self.detail_seq != seq || unasked) {
            self.detail_seq = seq;
            if let Some(c) = sel.conn {
                (sel.errno, sel.answer) = self.ask(ctentry::CT_GET, &c);
            }
        }
    }

    /// `y` to the delete question: the kernel deletes exactly that entry
    /// (tuple, zone and id); its answer is the message.
    pub fn kill(&mut self, ui: &mut Ui, table: &FlowTable) {
        let Some(c) = ui.confirm.take() else {
            return;
        };
        let errno = self.ask(ctentry::CT_DELETE, &c).0;
        let m = &mut ui.message;
        m.clear();
        m.push_str(if errno == 0 { "deleted " } else { "delete " });
        render::fmt_proto(m, c.orig.proto);
        m.push(b' ');
        let hide = ui.opts.privacy.flow(table.flows(), ui.sel.idx, c.id);
        render::fmt_tuple(m, &c.orig, c.addr_len(), hide.tuple(false));
        if errno != 0 {
            m.push_str(": ");
            render::detail::explain(m, errno);
        }
    }

    /// `y` to deleting a device's connections: every live connection
    /// that counts for it (as its row does), one request each.
    pub fn kill_device(&mut self, ui: &mut Ui, table: &FlowTable, net: &Net) {
        let Some(id) = ui.confirm_host.take() else {
            return;
        };
        let (mut done, mut gone, mut failed, mut last) = (0u32, 0u32, 0u32, 0);
        for f in table.flows() {
            if f.life != Life::Live || crate::hostview::device_of(f, table.spills(), net).id() != id
            {
                continue;
            }
            match self.ask(ctentry::CT_DELETE, &table.conn(f)).0 {
                0 => done += 1,
                libc::ENOENT => gone += 1,
                e => (failed, last) = (failed + 1, e),
            }
        }
        use std::fmt::Write as _;
        let m = &mut ui.message;
        m.clear();
        let _ = write!(m, "deleted {done} connections ({gone} had ended already)");
        if failed > 0 {
            let _ = write!(m, "; {failed} refused: ");
            render::detail::explain(m, last);
        }
    }
}
