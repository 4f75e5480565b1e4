import { describe, expect, it } from 'vitest';
import { CONTROL_REFUSALS, isControlRefusal, refusalForAnalyst, refusalForEndUser, WINDOWS_UIPI_NOTE } from '../../common/control/refusals.js';
import { InjectionUnavailableError, refusalOf } from '../../main/injector.js';
import { captureRefusal, checkControlPermission, electronDesktopPermissions } from '../../main/injector-permissions.js';
import { ADAPTER_FOR, createInjector, isWaylandSession } from '../../main/injector-factory.js';
import { LIBNUT_PACKAGES, loadLibnut } from '../../main/injectors/libnut-module.js';
import { createLibnutInjector } from '../../main/injectors/libnut-setup.js';
import { FakeLibnut, FakeMacPermissions } from '../fakes/libnut-fakes.js';

async function on(os: 'win32' | 'darwin', display?: Parameters<typeof createLibnutInjector>[0]['display']) {
  const lib = new FakeLibnut(os);
  const inj = await createLibnutInjector({ os, lib, display });
  return { lib, inj };
}

describe('the libnut adapter on Windows and macOS (libnut faked: its binaries exist only there)', () => {
  it('turns libnut’s 10 ms sleeps off and defaults to the main display', async () => {
    const { lib, inj } = await on('win32');
    expect(lib.calls.slice(0, 2)).toEqual(['setMouseDelay 0', 'setKeyboardDelay 0']);
    expect(inj.screen).toEqual({ x: 0, y: 0, width: 1920, height: 1080 });
  });

  it('Windows at 150%: moves in physical pixels; Retina Mac: in points', async () => {
    const win = await on('win32', { bounds: { x: 0, y: 0, width: 1707, height: 960 }, scaleFactor: 1.5, physical: { x: 0, y: 0, width: 2560, height: 1440 } });
    win.inj.move(1, 1);
    win.inj.move(0.5, 0.25);
    expect(win.lib.input()).toEqual(['moveMouse 2559 1439', 'moveMouse 1280 360']);
    const mac = await on('darwin', { bounds: { x: 0, y: 0, width: 1440, height: 900 }, scaleFactor: 2 });
    mac.inj.move(0.5, 0.5);
    expect(mac.lib.input()).toEqual(['moveMouse 720 450']);
  });

  it('a Windows analyst’s Ctrl+C reaches a Mac as Control+C, and Win+C as Cmd+C', async () => {
    const { lib, inj } = await on('darwin');
    expect(inj.key('ControlLeft', 'Control', true)).toBe(true);
    expect(inj.key('KeyC', 'c', true)).toBe(true);
    inj.key('KeyC', 'c', false);
    inj.key('ControlLeft', 'Control', false);
    inj.key('MetaLeft', 'Meta', true);
    inj.key('KeyC', 'c', true);
    inj.key('KeyC', 'c', false);
    inj.key('MetaLeft', 'Meta', false);
    expect(lib.input()).toEqual([
      'keyToggle control down',
      'keyToggle c down',
      'keyToggle c up',
      'keyToggle control up',
      'keyToggle cmd down',
      'keyToggle c down',
      'keyToggle c up',
      'keyToggle cmd up',
    ]);
  });

  it('macOS types any text as Unicode in one call; Windows types ASCII through the layout and refuses and counts the rest', async () => {
    const mac = await on('darwin');
    mac.inj.text('Grüße, €5!');
    expect(mac.lib.input()).toEqual(['typeString Grüße, €5!']);
    expect(mac.inj.refused.chars).toBe(0);
    const win = await on('win32');
    win.inj.text('Grüße, €5!\nok');
    expect(win.lib.input()).toEqual(['typeString Gre, 5!', 'keyTap return', 'typeString ok']);
    expect(win.inj.refused.chars).toBe(3);
  });

  it('a key the Mac lacks is refused and counted; nothing is pressed', async () => {
    const { lib, inj } = await on('darwin');
    expect(inj.key('Insert', 'Insert', true)).toBe(false);
    expect(inj.key('PrintScreen', 'PrintScreen', true)).toBe(false);
    expect(inj.key('Insert', 'Insert', false)).toBe(false);
    expect(inj.refused.keys).toBe(2);
    expect(lib.input()).toEqual([]);
  });

  it('a name libnut refuses on that platform counts as refused, not as a failure', async () => {
    // libnut has no Menu key on Linux (K_NOT_A_KEY) and throws for it.
    const lib = new FakeLibnut('linux');
    const inj = await createLibnutInjector({ os: 'linux', lib, xDisplay: undefined }).catch(() => null);
    expect(inj).toBeNull(); // no display: refused before libnut is touched
    const { LibnutInjector } = await import('../../main/injectors/libnut.js');
    const direct = new LibnutInjector({ os: 'linux', lib, screen: { x: 0, y: 0, width: 10, height: 10 } });
    expect(direct.key('ContextMenu', 'ContextMenu', true)).toBe(false);
    expect(direct.refused.keys).toBe(1);
    expect(direct.key('ContextMenu', 'ContextMenu', false)).toBe(false);
    expect(lib.input()).toEqual([]);
  });

  it('numpad, AltGr and the wheel, Windows conventions', async () => {
    const { lib, inj } = await on('win32');
    inj.key('AltRight', 'AltGraph', true);
    inj.key('AltRight', 'AltGraph', false);
    inj.key('Numpad7', '7', true);
    inj.key('Numpad7', '7', false);
    inj.key('NumpadEnter', 'Enter', true);
    inj.key('NumpadEnter', 'Enter', false);
    inj.wheel(0, 2);
    inj.wheel(0, 0);
    expect(lib.input()).toEqual([
      'keyToggle right_alt down',
      'keyToggle right_alt up',
      'keyToggle numpad_7 down',
      'keyToggle numpad_7 up',
      'keyToggle enter down',
      'keyToggle enter up',
      'scrollMouse 0 -240',
    ]);
  });

  it('holds what it pressed until released, and releaseAll lets go of every key and button', async () => {
    const { lib, inj } = await on('darwin');
    inj.key('ShiftLeft', 'Shift', true);
    inj.key('ShiftLeft', 'Shift', true); // auto-repeat
    inj.key('Numpad1', 'End', true);
    inj.key('End', 'End', true);
    inj.button('left', true);
    inj.key('Numpad1', 'End', false); // End still held by the other code
    expect(lib.input().at(-1)).toBe('mouseToggle down left');
    inj.releaseAll();
    expect(lib.input().slice(-3)).toEqual(['keyToggle shift up', 'keyToggle end up', 'mouseToggle up left']);
    expect(inj.key('ShiftLeft', 'Shift', false)).toBe(false);
    await inj.close();
    expect(() => inj.move(0, 0)).toThrow(/closed/);
  });
});

describe('loading libnut', () => {
  it('loads this platform’s binary straight from its package, with every call the adapter uses', () => {
    const lib = loadLibnut('linux');
    for (const fn of ['moveMouse', 'mouseToggle', 'scrollMouse', 'keyToggle', 'keyTap', 'typeString', 'getScreenSize', 'setXDisplayName'] as const) expect(typeof lib[fn], fn).toBe('function');
  });

  it('names the missing package when another platform’s binary is not installed', () => {
    let err: unknown;
    try {
      loadLibnut('win32');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InjectionUnavailableError);
    expect((err as Error).message).toContain(LIBNUT_PACKAGES.win32);
    expect(() => loadLibnut('darwin', () => ({ moveMouse() {} }))).toThrow(/has no mouseToggle/);
  });

  it('refuses on Linux without a display, and with an unreachable one, instead of segfaulting', async () => {
    await expect(createLibnutInjector({ os: 'linux' })).rejects.toThrow(/DISPLAY is not set/);
    await expect(createLibnutInjector({ os: 'linux', xDisplay: ':4243' })).rejects.toThrow(/cannot reach X display :4243/);
  });
});

describe('macOS permissions (systemPreferences faked: it answers only on a Mac)', () => {
  it('without Accessibility: macOS is asked to prompt, and control is refused with the reason both sides read', () => {
    const perms = new FakeMacPermissions(false);
    let err: unknown;
    try {
      checkControlPermission('darwin', perms);
    } catch (e) {
      err = e;
    }
    expect(perms.prompts).toBe(1);
    expect(refusalOf(err)).toBe('needs_accessibility');
    expect(refusalForEndUser('needs_accessibility')).toContain('System Settings > Privacy & Security > Accessibility');
    expect(refusalForAnalyst('needs_accessibility')).toContain('System Settings > Privacy & Security > Accessibility');
  });

  it('with Accessibility, or on another platform, nothing is refused; a Mac with no one to ask is refused', () => {
    expect(() => checkControlPermission('darwin', new FakeMacPermissions(true))).not.toThrow();
    const never = new FakeMacPermissions(false);
    checkControlPermission('win32', never);
    checkControlPermission('linux', undefined);
    expect(never.prompts).toBe(0);
    expect(() => checkControlPermission('darwin', undefined)).toThrow(InjectionUnavailableError);
  });

  it('Screen Recording denied refuses sharing with where to turn it on; not yet asked lets macOS ask', () => {
    expect(captureRefusal('darwin', new FakeMacPermissions(true, 'denied'))).toBe('needs_screen_recording');
    expect(captureRefusal('darwin', new FakeMacPermissions(true, 'restricted'))).toBe('needs_screen_recording');
    expect(captureRefusal('darwin', new FakeMacPermissions(true, 'not-determined'))).toBeNull();
    expect(captureRefusal('darwin', new FakeMacPermissions(true, 'granted'))).toBeNull();
    expect(captureRefusal('win32', new FakeMacPermissions(true, 'denied'))).toBeNull();
    expect(refusalForEndUser('needs_screen_recording')).toContain('System Settings > Privacy & Security > Screen Recording');
  });

  it('reads Electron’s systemPreferences answers', () => {
    const asked: boolean[] = [];
    const p = electronDesktopPermissions({ isTrustedAccessibilityClient: (prompt) => (asked.push(prompt), false), getMediaAccessStatus: () => 'denied' });
    expect(p.accessibility(true)).toBe(false);
    expect(asked).toEqual([true]);
    expect(p.screenRecording()).toBe('denied');
    expect(electronDesktopPermissions({ isTrustedAccessibilityClient: () => true, getMediaAccessStatus: () => 'weird' }).screenRecording()).toBe('unknown');
  });

  it('Windows’ UIPI limit is spelled out', () => {
    expect(WINDOWS_UIPI_NOTE).toMatch(/administrator/);
    expect(WINDOWS_UIPI_NOTE).toMatch(/User Account Control/);
  });
});

describe('which adapter each platform gets', () => {
  it('libnut on Windows and macOS, XTEST on X11, view-only on Wayland', () => {
    expect(ADAPTER_FOR).toEqual({ win32: 'libnut', darwin: 'libnut', 'linux-x11': 'xtest', 'linux-wayland': 'view-only' });
  });

  it('a Mac without Accessibility is refused before libnut is loaded', async () => {
    const err = await createInjector('darwin', { permissions: new FakeMacPermissions(false) }).catch((e: unknown) => e);
    expect(refusalOf(err)).toBe('needs_accessibility');
  });

  it('Windows and a permitted Mac load their libnut package (not installed on this Linux machine: said so)', async () => {
    const win = await createInjector('win32').catch((e: unknown) => e);
    expect(refusalOf(win)).toBe('injection_unavailable');
    expect((win as Error).message).toContain('@nut-tree-fork/libnut-win32');
    const mac = await createInjector('darwin', { permissions: new FakeMacPermissions(true) }).catch((e: unknown) => e);
    expect((mac as Error).message).toContain('@nut-tree-fork/libnut-darwin');
  });

  it('Wayland: view-only, with the sentence both sides read', async () => {
    for (const env of [{ XDG_SESSION_TYPE: 'wayland', DISPLAY: ':0', WAYLAND_DISPLAY: 'wayland-0' }, { WAYLAND_DISPLAY: 'wayland-0' }]) {
      expect(isWaylandSession(env)).toBe(true);
      const err = await createInjector('linux', { env }).catch((e: unknown) => e);
      expect(refusalOf(err)).toBe('view_only_wayland');
      expect((err as Error).message).toBe('this computer can be seen but not controlled: Wayland session');
    }
    expect(isWaylandSession({ XDG_SESSION_TYPE: 'x11', DISPLAY: ':0' })).toBe(false);
    expect(refusalForEndUser('view_only_wayland')).toContain('This computer can be seen but not controlled: Wayland session');
    expect(refusalForAnalyst('view_only_wayland')).toContain('This computer can be seen but not controlled: Wayland session');
  });

  it('other systems are refused as unsupported; every refusal has words for both sides', async () => {
    expect(refusalOf(await createInjector('freebsd').catch((e: unknown) => e))).toBe('unsupported_platform');
    expect(refusalOf(new Error('anything else'))).toBe('injection_unavailable');
    for (const r of CONTROL_REFUSALS) {
      expect(isControlRefusal(r)).toBe(true);
      expect(refusalForEndUser(r).length).toBeGreaterThan(20);
      expect(refusalForAnalyst(r).length).toBeGreaterThan(20);
    }
    expect(isControlRefusal('nope')).toBe(false);
  });
});
