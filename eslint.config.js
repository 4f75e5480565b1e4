import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * Layers import downward only (see DESIGN.md): common is the ground floor; broker and main sit on
 * it; preload on common; renderer on common. Tests and benchmarks may import anything.
 */
const layer = (files, forbidden, message) => ({
  files,
  rules: {
    'no-restricted-imports': [
      'error',
      { patterns: forbidden.map((group) => ({ group: [group], message })) },
    ],
  },
});

const UP = (name) => [`**/${name}/**`, `**/${name}`];

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'test-results/**', 'bench/results/**', '.chaperone/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setImmediate: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', Buffer: 'readonly', URL: 'readonly' } },
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  layer(
    ['common/**/*.ts'],
    [...UP('broker'), ...UP('main'), ...UP('preload'), ...UP('renderer'), ...UP('test'), ...UP('bench'), 'node:*', 'electron', 'react', 'fs', 'path', 'crypto', 'ws', 'fastify'],
    'common/ is the ground floor: pure TypeScript, no node:*, no electron, no DOM libraries, and nothing from a layer above.',
  ),
  layer(
    ['broker/**/*.ts'],
    [...UP('main'), ...UP('preload'), ...UP('renderer'), ...UP('test'), ...UP('bench'), 'electron', 'react'],
    'broker/ may import only common/ and Node packages.',
  ),
  layer(
    ['main/**/*.ts'],
    [...UP('broker'), ...UP('preload'), ...UP('renderer'), ...UP('test'), ...UP('bench'), 'react', 'electron', 'electron/*'],
    'main/ may import only common/; electron only in its composition root, main/electron/.',
  ),
  // The composition root is the one place in main/ that touches the real electron module.
  layer(
    ['main/electron/**/*.ts'],
    [...UP('broker'), ...UP('preload'), ...UP('renderer'), ...UP('test'), ...UP('bench'), 'react'],
    'main/electron/ may import common/, main/ and electron.',
  ),
  layer(
    ['preload/**/*.ts'],
    [...UP('broker'), ...UP('main'), ...UP('renderer'), ...UP('test'), ...UP('bench')],
    'preload/ may import only common/.',
  ),
  layer(
    ['renderer/**/*.ts', 'renderer/**/*.tsx'],
    [...UP('broker'), ...UP('main'), ...UP('preload'), ...UP('test'), ...UP('bench'), 'node:*', 'electron'],
    'renderer/ may import only common/ and browser libraries; it reaches the main process through the preload API.',
  ),
);
