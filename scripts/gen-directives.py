#!/usr/bin/env python3
"""Regenerates src/conf/directives.tsv: every directive nginx and the
third-party modules SWAG's image loads declare, with nginx's own context,
argument-count and duplicate rules, read from their ngx_command_t tables.

The `status` column is moat's: it comes from src/conf/directives-status.tsv
(hand-maintained: implemented / cosmetic / access), and a directive missing
there is `cosmetic` unless its name matches an access-affecting pattern.

Usage: scripts/gen-directives.py  (needs the mirrors listed in SOURCES)
"""
import os, re, subprocess, sys

SOURCES = [
    # (family, git dir, ref, path prefix)
    ("nginx", "/work/.mirror/nginx+nginx/repo", "release-1.28.0", "src/"),
    ("headers-more", "/work/.mirror/openresty+headers-more-nginx-module/repo", "HEAD", "src/"),
    ("set-misc", "/work/.mirror/openresty+set-misc-nginx-module/repo", "HEAD", "src/"),
    ("geoip2", "/work/.mirror/leev+ngx_http_geoip2_module/repo", "HEAD", ""),
    ("brotli", "/work/.mirror/google+ngx_brotli/repo", "HEAD", ""),
    ("fancyindex", "/work/.mirror/aperezdc+ngx-fancyindex/repo", "HEAD", ""),
    ("dav-ext", "/work/.mirror/arut+nginx-dav-ext-module/repo", "HEAD", ""),
    ("echo", "/work/.mirror/openresty+echo-nginx-module/repo", "HEAD", "src/"),
]

CTX = {
    "NGX_MAIN_CONF": "main", "NGX_DIRECT_CONF": None, "NGX_ANY_CONF": "any",
    "NGX_EVENT_CONF": "events",
    "NGX_HTTP_MAIN_CONF": "http", "NGX_HTTP_SRV_CONF": "server",
    "NGX_HTTP_LOC_CONF": "location", "NGX_HTTP_UPS_CONF": "upstream",
    "NGX_HTTP_SIF_CONF": "sif", "NGX_HTTP_LIF_CONF": "lif",
    "NGX_HTTP_LMT_CONF": "limit_except",
    "NGX_STREAM_MAIN_CONF": "stream", "NGX_STREAM_SRV_CONF": "stream_server",
    "NGX_STREAM_UPS_CONF": "stream_upstream",
    "NGX_MAIL_MAIN_CONF": "mail", "NGX_MAIL_SRV_CONF": "mail_server",
}
TAKES = {"NGX_CONF_NOARGS": [0], "NGX_CONF_TAKE1": [1], "NGX_CONF_TAKE2": [2],
         "NGX_CONF_TAKE3": [3], "NGX_CONF_TAKE4": [4], "NGX_CONF_TAKE5": [5],
         "NGX_CONF_TAKE6": [6], "NGX_CONF_TAKE7": [7],
         "NGX_CONF_TAKE12": [1, 2], "NGX_CONF_TAKE13": [1, 3],
         "NGX_CONF_TAKE23": [2, 3], "NGX_CONF_TAKE123": [1, 2, 3],
         "NGX_CONF_TAKE1234": [1, 2, 3, 4]}
REPEATABLE = {"limit_req", "limit_conn"}
DUP_SLOTS = {"ngx_conf_set_flag_slot", "ngx_conf_set_str_slot", "ngx_conf_set_num_slot",
             "ngx_conf_set_size_slot", "ngx_conf_set_off_slot", "ngx_conf_set_msec_slot",
             "ngx_conf_set_sec_slot", "ngx_conf_set_bufs_slot", "ngx_conf_set_enum_slot"}


def git(d, *a):
    return subprocess.run(["git", "-C", d, *a], check=True, capture_output=True,
                          text=True, errors="replace").stdout


def rows():
    out = []
    for family, d, ref, prefix in SOURCES:
        files = [f for f in git(d, "ls-tree", "-r", "--name-only", ref).split("\n")
                 if f.startswith(prefix) and f.endswith(".c")]
        for f in files:
            text = git(d, "show", f"{ref}:{f}")
            for m in re.finditer(r"ngx_command_t\s+\w+\[\]\s*=\s*\{(.*?)\n\s*ngx_null_command", text, re.S):
                for e in re.finditer(r'\{\s*ngx_string\s*\("([^"]+)"\)\s*,\s*([^,]+),\s*([\w]+)', m.group(1)):
                    name, flags, handler = e.group(1), e.group(2), e.group(3)
                    flags = [x.strip() for x in flags.split("|")]
                    ctx = sorted({CTX[x] for x in flags if x in CTX and CTX[x]})
                    if "any" in ctx:
                        ctx = ["main", "events", "http", "server", "location", "sif", "lif"]
                    if family != "nginx" or "/stream/" in f:
                        pass
                    if "NGX_CONF_ANY" in flags:
                        args = "any"
                    elif "NGX_CONF_FLAG" in flags:
                        args = "flag"
                    elif "NGX_CONF_1MORE" in flags:
                        args = "1+"
                    elif "NGX_CONF_2MORE" in flags:
                        args = "2+"
                    else:
                        n = sorted({k for x in flags for k in TAKES.get(x, [])})
                        args = ",".join(map(str, n)) if n else "0"
                    block = "block" if "NGX_CONF_BLOCK" in flags else "simple"
                    if handler in DUP_SLOTS:
                        unique = "once"
                    else:
                        body = re.search(r"\n" + re.escape(handler) + r"\(.*?\n}\n", text, re.S)
                        unique = "once" if body and "is duplicate" in body.group(0) else "many"
                        # limit_req / limit_conn repeat freely; their "is
                        # duplicate" is about naming the same zone twice.
                        if name in REPEATABLE:
                            unique = "many"
                    module = os.path.basename(f)[:-2]
                    out.append((name, ",".join(ctx), args, block, unique, family, module))
    # ModSecurity-nginx (the modsecurity docker mod); no mirror here, rows
    # written from its README.
    for name, args in [("modsecurity", "flag"), ("modsecurity_rules", "1"),
                       ("modsecurity_rules_file", "1"), ("modsecurity_rules_remote", "2"),
                       ("modsecurity_transaction_id", "1")]:
        out.append((name, "http,location,server", args, "simple", "many", "modsecurity",
                    "ngx_http_modsecurity_module"))
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    status_file = os.path.join(here, "..", "src", "conf", "directives-status.tsv")
    status = {}
    for line in open(status_file):
        line = line.rstrip("\n")
        if not line or line.startswith("#"):
            continue
        n, s = line.split("\t")[:2]
        status[n] = s
    seen = set()
    lines = ["# Generated by scripts/gen-directives.py from nginx release-1.28.0 and the",
             "# third-party modules SWAG's image loads; do not edit by hand.",
             "# name\tcontexts\targs\tblock\tunique\tsource\tmodule\tmoat"]
    for r in sorted(rows(), key=lambda r: (r[0], r[5], r[6])):
        key = r
        if key in seen:
            continue
        seen.add(key)
        lines.append("\t".join(r) + "\t" + status.get(r[0], "cosmetic"))
    missing = [n for n in status if n not in {r[0] for r in seen}]
    if missing:
        sys.exit(f"directives-status.tsv names unknown directives: {missing}")
    open(os.path.join(here, "..", "src", "conf", "directives.tsv"), "w").write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
