//! Which directives moat knows, in which contexts nginx allows them, and
//! which of them moat accepts without acting on them.

/// Top level of nginx.conf.
pub(crate) const MAIN: u8 = 1;
/// `events { }`.
pub(crate) const EVENTS: u8 = 1 << 1;
/// `http { }`.
pub(crate) const HTTP: u8 = 1 << 2;
/// `server { }`.
pub(crate) const SRV: u8 = 1 << 3;
/// `location { }`.
pub(crate) const LOC: u8 = 1 << 4;
/// `if` inside a server.
pub(crate) const SIF: u8 = 1 << 5;
/// `if` inside a location.
pub(crate) const LIF: u8 = 1 << 6;

const HSL: u8 = HTTP | SRV | LOC;
const SCRIPT: u8 = SRV | SIF | LOC | LIF;

/// What moat does with a directive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Known {
    /// Compiled and evaluated.
    Handled(u8),
    /// Accepted, with one warning per name, and not acted upon.
    Ignored(u8),
    /// A block directive moat refuses (it would change routing or security
    /// in ways moat does not implement).
    Unsupported,
}

/// Looks a directive name up.
pub(crate) fn known(name: &str) -> Option<Known> {
    use Known::*;
    Some(match name {
        "http" => Handled(MAIN),
        "events" => Handled(MAIN),
        "server" => Handled(HTTP),
        "location" => Handled(SRV | LOC),
        "if" => Handled(SRV | LOC),
        "map" => Handled(HTTP),
        "listen" | "server_name" => Handled(SRV),
        "set" | "rewrite" | "return" | "break" | "set_escape_uri" => Handled(SCRIPT),
        "proxy_pass" | "grpc_pass" | "fastcgi_pass" => Handled(LOC | LIF),
        "internal" => Handled(LOC),
        "proxy_set_header"
        | "grpc_set_header"
        | "proxy_hide_header"
        | "proxy_pass_header"
        | "proxy_redirect"
        | "proxy_cookie_path"
        | "proxy_pass_request_headers"
        | "proxy_pass_request_body"
        | "client_max_body_size"
        | "proxy_connect_timeout"
        | "proxy_read_timeout"
        | "proxy_send_timeout"
        | "grpc_connect_timeout"
        | "grpc_read_timeout"
        | "grpc_send_timeout"
        | "proxy_http_version"
        | "resolver"
        | "resolver_timeout"
        | "proxy_ssl_verify"
        | "proxy_ssl_server_name"
        | "grpc_ssl_verify"
        | "grpc_ssl_server_name"
        | "allow"
        | "deny"
        | "set_real_ip_from"
        | "real_ip_header"
        | "real_ip_recursive"
        | "auth_basic"
        | "auth_basic_user_file"
        | "auth_request"
        | "auth_request_set"
        | "root"
        | "index"
        | "sub_filter"
        | "sub_filter_types"
        | "sub_filter_once"
        | "sub_filter_last_modified" => Handled(HSL),
        "add_header" => Handled(HSL | LIF),
        "try_files" => Handled(SRV | LOC),
        "ssl_certificate" | "ssl_certificate_key" => Handled(HTTP | SRV),
        "error_page" => Ignored(HSL | LIF),
        "alias" => Ignored(LOC),
        // nginx.conf globals.
        "user"
        | "worker_processes"
        | "pcre_jit"
        | "daemon"
        | "pid"
        | "load_module"
        | "env"
        | "worker_rlimit_nofile"
        | "worker_shutdown_timeout"
        | "thread_pool"
        | "lock_file"
        | "master_process"
        | "timer_resolution"
        | "worker_cpu_affinity"
        | "worker_priority"
        | "working_directory"
        | "ssl_engine" => Ignored(MAIN),
        "worker_connections"
        | "use"
        | "multi_accept"
        | "accept_mutex"
        | "accept_mutex_delay"
        | "worker_aio_requests" => Ignored(EVENTS),
        "error_log" => Ignored(MAIN | HSL),
        "types" => Ignored(HSL),
        "http2"
        | "http3"
        | "quic_retry"
        | "quic_gso"
        | "quic_host_key"
        | "http3_hq"
        | "http3_stream_buffer_size"
        | "http3_max_concurrent_streams" => Ignored(HTTP | SRV),
        "proxy_cache_path"
        | "fastcgi_cache_path"
        | "scgi_cache_path"
        | "uwsgi_cache_path"
        | "server_names_hash_bucket_size"
        | "server_names_hash_max_size"
        | "variables_hash_bucket_size"
        | "variables_hash_max_size"
        | "map_hash_bucket_size"
        | "map_hash_max_size"
        | "ssl_session_cache_path"
        | "log_format"
        | "limit_req_zone"
        | "limit_conn_zone"
        | "underscores_in_headers"
        | "large_client_header_buffers"
        | "client_header_buffer_size"
        | "client_header_timeout"
        | "ssl_early_data_zone" => {
            if matches!(
                name,
                "underscores_in_headers"
                    | "large_client_header_buffers"
                    | "client_header_buffer_size"
                    | "client_header_timeout"
            ) {
                Ignored(HTTP | SRV)
            } else {
                Ignored(HTTP)
            }
        }
        "sendfile" | "aio" | "directio" | "access_log" => Ignored(HSL | LIF),
        "limit_rate" | "limit_rate_after" => Ignored(HSL | LIF),
        n if n.starts_with("ssl_") => Ignored(HTTP | SRV),
        n if n.starts_with("proxy_")
            || n.starts_with("fastcgi_")
            || n.starts_with("grpc_")
            || n.starts_with("uwsgi_")
            || n.starts_with("scgi_")
            || n.starts_with("gzip")
            || n.starts_with("client_")
            || n.starts_with("keepalive_")
            || n.starts_with("open_file_cache")
            || n.starts_with("types_hash")
            || n.starts_with("output_")
            || n.starts_with("send_")
            || n.starts_with("tcp_")
            || n.starts_with("lingering_")
            || n.starts_with("reset_")
            || n.starts_with("limit_req")
            || n.starts_with("limit_conn")
            || n.starts_with("add_trailer")
            || n.starts_with("expires")
            || n.starts_with("etag")
            || n.starts_with("charset")
            || n.starts_with("log_")
            || n.starts_with("absolute_redirect")
            || n.starts_with("port_in_redirect")
            || n.starts_with("server_name_in_redirect")
            || n.starts_with("msie_")
            || n.starts_with("recursive_error_pages")
            || n.starts_with("default_type")
            || n.starts_with("server_tokens")
            || n.starts_with("chunked_transfer_encoding")
            || n.starts_with("merge_slashes")
            || n.starts_with("satisfy")
            || n.starts_with("auth_delay")
            || n.starts_with("modsecurity")
            || n.starts_with("more_") =>
        {
            Ignored(HSL)
        }
        "upstream" | "limit_except" | "geo" | "split_clients" | "stream" | "mail" => Unsupported,
        _ => return None,
    })
}

/// `true` for directives that must have a `{ }` block.
pub(crate) fn is_block(name: &str) -> bool {
    matches!(
        name,
        "http"
            | "events"
            | "server"
            | "location"
            | "if"
            | "map"
            | "types"
            | "upstream"
            | "limit_except"
            | "geo"
            | "split_clients"
            | "stream"
            | "mail"
    )
}

/// An access-control directive from a module moat does not implement
/// (`auth_jwt`, `auth_pam`, `access_by_lua_block`, `js_access`,
/// `secure_link`...). Ignoring one would serve the location to anyone, so
/// the level that holds it answers 503 instead (fail closed).
pub(crate) fn unenforced_access_guard(name: &str) -> bool {
    known(name).is_none()
        && (name.starts_with("auth_")
            || name.starts_with("access_by_")
            || name == "js_access"
            || name.starts_with("secure_link"))
}
