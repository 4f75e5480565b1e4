import { describe, expect, it } from 'vitest';
import { claimSingleInstance, protocolClientArgs, registerJoinLinks } from '../../main/electron/single-instance.js';
import { FakeApp, fakeNavigationEvent } from '../fakes/electron-fakes.js';

const CODE = '7KQ2MXW9PC';

function running() {
  const app = new FakeApp();
  const codes: string[] = [];
  let focused = 0;
  let refused = 0;
  const claimed = claimSingleInstance(app, { focus: () => focused++, onJoinCode: (c) => codes.push(c), onRefusedLink: () => refused++ });
  return { app, codes, claimed, focused: () => focused, refused: () => refused };
}

describe('one running app; links reach it safely', () => {
  it('a second start yields to the running one', () => {
    const app = new FakeApp();
    app.lockHeldElsewhere = true;
    expect(claimSingleInstance(app, { focus: () => undefined, onJoinCode: () => undefined, onRefusedLink: () => undefined })).toBe(false);
    expect(app.listenerCount('second-instance')).toBe(0);
  });

  it('a second start brings the window forward and passes on its join link', () => {
    const r = running();
    expect(r.claimed).toBe(true);
    r.app.fire('second-instance', {}, ['/opt/Chaperone/chaperone', '--', `chaperone://join/${CODE}`], '/home/u');
    expect(r.focused()).toBe(1);
    expect(r.codes).toEqual([CODE]);
    // Started again without a link: only the focus.
    r.app.fire('second-instance', {}, ['/opt/Chaperone/chaperone'], '/home/u');
    expect(r.focused()).toBe(2);
    expect(r.codes).toEqual([CODE]);
    expect(r.refused()).toBe(0);
  });

  it('a second start carrying a hostile link focuses the window and does nothing else', () => {
    const r = running();
    r.app.fire('second-instance', {}, ['/opt/Chaperone/chaperone', '--', `chaperone://join/${CODE} --no-sandbox`], '/');
    r.app.fire('second-instance', {}, ['/opt/Chaperone/chaperone', `--inspect=chaperone://join/${CODE}`], '/');
    expect(r.codes).toEqual([]);
    expect(r.refused()).toBe(2);
  });

  it('macOS open-url: the event is taken over and only an exact link counts', () => {
    const r = running();
    const good = fakeNavigationEvent();
    r.app.fire('open-url', good, `chaperone://join/${CODE}`);
    expect(good.prevented).toBe(true);
    const bad = fakeNavigationEvent();
    r.app.fire('open-url', bad, `chaperone://join/${CODE}?x=--no-sandbox`);
    expect(bad.prevented).toBe(true);
    expect(r.codes).toEqual([CODE]);
    expect(r.refused()).toBe(1);
  });

  it('registers the link handler so that Chromium reads no switch from a link', () => {
    expect(protocolClientArgs(false, '/x')).toEqual(['--']);
    expect(protocolClientArgs(true, '/src/chaperone')).toEqual(['/src/chaperone', '--']);
    const app = new FakeApp();
    registerJoinLinks(app, '/opt/Chaperone/chaperone', false, '/opt/Chaperone/resources/app.asar');
    expect(app.protocolClient).toEqual({ protocol: 'chaperone', path: '/opt/Chaperone/chaperone', args: ['--'] });
  });
});
