import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';

/** The recorder's own registry (not the operator's): what Prometheus scrapes from the sidecar's /metrics. */
export interface RecorderMetrics {
  registry: Registry;
  events: Counter<'decryption'>;
  transcriptLines: Gauge;
  headInfo: Gauge<'head'>;
  mediaBytes: Counter;
  mediaFailures: Counter;
  lastEventTimestamp: Gauge;
  setHead(head: string): void;
}

export function createRecorderMetrics(): RecorderMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const events = new Counter({
    name: 'warroom_recorder_events_total',
    help: 'Events appended to the transcript by this process, by decryption status.',
    labelNames: ['decryption'] as const,
    registers: [registry],
  });
  for (const status of ['plaintext', 'decrypted', 'failed']) events.inc({ decryption: status }, 0);
  const transcriptLines = new Gauge({
    name: 'warroom_recorder_transcript_lines',
    help: 'Lines in the transcript (events and the seal record).',
    registers: [registry],
  });
  const headInfo = new Gauge({
    name: 'warroom_recorder_transcript_head_info',
    help: 'Always 1; the label is the sha256 of the transcript’s last line.',
    labelNames: ['head'] as const,
    registers: [registry],
  });
  const mediaBytes = new Counter({
    name: 'warroom_recorder_media_bytes_total',
    help: 'Plaintext bytes of media stored by this process.',
    registers: [registry],
  });
  const mediaFailures = new Counter({
    name: 'warroom_recorder_media_failures_total',
    help: 'Attachments that could not be downloaded, verified or decrypted (recorded as such).',
    registers: [registry],
  });
  const lastEventTimestamp = new Gauge({
    name: 'warroom_recorder_last_event_timestamp_seconds',
    help: 'origin_server_ts of the last event recorded, in seconds.',
    registers: [registry],
  });
  let currentHead: string | undefined;
  return {
    registry,
    events,
    transcriptLines,
    headInfo,
    mediaBytes,
    mediaFailures,
    lastEventTimestamp,
    setHead(head) {
      if (head === currentHead) return;
      // One series only: the old head's series goes away rather than lingering at 1.
      headInfo.reset();
      headInfo.set({ head }, 1);
      currentHead = head;
    },
  };
}
