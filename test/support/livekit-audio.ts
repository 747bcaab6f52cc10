import {
  AudioFrame,
  AudioSource,
  AudioStream,
  LocalAudioTrack,
  type RemoteTrack,
  type Room,
  RoomEvent,
  TrackKind,
  TrackPublishOptions,
  TrackSource,
} from '@livekit/rtc-node';

/** Media of the MatrixRTC tests and bench: a generated tone published by one participant, frames heard by another. */
const RATE = 48_000;
const FRAME_SAMPLES = 480; // 10 ms
/** Bounded: at most 10 minutes of 10 ms frames. */
const MAX_FRAMES = 60_000;

/** Publishes a 440 Hz tone as the room's microphone track until `stop()`. */
export async function publishTone(room: Room): Promise<{ stop(): Promise<void> }> {
  const source = new AudioSource(RATE, 1);
  const options = new TrackPublishOptions();
  options.source = TrackSource.SOURCE_MICROPHONE;
  await room.localParticipant?.publishTrack(LocalAudioTrack.createAudioTrack('tone', source), options);
  let running = true;
  const pump = (async () => {
    let t = 0;
    for (let i = 0; i < MAX_FRAMES && running; i++) {
      const samples = new Int16Array(FRAME_SAMPLES);
      for (let s = 0; s < FRAME_SAMPLES; s++, t++) {
        samples[s] = Math.round(8000 * Math.sin((2 * Math.PI * 440 * t) / RATE));
      }
      await source.captureFrame(new AudioFrame(samples, RATE, 1, FRAME_SAMPLES));
    }
  })();
  return {
    async stop() {
      running = false;
      await pump;
    },
  };
}

/**
 * Resolves once `frames` non-silent audio frames of a subscribed track have arrived (call before connecting), with
 * the time of the first one (performance.now()).
 */
export function heardFrames(
  room: Room,
  frames: number,
  timeoutMs = 20_000,
): Promise<{ firstAt: number; count: number }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`fewer than ${frames} audio frames within ${timeoutMs} ms`)),
      timeoutMs,
    );
    room.on(RoomEvent.TrackSubscribed, async (track: RemoteTrack) => {
      if (track.kind !== TrackKind.KIND_AUDIO) return;
      let count = 0;
      let firstAt = 0;
      for await (const frame of new AudioStream(track, RATE, 1)) {
        if (!frame.data.some((s) => s !== 0)) continue;
        if (count === 0) firstAt = performance.now();
        count += 1;
        if (count >= frames) {
          clearTimeout(timer);
          resolve({ firstAt, count });
          break;
        }
      }
    });
  });
}
