/**
 * One video track whose frames come from a source that can change: Chromium's insertable streams
 * (MediaStreamTrackProcessor reads the current source, MediaStreamTrackGenerator is the track that
 * stays). The recorder records the relay, so when the end user switches displays the recording
 * goes on in the same file, showing what is shared now.
 */

interface VideoFrameLike {
  close(): void;
}
type ProcessorCtor = new (init: { track: MediaStreamTrack }) => { readable: ReadableStream<VideoFrameLike> };
type GeneratorCtor = new (init: { kind: 'video' }) => MediaStreamTrack & { writable: WritableStream<VideoFrameLike> };

interface InsertableStreams {
  MediaStreamTrackProcessor?: ProcessorCtor;
  MediaStreamTrackGenerator?: GeneratorCtor;
}

export class FrameRelay {
  readonly output: MediaStreamTrack;
  private readonly writer: WritableStreamDefaultWriter<VideoFrameLike>;
  private reader: ReadableStreamDefaultReader<VideoFrameLike> | null = null;
  private stopped = false;

  private constructor(
    private readonly Processor: ProcessorCtor,
    Generator: GeneratorCtor,
    first: MediaStreamTrack,
  ) {
    const gen = new Generator({ kind: 'video' });
    this.output = gen;
    this.writer = gen.writable.getWriter();
    this.follow(first);
  }

  /** Null where the browser has no insertable streams: the caller records the source itself. */
  static create(first: MediaStreamTrack, g: InsertableStreams = globalThis as InsertableStreams): FrameRelay | null {
    return g.MediaStreamTrackProcessor && g.MediaStreamTrackGenerator ? new FrameRelay(g.MediaStreamTrackProcessor, g.MediaStreamTrackGenerator, first) : null;
  }

  /** From now on the frames are the new source's; the old one is no longer read. */
  follow(source: MediaStreamTrack): void {
    if (this.stopped) return;
    const old = this.reader;
    const reader = new this.Processor({ track: source }).readable.getReader();
    this.reader = reader;
    void old?.cancel().catch(() => undefined);
    void this.pump(reader);
  }

  stop(): void {
    this.stopped = true;
    void this.reader?.cancel().catch(() => undefined);
    this.reader = null;
    void this.writer.close().catch(() => undefined);
    this.output.stop();
  }

  private async pump(reader: ReadableStreamDefaultReader<VideoFrameLike>): Promise<void> {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        // A frame from a source already left behind must not land after the new one's.
        if (this.reader !== reader || this.stopped) {
          value.close();
          return;
        }
        // The generator takes the frame and closes it.
        await this.writer.write(value);
      }
    } catch {
      // The source ended or was cancelled: the next source (if any) has its own pump.
    }
  }
}
