import './polyfills.js';
import './styles.css';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App, applyHash } from './app.js';
import { resumeStaff } from './flows/staff.js';
import { loadPolicy } from './services.js';
import { h } from './screens/ui.js';

async function boot(): Promise<void> {
  const root = document.getElementById('root');
  if (!root) return;
  try {
    await loadPolicy();
  } catch (err) {
    root.textContent = `Chaperone cannot start: ${(err as Error).message}`;
    return;
  }
  applyHash(location.hash);
  createRoot(root).render(h(StrictMode, null, h(App)));
  void resumeStaff();
}

void boot();
