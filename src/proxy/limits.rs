//! Request size limits checked before routing: nginx's header buffers
//! (`large_client_header_buffers 4 8k`) and the declared body length.

use pingora::http::RequestHeader;

/// Longest single request header line (nginx: `large_client_header_buffers 4 8k`).
pub const MAX_HEADER_LINE: usize = 8 * 1024;
/// Longest request head in total.
pub const MAX_HEADER_TOTAL: usize = 32 * 1024;

/// Why the request head is larger than nginx's default buffers allow.
pub fn oversized_head(req: &RequestHeader) -> Option<String> {
    let mut total = req.raw_path().len() + 16;
    for (name, value) in req.headers.iter() {
        let line = name.as_str().len() + 2 + value.len();
        if line > MAX_HEADER_LINE {
            return Some(format!(
                "header {name} is {line} bytes (limit {MAX_HEADER_LINE})"
            ));
        }
        total += line + 2;
    }
    if req.raw_path().len() > MAX_HEADER_LINE {
        return Some(format!("request line is over {MAX_HEADER_LINE} bytes"));
    }
    (total > MAX_HEADER_TOTAL)
        .then(|| format!("request head is {total} bytes (limit {MAX_HEADER_TOTAL})"))
}

/// `Content-Length` of the request, when it declares one.
pub fn declared_length(req: &RequestHeader) -> Option<u64> {
    req.headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}
