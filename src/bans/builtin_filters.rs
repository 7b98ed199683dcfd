//! moat's own versions of the stock fail2ban filters a SWAG volume uses
//! without holding them (`nginx-http-auth`, `nginx-botsearch`; Debian's
//! fail2ban package ships those in /etc/fail2ban, which moat's image does
//! not have), and of SWAG's three custom filters for a /config that has no
//! `fail2ban/filter.d`. A file of the same name in
//! `/config/fail2ban/filter.d` always wins.

/// The built-in filter text named `name`, if moat has one.
pub fn get(name: &str) -> Option<&'static str> {
    Some(match name {
        // nginx's auth_basic failures, as ngx_http_auth_basic_module words them.
        "nginx-http-auth" => concat!(
            "[Definition]\n",
            "failregex = ^\\s*\\[error\\] \\d+#\\d+: \\*\\d+ user \"(?:[^\"]+|.*?)\":? (?:password mismatch|was not found in \"[^\"]*\"), client: <HOST>, server: \\S*, request: \"\\S+ \\S+ HTTP/\\d+\\.\\d+\", host: \"\\S+\"(?:, referrer: \"\\S+\")?\\s*$\n",
        ),
        // A 404 for a path that scanners probe (webmail, database admin
        // tools, WordPress logins, CGI) in the access log.
        "nginx-botsearch" => concat!(
            "[INCLUDES]\nbefore = botsearch-common.conf\n",
            "[Definition]\n",
            "failregex = ^<HOST> - \\S+ \\[\\] \"(?:GET|POST|HEAD) /<block> \\S+\" 404 .+$\n",
        ),
        "botsearch-common" => concat!(
            "[Init]\n",
            "block = /?(?:<webmail>|<dbadmin>|<wordpress>|cgi-bin|mysqladmin)[^,]*\n",
            "webmail = roundcube|(?:ext)?mail|horde|(?:v-?)?webmail\n",
            "dbadmin = (?:typo3/|xampp/|admin/|)(?:pma|(?:php)?[Mm]y[Aa]dmin)\n",
            "wordpress = wp-(?:login|signup|admin)\\.php\n",
        ),
        // SWAG's own three, for a /config without them.
        "nginx-deny" => concat!(
            "[Definition]\n",
            "failregex = ^ \\[error\\] \\d+#\\d+: \\*\\d+ access forbidden by rule, client: <HOST>, server: \\S*, request: \"\\S+ \\S+ HTTP/\\d+\\.\\d+\", host: \"\\S+\"(?:, referrer: \"\\S+\")?\\s*$\n",
        ),
        "nginx-unauthorized" => concat!(
            "[Definition]\n",
            "failregex = ^<HOST>.*\"(?:GET|POST|HEAD).*\" 401 .*$\n",
        ),
        "nginx-badbots" => concat!(
            "[Definition]\n",
            "badbots = EmailCollector|EmailSiphon|EmailWolf|ExtractorPro|WebEMailExtrac|CherryPicker|Crescent|Zeus|Atomic_Email_Hunter\n",
            "failregex = ^<HOST> -.*\"(?:GET|POST|HEAD).*HTTP.*\"(?:%(badbots)s)\"$\n",
        ),
        _ => return None,
    })
}
