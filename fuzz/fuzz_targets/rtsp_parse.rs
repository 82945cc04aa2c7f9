//! The RTSP parser on arbitrary bytes, and on prefixes (a message arriving in pieces): it
//! must never panic, and a complete message parsed from a prefix must be the same message.
//!
//! A prefix's parse depends only on the whole lines it holds and how far it reaches into the
//! next one (or into the body), so the prefixes tried are those cut where that changes: around
//! every line end of the head (of the blank lines that may come before it, the first and last
//! 8), at every byte of the head's last 32 bytes (its last line and the blank line), at the
//! first and last 16 bytes of the body, at the first 8 bytes of the message, and at 16 evenly
//! spaced others. Every prefix would make each run quadratic in the message's length (the
//! parser rescans the prefix each time), for cuts that parse alike.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rtsp_proto::rtsp::{self, Limits, Parsed};

/// The prefix lengths tried for a `used`-byte message whose body is `body` bytes.
fn cuts(data: &[u8], used: usize, body: usize) -> Vec<usize> {
    let head = used - body;
    let mut cuts = Vec::new();
    // Just before a CR LF, between its CR and LF, just after it, and one byte into the next
    // line: at every line end from the start line on (a complete head has at most
    // max_headers + 2), and at the first and last 8 of the blank lines before it (any number
    // are allowed, and they parse alike).
    let text = data[..head]
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(head);
    let ends: Vec<usize> = (0..head).filter(|&i| data[i] == b'\n').collect();
    let leading = ends.partition_point(|&i| i < text);
    let blank = &ends[..leading];
    let kept = blank
        .iter()
        .take(8)
        .chain(blank.iter().skip(leading.saturating_sub(8)));
    for &i in kept.chain(&ends[leading..]) {
        cuts.extend([i.saturating_sub(1), i, i + 1, i + 2]);
    }
    cuts.extend(head.saturating_sub(32)..head + 16.min(body));
    cuts.extend(used.saturating_sub(16)..used);
    cuts.extend(0..8);
    cuts.extend((0..16).map(|k| used * k / 16));
    cuts.retain(|&c| c < used);
    cuts.sort_unstable();
    cuts.dedup();
    cuts
}

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let whole = rtsp::parse_request(data, &limits);
    let _ = rtsp::parse_response(data, &limits);
    let _ = rtsp::parse_unterminated_request(data, &limits);
    let _ = rtsp::parse_unterminated_response(data, &limits);
    if let Ok(Parsed::Complete(req, used)) = &whole {
        for cut in cuts(data, *used, req.body.len()) {
            match rtsp::parse_request(&data[..cut], &limits) {
                Ok(Parsed::Complete(r, n)) => assert!(n <= cut && (n < *used || r == *req)),
                _ => {}
            }
        }
        // What we parse, we can write and parse back to the same thing.
        let bytes = req.to_bytes();
        if let Ok(Parsed::Complete(again, _)) = rtsp::parse_request(&bytes, &limits) {
            assert_eq!(again.method, req.method);
            assert_eq!(again.uri, req.uri);
        }
    }
});
