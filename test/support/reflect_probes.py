#!/usr/bin/python3
"""Probes for `pdmscope reflect` tests, built with struct from RFC 8200 / 8250 / 768 alone (an
encoder independent of pdmscope's own), one good probe and one per reason to refuse.

  reflect_probes.py frames ARGS                 JSON {case: frame hex}
  reflect_probes.py run IFACE SECONDS ARGS CASE...
      sends each CASE on IFACE (AF_PACKET, 20 ms apart), then listens SECONDS more; prints JSON
      {"sent": n, "seen": [{"t": s, "src": addr, "dst": addr, "sport": p, "dport": p, "out": bool}]}
      for every IPv6 frame carrying a Destination Options header (PDM) seen on IFACE.

ARGS: --src-mac M --dst-mac M --src ADDR --dst ADDR [--own-other ADDR] [--other ADDR] [--port P]
"""
import argparse
import ipaddress
import json
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
ETH_P_IPV6 = 0x86DD
PACKET_OUTGOING = 4


def mac(text):
    return bytes(int(x, 16) for x in text.split(':'))


def addr(text):
    return ipaddress.IPv6Address(text).packed


def csum(data):
    if len(data) % 2:
        data += b'\0'
    s = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def pdm_dstopts(psn):
    # RFC 8250 §3.2: type 0x0F, length 10, ScaleDTLR, ScaleDTLS, PSNTP, PSNLR, DeltaTLR, DeltaTLS;
    # then PadN of 2 to the 8-octet boundary (RFC 8200 §4.2). Next header UDP, Hdr Ext Len 1.
    opt = struct.pack('!BBBBHHHH', 0x0F, 10, 0, 0, psn, 0, 0, 0)
    return struct.pack('!BB', 17, 1) + opt + b'\x01\x00'


def pdmv2_dstopts(psn):
    # draft-ietf-ippm-encrypted-pdmv2-14, clear form: type 0x0F, length 22, Version 2 | Epoch 0,
    # PSNTP 32, PSNLR 32, Global Pointer 32, ScaleDTLR, ScaleDTLS, Reserved 16, DeltaTLR, DeltaTLS;
    # then PadN of 6 to the 8-octet boundary. Next header UDP, Hdr Ext Len 3.
    opt = struct.pack('!BBHIIIBBHHH', 0x0F, 22, 2 << 12, psn, 0, 0, 0, 0, 0, 0, 0)
    return struct.pack('!BB', 17, 3) + opt + b'\x01\x04' + b'\x00' * 4


def build(src, dst, sport, dport, *, payload=b'PDMSprobe-test!!', routing=None, udp_len_delta=0,
          checksum=None, pl_delta=0, trailer=b'', src_mac, dst_mac, psn=0x1234, pdmv2=False):
    """Ethernet / IPv6 / [Routing type 0] / Destination Options [PDM] / UDP / payload."""
    udp_len = 8 + len(payload)
    final_dst = dst
    ext = b''
    first = 60
    if routing is not None:
        segments_left, via = routing
        # RFC 8200 §4.4 (type 0 layout, RFC 5095): NH, Hdr Ext Len 2, type 0, Segments Left, reserved.
        ext += struct.pack('!BBBB4x', 60, 2, 0, segments_left) + via
        first = 43
        if segments_left > 0:
            final_dst = via  # the checksum is over the final destination (RFC 8200 §8.1)
    ext += pdmv2_dstopts(psn) if pdmv2 else pdm_dstopts(psn)
    pseudo = src + final_dst + struct.pack('!I3xB', udp_len, 17)
    udp = struct.pack('!HHHH', sport, dport, udp_len + udp_len_delta, 0) + payload
    c = csum(pseudo + udp)
    if c == 0:
        c = 0xFFFF
    if checksum is not None:
        c = checksum(c)
    udp = udp[:6] + struct.pack('!H', c) + udp[8:]
    ip = struct.pack('!IHBB', 6 << 28, len(ext) + len(udp) + pl_delta, first, 64) + src + dst
    return dst_mac + src_mac + struct.pack('!H', ETH_P_IPV6) + ip + ext + udp + trailer


def cases(a):
    src, dst, port = addr(a.src), addr(a.dst), a.port
    macs = {'src_mac': mac(a.src_mac), 'dst_mac': mac(a.dst_mac)}
    other = addr(a.other) if a.other else addr('2001:db8:ffff::99')

    def probe(s=src, d=dst, sport=40000, **kw):
        return build(s, d, sport, port, **macs, **kw)

    out = {
        'good': probe(),
        'good_routing_done': probe(routing=(0, other)),
        'from_reflector_port': probe(sport=port),
        'from_system_port': probe(sport=53),
        'from_port_zero': probe(sport=0),
        'own_address': probe(s=dst),
        'loopback_source': probe(s=addr('::1')),
        'multicast_source': probe(s=addr('ff02::1')),
        'multicast_source_global': probe(s=addr('ff0e::1')),
        'unspecified_source': probe(s=addr('::')),
        'v4mapped_source': probe(s=addr('::ffff:192.0.2.1')),
        'multicast_destination': build(src, addr('ff02::1'), 40000, port, src_mac=macs['src_mac'], dst_mac=mac('33:33:00:00:00:01')),
        'not_own_destination': probe(d=other),
        'bad_udp_checksum': probe(checksum=lambda c: c ^ 0x5A5A),
        'zero_udp_checksum': probe(checksum=lambda c: 0),
        'udp_length_long': probe(udp_len_delta=2),
        'udp_length_short': probe(udp_len_delta=-2),
        'ipv6_length_long': probe(pl_delta=8),
        'ipv6_length_short': probe(pl_delta=-4, trailer=b'\xee' * 4),
        'routing_segments_left': probe(routing=(1, other)),
        'pdm_version_2': probe(pdmv2=True),
    }
    if a.own_other:
        out['own_address_other'] = probe(s=addr(a.own_other))
    return out


def parse_frame(f):
    if len(f) < 14 + 40 or struct.unpack('!H', f[12:14])[0] != ETH_P_IPV6:
        return None
    nh = f[20]
    off = 54
    seen_dstopts = False
    while nh in (0, 43, 60):
        if off + 2 > len(f):
            return None
        seen_dstopts |= nh == 60
        nh, hlen = f[off], (f[off + 1] + 1) * 8
        off += hlen
    if not seen_dstopts or nh != 17 or off + 8 > len(f):
        return None
    sport, dport = struct.unpack('!HH', f[off:off + 4])
    return {'src': str(ipaddress.IPv6Address(f[22:38])), 'dst': str(ipaddress.IPv6Address(f[38:54])), 'sport': sport, 'dport': dport}


def run(a):
    all_cases = cases(a)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((a.iface, 0))
    s.settimeout(0.05)
    t0 = time.monotonic()
    seen = []

    def listen(until):
        while time.monotonic() < until:
            try:
                f, where = s.recvfrom(65535)
            except socket.timeout:
                continue
            p = parse_frame(f)
            if p is not None:
                p['t'] = round(time.monotonic() - t0, 6)
                p['out'] = where[2] == PACKET_OUTGOING
                seen.append(p)

    for name in a.cases:
        s.send(all_cases[name])
        listen(time.monotonic() + 0.02)
    listen(time.monotonic() + a.seconds)
    json.dump({'sent': len(a.cases), 'seen': seen}, sys.stdout)


def main():
    p = argparse.ArgumentParser()
    p.add_argument('mode', choices=['frames', 'run'])
    p.add_argument('rest', nargs='*')
    p.add_argument('--src-mac', required=True)
    p.add_argument('--dst-mac', required=True)
    p.add_argument('--src', required=True)
    p.add_argument('--dst', required=True)
    p.add_argument('--own-other')
    p.add_argument('--other')
    p.add_argument('--port', type=int, default=7777)
    a = p.parse_intermixed_args()
    if a.mode == 'frames':
        json.dump({k: v.hex() for k, v in cases(a).items()}, sys.stdout)
        return
    a.iface, a.seconds, a.cases = a.rest[0], float(a.rest[1]), a.rest[2:]
    unknown = [c for c in a.cases if c not in cases(a)]
    if unknown:
        sys.exit('unknown case(s): ' + ', '.join(unknown))
    run(a)


if __name__ == '__main__':
    main()
