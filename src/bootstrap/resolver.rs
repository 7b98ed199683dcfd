//! `nginx/resolver.conf` from the container's /etc/resolv.conf, as SWAG's
//! init script does: IPv4 name servers kept, IPv6 ones dropped, Docker's
//! embedded DNS as the fallback.

/// Docker's embedded DNS server on user-defined networks.
pub const DOCKER_DNS: &str = "127.0.0.11";

/// The text of resolver.conf for this resolv.conf content.
pub fn resolver_conf(resolv_conf: &str) -> String {
    let servers: Vec<&str> = resolv_conf
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some("nameserver"))
                .then(|| words.next())
                .flatten()
        })
        .filter(|addr| !addr.contains(':'))
        .collect();
    let servers = if servers.is_empty() {
        DOCKER_DNS.to_string()
    } else {
        servers.join(" ")
    };
    format!(
        "# Written by moat at first start from /etc/resolv.conf (IPv6 servers left out).\n\
         # Edit freely: moat never rewrites this file while it exists.\n\n\
         resolver {servers} valid=30s;\n"
    )
}

#[cfg(test)]
mod tests {
    use super::resolver_conf;

    #[test]
    fn keeps_ipv4_servers_in_order() {
        let text = resolver_conf("# c\nnameserver 10.0.0.2\nsearch lan\nnameserver 1.1.1.1\n");
        assert!(
            text.contains("resolver 10.0.0.2 1.1.1.1 valid=30s;"),
            "{text}"
        );
    }

    #[test]
    fn drops_ipv6_and_falls_back_to_docker_dns() {
        let text = resolver_conf("nameserver fe80::1\nnameserver ::1\n");
        assert!(text.contains("resolver 127.0.0.11 valid=30s;"), "{text}");
        assert!(resolver_conf("").contains("resolver 127.0.0.11 valid=30s;"));
    }
}
