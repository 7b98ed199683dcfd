# Shared by bench/proxy.sh and bench/instructions.sh (source it): the test
# certificate and the backend every proxy forwards to, so both benchmarks
# measure against the same thing.

# bench_cert DIR: an ECDSA P-256 certificate for bench.test that also covers
# IP 127.0.0.1 (wrk and curl send the address as SNI): DIR/cert.pem, DIR/key.pem.
bench_cert() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj /CN=bench.test -addext "subjectAltName=DNS:bench.test,IP:127.0.0.1" \
        -keyout "$1/key.pem" -out "$1/cert.pem" 2>/dev/null
}

# bench_backend_conf DIR PORT: DIR/nginx.conf for the backend, nginx with one
# worker answering `return 200` with a 1 KiB body on 127.0.0.1:PORT, keeping
# connections alive for 100,000 requests. Run it with `nginx -c DIR/nginx.conf -p DIR`.
bench_backend_conf() {
    local dir=$1 port=$2 body
    body=$(head -c 1024 /dev/zero | tr '\0' 'x')
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
