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
  // Keep last: the broker's inner rooms (below), separate from the top-level layers.
  ...brokerInnerLayers(),
);

/**
 * The broker's inner rooms (broker/README.md): storage at the bottom, the domain (sessions/,
 * auth/, audit/, hooks/) on it and free of HTTP, the doors (http/, routes/, signaling/) on top,
 * composition in app.ts, broker.ts and cli.ts. Its own rule name, so it adds to the layer rule
 * above instead of replacing it for these files.
 */
function brokerInnerLayers() {
  const BROKER_ROOTS = '^\\.\\./(app|broker|cli)\\.js$';
  const BROKER_ROOTS_AND_CONTEXT = '^\\.\\./(app|broker|cli|context)\\.js$';
  const HTTP_PACKAGES = '^(fastify|@fastify/.*|ws)$';
  const brokerRoom = (dir, forbidden, message) => ({
    files: [`broker/${dir}/**/*.ts`],
    rules: { '@typescript-eslint/no-restricted-imports': ['error', { patterns: forbidden.map((regex) => ({ regex, message })) }] },
  });
  return [
    brokerRoom('storage', ['^\\.\\./(?!\\.\\./)'], 'broker/storage/ is the bottom room: it imports nothing else of broker/.'),
    brokerRoom('audit', ['^\\.\\./(sessions|auth|http|routes|signaling|hooks)/', BROKER_ROOTS_AND_CONTEXT, HTTP_PACKAGES], 'broker/audit/ stands on storage/ and keys.ts only.'),
    brokerRoom('auth', ['^\\.\\./(sessions|http|routes|signaling|hooks)/', BROKER_ROOTS_AND_CONTEXT, HTTP_PACKAGES], 'broker/auth/ is domain: storage/, audit/ and the top-level helpers, no HTTP.'),
    brokerRoom('hooks', ['^\\.\\./(sessions|auth|http|routes|signaling)/', BROKER_ROOTS_AND_CONTEXT, HTTP_PACKAGES], 'broker/hooks/ stands on storage/ and audit/ only.'),
    brokerRoom('sessions', ['^\\.\\./(http|routes|signaling|hooks)/', BROKER_ROOTS_AND_CONTEXT, HTTP_PACKAGES], 'broker/sessions/ is the domain: no Fastify, no http/, no doors; it throws domain errors and tells its ports.'),
    brokerRoom('http', ['^\\.\\./(sessions|routes|signaling|storage)/', BROKER_ROOTS], 'broker/http/ is the HTTP plumbing the routes stand on; it knows no session internals.'),
    brokerRoom('routes', ['^\\.\\./(sessions|signaling|storage|audit|auth|hooks)/', BROKER_ROOTS], 'broker/routes/ are doors: they reach the services through the context and the registry.'),
    brokerRoom('signaling', ['^\\.\\./(http|routes|storage|hooks)/', BROKER_ROOTS], 'broker/signaling/ is a door: it reaches the session service through the context.'),
    {
      files: ['broker/clock.ts', 'broker/config.ts', 'broker/keys.ts', 'broker/metrics.ts', 'broker/rate-limit.ts', 'broker/turn.ts', 'broker/domain-errors.ts'],
      rules: {
        '@typescript-eslint/no-restricted-imports': [
          'error',
          { patterns: [{ regex: '^\\./', message: "broker/'s top-level helpers import no room of the broker." }, { regex: HTTP_PACKAGES, message: "broker/'s top-level helpers know no HTTP." }] },
        ],
      },
    },
  ];
}
