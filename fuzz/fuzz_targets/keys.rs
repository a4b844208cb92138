//! Bytes from the terminal: key sequences, and the cursor position
//! report the size query asks for; every key then through the handler;
//! the bytes in reads of every size through the key loop's buffer, which
//! hands each byte over once, in order.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = nftop::term::parse_cpr(data);
    let cfg = nftop::cli::Config::default();
    let mut ui = nftop::keys::Ui::new(&cfg, nftop::render::Opts::from_config(&cfg));
    nftop::term::parse_keys(data, |k| {
        let _ = nftop::keys::handle(&mut ui, k);
    });
    let Some((&step, rest)) = data.split_first() else {
        return;
    };
    let step = (step as usize % 63) + 1;
    let (mut input, mut out, mut got) = (nftop::term::Input::default(), [0u8; 128], Vec::new());
    for (t, chunk) in rest.chunks(step).enumerate() {
        input.keep(chunk);
        let n = input.take(t as u64 * 30_000_000, &mut out);
        got.extend_from_slice(&out[..n]);
    }
    let n = input.take(u64::MAX / 2, &mut out);
    got.extend_from_slice(&out[..n]);
    assert_eq!(got, rest, "every byte once, in order");
});
