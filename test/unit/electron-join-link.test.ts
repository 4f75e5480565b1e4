import { describe, expect, it } from 'vitest';
import { joinCodeFromArgv, parseJoinLink } from '../../main/join-link.js';

const CODE = '7KQ2MXW9PC';

describe('chaperone://join links handed over by the operating system', () => {
  it('a join link opens the join screen with its code, in the forms browsers and Windows produce', () => {
    expect(parseJoinLink(`chaperone://join/${CODE}`)).toBe(CODE);
    expect(parseJoinLink('chaperone://join/7KQ2M-XW9PC')).toBe(CODE);
    expect(parseJoinLink('chaperone://join/7kq2m-xw9pc')).toBe(CODE);
    expect(parseJoinLink('CHAPERONE://JOIN/7KQ2MXW9PC')).toBe(CODE);
    // Windows appends a slash to the URL it passes.
    expect(parseJoinLink(`chaperone://join/${CODE}/`)).toBe(CODE);
  });

  const hostile: [string, unknown][] = [
    ['an empty string', ''],
    ['not a string', { toString: () => `chaperone://join/${CODE}` }],
    ['a number', 7],
    ['the code alone', CODE],
    ['another scheme', `https://join/${CODE}`],
    ['a look-alike scheme', `chaperone2://join/${CODE}`],
    ['a scheme with a prefix', `xchaperone://join/${CODE}`],
    ['another host', `chaperone://evil/${CODE}`],
    ['a host with a port', `chaperone://join:443/${CODE}`],
    ['credentials before the host', `chaperone://user@join/${CODE}`],
    ['a deeper path', `chaperone://join/${CODE}/extra`],
    ['a path before the code', `chaperone://join/x/${CODE}`],
    ['a query string', `chaperone://join/${CODE}?x=1`],
    ['an empty query', `chaperone://join/${CODE}?`],
    ['a fragment', `chaperone://join/${CODE}#x`],
    ['a Chromium switch after a space', `chaperone://join/${CODE} --gpu-launcher=calc.exe`],
    ['a switch glued on', `chaperone://join/${CODE}--inspect=9229`],
    ['a switch instead of the code', 'chaperone://join/--inspect'],
    ['a switch before the link', `--renderer-cmd-prefix=chaperone://join/${CODE}`],
    ['a quote to break out of the registered command', `chaperone://join/${CODE}" --no-sandbox "`],
    ['percent-encoded code', 'chaperone://join/%37KQ2MXW9PC'],
    ['a percent-encoded slash', `chaperone://join%2F${CODE}`],
    ['a percent-encoded switch', `chaperone://join/${CODE}%20--no-sandbox`],
    ['a backslash path', `chaperone://join\\${CODE}`],
    ['three slashes', `chaperone:///join/${CODE}`],
    ['one slash', `chaperone:/join/${CODE}`],
    ['no slashes', `chaperone:join/${CODE}`],
    ['a dot segment', `chaperone://join/../${CODE}`],
    ['a code too short', 'chaperone://join/7KQ2MXW9P'],
    ['a code too long', 'chaperone://join/7KQ2MXW9PCA'],
    ['confusable letters (links are made by machines)', 'chaperone://join/7KQ2MXW9PO'],
    ['the letter U', 'chaperone://join/7KQ2MXW9PU'],
    ['two dashes', 'chaperone://join/7KQ2M--XW9PC'],
    ['a dash in the wrong place', 'chaperone://join/7KQ-2MXW9PC'],
    ['spaces in the code', 'chaperone://join/7KQ2M XW9PC'],
    ['a leading space', ` chaperone://join/${CODE}`],
    ['a trailing newline', `chaperone://join/${CODE}\n`],
    ['a NUL byte', `chaperone://join/${CODE}\u0000`],
    ['full-width digits', 'chaperone://join/７KQ2MXW9PC'],
    ['a Cyrillic look-alike', 'chaperone://join/7KQ2MXW9РC'],
    ['two trailing slashes', `chaperone://join/${CODE}//`],
    ['over-long input', `chaperone://join/${CODE}/${'A'.repeat(10_000)}`],
  ];
  it.each(hostile)('refuses %s', (_name, input) => {
    expect(parseJoinLink(input)).toBeNull();
  });
});

describe('a command line with a link on it (first start, or a second start handed to the first)', () => {
  it('the link after the `--` the app registers is taken', () => {
    expect(joinCodeFromArgv(['/opt/Chaperone/chaperone', '--', `chaperone://join/${CODE}`])).toBe(CODE);
    // A development run (electron .): the app path comes first.
    expect(joinCodeFromArgv(['/usr/bin/electron', '/src/chaperone', '--', `chaperone://join/${CODE}/`])).toBe(CODE);
    // Linux desktop files and macOS pass the link without the terminator; Electron adds its own switches.
    expect(joinCodeFromArgv(['/opt/Chaperone/chaperone', '--allow-file-access-from-files', `chaperone://join/${CODE}`])).toBe(CODE);
  });

  it('a plain start has no code', () => {
    expect(joinCodeFromArgv(['/opt/Chaperone/chaperone'])).toBeNull();
    expect(joinCodeFromArgv([])).toBeNull();
  });

  it('refuses the whole command line when the link is not alone and exact', () => {
    const exe = '/opt/Chaperone/chaperone';
    // Two links: ambiguous, maybe a page trying to swap the code.
    expect(joinCodeFromArgv([exe, '--', `chaperone://join/${CODE}`, 'chaperone://join/ABCDEFGHJK'])).toBeNull();
    // A link smuggled into a switch, beside a good one.
    expect(joinCodeFromArgv([exe, `--user-data-dir=chaperone://join/${CODE}`, '--', `chaperone://join/${CODE}`])).toBeNull();
    // The link before the terminator our registration puts in front of it.
    expect(joinCodeFromArgv([exe, `chaperone://join/${CODE}`, '--', 'x'])).toBeNull();
    // A broken link is not repaired.
    expect(joinCodeFromArgv([exe, '--', `chaperone://join/${CODE}?next=--no-sandbox`])).toBeNull();
    expect(joinCodeFromArgv([exe, '--', `CHAPERONE:join/${CODE}`])).toBeNull();
    // Arguments that are not strings at all.
    expect(joinCodeFromArgv([exe, 42, null, { link: `chaperone://join/${CODE}` }])).toBeNull();
  });
});
