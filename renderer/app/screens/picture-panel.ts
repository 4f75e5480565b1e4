import { useEffect, useRef, useState, type ReactNode } from 'react';
import { QUALITY_LABELS, QUALITY_PRESETS, type QualityPreset } from '../../../common/control/quality.js';
import { readoutOf, sampleOf, type Readout, type Sample } from '../flows/link-quality.js';
import { chooseQuality, currentQuality, liveStats } from '../flows/session.js';
import { Alert, h } from './ui.js';

/** How often the readout is refreshed, and how many samples back the rates are taken over. */
const TICK_MS = 1000;
const WINDOW_TICKS = 3;

const HINTS: Record<QualityPreset, string> = {
  sharp: 'text stays crisp, fewer frames',
  balanced: 'crisp text, up to 30 frames a second',
  smooth: 'fluid motion, text may blur',
};

/**
 * The analyst's picture controls: the quality menu (sent to the end user's side, which applies it
 * to what it sends) and a small readout of what the link really delivers, with a plain notice when
 * the link degrades, so a stuttering picture is never left unexplained.
 */
export function PicturePanel(props: { connected: boolean }): ReactNode {
  const [quality, setQuality] = useState<QualityPreset>(currentQuality());
  const [r, setR] = useState<Readout | null>(null);
  const samples = useRef<Sample[]>([]);

  useEffect(() => {
    if (!props.connected) return;
    let stopped = false;
    const tick = async () => {
      const stats = await liveStats().catch(() => null);
      if (stopped || !stats) return;
      const now = sampleOf(stats, Date.now());
      const list = samples.current;
      if (now) list.push(now);
      while (list.length > WINDOW_TICKS + 1) list.shift();
      setR(readoutOf(stats, list.length > 1 ? list[0]! : null, now));
    };
    void tick();
    const t = setInterval(() => void tick(), TICK_MS);
    return () => {
      stopped = true;
      clearInterval(t);
    };
  }, [props.connected]);

  const pick = (p: QualityPreset) => {
    if (chooseQuality(p)) setQuality(p);
  };
  const dash = '–';
  return h(
    'div',
    { className: 'picture-panel' },
    h(
      'label',
      { className: 'picture-quality' },
      'Picture ',
      h(
        'select',
        { value: quality, disabled: !props.connected, onChange: (e: { target: { value: string } }) => pick(e.target.value as QualityPreset), 'data-testid': 'quality-menu' },
        ...QUALITY_PRESETS.map((p) => h('option', { key: p, value: p }, `${QUALITY_LABELS[p]} (${HINTS[p]})`)),
      ),
    ),
    h(
      'p',
      { className: 'picture-readout', 'data-testid': 'picture-readout', 'aria-live': 'off' },
      h('span', { 'data-testid': 'readout-size' }, r?.width && r.height ? `${r.width}×${r.height}` : dash),
      h('span', { 'data-testid': 'readout-fps' }, r?.fps !== null && r?.fps !== undefined ? `${r.fps} fps` : `${dash} fps`),
      h('span', { 'data-testid': 'readout-kbps' }, r?.kbps !== null && r?.kbps !== undefined ? `${r.kbps} kbit/s` : `${dash} kbit/s`),
      h('span', { 'data-testid': 'readout-rtt' }, r?.rttMs !== null && r?.rttMs !== undefined ? `${r.rttMs} ms round trip` : `${dash} ms round trip`),
      h('span', { 'data-testid': 'readout-path' }, r?.path === 'relay' ? 'via relay server' : r?.path === 'direct' ? 'direct' : dash),
    ),
    r?.degraded
      ? h(Alert, { kind: 'warning', testId: 'link-degraded' }, `The connection to the end user is poor: ${r.why}. The picture may lag or stutter; it recovers by itself when the network does.`)
      : null,
  );
}
