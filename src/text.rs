//! Text from outside and its width on a terminal.
//!
//! Cleaning: a label another program chose (an interface name: anyone
//! with CAP_NET_ADMIN in the namespace, a container runtime, a hotplug
//! script) is cleaned once, where it enters (`clean_label`, called by the
//! rtnetlink decoder), so that every output (screen, `-c`, `-M`, JSON,
//! metrics, IPFIX, warnings) gets the same bytes: valid UTF-8, one word
//! (`-M` stays one field per column), nothing a terminal interprets.
//! Host, lease, service and DNS names have their own, stricter cleaner
//! (`names::Name::clean`: hostname characters only). Conntrack gives us
//! no strings (the helper name is not decoded).
//!
//! Width: the screen and the aligned columns count terminal cells, not
//! bytes. A character is one cell, two in the East Asian wide blocks (a
//! short list of ranges, not Unicode's tables: flash is tight). Combining
//! marks are counted as one: a line with them is a cell short, never too
//! long, so it never wraps. Without a UTF-8 locale the output writer
//! shows each non-ASCII character as `?` in as many cells
//! (`to_ascii`), so the widths hold there too.

/// Cleans the label in `b` in place and returns its new length: every
/// byte that is not part of valid UTF-8 becomes `?`, and so does each
/// control character (C0, DEL, C1: ESC and CSI start terminal commands),
/// whitespace (a field separator for `-M` and `awk`) and each invisible
/// format character that reorders or hides what is shown (bidi controls,
/// zero-width characters).
pub fn clean_label(b: &mut [u8]) -> usize {
    let (mut r, mut w) = (0, 0);
    while r < b.len() {
        // The length the lead byte announces; 0 for a byte that cannot
        // start a character (from_utf8 then rejects what is left).
        let n = match b[r] {
            0..=0x7f => 1,
            0xc2..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf4 => 4,
            _ => 0,
        };
        let ch = b
            .get(r..r + n)
            .and_then(|s| std::str::from_utf8(s).ok())
            .and_then(|s| s.chars().next());
        match ch {
            Some(c) if shown(c) => {
                b.copy_within(r..r + n, w);
                w += n;
            }
            _ => {
                b[w] = b'?';
                w += 1;
            }
        }
        // A character goes whole; a byte that is not UTF-8 alone.
        r += if ch.is_some() { n } else { 1 };
    }
    w
}

/// Whether a character may be shown as it is (see `clean_label`).
fn shown(c: char) -> bool {
    !matches!(c,
        '\0'..=' ' | '\u{7f}'..='\u{a0}' | '\u{ad}' | '\u{61c}' | '\u{1680}' | '\u{2000}'..='\u{200f}'
        | '\u{2028}'..='\u{202f}' | '\u{205f}'..='\u{206f}' | '\u{3000}' | '\u{feff}')
}

/// Terminal cells of one character (see the module doc).
pub fn char_width(c: char) -> usize {
    1 + usize::from(matches!(c as u32,
        0x1100..=0x115f | 0x2e80..=0xa4cf | 0xac00..=0xd7a3 | 0xf900..=0xfaff
        | 0xfe30..=0xfe4f | 0xff00..=0xff60 | 0xffe0..=0xffe6 | 0x1f300..=0x1f64f
        | 0x1f680..=0x1f6ff | 0x1f900..=0x1faff | 0x20000..=0x3fffd))
}

/// The longest head of `s` that fits in `w` cells, as (its length in
/// bytes: always a character boundary, its width in cells).
pub fn cut(s: &str, w: usize) -> (usize, usize) {
    // Most lines are ASCII: no per-character walk (every screen line of
    // every frame comes through here).
    if s.is_ascii() {
        let n = s.len().min(w);
        return (n, n);
    }
    let mut used = 0;
    for (i, c) in s.char_indices() {
        let cw = char_width(c);
        if used + cw > w {
            return (i, used);
        }
        used += cw;
    }
    (s.len(), used)
}

/// Terminal cells of `s`.
pub fn width(s: &str) -> usize {
    cut(s, usize::MAX).1
}

/// Appends `b` to `out` with each non-ASCII character as `?` in as many
/// cells as it takes, and each byte that is not UTF-8 as one `?`: the
/// output for a terminal whose locale is not UTF-8.
pub fn to_ascii(out: &mut Vec<u8>, b: &[u8]) {
    for chunk in b.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_ascii() {
                out.push(c as u8);
            } else {
                out.resize(out.len() + char_width(c), b'?');
            }
        }
        out.resize(out.len() + chunk.invalid().len(), b'?');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(raw: &[u8]) -> String {
        let mut b = raw.to_vec();
        let n = clean_label(&mut b);
        String::from_utf8(b[..n].to_vec()).unwrap()
    }

    #[test]
    fn labels_keep_text_and_lose_controls_spaces_and_bad_bytes() {
        assert_eq!(clean(b"wan0"), "wan0");
        assert_eq!(clean("abcdeé1".as_bytes()), "abcdeé1");
        assert_eq!(clean("网口1".as_bytes()), "网口1");
        // The name: an OSC title sequence ended by BEL.
        assert_eq!(clean(b"w\x1b]0;pwn\x07"), "w?]0;pwn?");
        assert_eq!(clean(b"a b\tc\nd\x7f"), "a?b?c?d?");
        // C1 CSI (U+009B), NBSP, RLO, zero-width space, BOM, the Arabic
        // letter mark (a bidi control outside the U+200x block): one '?'
        // each.
        assert_eq!(
            clean("a\u{9b}b\u{a0}c\u{202e}d\u{200b}e\u{feff}f\u{61c}".as_bytes()),
            "a?b?c?d?e?f?"
        );
        // Not UTF-8: a lone continuation, a cut sequence, an overlong
        // encoding, a surrogate, a lead byte past U+10FFFF.
        assert_eq!(clean(b"a\x80b\xc3"), "a?b?");
        assert_eq!(clean(b"\xc0\xaf\xed\xa0\x80\xf5x"), "??????x");
        assert_eq!(clean(b"\xe4\xb8"), "??");
        assert_eq!(clean(b""), "");
        // Every byte value, alone and after a lead byte: valid UTF-8
        // without a control or a space, never longer than the input.
        for x in 0..=255u8 {
            for raw in [vec![x], vec![0xc3, x], vec![0xe4, 0xb8, x], vec![x, b'a']] {
                let s = clean(&raw);
                assert!(s.len() <= raw.len());
                assert!(s.chars().all(shown), "{raw:?} -> {s:?}");
            }
        }
    }

    #[test]
    fn cut_at_every_width_stays_on_characters() {
        // Emoji take two cells (🚀 and 🪐 were counted as one, and the
        // screen's columns moved).
        assert_eq!(width("🚀🪐x"), 5);
        for s in [
            "abcdeé1",
            "éééé",
            "网口网口1",
            "a网b",
            "🦀x",
            "🚀🚀🚀x",
            "",
            "plain",
        ] {
            let total = width(s);
            for w in 0..total + 3 {
                let (end, used) = cut(s, w);
                assert!(s.is_char_boundary(end), "{s:?} at {w}");
                assert!(used <= w && used == width(&s[..end]), "{s:?} at {w}");
                // Nothing more fits: the next character is wider than
                // what is left.
                if let Some(c) = s[end..].chars().next() {
                    assert!(used + char_width(c) > w, "{s:?} at {w}");
                } else {
                    assert_eq!(used, total);
                }
            }
        }
        assert_eq!(width("abcdeé1"), 7);
        assert_eq!(width("网口1"), 5);
        assert_eq!(cut("网口1", 3), ("网".len(), 2));
    }

    #[test]
    fn ascii_output_keeps_the_widths() {
        let mut out = Vec::new();
        to_ascii(&mut out, "abcdeé1 网| \u{2191}".as_bytes());
        assert_eq!(out, b"abcde?1 ??| ?");
        out.clear();
        to_ascii(&mut out, b"a\xffb\xe4\xb8");
        assert_eq!(out, b"a?b??");
    }
}
