// Whole-capture packet counters: totals, IPv6, PDM, malformed, and anomalies by name.

import { type AnomalyCounts, type AnomalyName, MALFORMED_ANOMALIES, countAnomaly } from '../decode/anomalies.js';
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
    this.countPacket(p.ipVersion === 6, p.pdmCount > 0, p.anomaly, p.espSpi);
  }

  /** One packet from what its decoding found (a DecodedPacket, or its flow/packet-record.ts record). */
  countPacket(ipv6: boolean, withPdm: boolean, anomaly: AnomalyName | null, espSpi: number): void {
    this.total++;
    if (ipv6) this.ipv6++;
    if (withPdm) this.withPdm++;
    if (anomaly === null) return;
    countAnomaly(this.anomalies, anomaly);
    if (MALFORMED_ANOMALIES.has(anomaly)) this.malformed++;
    if (anomaly === 'esp_no_sa') this.espNoSaBySpi.set(espSpi, (this.espNoSaBySpi.get(espSpi) ?? 0) + 1);
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
