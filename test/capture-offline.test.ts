// The node_pcap offline adapter, libpcap in this thread: the shared reader cases.
import { offlineReaderCases } from './support/offline-cases.js';

offlineReaderCases('thread');
