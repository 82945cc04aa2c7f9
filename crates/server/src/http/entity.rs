//! Answers for fixed bytes that caches and players fetch in pieces: a strong `ETag` and
//! `If-None-Match` (304, RFC 7232 3.2), `If-Range`, and one byte range (206, or 416 with
//! `Content-Range: bytes */LENGTH` past the end; RFC 7233). Several ranges at once are
//! answered whole (200), which RFC 7233 3.1 allows and players never need.

use super::request::Request;
use super::response::Response;

/// `bytes` as `content_type` with entity tag `etag` and `cache_control`, as the request's
/// conditionals and `Range` ask.
pub fn respond(
    req: &Request,
    bytes: &[u8],
    etag: &str,
    content_type: &str,
    cache_control: &str,
) -> Response {
    let tagged = |r: Response| {
        r.header("ETag", etag.to_string())
            .header("Cache-Control", cache_control.to_string())
            .header("Access-Control-Allow-Origin", "*")
            .header("Accept-Ranges", "bytes")
    };
    let matches = |list: &str| {
        list.split(',')
            .map(str::trim)
            .any(|t| t == "*" || t.trim_start_matches("W/") == etag)
    };
    if req.header("If-None-Match").is_some_and(matches) {
        return tagged(Response::new(304));
    }
    let len = bytes.len() as u64;
    // If-Range with another tag (or a date: ours are tags) asks for the whole entity.
    let range_applies = req.header("If-Range").is_none_or(|v| v.trim() == etag);
    let range = match req.header("Range") {
        Some(v) if range_applies => parse_range(v, len),
        _ => RangeAsk::Whole,
    };
    match range {
        RangeAsk::Whole => tagged(Response::with_body(200, content_type, bytes.to_vec())),
        RangeAsk::Unsatisfiable => tagged(
            Response::text(416, &format!("the entity is {len} bytes"))
                .header("Content-Range", format!("bytes */{len}")),
        ),
        RangeAsk::Part(first, last) => tagged(
            Response::with_body(
                206,
                content_type,
                bytes[first as usize..=last as usize].to_vec(),
            )
            .header("Content-Range", format!("bytes {first}-{last}/{len}")),
        ),
    }
}

/// What a `Range` header asks of an entity of `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeAsk {
    /// No usable range (absent, malformed, several, another unit): the whole entity.
    Whole,
    /// Bytes `first..=last`.
    Part(u64, u64),
    Unsatisfiable,
}

/// Parses `bytes=FIRST-LAST`, `bytes=FIRST-` and `bytes=-SUFFIX` (RFC 7233 2.1).
pub fn parse_range(value: &str, len: u64) -> RangeAsk {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return RangeAsk::Whole;
    };
    if spec.contains(',') {
        return RangeAsk::Whole;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeAsk::Whole;
    };
    let number = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (a.trim(), b.trim()) {
        ("", suffix) => match number(suffix) {
            None => RangeAsk::Whole,
            Some(0) => RangeAsk::Unsatisfiable,
            Some(_) if len == 0 => RangeAsk::Unsatisfiable,
            Some(n) => RangeAsk::Part(len.saturating_sub(n), len - 1),
        },
        (first, last) => {
            let Some(first) = number(first) else {
                return RangeAsk::Whole;
            };
            let last = match last {
                "" => len.saturating_sub(1),
                l => match number(l) {
                    Some(l) if l >= first => l.min(len.saturating_sub(1)),
                    // RFC 7233 2.1: last before first makes the header invalid: ignored.
                    _ => return RangeAsk::Whole,
                },
            };
            match first < len {
                true => RangeAsk::Part(first, last),
                false => RangeAsk::Unsatisfiable,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_rfc_7233() {
        use RangeAsk::*;
        let cases = [
            ("bytes=0-9", 100, Part(0, 9)),
            ("bytes=90-", 100, Part(90, 99)),
            ("bytes=-10", 100, Part(90, 99)),
            ("bytes=-500", 100, Part(0, 99)),
            ("bytes=50-500", 100, Part(50, 99)),
            ("bytes=100-", 100, Unsatisfiable),
            ("bytes=100-200", 100, Unsatisfiable),
            ("bytes=-0", 100, Unsatisfiable),
            ("bytes=9-0", 100, Whole),
            ("bytes=0-1,5-6", 100, Whole),
            ("items=0-1", 100, Whole),
            ("bytes=x-1", 100, Whole),
            ("bytes=+1-2", 100, Whole),
            ("bytes=18446744073709551616-", 100, Whole),
        ];
        for (v, len, want) in cases {
            assert_eq!(parse_range(v, len), want, "{v}");
        }
    }
}
