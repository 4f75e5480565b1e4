/** A tiny typed event emitter that works the same in the renderer and in Node. */
export class Emitter<E extends Record<string, unknown>> {
  private readonly handlers: { [K in keyof E]?: ((v: E[K]) => void)[] } = {};

  on<K extends keyof E>(name: K, fn: (v: E[K]) => void): () => void {
    (this.handlers[name] ??= []).push(fn);
    return () => {
      this.handlers[name] = (this.handlers[name] ?? []).filter((h) => h !== fn);
    };
  }

  once<K extends keyof E>(name: K): Promise<E[K]> {
    return new Promise((resolve) => {
      const off = this.on(name, (v) => {
        off();
        resolve(v);
      });
    });
  }

  protected emit<K extends keyof E>(name: K, v: E[K]): void {
    for (const h of this.handlers[name] ?? []) {
      try {
        h(v);
      } catch {
        // A listener's failure must not stop teardown or the other listeners.
      }
    }
  }
}
