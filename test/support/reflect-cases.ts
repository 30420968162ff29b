// The probes of test/support/reflect_probes.py (Python struct, independent of pdmscope's
// encoders) and the refusal each must meet at `pdmscope reflect`.

import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { RefusalName } from '../../src/send/probe-check.js';
import { REPO } from './cli.js';

export { PYTHON3 } from './prereq.js';
export const PROBES_PY = join(REPO, 'test/support/reflect_probes.py');

/** Which refusal each probe must meet; null: answered. */
export const EXPECTED_REFUSAL: Record<string, RefusalName | null> = {
  good: null,
  good_routing_done: null,
  from_reflector_port: 'from_reflector_port',
  from_system_port: 'from_system_port',
  from_port_zero: 'from_system_port',
  own_address: 'own_address',
  own_address_other: 'own_address',
  loopback_source: 'loopback_source',
  multicast_source: 'multicast_source',
  multicast_source_global: 'multicast_source',
  unspecified_source: 'invalid_source',
  v4mapped_source: 'invalid_source',
  multicast_destination: 'multicast_destination',
  not_own_destination: 'not_own_destination',
  bad_udp_checksum: 'bad_udp_checksum',
  zero_udp_checksum: 'bad_udp_checksum',
  udp_length_long: 'bad_length',
  udp_length_short: 'bad_length',
  ipv6_length_long: 'bad_length',
  ipv6_length_short: 'bad_length',
  routing_segments_left: 'routing_segments_left',
  pdm_version_2: 'pdm_version_2',
};

export interface ProbeArgs {
  srcMac: string;
  dstMac: string;
  /** The prober's address, and the reflector's. */
  src: string;
  dst: string;
  /** Another of the reflector's addresses, and an address that is not the reflector's. */
  ownOther: string;
  other: string;
}

export function probeArgs(a: ProbeArgs): string[] {
  return ['--src-mac', a.srcMac, '--dst-mac', a.dstMac, '--src', a.src, '--dst', a.dst, '--own-other', a.ownOther, '--other', a.other];
}

/** Every probe, by case name. */
export function probeFrames(a: ProbeArgs): Record<string, Uint8Array> {
  const out = execFileSync('/usr/bin/python3', [PROBES_PY, 'frames', ...probeArgs(a)], { encoding: 'utf8' });
  return Object.fromEntries(Object.entries(JSON.parse(out) as Record<string, string>).map(([k, v]) => [k, Uint8Array.from(Buffer.from(v, 'hex'))]));
}

/** A PDM packet seen on the wire by reflect_probes.py run. */
export interface SeenPdm {
  t: number;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  out: boolean;
}
