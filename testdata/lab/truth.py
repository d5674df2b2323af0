#!/usr/bin/env python3
"""Writes <scenario>.truth.json for a pcap the lab just recorded.

The truth comes from what the generator did (the scenario's knobs, the client's own log)
and from checking the wire here with a small independent pcap reader (standard library
only) — never from connlint. If the wire does not show what the scenario was meant to
produce, this exits non-zero and the scenario fails instead of writing a false truth.
"""
import argparse, json, os, struct, statistics, sys

# ------------------------------------------------------------------ pcap reader
class Pkt:
    __slots__ = ("frame", "t", "src", "dst", "sport", "dport", "flags", "seq", "ack", "payload", "iface")
    def syn(self): return bool(self.flags & 0x02)
    def fin(self): return bool(self.flags & 0x01)
    def rst(self): return bool(self.flags & 0x04)
    def ackf(self): return bool(self.flags & 0x10)

def read_pcap(path):
    data = open(path, "rb").read()
    magic = struct.unpack("<I", data[:4])[0]
    if magic in (0xa1b2c3d4, 0xa1b23c4d):
        end = "<"
    else:
        end = ">"
    nsec = struct.unpack(end + "I", data[:4])[0] == 0xa1b23c4d
    linktype = struct.unpack(end + "I", data[20:24])[0]
    off, frame, out = 24, 0, []
    while off + 16 <= len(data):
        ts, tf, incl, orig = struct.unpack(end + "IIII", data[off:off + 16])
        pkt = data[off + 16: off + 16 + incl]
        off += 16 + incl
        frame += 1
        t = ts + tf / (1e9 if nsec else 1e6)
        if linktype == 1:
            if len(pkt) < 14: continue
            et = struct.unpack(">H", pkt[12:14])[0]; ip = pkt[14:]
        elif linktype == 113:
            et = struct.unpack(">H", pkt[14:16])[0]; ip = pkt[16:]
        else:
            raise SystemExit("unsupported linktype %d" % linktype)
        if et != 0x0800 or len(ip) < 20 or ip[9] != 6: continue
        ihl = (ip[0] & 15) * 4
        tot = struct.unpack(">H", ip[2:4])[0]
        tcp = ip[ihl:tot]
        doff = (tcp[12] >> 4) * 4
        p = Pkt()
        p.frame, p.t = frame, t
        p.src, p.dst = ".".join(map(str, ip[12:16])), ".".join(map(str, ip[16:20]))
        p.sport, p.dport, p.seq, p.ack = struct.unpack(">HHII", tcp[:12])
        p.flags = tcp[13]
        p.payload = bytes(tcp[doff:])
        out.append(p)
    return out

class Conn:
    def __init__(self, syn):
        self.client = (syn.src, syn.sport); self.server = (syn.dst, syn.dport)
        self.pkts = []
    def c2s(self, p): return (p.src, p.sport) == self.client
    def first(self, pred):
        return next((p for p in self.pkts if pred(p)), None)
    def data(self, to_server):
        return [p for p in self.pkts if p.payload and self.c2s(p) == to_server]
    def stream(self, to_server):
        """Reassembled bytes of one direction (lab links do not lose frames; duplicates dropped)."""
        segs = {}
        for p in self.data(to_server):
            segs.setdefault(p.seq, p.payload)
        if not segs: return b""
        base = min(segs); out = bytearray()
        for s in sorted(segs):
            o = (s - base) & 0xffffffff
            if o >= len(out): out += segs[s][len(out) - o:] if o <= len(out) else b""
            if o < len(out) < o + len(segs[s]): out += segs[s][len(out) - o:]
            elif o == len(out): pass
        return bytes(out)
    def rtt_ms(self):
        syn = self.first(lambda p: p.syn() and not p.ackf())
        sa = self.first(lambda p: p.syn() and p.ackf())
        if not syn or not sa: return None
        a3 = next((p for p in self.pkts if p.t >= sa.t and self.c2s(p) and p.ackf() and not p.syn()), None)
        return (a3.t - syn.t) * 1000 if a3 else None

def connections(pkts):
    conns, cur = [], {}
    for p in pkts:
        key = frozenset([(p.src, p.sport), (p.dst, p.dport)])
        if p.syn() and not p.ackf():
            c = Conn(p); conns.append(c); cur[key] = c
        c = cur.get(key)
        if c: c.pkts.append(p)
    return conns

def ms(x): return round(x * 1000, 3)
def r3(x): return None if x is None else round(x, 3)

# ------------------------------------------------------------------ helpers
class Fail(Exception): pass
def need(cond, msg):
    if not cond: raise Fail(msg)

def client_log(path):
    if not path or not os.path.exists(path): return []
    return [json.loads(l) for l in open(path) if l.strip()]

def msg_starts(stream, verbs):
    """Offsets in a stream where a request/response line starts (naive, lab traffic only)."""
    out, i = [], 0
    while True:
        hits = [stream.find(v, i) for v in verbs]
        hits = [h for h in hits if h >= 0 and (h == 0 or stream[h-1:h] == b"\n" or True)]
        if not hits: return out
        h = min(hits); out.append(h); i = h + 1

def seg_at(conn, to_server, offset):
    """The packet that carried stream byte `offset` of a direction."""
    d = conn.data(to_server)
    if not d: return None
    base = min(p.seq for p in d)
    for p in sorted(d, key=lambda p: p.frame):
        o = (p.seq - base) & 0xffffffff
        if o <= offset < o + len(p.payload): return p
    return None

def E(rule, fire=True, min_count=1, duration_ms=None, tolerance_ms=None, note=""):
    if not fire:
        return {"rule": rule, "fire": False, "note": note} if note else {"rule": rule, "fire": False}
    return {"rule": rule, "fire": True, "min_count": min_count, "duration_ms": r3(duration_ms),
            "tolerance_ms": r3(tolerance_ms), "note": note}

def conn_by_lport(conns, port):
    c = [x for x in conns if x.client[1] == port]
    need(c, "no connection from client port %d" % port)
    return c[-1]

# ------------------------------------------------------------------ scenarios
S = {}
def scenario(*names):
    def deco(f):
        for n in names: S[n] = f
        return f
    return deco

def ack_after(conn, to_server_data, p):
    """First ACK from the peer covering all of data packet p."""
    end = (p.seq + len(p.payload)) & 0xffffffff
    for q in conn.pkts:
        if q.frame > p.frame and conn.c2s(q) != to_server_data and q.ackf() and ((q.ack - end) & 0xffffffff) < 0x80000000:
            return q
    return None

@scenario("nagle-delayed-ack", "nagle-delayed-ack-nodelay")
def _(a, conns, rtt, log):
    control = a.scenario.endswith("nodelay")
    need(len(conns) == 1, "want one connection, got %d" % len(conns))
    c = conns[0]
    posts, stalled = [], []
    for p in c.data(True):
        if not p.payload.startswith(b"POST "): continue
        head_len = p.payload.find(b"\r\n\r\n") + 4
        idx = len(posts) + 1
        if len(p.payload) > head_len:  # body went in the same segment
            posts.append({"request": idx, "head_frame": p.frame, "body_frame": p.frame, "together": True}); continue
        body = next(q for q in c.data(True) if q.frame > p.frame)
        ack = ack_after(c, True, p)
        rec = {"request": idx, "head_frame": p.frame, "head_bytes": len(p.payload), "body_frame": body.frame,
               "body_bytes": len(body.payload), "ack_frame": ack.frame if ack else None,
               "ack_piggybacked": bool(ack and ack.payload),
               "head_to_body_ms": r3(ms(body.t - p.t)),
               "head_to_ack_ms": r3(ms(ack.t - p.t)) if ack else None}
        rec["body_after_ack"] = bool(ack and body.frame > ack.frame)
        rec["delayed_ack_ms"] = r3(ms(ack.t - p.t) - rtt) if ack else None
        rec["stalled"] = bool(ack and rec["body_after_ack"] and not ack.payload and rec["delayed_ack_ms"] >= 30)
        posts.append(rec)
        if rec["stalled"]: stalled.append(rec)
    need(len(posts) == a.count_or(12), "want %d POSTs, saw %d" % (a.count_or(12), len(posts)))
    facts = {"requests": posts, "writes_per_request": "2 (headers, then a 48-byte body)",
             "client_tcp_nodelay": control, "client_port": c.client[1],
             "server_reads_whole_request_before_answering": True}
    if control:
        need(all(p.get("together") or p["head_to_body_ms"] < 5 for p in posts), "NODELAY body waited")
        return ("POST headers and body in two writes with TCP_NODELAY: the body leaves at once, nothing waits "
                "for an ACK", [E("nagle-delayed-ack", False), E("delayed-ack-stall", False)], facts)
    need(stalled, "no request stalled on the wire")
    med = statistics.median(s["delayed_ack_ms"] for s in stalled)
    facts["stalled_requests"] = [s["request"] for s in stalled]
    facts["quickack_phase_requests"] = [p["request"] for p in posts if not p.get("stalled")]
    return ("Nagle x delayed ACK: 12 POSTs on one connection, each written as headers then a 48-byte body "
            "(Nagle on); the server reads the whole request before answering. After the kernel's quick-ACK "
            "phase the body is held until the server's delayed ACK.",
            [E("nagle-delayed-ack", True, len(stalled), med, 10,
               "one per stalled POST (requests %s). duration = delayed-ACK part: ACK arrival minus header send "
               "minus RTT (the body was held duration+RTT in total). Linux delayed-ACK timer (>=40 ms, "
               "TCP_DELACK_MIN, jiffy-rounded) is the kernel's, not ours: tolerance 10 ms covers the spread "
               "seen here (%s ms) and RTT-estimate differences." % (facts["stalled_requests"],
               ", ".join("%.1f" % s["delayed_ack_ms"] for s in stalled)))], facts)

@scenario("delayed-ack-stall", "delayed-ack-stall-quickack")
def _(a, conns, rtt, log):
    control = a.scenario.endswith("quickack")
    need(len(conns) == 3, "want 3 connections, got %d" % len(conns))
    recs = []
    for c in conns:
        d = c.data(False)
        need(d, "no response data")
        s1 = d[0]
        ack = ack_after(c, False, s1)
        nxt = next((q for q in d if q.frame > s1.frame), None)
        need(ack and nxt, "incomplete response")
        recs.append({"client_port": c.client[1], "first_segment_frame": s1.frame, "first_segment_bytes": len(s1.payload),
                     "client_ack_frame": ack.frame, "next_segment_frame": nxt.frame,
                     "client_ack_delay_ms": r3(ms(ack.t - s1.t)),
                     "first_to_next_segment_ms": r3(ms(nxt.t - s1.t)),
                     "stall_ms": r3(ms(nxt.t - s1.t) - rtt), "ack_had_data": bool(ack.payload)})
    facts = {"connections": recs, "server_route_initcwnd": 1, "server_tcp_nodelay": True,
             "client_tcp_quickack_0": not control, "response_bytes": 4000}
    if control:
        need(all(r["client_ack_delay_ms"] < 5 for r in recs), "client delayed an ACK in the control")
        return ("Control: server cwnd 1 segment, the client ACKs at once (kernel quick-ACK mode): the server waits "
                "one RTT for the ACK, no delayed-ACK stall", [E("delayed-ack-stall", False), E("nagle-delayed-ack", False)], facts)
    need(all(r["client_ack_delay_ms"] >= 30 for r in recs), "client did not delay: %s" % recs)
    med = statistics.median(r["stall_ms"] for r in recs)
    return ("Delayed-ACK stall without Nagle: the server (TCP_NODELAY, route initcwnd 1) sends the first segment "
            "of a 3-segment response and must wait for the ACK, which the client delays (TCP_QUICKACK=0); 3 "
            "connections, one stall each.",
            [E("delayed-ack-stall", True, 3, med, 10,
               "A = the server. duration = first->next response segment at the client minus RTT = the client's ACK "
               "delay (%s ms; Linux delayed-ACK timer, not controlled exactly)" % ", ".join(str(r["client_ack_delay_ms"]) for r in recs)),
             E("nagle-delayed-ack", False, note="near miss: no Nagle involved (TCP_NODELAY on the sender)")], facts)

# ------------------------------------------------------------------ main
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenario", required=True); ap.add_argument("--pcap", required=True)
    ap.add_argument("--out", required=True); ap.add_argument("--delay-ms", type=float, required=True)
    ap.add_argument("--work"); ap.add_argument("--client-log"); ap.add_argument("--count", type=int)
    ap.add_argument("--port-range")
    a = ap.parse_args()
    a.count_or = lambda d: a.count if a.count else d
    path = os.path.join(a.out, a.pcap)
    pkts = read_pcap(path)
    conns = connections(pkts)
    need(conns, "no TCP connection in %s" % path)
    rtts = [r for r in (c.rtt_ms() for c in conns) if r is not None]
    rtt = statistics.median(rtts)
    try:
        desc, expect, facts = S[a.scenario](a, conns, rtt, client_log(a.client_log))
    except Fail as e:
        print("truth %s: wire check failed: %s" % (a.scenario, e), file=sys.stderr); sys.exit(3)
    facts = dict(facts)
    facts.setdefault("frames", len(pkts))
    facts.setdefault("connections_in_pcap", len(conns))
    facts["rtt_ms_min_max"] = [r3(min(rtts)), r3(max(rtts))]
    facts["rtt_method"] = "SYN -> client's handshake ACK, median over the pcap's connections"
    doc = {"scenario": a.scenario, "description": desc, "pcap": a.pcap, "delay_ms_each_way": a.delay_ms,
           "rtt_ms": r3(rtt), "expect": expect, "facts": facts}
    with open(os.path.join(a.out, a.scenario + ".truth.json"), "w") as f:
        json.dump(doc, f, indent=1); f.write("\n")
    print("truth %s: %d frames, rtt %.1f ms, %s" % (a.scenario, len(pkts), rtt,
          ", ".join("%s=%s" % (e["rule"], e["fire"]) for e in expect)), file=sys.stderr)

if __name__ == "__main__":
    main()
