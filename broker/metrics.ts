/** A few counters and gauges in the Prometheus text format; no client library needed for this much. */
export class Metrics {
  private readonly counters = new Map<string, { help: string; values: Map<string, number> }>();
  private readonly gauges = new Map<string, { help: string; read: () => number }>();

  counter(name: string, help: string): (labels?: Record<string, string>, by?: number) => void {
    const c = { help, values: new Map<string, number>() };
    this.counters.set(name, c);
    return (labels = {}, by = 1) => {
      const key = Object.entries(labels)
        .map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, '_')}"`)
        .join(',');
      c.values.set(key, (c.values.get(key) ?? 0) + by);
    };
  }

  gauge(name: string, help: string, read: () => number): void {
    this.gauges.set(name, { help, read });
  }

  readonly authFailures = this.counter('chaperone_auth_failures_total', 'Requests refused for a bad token or proof');
  readonly framesRelayed = this.counter('chaperone_signaling_frames_relayed_total', 'Signaling frames relayed between the parties');
  readonly framesRefused = this.counter('chaperone_signaling_frames_refused_total', 'Signaling frames refused, by reason');
  readonly sessionsEnded = this.counter('chaperone_sessions_ended_total', 'Sessions ended, by reason');
  readonly hookFailures = this.counter('chaperone_hook_delivery_failures_total', 'Outbound webhook attempts that failed');

  render(): string {
    const lines: string[] = [];
    for (const [name, c] of this.counters) {
      lines.push(`# HELP ${name} ${c.help}`, `# TYPE ${name} counter`);
      if (c.values.size === 0) lines.push(`${name} 0`);
      for (const [labels, v] of c.values) lines.push(`${name}${labels ? `{${labels}}` : ''} ${v}`);
    }
    for (const [name, g] of this.gauges) {
      lines.push(`# HELP ${name} ${g.help}`, `# TYPE ${name} gauge`, `${name} ${g.read()}`);
    }
    return lines.join('\n') + '\n';
  }
}
