// Parses LogQL expressions with Grafana's LogQL grammar (@grafana/lezer-logql, the parser behind
// Grafana's Loki query editor) and reports each one that has a syntax error, with the offset.
// Input: a JSON array of {"name", "expr"} on stdin. Output: one line per expression; exit 1 if
// any does not parse. Used by observability/checks/telemetry.py; it checks syntax only (no
// label or function semantics: Loki itself is not available offline).
// Environment: LEZER_LOGQL, the path of the package's index.es.js.
import { pathToFileURL } from 'node:url';
import { readFileSync } from 'node:fs';

const { parser } = await import(pathToFileURL(process.env.LEZER_LOGQL).href);
const items = JSON.parse(readFileSync(0, 'utf8'));
let bad = 0;
for (const { name, expr } of items) {
  const tree = parser.parse(expr);
  const errors = [];
  tree.iterate({ enter: (node) => { if (node.type.isError) errors.push(node.from); } });
  const top = tree.topNode.firstChild ? tree.topNode.firstChild.name : 'nothing';
  if (errors.length > 0 || top !== 'Expr') {
    bad += 1;
    const at = errors.length > 0 ? errors[0] : 0;
    console.log(`FAIL ${name}: syntax error at offset ${at}: ${JSON.stringify(expr.slice(at, at + 40))}`);
  } else {
    console.log(`ok   ${name}`);
  }
}
process.exit(bad === 0 ? 0 : 1);
