//! A test tool, not part of nftop: nftop's real loop (flags, screen,
//! signal handlers, `--enable-acct`) over the kernel's table through a
//! source that panics at its Nth dump. tests/terminal.rs runs it to see
//! that a panic inside the loop restores the terminal and the sysctls.
//!
//! `panic_source N [nftop's flags]`

use nftop::app::{App, CtSource};
use nftop::conntrack::{Conn, Nests};
use nftop::netlink::{CtSocket, DumpStats};
use nftop::nl::attr::Malformed;
use nftop::{cli, sys};

struct PanicAt {
    ct: CtSocket,
    dumps_left: u64,
}

impl CtSource for PanicAt {
    fn dump(
        &mut self,
        on_entry: impl FnMut(&mut Conn, Nests) -> Result<(), Malformed>,
    ) -> nftop::error::Result<DumpStats> {
        self.dumps_left = self.dumps_left.saturating_sub(1);
        if self.dumps_left == 0 {
            panic!("a panic on request (panic_source)");
        }
        CtSource::dump(&mut self.ct, on_entry)
    }
}

fn main() {
    sys::install_signal_handlers();
    let mut args = std::env::args_os().skip(1);
    let Some(n) = args.next().and_then(|a| a.to_str()?.parse().ok()) else {
        eprintln!("usage: panic_source N [FLAGS]");
        std::process::exit(2)
    };
    let code = match cli::parse(args) {
        Ok(cli::Action::Run(cfg)) => {
            let open = || {
                Ok(PanicAt {
                    ct: CtSocket::open()?,
                    dumps_left: n,
                })
            };
            match App::with_source(*cfg, open).and_then(|mut app| app.run()) {
                Ok(code) => code,
                Err(e) => {
                    sys::restore_terminal();
                    eprintln!("panic_source: {e}");
                    e.exit_code()
                }
            }
        }
        _ => 2,
    };
    sys::restore_terminal();
    sys::run_exit_hook();
    std::process::exit(code);
}
