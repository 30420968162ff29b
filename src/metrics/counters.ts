// Whole-capture packet counters: totals, IPv6, PDM, malformed, and anomalies by name.

import { type AnomalyCounts, MALFORMED_ANOMALIES, countAnomaly } from '../decode/anomalies.js';
import type { DecodedPacket } from '../decode/packet.js';
import { hex32 } from '../wire/bytes.js';

export class PacketCounters {
  total = 0;
  ipv6 = 0;
  withPdm = 0;
  malformed = 0;
  readonly anomalies: AnomalyCounts = {};
  readonly espNoSaBySpi = new Map<number, number>();

  count(p: DecodedPacket): void {
    this.total++;
    if (p.ipVersion === 6) this.ipv6++;
    if (p.pdmCount > 0) this.withPdm++;
    const a = p.anomaly;
    if (a === null) return;
    countAnomaly(this.anomalies, a);
    if (MALFORMED_ANOMALIES.has(a)) this.malformed++;
    if (a === 'esp_no_sa') this.espNoSaBySpi.set(p.espSpi, (this.espNoSaBySpi.get(p.espSpi) ?? 0) + 1);
  }

  summary(): { total: number; ipv6: number; with_pdm: number; malformed: number } {
    return { total: this.total, ipv6: this.ipv6, with_pdm: this.withPdm, malformed: this.malformed };
  }

  sortedAnomalies(): AnomalyCounts {
    const out: AnomalyCounts = {};
    for (const k of (Object.keys(this.anomalies) as (keyof AnomalyCounts)[]).sort()) out[k] = this.anomalies[k]!;
    return out;
  }

  espNoSaRecord(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [spi, n] of [...this.espNoSaBySpi].sort((x, y) => x[0] - y[0])) out[hex32(spi)] = n;
    return out;
  }
}
