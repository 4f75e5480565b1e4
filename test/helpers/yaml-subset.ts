/**
 * Enough YAML for our own config files (electron-builder.yml): block maps, block lists (of
 * scalars or of maps), comments, quoted and plain scalars, booleans and numbers. No YAML library
 * is a dependency of the project, and this reads the structure rather than grepping lines, so a
 * `perMachine: true` under the wrong target is caught. Anything outside the subset throws.
 */
export type YamlValue = string | number | boolean | null | YamlValue[] | { [k: string]: YamlValue };

interface Line {
  indent: number;
  text: string;
  no: number;
}

export function parseYamlSubset(src: string): YamlValue {
  const lines: Line[] = [];
  src.split(/\r?\n/).forEach((raw, i) => {
    const text = stripComment(raw).trimEnd();
    if (text.trim() === '') return;
    if (/\t/.test(raw.slice(0, raw.length - raw.trimStart().length))) throw new Error(`line ${i + 1}: tabs in indentation`);
    lines.push({ indent: raw.length - raw.trimStart().length, text: text.trim(), no: i + 1 });
  });
  let pos = 0;

  function block(indent: number): YamlValue {
    const first = lines[pos];
    if (!first || first.indent < indent) return null;
    return first.text.startsWith('- ') || first.text === '-' ? list(first.indent) : map(first.indent);
  }

  function list(indent: number): YamlValue[] {
    const out: YamlValue[] = [];
    while (pos < lines.length && lines[pos]!.indent === indent && lines[pos]!.text.startsWith('-')) {
      const l = lines[pos]!;
      const rest = l.text.slice(1).trim();
      if (rest === '') {
        pos++;
        out.push(block(indent + 1));
      } else if (/^[^'"][^:]*:( |$)/.test(rest)) {
        // "- key: value" opens a map whose keys sit two columns in.
        lines[pos] = { indent: indent + 2, text: rest, no: l.no };
        out.push(map(indent + 2));
      } else {
        pos++;
        out.push(scalar(rest, l.no));
      }
    }
    return out;
  }

  function map(indent: number): { [k: string]: YamlValue } {
    const out: { [k: string]: YamlValue } = {};
    while (pos < lines.length && lines[pos]!.indent === indent) {
      const l = lines[pos]!;
      const m = /^("[^"]*"|'[^']*'|[^:]+):(?: (.*))?$/.exec(l.text);
      if (!m) throw new Error(`line ${l.no}: expected "key: value", got ${JSON.stringify(l.text)}`);
      const key = m[1]!.replace(/^["']|["']$/g, '');
      if (Object.hasOwn(out, key)) throw new Error(`line ${l.no}: duplicate key ${key}`);
      pos++;
      const next = lines[pos];
      if (m[2] !== undefined && m[2] !== '') out[key] = scalar(m[2], l.no);
      else if (next && (next.indent > indent || (next.indent === indent && next.text.startsWith('- ')))) out[key] = block(next.indent);
      else out[key] = null;
    }
    if (pos < lines.length && lines[pos]!.indent > indent) throw new Error(`line ${lines[pos]!.no}: unexpected indentation`);
    return out;
  }

  const doc = block(0);
  if (pos < lines.length) throw new Error(`line ${lines[pos]!.no}: unexpected content`);
  return doc;
}

function scalar(s: string, no: number): YamlValue {
  if (/^".*"$/.test(s)) return JSON.parse(s) as string;
  if (/^'.*'$/.test(s)) return s.slice(1, -1).replace(/''/g, "'");
  if (/^[[{&*!|>%@`]/.test(s)) throw new Error(`line ${no}: flow collections, anchors, tags and block scalars are outside the subset`);
  if (s === 'true') return true;
  if (s === 'false') return false;
  if (s === 'null' || s === '~') return null;
  if (/^-?\d+(\.\d+)?$/.test(s)) return Number(s);
  return s;
}

function stripComment(line: string): string {
  let quote: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === quote) quote = null;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]!))) return line.slice(0, i);
  }
  return line;
}
