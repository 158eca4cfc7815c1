// The peer a user would pick instead of vigil: a readiness server built on
// lightship's documented API (createLightship, signalReady, signalNotReady,
// registerShutdownHandler), with ioredis and pg doing the same checks as the
// bench's vigil config: PING on two Redis servers (session: required, cache:
// optional), SELECT 1 on PostgreSQL (required), a TCP connect to the app
// (required), every INTERVAL_MS with a TIMEOUT_MS deadline; a required check
// counts as down after UNHEALTHY_THRESHOLD consecutive failures.
//
// lightship listens on 0.0.0.0: tests/bench/run starts this only inside a
// network namespace of its own with nothing but `lo` up.
//
// Environment: PEER_PORT, REDIS_SESSION_URL, REDIS_CACHE_URL, PG_HOST (a
// socket directory or host), PG_PORT, PG_DATABASE, PG_USER, APP_HOST,
// APP_PORT, INTERVAL_MS, TIMEOUT_MS, UNHEALTHY_THRESHOLD.
import net from 'node:net';
import lightshipModule from 'lightship'; // CommonJS: named exports via the default
import Redis from 'ioredis';
import pg from 'pg';

const env = (k, d) => (process.env[k] === undefined ? d : process.env[k]);
const INTERVAL_MS = Number(env('INTERVAL_MS', '1000'));
const TIMEOUT_MS = Number(env('TIMEOUT_MS', '500'));
const UNHEALTHY_THRESHOLD = Number(env('UNHEALTHY_THRESHOLD', '2'));

const { createLightship } = lightshipModule;
const lightship = await createLightship({
  detectKubernetes: false,
  port: Number(env('PEER_PORT', '9000')),
  shutdownDelay: 0,
  gracefulShutdownTimeout: 2000,
  shutdownHandlerTimeout: 1000,
});

const redisOptions = {
  commandTimeout: TIMEOUT_MS,
  connectTimeout: TIMEOUT_MS,
  maxRetriesPerRequest: 0,
  enableOfflineQueue: false,
  retryStrategy: () => INTERVAL_MS,
};
const session = new Redis(env('REDIS_SESSION_URL', 'redis://127.0.0.1:6379'), redisOptions);
const cache = new Redis(env('REDIS_CACHE_URL', 'redis://127.0.0.1:6380'), redisOptions);
for (const r of [session, cache]) r.on('error', () => {});

// One kept connection, as vigil keeps one.
const pool = new pg.Pool({
  host: env('PG_HOST', '127.0.0.1'),
  port: Number(env('PG_PORT', '5432')),
  database: env('PG_DATABASE', 'postgres'),
  user: env('PG_USER', 'postgres'),
  max: 1,
  idleTimeoutMillis: 0,
  connectionTimeoutMillis: TIMEOUT_MS,
  query_timeout: TIMEOUT_MS,
  application_name: 'lightship-peer',
});
pool.on('error', () => {});

const withDeadline = (promise) =>
  new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timeout after ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
    promise.then(
      (v) => { clearTimeout(t); resolve(v); },
      (e) => { clearTimeout(t); reject(e); },
    );
  });

const tcpConnect = (host, port) =>
  new Promise((resolve, reject) => {
    const s = net.connect({ host, port });
    s.once('connect', () => { s.destroy(); resolve(); });
    s.once('error', (e) => { s.destroy(); reject(e); });
  });

const checks = [
  { name: 'redis-session', required: true, run: () => session.ping() },
  { name: 'redis-cache', required: false, run: () => cache.ping() },
  { name: 'db', required: true, run: () => pool.query('SELECT 1') },
  {
    name: 'app',
    required: true,
    run: () => tcpConnect(env('APP_HOST', '127.0.0.1'), Number(env('APP_PORT', '3000'))),
  },
].map((c) => ({ ...c, failures: UNHEALTHY_THRESHOLD, inFlight: false }));

const evaluate = () => {
  const down = checks.some((c) => c.required && c.failures >= UNHEALTHY_THRESHOLD);
  if (down && lightship.isServerReady()) lightship.signalNotReady();
  if (!down && !lightship.isServerReady()) lightship.signalReady();
};

const runCheck = async (c) => {
  if (c.inFlight) return; // at most one run in flight, as vigil
  c.inFlight = true;
  try {
    await withDeadline(Promise.resolve().then(c.run));
    c.failures = 0;
  } catch {
    c.failures += 1;
  } finally {
    c.inFlight = false;
    evaluate();
  }
};

const tick = () => { for (const c of checks) runCheck(c); };
tick();
const timer = setInterval(tick, INTERVAL_MS);

lightship.registerShutdownHandler(async () => {
  clearInterval(timer);
  session.disconnect();
  cache.disconnect();
  await pool.end().catch(() => {});
});
