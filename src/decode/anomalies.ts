// The catalogue (Zeek's weird table): every name pdmscope counts, defined once, with its meaning,
// whether it makes a packet malformed, and its scope. `packet` anomalies: a packet pdmscope
// cannot fully read, or reads but finds at odds with RFC 8250/8200, is counted under exactly one
// of them, globally (the first problem met in a packet is the one counted). `flow` findings: RFC
// 8250 deviations seen in a flow's PDM sequence (metrics/flow-pdm.ts), listed per flow. It lives
// in decode/ because metrics/ may import decode/ but not the reverse. README.md lists both for
// users (test/readme-catalogue.test.ts keeps its tables in step).

export type CatalogueScope = 'packet' | 'flow';

export interface CatalogueEntry {
  /** Printed beside the name (anomalies, table output) or as the finding's `message` (analyze document). */
  readonly meaning: string;
  /**
   * The packet's bytes are broken (counted in the `malformed` total). Other anomalies are
   * observations about well-formed packets (placement, fragments), or about ESP that the keys at
   * hand could not open (a wrong key looks like esp_auth_failed or esp_bad_trailer). Findings
   * never are.
   */
  readonly malformed: boolean;
  readonly scope: CatalogueScope;
}

// Row order is part of the output and the packet record: ANOMALY_NAMES indexes the anomaly in a
// record (flow/packet-record.ts) and FINDING_CODES a flow's finding list, so append, never reorder.
export const CATALOGUE = {
  unsupported_link_type: { scope: 'packet', malformed: false, meaning: 'link type pdmscope does not decode' },
  truncated_link: { scope: 'packet', malformed: true, meaning: 'link-layer header cut short (Ethernet, VLAN tag, SLL, loopback)' },
  bad_ip_version: { scope: 'packet', malformed: true, meaning: 'link layer announced IPv6 but the version field is not 6' },
  truncated_ipv6: { scope: 'packet', malformed: true, meaning: 'IPv6 fixed header cut short' },
  ipv6_payload_length_exceeds_frame: {
    scope: 'packet', malformed: true,
    meaning: 'IPv6 Payload Length claims more bytes than the whole frame (not a snap-length cut) holds; no PDM taken',
  },
  ext_hdr_overrun: { scope: 'packet', malformed: true, meaning: 'extension header runs past the captured packet' },
  ext_hdr_chain_too_long: { scope: 'packet', malformed: true, meaning: 'more extension headers than pdmscope follows (a loop or an attack)' },
  option_overrun: { scope: 'packet', malformed: true, meaning: 'an option runs past the end of its own header' },
  pdm_bad_length: {
    scope: 'packet', malformed: true,
    meaning: 'PDM option (type 0x0F) with a length other than 10, not PDMv2 (length 22, version 2); PDMv2 drafts used 18, 22, 34',
  },
  pdm_in_hop_by_hop: { scope: 'packet', malformed: false, meaning: 'PDM in a Hop-by-Hop header; RFC 8250 §3.1 puts it in Destination Options' },
  pdm_misaligned: { scope: 'packet', malformed: false, meaning: 'PDM at an odd offset in its header (RFC 8200 §4.2 alignment 2n)' },
  pdm_duplicate: { scope: 'packet', malformed: false, meaning: 'more than one PDM in the final-destination headers of one packet; the last is used' },
  non_first_fragment: { scope: 'packet', malformed: false, meaning: 'a fragment with a non-zero offset; PDM is only in the offset-0 fragment' },
  truncated_transport: { scope: 'packet', malformed: true, meaning: 'upper-layer header (UDP, TCP, SCTP, ICMPv6) cut short or malformed' },
  esp_truncated: { scope: 'packet', malformed: true, meaning: 'ESP header, trailer or ICV cut short' },
  esp_no_sa: { scope: 'packet', malformed: false, meaning: 'ESP payload with no matching SA and no ESP-NULL reading' },
  esp_auth_failed: { scope: 'packet', malformed: false, meaning: 'ESP ICV did not verify with the SA key; payload not used' },
  esp_bad_trailer: { scope: 'packet', malformed: false, meaning: 'ESP trailer (padding, pad length, next header) invalid after decryption' },
  esp_tfc_dummy: { scope: 'packet', malformed: false, meaning: 'ESP dummy packet (next header 59, RFC 4303 §2.6)' },

  psn_not_sequential: {
    scope: 'flow', malformed: false,
    meaning: 'PSNTP did not advance by one from the previous packet of the same direction (loss, reordering or duplicates before the capture point, or a sender that does not count per 5-tuple)',
  },
  psnlr_unknown: { scope: 'flow', malformed: false, meaning: 'PSNLR names a PSN the peer had not sent (as far as the capture saw)' },
  psn_low_start: { scope: 'flow', malformed: false, meaning: 'PSN sequence started at 0 or 1; RFC 8250 §3.2 asks for a random initial PSN' },
  rtd_negative: { scope: 'flow', malformed: false, meaning: 'server delay larger than the total it is part of (RTD < 0): clocks or implementation at fault' },
  total_below_capture_rtt: { scope: 'flow', malformed: false, meaning: 'total (DeltaTLS) smaller than the round trip the capture point itself saw' },
} as const satisfies Record<string, CatalogueEntry>;

export type CatalogueName = keyof typeof CATALOGUE;
type NamesOf<S extends CatalogueScope> = { [K in CatalogueName]: (typeof CATALOGUE)[K]['scope'] extends S ? K : never }[CatalogueName];
/** A per-packet anomaly, counted globally. */
export type AnomalyName = NamesOf<'packet'>;
/** A per-flow RFC 8250 finding. */
export type FindingCode = NamesOf<'flow'>;

const ROWS = Object.entries(CATALOGUE) as [CatalogueName, CatalogueEntry][];

// Everything below is derived once at load, so the per-packet path does the same Set lookup and
// array index it did when these were written out by hand.
export const ANOMALY_NAMES = ROWS.filter(([, e]) => e.scope === 'packet').map(([name]) => name) as AnomalyName[];
export const FINDING_CODES = ROWS.filter(([, e]) => e.scope === 'flow').map(([name]) => name) as FindingCode[];

/** Anomaly name → meaning. */
export const ANOMALIES = Object.fromEntries(ANOMALY_NAMES.map((n) => [n, CATALOGUE[n].meaning])) as Readonly<Record<AnomalyName, string>>;
/** Finding code → message. */
export const FINDINGS = Object.fromEntries(FINDING_CODES.map((c) => [c, CATALOGUE[c].meaning])) as Readonly<Record<FindingCode, string>>;

/** Anomalies that mean the packet's bytes are broken (the `malformed` total). */
export const MALFORMED_ANOMALIES: ReadonlySet<AnomalyName> = new Set(ANOMALY_NAMES.filter((n) => CATALOGUE[n].malformed));

/** Counts per anomaly name; plain object so it serialises directly. */
export type AnomalyCounts = Partial<Record<AnomalyName, number>>;

export function countAnomaly(counts: AnomalyCounts, name: AnomalyName, n = 1): void {
  counts[name] = (counts[name] ?? 0) + n;
}

export function mergeAnomalies(into: AnomalyCounts, from: AnomalyCounts): void {
  for (const k of Object.keys(from) as AnomalyName[]) countAnomaly(into, k, from[k] ?? 0);
}
