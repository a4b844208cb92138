//! The one reader of answers, fed crafted datagrams: which messages are
//! ours, how an answer ends, and what is reported besides.

use super::*;

fn msg(kind: u16, flags: u16, seq: u32, port: u32, payload: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    let at = begin(&mut b, kind, flags, seq, payload);
    finish(&mut b, at);
    b[12..16].copy_from_slice(&port.to_ne_bytes());
    b
}

fn err(seq: u32, port: u32, errno: i32) -> Vec<u8> {
    msg(
        NLMSG_ERROR,
        0,
        seq,
        port,
        &errno.wrapping_neg().to_ne_bytes(),
    )
}

fn replies(d: &[u8], ours: Ours) -> (Vec<Reply<'_>>, Walk) {
    let mut got = Vec::new();
    let w = read_replies(d, d.len(), ours, |r| {
        got.push(r);
        matches!(r, Reply::Done | Reply::Error(_, 1..))
    });
    (got, w)
}

#[test]
fn only_our_sequence_and_port_are_read() {
    let d = [
        msg(20, 0, 4, 7, &[1, 2, 3, 4]), // an earlier request's
        msg(20, 0, 5, 8, &[]),           // another socket's
        msg(20, 0, 5, 7, &[9, 9, 9, 9]),
        err(5, 7, 0), // an ACK does not end a dump
        msg(NLMSG_DONE, 0, 5, 7, &[0; 4]),
        msg(20, 0, 5, 7, &[]), // after the end: not read
    ]
    .concat();
    let (got, w) = replies(&d, Ours::one(5, 7));
    assert_eq!(
        got,
        [
            Reply::Msg(0, 20, &[9, 9, 9, 9][..]),
            Reply::Error(0, 0),
            Reply::Done
        ]
    );
    assert_eq!(
        w,
        Walk {
            ended: true,
            ..Walk::default()
        }
    );
    // Port 0: any sender (multicast).
    assert_eq!(replies(&d, Ours::ANY).0.len(), 5);
}

#[test]
fn an_error_ends_the_answer_with_its_errno() {
    let d = [err(5, 7, libc::EPERM), msg(NLMSG_DONE, 0, 5, 7, &[])].concat();
    let (got, w) = replies(&d, Ours::one(5, 7));
    assert_eq!(got, [Reply::Error(0, libc::EPERM)]);
    assert!(w.ended);
    // i32::MIN from a hostile kernel: an errno, not an overflow.
    let d = err(5, 7, i32::MIN);
    let (got, _) = replies(&d, Ours::one(5, 7));
    assert_eq!(got, [Reply::Error(0, i32::MIN)]);
}

#[test]
fn a_batch_numbers_its_requests_in_a_row() {
    let d = [err(9, 7, 2), msg(24, 0, 11, 7, &[]), err(12, 7, 3)].concat();
    let ours = Ours {
        seq: 10,
        last: 1,
        port: 7,
    };
    let mut got = Vec::new();
    read_replies(&d, d.len(), ours, |r| {
        got.push(r);
        false
    });
    assert_eq!(got, [Reply::Msg(1, 24, &[][..])]);
}

#[test]
fn interruption_and_truncation_are_reported() {
    let mut d = msg(20, NLM_F_DUMP_INTR, 5, 7, &[0; 8]);
    let (_, w) = replies(&d, Ours::one(5, 7));
    assert!(w.interrupted && !w.truncated && !w.ended);
    // Another request's interrupted dump is not ours.
    assert!(!replies(&d, Ours::one(6, 7)).1.interrupted);
    d.extend_from_slice(&msg(20, 0, 5, 7, &[0; 8])[..20]);
    assert!(replies(&d, Ours::one(5, 7)).1.truncated);
    // The datagram was larger than the buffer (MSG_TRUNC).
    let whole = msg(20, 0, 5, 7, &[]);
    let w = read_replies(&whole, whole.len() + 100, Ours::one(5, 7), |_| false);
    assert!(w.truncated);
}

#[test]
fn requests_are_built_with_nests() {
    let mut b = vec![0xaa; 4]; // a batch: appended after what is there
    let at = begin(&mut b, 26, NLM_F_REQUEST, 42, &[2, 0, 0, 0]);
    attr::put(&mut b, 1, &[1, 2, 3]);
    let n = attr::open(&mut b);
    attr::put(&mut b, 2, &[7; 4]);
    attr::close(&mut b, n, 3);
    finish(&mut b, at);
    let h = MsgHeader::parse(&b[at..]).unwrap();
    assert_eq!((h.len, h.kind, h.flags, h.seq), (b.len() - 4, 26, 1, 42));
    let body = &b[at + NLMSG_HDRLEN + 4..];
    let top: Vec<_> = Attrs(body).map(|a| a.unwrap()).collect();
    assert_eq!(top[0], (1, &[1, 2, 3][..]));
    assert_eq!(top[1].0, 3);
    assert_eq!(
        u16::from_ne_bytes([body[10], body[11]]),
        3 | attr::NLA_F_NESTED
    );
    assert_eq!(Attrs(top[1].1).next(), Some(Ok((2, &[7; 4][..]))));
}
