/**
 * The part of js-yaml 4 (electron-builder's own YAML reader, a dependency of app-builder-lib; no
 * types of its own) the config test uses.
 */
declare module 'js-yaml' {
  export function load(text: string): unknown;
  const jsYaml: { load: typeof load };
  export default jsYaml;
}
