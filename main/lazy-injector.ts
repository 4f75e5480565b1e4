import type { Injector } from './injector.js';

/**
 * The input injector, made only when control is first granted (connecting to the desktop costs
 * something, and a machine that never grants control never opens that connection). The input gate
 * holds `proxy` from the start; until an injector exists every call through it throws, except the
 * releases, which have nothing to release.
 */
export class LazyInjector {
  private injector: Injector | null = null;
  private pending: Promise<Injector> | null = null;

  readonly proxy: Injector;

  /** Without `create`, control is refused on this machine. */
  constructor(private readonly create?: () => Promise<Injector>) {
    const must = (): Injector => {
      if (!this.injector) throw new Error('no input injector');
      return this.injector;
    };
    const current = () => this.injector;
    this.proxy = {
      // The input gate maps the shown display onto the real desktop's rectangle.
      get screen() {
        return current()?.screen ?? { x: 0, y: 0, width: 1, height: 1 };
      },
      move: (x, y) => must().move(x, y),
      button: (b, d) => must().button(b, d),
      wheel: (dx, dy) => must().wheel(dx, dy),
      key: (c, k, d) => must().key(c, k, d),
      text: (s) => must().text(s),
      releaseAll: () => this.injector?.releaseAll(),
      close: async () => this.injector?.close(),
    };
  }

  /** The injector, made on first use; a failed attempt is retried on the next. */
  async ensure(): Promise<Injector> {
    if (this.injector) return this.injector;
    if (!this.create) throw new Error('input injection is not available on this machine');
    this.pending ??= this.create().catch((err: unknown) => {
      this.pending = null;
      throw err;
    });
    this.injector = await this.pending;
    return this.injector;
  }

  /** Lets go of every key and button held (the control grant went). */
  releaseAll(): void {
    this.injector?.releaseAll();
  }

  async close(): Promise<void> {
    await this.injector?.close().catch(() => undefined);
    this.injector = null;
  }
}
