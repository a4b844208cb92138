//! nftop's entry point: parse flags, run, map errors to exit codes
//! (0 ok or closed pipe, 1 runtime error, 2 usage error).

use nftop::{app::App, cli, sys, vocab::Mode};
use std::io::Write;

fn main() {
    sys::install_signal_handlers();
    let code = match cli::parse(std::env::args_os().skip(1)) {
        Ok(cli::Action::Run(cfg)) if cfg.mode != Mode::Quiet && sys::stdout_closed_at_start() => fail(
            nftop::error::Error::system(
                "stdout is closed: nothing to write the output to (redirect it, e.g. > /dev/null, or use --quiet with --metrics or --ipfix)",
            ),
        ),
        Ok(cli::Action::Help) => {
            sys::write_all(1, cli::USAGE.as_bytes());
            0
        }
        Ok(cli::Action::Version) => {
            sys::write_all(1, format!("nftop {}\n", cli::VERSION).as_bytes());
            0
        }
        Ok(cli::Action::Run(cfg)) => match App::new(*cfg).and_then(|mut app| app.run()) {
            Ok(code) => code,
            Err(e) => fail(e),
        },
        Err(e) => fail(e),
    };
    sys::restore_terminal();
    sys::run_exit_hook();
    std::process::exit(code);
}

fn fail(e: nftop::error::Error) -> i32 {
    sys::restore_terminal();
    if !e.msg.is_empty() {
        let _ = writeln!(std::io::stderr(), "nftop: {e}");
    }
    e.exit_code()
}
