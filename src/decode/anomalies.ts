// The anomaly catalogue (Zeek-style): every packet pdmscope cannot fully read, or reads but
// finds at odds with RFC 8250/8200, is counted under exactly one of these names. The first
// problem met in a packet is the one counted. README.md lists them for users.

export const ANOMALIES = {
  unsupported_link_type: 'link type pdmscope does not decode',
  truncated_link: 'link-layer header cut short (Ethernet, VLAN tag, SLL, loopback)',
  bad_ip_version: 'link layer announced IPv6 but the version field is not 6',
  truncated_ipv6: 'IPv6 fixed header cut short',
  ipv6_payload_length_exceeds_frame: 'IPv6 Payload Length claims more bytes than the whole frame (not a snap-length cut) holds; no PDM taken',
  ext_hdr_overrun: 'extension header runs past the captured packet',
  ext_hdr_chain_too_long: 'more extension headers than pdmscope follows (a loop or an attack)',
  option_overrun: 'an option runs past the end of its own header',
  pdm_bad_length: 'PDM option (type 0x0F) with a length other than 10, not PDMv2 (length 22, version 2); PDMv2 drafts used 18, 22, 34',
  pdm_in_hop_by_hop: 'PDM in a Hop-by-Hop header; RFC 8250 §3.1 puts it in Destination Options',
  pdm_misaligned: 'PDM at an odd offset in its header (RFC 8200 §4.2 alignment 2n)',
  pdm_duplicate: 'more than one PDM in the final-destination headers of one packet; the last is used',
  non_first_fragment: 'a fragment with a non-zero offset; PDM is only in the offset-0 fragment',
  truncated_transport: 'upper-layer header (UDP, TCP, SCTP, ICMPv6) cut short or malformed',
  esp_truncated: 'ESP header, trailer or ICV cut short',
  esp_no_sa: 'ESP payload with no matching SA and no ESP-NULL reading',
  esp_auth_failed: 'ESP ICV did not verify with the SA key; payload not used',
  esp_bad_trailer: 'ESP trailer (padding, pad length, next header) invalid after decryption',
  esp_tfc_dummy: 'ESP dummy packet (next header 59, RFC 4303 §2.6)',
} as const;

export type AnomalyName = keyof typeof ANOMALIES;

/**
 * Anomalies that mean the packet's bytes are broken (the `malformed` total). The others are
 * observations about well-formed packets (placement, fragments), or about ESP that the keys at
 * hand could not open (a wrong key looks like esp_auth_failed or esp_bad_trailer).
 */
export const MALFORMED_ANOMALIES: ReadonlySet<AnomalyName> = new Set<AnomalyName>([
  'truncated_link', 'bad_ip_version', 'truncated_ipv6', 'ipv6_payload_length_exceeds_frame', 'ext_hdr_overrun', 'ext_hdr_chain_too_long',
  'option_overrun', 'pdm_bad_length', 'truncated_transport', 'esp_truncated',
]);

export const ANOMALY_NAMES = Object.keys(ANOMALIES) as AnomalyName[];

/** Counts per anomaly name; plain object so it serialises directly. */
export type AnomalyCounts = Partial<Record<AnomalyName, number>>;

export function countAnomaly(counts: AnomalyCounts, name: AnomalyName, n = 1): void {
  counts[name] = (counts[name] ?? 0) + n;
}

export function mergeAnomalies(into: AnomalyCounts, from: AnomalyCounts): void {
  for (const k of Object.keys(from) as AnomalyName[]) countAnomaly(into, k, from[k] ?? 0);
}
