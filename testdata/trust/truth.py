#!/usr/bin/env python3
"""Writes testdata/trust/<scenario>.truth.json for a recording made by record.sh.

The facts come from tshark (never from connlint): per TCP stream who opened it, who sent the
first FIN or an RST, the request and status lines, byte counts. Each scenario has a check
that the wire shows what it was meant to produce; when it does not, no truth is written and
the recording fails (no false truth).
"""
import argparse, json, re, subprocess, sys, os

FIELDS = ["frame.number", "frame.time_epoch", "tcp.stream", "ip.src", "tcp.srcport", "ip.dst",
          "tcp.dstport", "tcp.flags.syn", "tcp.flags.ack", "tcp.flags.fin", "tcp.flags.reset",
          "tcp.seq_raw", "tcp.ack_raw", "tcp.len", "tcp.payload"]


def tshark_rows(pcap):
    cmd = ["tshark", "-r", pcap, "-n", "-Y", "tcp", "-T", "fields", "-E", "separator=\t"]
    for f in FIELDS:
        cmd += ["-e", f]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    rows = []
    for line in out.splitlines():
        v = line.split("\t")
        v += [""] * (len(FIELDS) - len(v))
        rows.append({
            "frame": int(v[0]), "t": float(v[1]), "stream": int(v[2]), "src": f"{v[3]}:{v[4]}",
            "dst": f"{v[5]}:{v[6]}", "syn": v[7] in ("1", "True"), "ack": v[8] in ("1", "True"),
            "fin": v[9] in ("1", "True"), "rst": v[10] in ("1", "True"), "seq": int(v[11] or 0),
            "ackno": int(v[12] or 0), "len": int(v[13] or 0),
            "data": bytes.fromhex(v[14].replace(":", "")) if v[14] else b""})
    return rows


def streams(rows):
    # Own connection split, not tshark's tcp.stream: a SYN with a new ISN on a 4-tuple starts
    # a new connection (ab reuses client ports whose TIME_WAIT the server holds).
    out, cur, n = {}, {}, 0
    for r in rows:
        key = tuple(sorted((r["src"], r["dst"])))
        if r["syn"] and not r["ack"] and (key not in cur or out[cur[key]]["isn"] != r["seq"]):
            n += 1
            cur[key] = n
            out[n] = {"rows": [], "isn": r["seq"]}
        elif key not in cur:
            n += 1
            cur[key] = n
            out[n] = {"rows": [], "isn": None}
        out[cur[key]]["rows"].append(r)
    for sid, s in out.items():
        rs = s["rows"]
        syn = next((r for r in rs if r["syn"] and not r["ack"]), None)
        if syn:
            s["client"], s["server"] = syn["src"], syn["dst"]
        else:  # no SYN seen: the lower port is taken as the server (only for facts)
            a, b = rs[0]["src"], rs[0]["dst"]
            s["client"], s["server"] = (a, b) if int(a.split(":")[1]) > int(b.split(":")[1]) else (b, a)
        for side in ("client", "server"):
            seen, segs = set(), []
            for r in rs:
                if r["src"] == s[side] and r["len"] and (r["seq"], r["len"]) not in seen:
                    seen.add((r["seq"], r["len"]))
                    segs.append(r)
            segs.sort(key=lambda r: r["seq"])
            s[side + "_segs"] = segs
            s[side + "_bytes"] = b"".join(r["data"] for r in segs)
        fins = [r for r in rs if r["fin"]]
        s["first_fin"] = None if not fins else {
            "frame": fins[0]["frame"], "by": "client" if fins[0]["src"] == s["client"] else "server", "t": fins[0]["t"]}
        s["fin_frames"] = {side: next((r["frame"] for r in rs if r["fin"] and r["src"] == s[side]), None)
                           for side in ("client", "server")}
        s["rst_frames"] = {side: [r["frame"] for r in rs if r["rst"] and r["src"] == s[side]] for side in ("client", "server")}
        s["syn_frame"] = syn["frame"] if syn else None
        s["t0"], s["t1"] = rs[0]["t"], rs[-1]["t"]
    return out


REQ = re.compile(rb"(GET|POST|HEAD|PUT|DELETE|OPTIONS) (\S+) (HTTP/1\.[01])\r\n")
STATUS = re.compile(rb"HTTP/1\.[01] (\d{3})[^\r\n]*\r\n")


def heads(b, rx):
    return [m.group(0).decode().strip() for m in rx.finditer(b)]


def header_block(b):
    i = b.find(b"\r\n\r\n")
    return b[:i + 4] if i >= 0 else b


def rtt_ms(ss):
    v = []
    for s in ss.values():
        rs = s["rows"]
        syn = next((r for r in rs if r["syn"] and not r["ack"]), None)
        if not syn:
            continue
        ack = next((r for r in rs if r["src"] == s["client"] and r["ack"] and not r["syn"] and r["t"] >= syn["t"]), None)
        if ack:
            v.append((ack["t"] - syn["t"]) * 1000)
    v.sort()
    return round(v[len(v) // 2], 3) if v else None


def conn_summary(s):
    return {
        "client": s["client"], "server": s["server"], "frames": len(s["rows"]),
        "first_frame": s["rows"][0]["frame"], "last_frame": s["rows"][-1]["frame"],
        "syn_frame": s["syn_frame"], "requests": heads(s["client_bytes"], REQ), "statuses": heads(s["server_bytes"], STATUS),
        "client_payload_bytes": len(s["client_bytes"]), "server_payload_bytes": len(s["server_bytes"]),
        "fin_frames": s["fin_frames"], "rst_frames": s["rst_frames"],
        "first_fin_by": s["first_fin"]["by"] if s["first_fin"] else None}


class Bad(Exception):
    pass


def need(cond, msg):
    if not cond:
        raise Bad(msg)


QUIET = ["error", "warning"]


def sc_two_curls(ss, f):
    need(len(ss) == 2, f"want 2 connections, got {len(ss)}")
    a, b = sorted(ss.values(), key=lambda s: s["t0"])
    for s in (a, b):
        need(heads(s["client_bytes"], REQ) == ["GET /tiny.txt HTTP/1.0"], "each connection: one GET /tiny.txt HTTP/1.0")
        need(b"Connection: keep-alive" in s["client_bytes"], "Connection: keep-alive sent")
        need(heads(s["server_bytes"], STATUS)[:1] == ["HTTP/1.1 200 OK"], "answered 200")
        need(s["server"] == "127.0.0.1:8096", "one server")
    gap = (b["t0"] - a["t0"]) * 1000
    need(gap >= 250, f"second connection {gap:.0f} ms after the first")
    f["second_connection_after_ms"] = round(gap, 1)
    f["proxies"] = "none: two curl processes, one nginx, all on 127.0.0.1"
    return dict(description="Two `curl --http1.0 -H 'Connection: keep-alive'` runs of the same URL against one nginx on 127.0.0.1:8096, the second started 300 ms after the first. No proxy anywhere (issue 12 item 1).",
                expect=[{"rule": "hop-by-hop-forwarded", "fire": False, "note": "no proxy: Connection: keep-alive is each client's own header"}],
                quiet=QUIET, proxy_chains_max=0)


def sc_two_overlap(ss, f):
    need(len(ss) == 2, f"want 2 connections, got {len(ss)}")
    a, b = sorted(ss.values(), key=lambda s: s["t0"])
    for s in (a, b):
        need(heads(s["client_bytes"], REQ) == ["GET /slowfirst HTTP/1.0"], "each connection: one GET /slowfirst HTTP/1.0")
        need(b"Connection: keep-alive" in s["client_bytes"], "Connection: keep-alive sent")
        need(heads(s["server_bytes"], STATUS)[:1] == ["HTTP/1.1 200 OK"], "answered 200")
    need(header_block(a["client_bytes"]) == header_block(b["client_bytes"]), "byte-identical requests")
    a_req, b_req = a["client_segs"][0]["t"], b["client_segs"][0]["t"]
    a_resp, b_resp = a["server_segs"][0]["t"], b["server_segs"][0]["t"]
    need(a_req < b_req < b_resp < a_resp, "the second request is sent and answered while the first waits")
    need(a_resp - a_req >= 0.25, "the first answered ~300 ms after its request")
    f.update(connections=[conn_summary(a), conn_summary(b)],
             first_answered_after_ms=round((a_resp - a_req) * 1000, 1),
             second_request_after_first_ms=round((b_req - a_req) * 1000, 1),
             second_answered_after_ms=round((b_resp - b_req) * 1000, 1),
             proxies="none: two curl processes, one server, all on 127.0.0.1",
             programs="2 x curl --http1.0 -H 'Connection: keep-alive' -> oddserver /slowfirst on 127.0.0.1:8092 (first request answered after 300 ms, later ones at once), second curl 100 ms after the first")
    return dict(description="Two `curl --http1.0 -H 'Connection: keep-alive'` runs of the same URL against one server on 127.0.0.1:8092; the first is answered 300 ms after its request, the second (started 100 ms later, byte-identical request) at once, inside the first's wait. It looks like a proxy forwarding the first request; it is not: no proxy anywhere (issue 12 item 1).",
                expect=[{"rule": "hop-by-hop-forwarded", "fire": False, "note": "no proxy: Connection: keep-alive is each client's own header"}],
                quiet=QUIET, proxy_chains_max=0)


def sc_ab(ss, f):
    for s in ss.values():
        need(s["syn_frame"] and all(s["fin_frames"].values()), f"incomplete connection {s['client']} (capture dropped packets?)")
    withreq = [s for s in ss.values() if heads(s["client_bytes"], REQ)]
    idle = [s for s in ss.values() if not s["client_bytes"]]
    need(len(withreq) == 1500 and len(withreq) + len(idle) == len(ss), f"1500 request connections, got {len(withreq)} of {len(ss)}")
    need(all(heads(s["client_bytes"], REQ) == ["GET /tiny.txt HTTP/1.0"] for s in withreq), "every connection one HTTP/1.0 GET")
    server_first = sum(1 for s in withreq if s["first_fin"]["by"] == "server")
    client_first = sum(1 for s in ss.values() if s["first_fin"]["by"] == "client")
    reqs = len(withreq)
    need(server_first == len(withreq), f"server closes first on {server_first} of {len(withreq)}")
    f["connections_without_request"] = [conn_summary(s) for s in idle]
    f["note"] = "ab opened one more connection than it needed at the end and closed it without a request (client FIN first): real ab behaviour"
    ports = {s["client"] for s in ss.values()}
    f.update(connections=len(ss), requests=reqs, server_fin_first=server_first, client_fin_first=client_first,
             distinct_client_ports=len(ports), client_held_time_wait=client_first,
             duration_ms=round((max(s["t1"] for s in ss.values()) - min(s["t0"] for s in ss.values())) * 1000, 1),
             programs="3 x ab -n 500 -c 4, 0.6 s apart (HTTP/1.0, no keep-alive) -> nginx 1.22 on 127.0.0.1:8097")
    return dict(description="ab (apache2-utils) -> nginx on 127.0.0.1, 3 runs of 500 HTTP/1.0 requests 0.6 s apart, 4 at a time, one connection each; nginx closes every connection first (server-side TIME_WAIT). No proxy (issue 12 items 1 and 3).",
                expect=[{"rule": "port-churn", "fire": False, "note": f"the client held TIME_WAIT on {client_first} of {len(ss)} connections: the client does not run out of ports"},
                        {"rule": "hop-by-hop-forwarded", "fire": False}],
                quiet=QUIET, proxy_chains_max=0)


def sc_cut(ss, f):
    need(len(ss) == 1, "one connection")
    s = next(iter(ss.values()))
    h = header_block(s["server_bytes"])
    need(b"Content-Length: 4000000" in h, "response declares 4000000 bytes")
    body = len(s["server_bytes"]) - len(h)
    need(0 < body < 4000000, f"body captured {body}")
    need(not any(s["fin_frames"].values()) and not any(s["rst_frames"].values()), "no FIN/RST: the capture stopped, the connection did not")
    f.update(connection=conn_summary(s), body_bytes_captured=body, content_length=4000000,
             programs="curl --limit-rate 2M from nginx; tcpdump -c 14 stopped the capture while curl went on")
    return dict(description="curl downloads a 4 MB file from nginx on 127.0.0.1 (rate-limited); tcpdump -c 14 ends the capture mid-body while the transfer goes on. Truncation by the end of the capture is not a protocol error (issue 12 item 2).",
                expect=[], quiet=QUIET)


def sc_fin_early(ss, f):
    need(len(ss) == 1, "one connection")
    s = next(iter(ss.values()))
    h = header_block(s["server_bytes"])
    need(b"Content-Length: 100\r\n" in h, "CL 100")
    body = len(s["server_bytes"]) - len(h)
    need(body == 40, f"40 body bytes, got {body}")
    need(s["fin_frames"]["server"] is not None, "server FIN")
    f.update(connection=conn_summary(s), body_bytes=body, content_length=100, server_fin_frame=s["fin_frames"]["server"],
             programs="curl -> lab server /lie/long-fin on 127.0.0.1:8099")
    return dict(description="Near miss of cut-download: the server (lab server /lie/long-fin) declares Content-Length 100, sends 40 bytes and closes (FIN). A real truncation: stays an error (issue 12 item 2).",
                expect=[{"rule": "content-length-mismatch", "fire": True, "min_count": 1, "severity": "error",
                         "note": f"40 of 100 body bytes, then the server's FIN (frame {s['fin_frames']['server']})"}])


def sc_expect(ss, f):
    need(len(ss) == 1, "one connection")
    s = next(iter(ss.values()))
    h = header_block(s["client_bytes"])
    need(b"Expect: 100-continue" in h and b"Content-Length: 2000000" in h, "Expect: 100-continue, CL 2000000")
    sent = len(s["client_bytes"]) - len(h)
    need(sent == 0, f"client sent {sent} body bytes")
    st = heads(s["server_bytes"], STATUS)
    need(st and st[0].startswith("HTTP/1.1 413"), f"413 first, got {st}")
    need(not any("100" in x.split()[1] for x in st), "no 100 Continue")
    f.update(connection=conn_summary(s), request_body_bytes_sent=sent, statuses=st,
             programs="curl --data-binary @2MB -H 'Expect: 100-continue' -> nginx client_max_body_size 1k")
    return dict(description="curl POSTs 2 MB with Expect: 100-continue; nginx (client_max_body_size 1k) answers 413 at once and curl, as RFC 9110 §10.1.1 allows, never sends the body and closes. Not a finding (issue 12 item 5).",
                expect=[{"rule": "content-length-mismatch", "fire": False, "note": "the body was withheld after a final status to an Expect: 100-continue request"}],
                quiet=QUIET)


def sc_partial_post(ss, f):
    need(len(ss) == 1, "one connection")
    s = next(iter(ss.values()))
    h = header_block(s["client_bytes"])
    need(b"Content-Length: 2000000" in h and b"Expect" not in h, "CL 2000000, no Expect")
    sent = len(s["client_bytes"]) - len(h)
    need(sent == 100000, f"100000 body bytes, got {sent}")
    need(s["fin_frames"]["client"] is not None, "client FIN")
    f.update(connection=conn_summary(s), request_body_bytes_sent=sent, content_length=2000000,
             client_fin_frame=s["fin_frames"]["client"], programs="lab client -> lab server on 127.0.0.1:8101")
    return dict(description="Near miss of expect-100-refused: a POST without Expect declares Content-Length 2000000, sends 100000 body bytes and closes (FIN). A truncated request body: fires (issue 12 item 5).",
                expect=[{"rule": "content-length-mismatch", "fire": True, "min_count": 1, "severity": "error",
                         "note": f"100000 of 2000000 request body bytes, then the client's FIN (frame {s['fin_frames']['client']})"}])


def sc_gopool(ss, f):
    need(len(ss) == 4, f"4 pooled connections, got {len(ss)}")
    per = [len(heads(s["client_bytes"], REQ)) for s in ss.values()]
    need(sum(per) == 40, f"40 requests, got {per}")
    need(all(x >= 5 for x in per), f"each connection reused: {per}")
    need(all(r == "GET /item HTTP/1.1" for s in ss.values() for r in heads(s["client_bytes"], REQ)), "same request")
    f.update(connections=len(ss), requests_per_connection=sorted(per), server="127.0.0.1:8102",
             programs="Go net/http client (Transport MaxConnsPerHost 4, 4 workers x 10 GETs) -> Go net/http server")
    return dict(description="A Go net/http client with a pool of 4 keep-alive connections fetches the same URL 40 times from a Go net/http server on 127.0.0.1:8102. No proxy anywhere (issue 12 item 6).",
                expect=[{"rule": "hop-by-hop-forwarded", "fire": False}, {"rule": "dumb-proxy-keepalive", "fire": False}],
                quiet=QUIET, proxy_chains_max=0)


def legs(ss):
    cl = [s for s in ss.values() if s["server"].endswith(":8080")]
    up = [s for s in ss.values() if s["server"].endswith(":8081")]
    need(len(cl) == 1 and len(up) == 1, f"one client leg and one upstream leg, got {len(cl)}/{len(up)}")
    return cl[0], up[0]


def sc_verbatim(ss, f):
    c, u = legs(ss)
    creq, ureq = header_block(c["client_bytes"]), header_block(u["client_bytes"])
    need(creq == ureq, "upstream request head byte-identical to the client's")
    need(creq.startswith(b"GET http://198.18.2.2:8081/tiny.txt HTTP/1.0\r\n"), "absolute-form")
    need(c["server"].split(":")[0] != u["client"].split(":")[0], "upstream from another address")
    rq = heads(c["client_bytes"], REQ)
    need(len(rq) == 2 and len(heads(c["server_bytes"], STATUS)) == 1, "second request unanswered")
    f.update(client_leg=conn_summary(c), upstream_leg=conn_summary(u), request_head=creq.decode(),
             proxy_listen=c["server"], proxy_upstream_source=u["client"], origin=u["server"],
             vantage="proxy host, both interfaces merged", programs="lab client -> dumbproxy -verbatim -source 198.18.2.1 -> nginx (keepalive_timeout 3s)")
    return dict(description="A dumb proxy listening on 198.18.1.2:8080 connects upstream from 198.18.2.1 (second interface) and forwards the absolute-form request line and every header byte for byte (no Via). HTTP/1.0 Connection: Keep-Alive client; nginx keeps the upstream open; the client's second request is never answered (issue 12 item 8).",
                expect=[{"rule": "hop-by-hop-forwarded", "fire": True, "min_count": 1, "note": "Connection: Keep-Alive forwarded upstream unchanged"},
                        {"rule": "dumb-proxy-keepalive", "fire": True, "min_count": 1, "note": "second request on the client leg unanswered"}],
                proxy_chains_min=1)


def wait_close_facts(ss, f):
    c, u = legs(ss)
    need(len(heads(c["client_bytes"], REQ)) == 1 and len(heads(c["server_bytes"], STATUS)) == 1, "one request, one response on the client leg")
    need(c["first_fin"] and c["first_fin"]["by"] == "server", "the proxy closed the client leg first")
    last_resp = max(r["t"] for r in c["server_segs"])
    pfin = c["first_fin"]["t"]
    ofin = next((r["t"] for r in u["rows"] if r["fin"] and r["src"] == u["server"]), None)
    f.update(client_leg=conn_summary(c), upstream_leg=conn_summary(u),
             proxy_fin_client_leg_frame=c["first_fin"]["frame"],
             origin_fin_upstream_frame=u["fin_frames"]["server"],
             wait_from_last_response_byte_to_proxy_fin_ms=round((pfin - last_resp) * 1000, 1),
             origin_fin_to_proxy_fin_ms=None if ofin is None else round((pfin - ofin) * 1000, 1),
             vantage="proxy host, both interfaces merged")
    return c, u, pfin, ofin, last_resp


def sc_wait_close(ss, f):
    c, u, pfin, ofin, last = wait_close_facts(ss, f)
    need(ofin is not None and 0 <= pfin - ofin < 0.05, "proxy FIN on the client leg right after the origin's FIN upstream")
    need(pfin - last >= 2.5, "the client waited seconds")
    f["programs"] = "lab client (HTTP/1.0, Connection: Keep-Alive, one request, then waits 5 s) -> dumbproxy -> nginx keepalive_timeout 3s"
    return dict(description="HTTP/1.0 client sends Connection: Keep-Alive through the dumb proxy, gets its response and sends nothing more; nginx keeps the upstream open for its 3 s idle timeout, closes, and the proxy then closes the client leg. The client waited ~3 s for a close (issue 12 item 9).",
                expect=[{"rule": "dumb-proxy-keepalive", "fire": True, "min_count": 1,
                         "note": f"client leg closed by the proxy (frame {c['first_fin']['frame']}) right after the origin's idle close (frame {u['fin_frames']['server']}), {f['wait_from_last_response_byte_to_proxy_fin_ms']} ms after the last response byte"}],
                proxy_chains_min=1)


def sc_smart_close(ss, f):
    c, u, pfin, ofin, last = wait_close_facts(ss, f)
    need(ofin is None or pfin < ofin, "haproxy closed the client leg before any origin close")
    need(0.8 <= pfin - last <= 1.5, "on its own 1 s keep-alive timer")
    f["programs"] = "lab client (HTTP/1.0, Connection: Keep-Alive, one request, then waits 5 s) -> haproxy 2.6 (timeout http-keep-alive 1s) -> nginx keepalive_timeout 3s"
    return dict(description="Near miss of dumbproxy-wait-close: the same client through haproxy, which answers keep-alive properly and closes the idle client leg on its own 1 s timer, not after the origin's close (issue 12 item 9).",
                expect=[{"rule": "dumb-proxy-keepalive", "fire": False}])


def sc_crlf(ss, f, garbage=False):
    first = min(ss.values(), key=lambda s: s["t0"])
    tail = b"hello!\nGARBAGE\n" if garbage else b"hello!\n\r\n"
    need(tail in first["server_bytes"], "extra bytes after the body on the wire")
    seg = next(r for r in first["server_segs"] if tail in r["data"])
    f.update(connections=[conn_summary(s) for s in sorted(ss.values(), key=lambda s: s["t0"])],
             extra_bytes=("GARBAGE\\n (8 B)" if garbage else "\\r\\n (2 B)"), extra_bytes_frame=seg["frame"],
             programs="curl (two URLs) -> oddserver on 127.0.0.1:8093 (TCP_NODELAY, one write per response)")
    if garbage:
        return dict(description="Near miss of stray-crlf: the server sends Content-Length: 7, the body and then 8 bytes of garbage (GARBAGE\\n) in the same segment. A real overrun (issue 12 item 4).",
                    expect=[{"rule": "content-length-mismatch", "fire": True, "min_count": 1, "note": f"8 bytes past the 7-byte body in frame {seg['frame']}"}])
    return dict(description="The server sends Content-Length: 7, the body and then a stray CRLF in the same segment, as real servers do; RFC 9112 §2.2 asks recipients to tolerate it. Not a finding (issue 12 item 4).",
                expect=[{"rule": "content-length-mismatch", "fire": False}], quiet=QUIET)


def sc_python(ss, f):
    need(len(ss) == 1, f"one connection, got {len(ss)}")
    s = next(iter(ss.values()))
    rq, st = heads(s["client_bytes"], REQ), heads(s["server_bytes"], STATUS)
    need(len(rq) == 6 and len(st) == 6, f"6 requests and responses on one connection, got {len(rq)}/{len(st)}")
    # each response: the header segment, then the 18-byte body in its own segment
    segs = s["server_segs"]
    held = []
    for i, r in enumerate(segs):
        if r["data"].startswith(b"HTTP/1.") and i + 1 < len(segs) and segs[i + 1]["len"] == 18:
            held.append(round((segs[i + 1]["t"] - r["t"]) * 1000, 1))
    need(len(held) == 6, f"headers and body in separate segments for every response, got {len(held)}")
    stalls = [h for h in held if h >= 30]
    need(stalls, "at least one body held for the client's delayed ACK")
    f.update(connection=conn_summary(s), body_after_headers_ms=held, stalled_responses=len(stalls),
             programs="python3 -m http.server --protocol HTTP/1.1 (headers and body in two writes, Nagle on) <- curl, 6 URLs, one connection")
    return dict(description="python3's http.server (HTTP/1.1 keep-alive) writes each response's headers and body separately with Nagle on; curl fetches 6 URLs on one connection and delays its ACKs, so bodies wait for the delayed ACK. That stall is a true finding; nothing else is.",
                expect=[{"rule": "nagle-delayed-ack", "fire": True, "min_count": 1, "note": f"body held {stalls} ms behind the header segment"}],
                quiet=QUIET, quiet_allow=["nagle-delayed-ack", "delayed-ack-stall"])


SCENARIOS = {
    "two-curls-one-server": sc_two_curls, "two-curls-overlap": sc_two_overlap, "ab-nginx-churn": sc_ab, "cut-download": sc_cut,
    "fin-before-body-end": sc_fin_early, "expect-100-refused": sc_expect, "post-partial-body-fin": sc_partial_post,
    "go-client-pool": sc_gopool, "dumbproxy-verbatim": sc_verbatim, "dumbproxy-wait-close": sc_wait_close,
    "smartproxy-wait-close": sc_smart_close, "stray-crlf": sc_crlf,
    "garbage-after-body": lambda ss, f: sc_crlf(ss, f, garbage=True), "python-http-server": sc_python,
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenario", required=True)
    ap.add_argument("--pcap", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    rows = tshark_rows(a.pcap)
    ss = streams(rows)
    f = {}
    try:
        spec = SCENARIOS[a.scenario](ss, f)
    except Bad as e:
        sys.exit(f"truth.py {a.scenario}: the wire does not show the scenario: {e}")
    f["frames"] = len(rows)
    f["connections_in_pcap"] = len(ss)
    f["verified_with"] = "tshark " + subprocess.run(["tshark", "--version"], capture_output=True, text=True).stdout.split("\n")[0].split()[2]
    for e in spec["expect"]:
        e.setdefault("min_count", 0)
    t = {"scenario": a.scenario, "description": spec["description"], "pcap": os.path.basename(a.pcap),
         "source": "recorded", "rtt_ms": rtt_ms(ss), "expect": spec["expect"]}
    for k in ("quiet", "quiet_allow", "proxy_chains_max", "proxy_chains_min"):
        if k in spec:
            t[k] = spec[k]
    t["facts"] = f
    with open(os.path.join(a.out, a.scenario + ".truth.json"), "w") as fh:
        json.dump(t, fh, indent=1)
        fh.write("\n")
    print(f"truth {a.scenario}: {len(rows)} frames, {len(ss)} connections", file=sys.stderr)


if __name__ == "__main__":
    main()
