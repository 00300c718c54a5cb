// Parses an AsyncAPI document with @asyncapi/parser and prints every
// diagnostic as a JSON line; exits 1 if any has error severity (0) or the
// document could not be parsed. Run by scripts/asyncapi-parser.sh.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const [parserDir, file] = process.argv.slice(2);
const require = createRequire(join(parserDir, 'package.json'));
const { Parser } = require(parserDir);

const parser = new Parser();
const { document, diagnostics } = await parser.parse(readFileSync(file, 'utf8'));
const severities = ['error', 'warning', 'info', 'hint'];
let errors = 0;
for (const d of diagnostics) {
  if (d.severity === 0) errors += 1;
  console.log(JSON.stringify({
    severity: severities[d.severity] ?? d.severity,
    code: d.code,
    message: d.message,
    path: d.path.join('/'),
  }));
}
if (errors > 0 || document === undefined) {
  console.error(`${file}: ${errors} error(s)${document === undefined ? ', no document' : ''}`);
  process.exit(1);
}
console.error(`${file}: valid AsyncAPI ${document.version()}`);
