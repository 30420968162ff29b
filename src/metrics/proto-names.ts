// IANA protocol numbers pdmscope names in its output (tshark's short names).
const NAMES: Record<number, string> = {
  0: 'hopopt', 6: 'tcp', 17: 'udp', 41: 'ipv6', 43: 'ipv6-route', 44: 'ipv6-frag', 50: 'esp', 51: 'ah',
  58: 'icmpv6', 59: 'ipv6-nonxt', 60: 'ipv6-opts', 132: 'sctp', 136: 'udplite',
};

export function protoName(proto: number): string {
  return NAMES[proto] ?? String(proto);
}
