import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EmbeddedJWK, jwtVerify } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { BRIDGE_METHODS, BridgeError, createBridge, dispatchBridgeCall, ipcChannel, parseBridgeEvent, type BridgeHandlers } from '../../common/bridge/api.js';
import { RpcClient, encodeBinaryCall, parseRpcBinaryCall, parseRpcCall, type RpcSocket } from '../../common/bridge/rpc.js';
import { MainServices } from '../../main/services.js';
import { ipcBridge, installPreload, type PreloadIpc } from '../../preload/index.js';

const SID = '9b2f3c1e-1d2a-4c3b-8e4f-5a6b7c8d9e0f';
const dirs: string[] = [];
const services: MainServices[] = [];

async function mainServices(): Promise<MainServices> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chaperone-bridge-'));
  dirs.push(dataDir);
  const s = await MainServices.start({ brokerUrl: 'http://127.0.0.1:9', dataDir });
  s.rendererBrokerUrl = 'http://127.0.0.1:4000';
  services.push(s);
  return s;
}

afterEach(async () => {
  for (const s of services.splice(0)) await s.close();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** Electron's ipcMain.handle wiring, minus Electron: each channel goes to the one dispatcher. */
function ipcTo(handlers: BridgeHandlers, seen: string[] = []): PreloadIpc {
  return {
    invoke: async (channel, ...args) => {
      seen.push(channel);
      return dispatchBridgeCall(handlers, channel.replace(/^chaperone:/, ''), args);
    },
    on: () => undefined,
    removeListener: () => undefined,
  };
}

describe('the bridge: one definition, parsed on both sides', () => {
  it('the main side refuses unknown methods, extra fields, wrong types and oversized values before any handler runs', async () => {
    const s = await mainServices();
    let called = 0;
    const handlers = { ...s.handlers, 'input.deliver': (...a: unknown[]) => (called++, (s.handlers['input.deliver'] as (...x: unknown[]) => unknown)(...a)) } as BridgeHandlers;
    const code = async (m: unknown, a: unknown) => dispatchBridgeCall(handlers, m, a).then(() => 'ok', (e: BridgeError) => e.code);
    expect(await code('shell.exec', [])).toBe('unknown_method');
    expect(await code('__proto__', [])).toBe('unknown_method');
    expect(await code('toString', [])).toBe('unknown_method');
    expect(await code('input.deliver', [{ sessionId: SID, data: 'x', channel: 'pointer', extra: 1 }])).toBe('invalid_args');
    expect(await code('input.deliver', [{ sessionId: 'not-a-uuid', data: 'x', channel: 'pointer' }])).toBe('invalid_args');
    expect(await code('input.deliver', [{ sessionId: SID, data: 'x'.repeat(9000), channel: 'pointer' }])).toBe('invalid_args');
    expect(await code('input.deliver', [{ sessionId: SID, data: 'x', channel: 'usb' }])).toBe('invalid_args');
    expect(await code('input.deliver', [{ sessionId: SID, data: 'x', channel: 'pointer' }, 'second'])).toBe('invalid_args');
    expect(await code('input.deliver', { sessionId: SID })).toBe('invalid_args');
    expect(await code('grants.acquire', [{ sessionId: SID, kind: 'root' }])).toBe('invalid_args');
    expect(called).toBe(0);
    // A well-formed message for a session that is not open is judged by the input gate, not injected.
    expect(await dispatchBridgeCall(handlers, 'input.deliver', [{ sessionId: SID, data: '{"t":"move","seq":1,"x":0.5,"y":0.5}', channel: 'pointer' }])).toBe('refused_inactive');
    expect(called).toBe(1);
  });

  it('a result its schema refuses never reaches the page', async () => {
    const s = await mainServices();
    const bad = { ...s.handlers, 'grants.list': () => [{ sessionId: SID, kind: 'capture', expiresAt: 1, secret: 'x' }] } as unknown as BridgeHandlers;
    await expect(dispatchBridgeCall(bad, 'grants.list', [])).rejects.toMatchObject({ code: 'invalid_result' });
  });

  it('the preload exposes exactly the table, over one IPC channel per method, and checks arguments in the page too', async () => {
    const s = await mainServices();
    const seen: string[] = [];
    let exposed: { key: string; api: unknown } | null = null;
    installPreload({ contextBridge: { exposeInMainWorld: (key, api) => (exposed = { key, api }) }, ipcRenderer: ipcTo(s.handlers, seen) });
    expect(exposed!.key).toBe('chaperone');
    const api = exposed!.api as ReturnType<typeof ipcBridge>;
    const names = Object.entries(api)
      .filter(([k]) => k !== 'on')
      .flatMap(([ns, fns]) => Object.keys(fns as object).map((f) => `${ns}.${f}`));
    expect(names.sort()).toEqual(Object.keys(BRIDGE_METHODS).sort());
    expect(Object.isFrozen(api)).toBe(true);

    expect(await api.grants.list()).toEqual([]);
    expect(seen).toEqual([ipcChannel('grants.list')]);
    await expect(api.grants.acquire({ sessionId: SID, kind: 'root' as never })).rejects.toMatchObject({ code: 'invalid_args' });
    expect(seen).toHaveLength(1);

    // Grants: only for an open session, capture then control refused without an injector, all gone at revokeAll.
    expect(await api.grants.acquire({ sessionId: SID, kind: 'capture' })).toEqual({ ok: false, reason: 'unknown_session' });
    const exp = Date.now() + 60_000;
    await api.session.open({ sessionId: SID, expiresAt: exp });
    expect(await api.grants.acquire({ sessionId: SID, kind: 'capture' })).toEqual({ ok: true, expiresAt: exp });
    expect(await api.grants.acquire({ sessionId: SID, kind: 'control' })).toEqual({ ok: false, reason: 'injection_unavailable' });
    // Clipboard and files only with the way the end user allowed; control never with one.
    expect(await api.grants.acquire({ sessionId: SID, kind: 'clipboard' })).toEqual({ ok: false, reason: 'bad_direction' });
    expect(await api.grants.check({ sessionId: SID, kind: 'control', direction: 'both' })).toEqual({ ok: false, reason: 'bad_direction' });
    await expect(api.grants.acquire({ sessionId: SID, kind: 'files', direction: 'sideways' as never })).rejects.toMatchObject({ code: 'invalid_args' });
    expect(await api.grants.acquire({ sessionId: SID, kind: 'clipboard', direction: 'to_end_user' })).toEqual({ ok: true, expiresAt: exp });
    expect((await api.grants.list()).map((g) => g.kind)).toEqual(['capture', 'clipboard']);
    expect(await api.grants.revokeAll({ sessionId: SID })).toEqual({ revoked: ['capture', 'clipboard'] });
    expect(await api.grants.revokeAll({ sessionId: SID })).toEqual({ revoked: [] });
    expect(await api.grants.list()).toEqual([]);
    expect(await api.grants.acquire({ sessionId: SID, kind: 'capture' })).toMatchObject({ ok: false });
  });

  it('the device key stays in main: proofs only for the pinned broker API, verifiable with the key they carry', async () => {
    const s = await mainServices();
    const api = ipcBridge(ipcTo(s.handlers));
    const proof = await api.device.dpopProof({ htm: 'POST', htu: 'http://127.0.0.1:4000/api/v1/join', accessToken: 'tok' });
    const { payload, protectedHeader } = await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: ['EdDSA'] });
    expect(payload).toMatchObject({ htm: 'POST', htu: 'http://127.0.0.1:4000/api/v1/join' });
    expect(typeof payload.ath).toBe('string');
    expect(protectedHeader.jwk).toEqual(await api.device.publicJwk());
    expect(JSON.stringify(protectedHeader.jwk)).not.toContain('"d"');
    for (const htu of ['http://evil.example/api/v1/join', 'http://127.0.0.1:4001/api/v1/join', 'http://127.0.0.1:4000/admin', 'http://127.0.0.1:4000/api/v1/join?x=1']) {
      await expect(api.device.dpopProof({ htm: 'GET', htu })).rejects.toThrow(/pinned broker/);
    }
    const pop = await api.device.nonceProof({ nonce: 'n0nce-123456', token: 'tok' });
    expect((await jwtVerify(pop, EmbeddedJWK, { typ: 'chaperone-pop+jwt' })).payload).toMatchObject({ nonce: 'n0nce-123456' });
    // An extension receipt is signed only for a session that is open here.
    await expect(api.extension.receipt({ sessionId: SID, extensionId: 'e1', newExpiresAt: Date.now() + 60_000 })).rejects.toThrow();
  });

  it('a recording chunk proof: only for a session open here, for its own chunk route, bound to the token, never for a chunk over 2 MiB', async () => {
    const s = await mainServices();
    const api = ipcBridge(ipcTo(s.handlers));
    await expect(api.recording.chunkProof({ sessionId: SID, seq: 0, bytes: 1000, token: 'tok' })).rejects.toThrow(/no such open session/);
    await api.session.open({ sessionId: SID, expiresAt: Date.now() + 600_000 });
    const { htu, proof } = await api.recording.chunkProof({ sessionId: SID, seq: 7, bytes: 150_000, token: 'tok' });
    expect(htu).toBe(`http://127.0.0.1:4000/api/v1/sessions/${SID}/recording/chunks/7`);
    const { payload } = await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: ['EdDSA'] });
    expect(payload).toMatchObject({ htm: 'POST', htu });
    expect(typeof payload.ath).toBe('string');
    const code = (args: unknown[]) =>
      dispatchBridgeCall(s.handlers, 'recording.chunkProof', args).then(
        () => 'ok',
        (e: BridgeError) => e.code,
      );
    expect(await code([{ sessionId: SID, seq: 0, bytes: 2 * 1024 * 1024 + 1, token: 'tok' }])).toBe('invalid_args');
    expect(await code([{ sessionId: SID, seq: 0, bytes: 0, token: 'tok' }])).toBe('invalid_args');
    expect(await code([{ sessionId: SID, seq: -1, bytes: 10, token: 'tok' }])).toBe('invalid_args');
    expect(await code([{ sessionId: SID, seq: 0, bytes: 10, token: 'tok', htu: 'http://evil.example/' }])).toBe('invalid_args');
    // Another page of the same host cannot get proofs for this page's session.
    await s.handlersFor('page-a')['session.open']({ sessionId: SID, expiresAt: Date.now() + 600_000 });
    expect(() => s.handlersFor('page-b')['recording.chunkProof']({ sessionId: SID, seq: 0, bytes: 10, token: 'tok' })).toThrow(/another page/);
  });

  it('events from main are parsed too: unknown events and bad payloads are dropped', () => {
    expect(parseBridgeEvent('grant.revoked', { kind: 'control', reason: 'expired' })).toEqual({ event: 'grant.revoked', payload: { kind: 'control', reason: 'expired' } });
    expect(parseBridgeEvent('grant.revoked', { kind: 'control', reason: 'expired', x: 1 })).toBeNull();
    expect(parseBridgeEvent('shell', {})).toBeNull();
    let deliver: ((e: string, p: unknown) => void) | null = null;
    const api = createBridge(
      async () => null,
      (fn) => {
        deliver = fn;
        return () => undefined;
      },
    );
    const got: unknown[] = [];
    api.on('chat', (m) => got.push(m));
    deliver!('chat', { sessionId: SID, text: 'hi' });
    deliver!('chat', { sessionId: SID, text: '' });
    deliver!('panic', {});
    expect(got).toEqual([{ sessionId: SID, text: 'hi' }]);
    expect(() => api.on('nope' as never, () => undefined)).toThrow(BridgeError);
  });

  it('the host socket frames calls strictly', () => {
    expect(parseRpcCall(JSON.stringify({ id: 1, method: 'grants.list', args: [] }))).toEqual({ id: 1, method: 'grants.list', args: [] });
    expect(parseRpcCall('{"id":1,"method":"grants.list","args":[],"x":1}')).toBeNull();
    expect(parseRpcCall('{"id":-1,"method":"grants.list","args":[]}')).toBeNull();
    expect(parseRpcCall('not json')).toBeNull();
    expect(parseRpcCall(`{"id":1,"method":"a","args":["${'x'.repeat(70_000)}"]}`)).toBeNull();
    expect(parseRpcCall(Buffer.from('{}'))).toBeNull();
  });

  it('file bytes cross the host socket as bytes, and a binary frame is parsed as strictly', async () => {
    const bytes = new Uint8Array(64 * 1024).map((_, i) => i % 251);
    const args = [{ sessionId: SID, id: 't1', offset: 0, data: bytes }];
    const frame = encodeBinaryCall(7, 'files.write', args)!;
    // Bytes as they are plus a short header: no base64 third on top.
    expect(frame.length).toBeLessThan(bytes.length + 200);
    const call = parseRpcBinaryCall(frame)!;
    expect(call.method).toBe('files.write');
    expect((call.args[0] as { data: Uint8Array }).data).toEqual(bytes);
    // Main's schema takes it; a piece above 64 KiB or a string is refused.
    const handlers = { 'files.write': () => ({ ok: true as const, written: bytes.length }) } as unknown as BridgeHandlers;
    await expect(dispatchBridgeCall(handlers, call.method, call.args)).resolves.toEqual({ ok: true, written: bytes.length });
    await expect(dispatchBridgeCall(handlers, 'files.write', [{ ...args[0], data: new Uint8Array(64 * 1024 + 1) }])).rejects.toMatchObject({ code: 'invalid_args' });
    await expect(dispatchBridgeCall(handlers, 'files.write', [{ ...args[0], data: 'AAAA' }])).rejects.toMatchObject({ code: 'invalid_args' });
    expect(encodeBinaryCall(1, 'grants.list', [])).toBeNull();
    // A header that brings its own data, a header longer than its frame, a frame too large: refused.
    const withData = new TextEncoder().encode(JSON.stringify({ id: 1, method: 'files.write', args: [{ data: 'x' }] }));
    const bad = new Uint8Array(4 + withData.length);
    new DataView(bad.buffer).setUint32(0, withData.length);
    bad.set(withData, 4);
    expect(parseRpcBinaryCall(bad)).toBeNull();
    const short = frame.slice();
    new DataView(short.buffer).setUint32(0, frame.length);
    expect(parseRpcBinaryCall(short)).toBeNull();
    expect(parseRpcBinaryCall(new Uint8Array(70 * 1024 + 8))).toBeNull();
    expect(parseRpcBinaryCall(new Uint8Array(2))).toBeNull();
  });

  it('pieces sent one after another each arrive with their own bytes, also those queued before the socket opened', () => {
    // A socket that copies on send, as the browser's WebSocket does; the client reuses its buffer.
    const got: Uint8Array[] = [];
    const listeners: Record<string, ((ev: { data?: unknown }) => void)[]> = {};
    const socket: RpcSocket & { readyState: number } = {
      readyState: 0,
      send: (d) => void got.push(typeof d === 'string' ? new TextEncoder().encode(d) : d.slice()),
      addEventListener: (t, fn) => void (listeners[t] ??= []).push(fn),
    };
    const rpc = new RpcClient(socket);
    const piece = (n: number) => new Uint8Array(64 * 1024).fill(n);
    const write = (n: number) => void rpc.invoke('files.write', [{ sessionId: SID, id: 't1', offset: n * 65536, data: piece(n) }]).catch(() => undefined);
    write(1);
    write(2);
    socket.readyState = 1;
    for (const fn of listeners.open ?? []) fn({});
    write(3);
    write(4);
    const offsets = got.map((f) => parseRpcBinaryCall(f)!).map((c) => c.args[0] as { offset: number; data: Uint8Array });
    expect(offsets.map((a) => a.offset / 65536)).toEqual([1, 2, 3, 4]);
    for (const a of offsets) expect(a.data).toEqual(piece(a.offset / 65536));
  });
});
