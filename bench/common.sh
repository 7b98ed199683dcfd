# Shared by bench/proxy.sh and bench/instructions.sh (source it): the test
# certificate and the backend every proxy forwards to, so both benchmarks
# measure against the same thing.

# bench_cert DIR: an ECDSA P-256 certificate for bench.test that also covers
# IP 127.0.0.1 (wrk and curl send the address as SNI): DIR/cert.pem, DIR/key.pem.
# The GLIBC_TUNABLES value moat gives itself (src/supervisor/allocator.rs):
# a larger per-thread allocator cache. moat sets it by executing itself
# again; under valgrind that exec would run uninstrumented, so
# bench/instructions.sh starts moat's binaries with it already set, and the
# Pingora-alone row too, so that both rows count the same allocator.
moat_tunables() {
    local count
    count=$(sed -n 's/^pub const TCACHE_COUNT: u32 = \([0-9]*\);/\1/p' "$ROOT/src/supervisor/allocator.rs")
    [[ -n $count ]] || { echo "bench: TCACHE_COUNT not found in src/supervisor/allocator.rs" >&2; exit 1; }
    echo "glibc.malloc.tcache_count=$count"
}

bench_cert() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj /CN=bench.test -addext "subjectAltName=DNS:bench.test,IP:127.0.0.1" \
        -keyout "$1/key.pem" -out "$1/cert.pem" 2>/dev/null
}

# bench_backend_conf DIR PORT: DIR/nginx.conf for the backend, nginx with one
# worker answering `return 200` with a 1 KiB body on 127.0.0.1:PORT, keeping
# connections alive for 100,000 requests. Run it with `nginx -c DIR/nginx.conf -p DIR`.
# What the backend answers to every request: 1 KiB of `x`.
bench_backend_body() { head -c 1024 /dev/zero | tr '\0' 'x'; }

bench_backend_conf() {
    local dir=$1 port=$2 body
    body=$(bench_backend_body)
    mkdir -p "$dir"
    cat > "$dir/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 100000;
    keepalive_timeout 120s;
    client_body_temp_path $dir;
    proxy_temp_path $dir;
    fastcgi_temp_path $dir;
    uwsgi_temp_path $dir;
    scgi_temp_path $dir;
    server {
        listen 127.0.0.1:$port;
        location / { default_type text/plain; return 200 "$body"; }
    }
}
CONF
}

# bench_nginx_conf DIR PORT BACKEND_PORT CERTDIR WORKERS AUTH: DIR/nginx.conf
# for nginx as the proxy under test, doing what moat's bench-proxy does: TLS
# (CERTDIR/cert.pem, key.pem), keep-alive to the backend, the four
# forwarding headers; AUTH=1 puts the route behind `auth_request` to the
# backend (SWAG's auth-location shape: no body, X-Original-URL); GUARD=1
# adds realip from a trusted hop's X-Forwarded-For and a limit_req zone
# that never triggers; SWAG=1 replaces the forwarding lines with SWAG's
# proxy.conf (moat's copy in defaults/nginx/, included) and nginx.conf's
# $connection_upgrade map, as a SWAG subdomain conf has them.
# Debian's nginx on a copy of a /config tree moat bootstrapped, as the
# oracle harness runs it: `/config/` mapped onto the copy, `listen 443` and
# `listen 80` onto loopback ports, IPv6 listens dropped (a comment keeps
# the line), one foreground process with its pid, error log and temp files
# in the copy.
nginx_tree() { # config-dir dest https-port http-port
    local src=$1 dest=$2 https=$3 http=$4
    rm -rf "$dest"
    mkdir -p "$dest/log/nginx" "$dest/tmp"
    cp -r "$src/nginx" "$src/keys" "$src/www" "$dest/"
    find "$dest/nginx" -name '*.conf' -print0 | xargs -0 sed -i -E \
        -e "s#/config/#$dest/#g" \
        -e 's/^(\s*)listen \[::\]:(.*)/\1# bench: IPv6 listen dropped: \2/' \
        -e "s/^(\s*)listen 443([ ;])/\1listen 127.0.0.1:$https\2/" \
        -e "s/^(\s*)listen 80([ ;])/\1listen 127.0.0.1:$http\2/"
    sed -i -E -e 's/^(\s*)(user|pid) /\1# bench: \2 /' \
        -e "s#^http \{#http {\n    client_body_temp_path $dest/tmp;\n    proxy_temp_path $dest/tmp;\n    fastcgi_temp_path $dest/tmp;\n    uwsgi_temp_path $dest/tmp;\n    scgi_temp_path $dest/tmp;#" \
        "$dest/nginx/nginx.conf"
    sed -i "1i daemon off;\nmaster_process off;\npid $dest/nginx.pid;\nerror_log $dest/log/nginx/error.log warn;" "$dest/nginx/nginx.conf"
}

bench_nginx_conf() {
    local dir=$1 port=$2 backend=$3 certs=$4 workers=$5 auth=${6:-0} guard=${7:-0} swag=${8:-0}
    local auth_location= auth_line= zone= guard_lines= map=
    local forwarding='proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $host; proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; proxy_set_header X-Forwarded-Host $host; proxy_set_header X-Forwarded-Proto https; proxy_set_header X-Real-IP $remote_addr;'
    if [[ $swag == 1 ]]; then
        map="map \$http_upgrade \$connection_upgrade { default upgrade; '' close; }"
        forwarding="include $ROOT/defaults/nginx/proxy.conf;"
    fi
    if [[ $guard == 1 ]]; then
        zone='limit_req_zone $binary_remote_addr zone=bench:10m rate=1000000r/s;'
        guard_lines='set_real_ip_from 127.0.0.1; real_ip_header X-Forwarded-For; limit_req zone=bench burst=100000 nodelay;'
    fi
    if [[ $auth == 1 ]]; then
        auth_location='location = /auth { internal; proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_pass_request_body off; proxy_set_header Content-Length ""; proxy_set_header X-Original-URL https://$http_host$request_uri; }'
        auth_line='auth_request /auth;'
    fi
    mkdir -p "$dir"
    cat > "$dir/nginx.conf" <<CONF
worker_processes $workers;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $dir;
    proxy_temp_path $dir;
    fastcgi_temp_path $dir;
    uwsgi_temp_path $dir;
    scgi_temp_path $dir;
    upstream backend { server 127.0.0.1:$backend; keepalive 64; keepalive_requests 100000; }
    $zone
    $map
    server {
        listen 127.0.0.1:$port ssl http2;
        server_name bench.test;
        ssl_certificate $certs/cert.pem;
        ssl_certificate_key $certs/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_tickets off;
        $guard_lines
        $auth_location
        location / {
            $auth_line
            proxy_pass http://backend;
            $forwarding
        }
    }
}
CONF
}
