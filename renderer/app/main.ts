import './polyfills.js';
import './styles.css';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App, applyHash } from './app.js';
import { resumeStaff } from './flows/staff.js';
import { finishSsoSignIn, handBackStepUp, isStepUpTab, loadSsoConfig, ssoAnswerFromHash } from './flows/sso.js';
import { loadPolicy } from './services.js';
import { h } from './screens/ui.js';
import { useAppStore } from './store.js';

async function boot(): Promise<void> {
  const root = document.getElementById('root');
  if (!root) return;
  // Back from the identity provider: the answer is taken out of the address at once (it must not
  // stay in the history or be copied along with the address).
  const sso = ssoAnswerFromHash(location.hash);
  if (sso) history.replaceState(null, '', `${location.pathname}${location.search}#/staff`);
  if (isStepUpTab(location.search)) {
    // The second tab of a step-up: it hands the answer to the tab that asked and does nothing else.
    const done = sso !== null && handBackStepUp(sso);
    const main = document.createElement('main');
    main.className = 'content';
    const title = document.createElement('h1');
    title.textContent = done ? 'Confirmed' : 'This tab is not needed';
    const text = document.createElement('p');
    text.textContent = done ? 'You can close this tab and go back to Chaperone.' : 'You can close it.';
    main.append(title, text);
    root.replaceChildren(main);
    return;
  }
  try {
    await loadPolicy();
  } catch (err) {
    root.textContent = `Chaperone cannot start: ${(err as Error).message}`;
    return;
  }
  applyHash(location.hash);
  createRoot(root).render(h(StrictMode, null, h(App)));
  if (useAppStore.getState().policy?.analystMode !== false) await loadSsoConfig();
  if (sso) void finishSsoSignIn(sso);
  else void resumeStaff();
}

void boot();
