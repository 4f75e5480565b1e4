import { chromium } from 'playwright-core';
import { spawn, execFileSync } from 'node:child_process';
const x = spawn('Xvfb', [':89', '-screen', '0', '2560x720x24', '-nolisten', 'tcp', '-noreset'], { stdio: 'ignore' });
await new Promise(r => setTimeout(r, 1500));
const env = { ...process.env, DISPLAY: ':89' };
execFileSync('xrandr', ['--setmonitor', 'LEFT', '1280/338x720/190+0+0', 'screen'], { env });
execFileSync('xrandr', ['--setmonitor', 'RIGHT', '1280/338x720/190+1280+0', 'none'], { env });
const b = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: false, env, args: ['--no-sandbox', '--disable-gpu', '--window-position=600,0', '--window-size=680,720'] });
const p = await (await b.newContext({ viewport: null })).newPage();
const http = await import('node:http'); const srv = http.createServer((q,r)=>r.end('<html><button id=b>go</button></html>')).listen(8798); await p.goto('http://localhost:8798/');
await p.evaluate(() => { window.res = navigator.mediaDevices.getDisplayMedia({ video: true }).then(s => { const t = s.getVideoTracks()[0]; return { label: t.label, w: t.getSettings().width }; }, e => 'ERR ' + e.message); });
await new Promise(r => setTimeout(r, 3000));
execFileSync('convert', ['x:root', '/tmp/w18d/picker.png'], { env });
const keys = process.argv.slice(2);
for (const k of keys) { execFileSync('xdotool', ['key', k], { env }); await new Promise(r => setTimeout(r, 400)); }
execFileSync('convert', ['x:root', '/tmp/w18d/picker2.png'], { env });
const r = await Promise.race([p.evaluate(() => window.res), new Promise(r => setTimeout(() => r('timeout'), 4000))]);
console.log(JSON.stringify(r));
await b.close(); x.kill(); srv.close();
