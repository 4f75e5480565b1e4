import dgram from 'node:dgram';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../common/audit-chain.js';
import { createSyslogSink, escapeParamValue, formatSyslog, type SyslogSink } from '../../broker/audit/syslog.js';

const event = (over: Partial<AuditEvent> = {}): AuditEvent => ({
  seq: 42,
  id: '7d8f0c1e-0000-4000-8000-000000000042',
  ts: Date.UTC(2025, 0, 2, 3, 4, 5, 678),
  type: 'session.approved',
  outcome: 'success',
  actor: 'account:alice',
  session_id: 'sess-1',
  ticket: 'INC-7',
  source: '10.0.0.5',
  meta: { capabilities: ['view'], minutes: 30 },
  prev_hash: 'a'.repeat(64),
  hash: 'b'.repeat(64),
  ...over,
});

/** Splits `<PRI>1 TS HOST APP PROCID MSGID [SD] MSG` by hand, the way a collector would. */
function parse(line: string) {
  const m = /^<(\d+)>1 (\S+) (\S+) (\S+) (\S+) (\S+) (\[.*?(?<!\\)\]) (.*)$/s.exec(line);
  if (!m) throw new Error(`not RFC 5424: ${line}`);
  const params: Record<string, string> = {};
  for (const p of m[7]!.matchAll(/ ([^= \]"]+)="((?:[^"\\\]]|\\["\\\]])*)"/g)) params[p[1]!] = p[2]!.replace(/\\(["\\\]])/g, '$1');
  return { pri: Number(m[1]), ts: m[2], host: m[3], app: m[4], procid: m[5], msgid: m[6], sd: m[7]!, params, msg: JSON.parse(m[8]!) as AuditEvent };
}

describe('RFC 5424 formatting', () => {
  it('has the header, the structured data and the event as JSON', () => {
    const p = parse(formatSyslog(event(), { hostname: 'broker-1', procId: '99' }));
    expect(p).toMatchObject({ pri: 10 * 8 + 5, ts: '2025-01-02T03:04:05.678Z', host: 'broker-1', app: 'chaperone-broker', procid: '99', msgid: 'session.approved' });
    expect(p.sd.startsWith('[chaperone@32473 seq="42" id="7d8f0c1e-0000-4000-8000-000000000042" type="session.approved" outcome="success"')).toBe(true);
    expect(p.params).toMatchObject({ actor: 'account:alice', session_id: 'sess-1', ticket: 'INC-7', source: '10.0.0.5', hash: 'b'.repeat(64) });
    expect(p.msg).toEqual(event());
  });

  it('uses warning for failures and denials, and the configured facility', () => {
    expect(parse(formatSyslog(event({ outcome: 'failure' }))).pri).toBe(84);
    expect(parse(formatSyslog(event({ outcome: 'denied' }))).pri).toBe(84);
    expect(parse(formatSyslog(event({ outcome: 'denied' }), { facility: 16 })).pri).toBe(16 * 8 + 4);
  });

  it('escapes exactly ", \\ and ] in parameter values', () => {
    expect(escapeParamValue('a"b\\c]d[e=f')).toBe('a\\"b\\\\c\\]d[e=f');
    const actor = 'account:"x"] [evil@1 a="b"] \\';
    const line = formatSyslog(event({ actor }));
    expect(line).toContain(`actor="account:\\"x\\"\\] [evil@1 a=\\"b\\"\\] \\\\"`);
    const p = parse(line);
    expect(p.params.actor).toBe(actor);
    expect(p.msg.actor).toBe(actor);
  });

  it('omits null parameters, keeps the body ASCII and the header fields printable', () => {
    const line = formatSyslog(event({ session_id: null, ticket: null, source: null, type: 'a type with spaces and ü that is far too long for MSGID', meta: { note: 'grüße ✓' } }), { hostname: 'host name' });
    expect(/^[\x20-\x7e]*$/.test(line.slice(line.lastIndexOf('] ') + 2))).toBe(true);
    const p = parse(line);
    expect(p.params).not.toHaveProperty('session_id');
    expect(p.params).not.toHaveProperty('ticket');
    expect(p.host).toBe('hostname');
    expect(p.msgid).toHaveLength(32);
    expect(p.msg.meta).toEqual({ note: 'grüße ✓' });
  });

  it('replaces control characters in parameters (the JSON keeps them) and drops an oversize meta', () => {
    const p = parse(formatSyslog(event({ actor: 'a\nb', meta: { big: 'x'.repeat(20_000) } })));
    expect(p.params.actor).toBe('a?b');
    expect(p.msg.actor).toBe('a\nb');
    expect(p.msg.meta).toEqual({ _truncated: true });
  });
});

describe('syslog sink', () => {
  let sink: SyslogSink | null = null;
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    await sink?.close();
    sink = null;
    for (const c of cleanup.splice(0)) await c();
  });

  it('sends one datagram per event over UDP', async () => {
    const server = dgram.createSocket('udp4');
    cleanup.push(() => new Promise<void>((r) => server.close(() => r())));
    const got: string[] = [];
    const three = new Promise<void>((resolve) =>
      server.on('message', (m) => {
        got.push(m.toString());
        if (got.length === 3) resolve();
      }),
    );
    await new Promise<void>((r) => server.bind(0, '127.0.0.1', () => r()));
    sink = createSyslogSink({ host: '127.0.0.1', port: server.address().port, transport: 'udp' });
    for (const seq of [1, 2, 3]) sink.send(event({ seq, outcome: seq === 2 ? 'denied' : 'success' }));
    await three;
    expect(got.map((g) => parse(g).msg.seq).sort()).toEqual([1, 2, 3]);
    expect(got.map((g) => parse(g).pri).sort()).toEqual([84, 85, 85]);
    await sink.close();
    expect(sink.stats()).toEqual({ sent: 3, dropped: 0, errors: 0 });
    sink.send(event());
    expect(sink.stats().dropped).toBe(1);
  });

  it('frames messages with octet counting over TCP', async () => {
    let received = Buffer.alloc(0);
    const server = net.createServer((s) => s.on('data', (d) => (received = Buffer.concat([received, d]))));
    cleanup.push(() => new Promise<void>((r) => server.close(() => r())));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as net.AddressInfo).port;
    sink = createSyslogSink({ host: '127.0.0.1', port, transport: 'tcp' });
    // A newline inside a value is exactly what newline framing would get wrong.
    sink.send(event({ seq: 1, meta: { note: 'line one\nline two' } }));
    sink.send(event({ seq: 2, actor: 'account:ü' }));
    await sink.close();
    const frames: string[] = [];
    let rest = received;
    while (rest.length > 0) {
      const sp = rest.indexOf(0x20);
      const len = Number(rest.subarray(0, sp).toString());
      frames.push(rest.subarray(sp + 1, sp + 1 + len).toString());
      rest = rest.subarray(sp + 1 + len);
    }
    expect(frames.map((f) => parse(f).msg.seq)).toEqual([1, 2]);
    expect(parse(frames[0]!).msg.meta).toEqual({ note: 'line one\nline two' });
    expect(parse(frames[1]!).params.actor).toBe('account:ü');
  });

  it('drops and counts events beyond the buffer bound while the collector is unreachable, without throwing', async () => {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    sink = createSyslogSink({ host: '127.0.0.1', port, transport: 'tcp', maxBufferBytes: 2000, closeTimeoutMs: 200 });
    for (let seq = 1; seq <= 20; seq++) expect(() => sink!.send(event({ seq }))).not.toThrow();
    expect(sink.stats().dropped).toBeGreaterThan(10);
    const started = Date.now();
    await sink.close();
    expect(Date.now() - started).toBeLessThan(1500);
    expect(sink.stats()).toMatchObject({ sent: 0, dropped: 20 });
  });
});
