export { createRingStorage, type RingStorage } from './ring-storage.ts';
export { RingWriter, FULL, type DurableCallback } from './ring-writer.ts';
export { RingReader, type RecordHandler } from './ring-reader.ts';
export { Doorbell, createDoorbellStorage } from './doorbell.ts';
export { readRingCounters, type RingCounters } from './ring-counters.ts';
export { DURABLE_OK, DURABLE_FAILED, SENT_UNACKNOWLEDGED, RecordDescriptor, maxRecordLength } from './ring-descriptor.ts';
