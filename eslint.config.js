import js from '@eslint/js';
import path from 'node:path';
import tseslint from 'typescript-eslint';

/**
 * The layers, as allow lists (the way VS Code's code-layering rule works): each top-level folder
 * names the folders it MAY import (besides itself), and which packages. A file in a folder that is
 * not listed here fails lint, so a new folder has to declare its place before it can import
 * anything. The layout and what each folder holds: README.md ("Layout") and the folder READMEs.
 *
 * `may`: product or kit folders this one imports. `packages`: `only` (an allow list) or `not` (a
 * deny list; `node:` stands for every node:* module). The longest matching entry applies, so
 * main/electron/ (the composition root, the one place that touches electron) overrides main/.
 */
const PRODUCT = ['common', 'broker', 'main', 'preload', 'renderer'];
const LAYERS = {
  common: { may: [], packages: { only: ['zod'] }, why: 'common/ is the ground floor: pure TypeScript (zod), no node:*, no electron, no DOM libraries, and nothing from a layer above' },
  broker: { may: ['common'], packages: { not: ['electron', 'react', 'react-dom'] }, why: 'broker/ may import only common/ and Node packages' },
  main: { may: ['common'], packages: { not: ['electron', 'react', 'react-dom'] }, why: 'main/ may import only common/; electron only in its composition root, main/electron/' },
  'main/electron': { may: ['common'], packages: { not: ['react', 'react-dom'] }, why: 'main/electron/ may import common/, main/ and electron' },
  preload: { may: ['common'], why: 'preload/ may import only common/' },
  renderer: { may: ['common'], packages: { not: ['node:', 'electron'] }, why: 'renderer/ may import only common/ and browser libraries; it reaches the main process through the preload API' },
  kit: { may: PRODUCT, why: 'kit/ (what tests and benchmarks share) may import the product, not test/ or bench/' },
  test: { may: [...PRODUCT, 'kit'], why: 'test/ may import the product and kit/, not bench/' },
  bench: { may: [...PRODUCT, 'kit'], why: 'bench/ may import the product and kit/, not test/' },
  bin: { may: ['broker'], why: 'bin/ starts the broker\'s CLI' },
  scripts: { may: [], why: 'scripts/ run the product as child processes; they import none of it' },
  // The configuration files at the top (eslint, vite, vitest).
  '.': { may: [], why: 'the configuration files at the top import none of the product' },
};

const ROOT = import.meta.dirname;

/** The LAYERS key for a repository-relative path: the longest folder prefix that is declared. */
function layerOf(rel) {
  const parts = rel.split('/');
  if (parts.length === 1) return '.';
  for (let n = parts.length - 1; n > 0; n--) {
    const key = parts.slice(0, n).join('/');
    if (Object.hasOwn(LAYERS, key)) return key;
  }
  return undefined;
}

function packageName(spec) {
  if (spec.startsWith('node:')) return 'node:';
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

const layersRule = {
  meta: { type: 'problem', schema: [], docs: { description: 'imports follow the layer allow lists in eslint.config.js' } },
  create(context) {
    const rel = path.relative(ROOT, context.filename).split(path.sep).join('/');
    if (rel.startsWith('..')) return {};
    const name = layerOf(rel);
    const top = rel.includes('/') ? rel.split('/')[0] : '.';
    const check = (node, spec) => {
      if (typeof spec !== 'string' || !name) return;
      const layer = LAYERS[name];
      if (spec.startsWith('.') || spec.startsWith('/')) {
        const target = path.relative(ROOT, path.resolve(path.dirname(context.filename), spec)).split(path.sep).join('/');
        const to = target.startsWith('..') ? '(outside the repository)' : target.includes('/') ? target.split('/')[0] : '.';
        if (to === top || layer.may.includes(to)) return;
        context.report({ node, message: `${layer.why}. It may import ${[top, ...layer.may].map((f) => `${f}/`).join(', ')}; not ${to === '.' ? 'a top-level file' : `${to}/`} ('${spec}').` });
        return;
      }
      const pkg = packageName(spec);
      const rules = layer.packages;
      if (!rules) return;
      const refused = rules.only ? !rules.only.includes(pkg) : rules.not.includes(pkg);
      if (refused) context.report({ node, message: `${layer.why}. Package '${spec}' is not allowed here.` });
    };
    return {
      Program(node) {
        if (!name) context.report({ node, message: `${rel} is in no declared layer: add its folder to LAYERS in eslint.config.js with what it may import.` });
      },
      ImportDeclaration: (node) => check(node, node.source.value),
      ExportNamedDeclaration: (node) => node.source && check(node, node.source.value),
      ExportAllDeclaration: (node) => check(node, node.source.value),
      ImportExpression: (node) => node.source.type === 'Literal' && check(node, node.source.value),
      TSImportEqualsDeclaration: (node) => node.moduleReference.type === 'TSExternalModuleReference' && check(node, node.moduleReference.expression.value),
      TSImportType: (node) => check(node, node.argument?.literal?.value ?? node.source?.value),
      CallExpression: (node) => node.callee.type === 'Identifier' && node.callee.name === 'require' && node.arguments[0]?.type === 'Literal' && check(node, node.arguments[0].value),
    };
  },
};

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
  {
    plugins: { chaperone: { rules: { layers: layersRule } } },
    rules: { 'chaperone/layers': 'error' },
  },
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
    brokerRoom('cluster', ['^\\.\\./(sessions|auth|audit|http|routes|signaling|storage|hooks)/', BROKER_ROOTS_AND_CONTEXT, HTTP_PACKAGES], 'broker/cluster/ carries messages between instances; it knows no session internals (sessions/ tells it through its placement port).'),
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
