//! Bytes from the terminal: key sequences, and the cursor position
//! report the size query asks for; every key then through the handler.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = nftop::term::parse_cpr(data);
    let cfg = nftop::cli::Config::default();
    let mut ui = nftop::keys::Ui::new(&cfg, nftop::render::Opts::from_config(&cfg));
    nftop::term::parse_keys(data, |k| {
        let _ = nftop::keys::handle(&mut ui, k);
    });
});
