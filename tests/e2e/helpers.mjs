// Small helpers shared by the end-to-end suites: JSON error assertions and JWT building blocks
// (the tests forge tokens independently of the worker's code, with node:crypto).
import assert from 'node:assert/strict';
import { createHash, createHmac, createPrivateKey, createPublicKey, randomBytes, sign as cryptoSign } from 'node:crypto';

/** The signing secrets the harness gives the worker (JWT_SECRET, JWT_REFRESH_SECRET). */
export const TEST_JWT_SECRET = 'test-access-secret-that-is-long-enough-0001';
export const TEST_JWT_REFRESH_SECRET = 'test-refresh-secret-that-is-long-enough-0002';
/** Ed25519 seeds (base64url, 32 bytes) for JWT_SIGNING_KEY and its rotation partners. */
export const TEST_SIGNING_KEY = Buffer.alloc(32, 0x11).toString('base64url');
export const TEST_SIGNING_KEY_2 = Buffer.alloc(32, 0x22).toString('base64url');
export const TEST_SIGNING_KEY_3 = Buffer.alloc(32, 0x33).toString('base64url');

/**
 * An Ed25519 key from its base64url seed, computed with node:crypto (independently of the worker):
 * the private KeyObject, the public JWK and its RFC 7638 thumbprint (the `kid` the worker uses).
 */
export function ed25519(seed) {
  const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.from(seed, 'base64url')]);
  const privateKey = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  const { x } = createPublicKey(privateKey).export({ format: 'jwk' });
  const kid = createHash('sha256').update(`{"crv":"Ed25519","kty":"OKP","x":"${x}"}`).digest('base64url');
  return { privateKey, x, kid };
}

/** `header`.`payload` signed with an Ed25519 KeyObject; the header is used exactly as given. */
export function forgeEdDSA(header, payload, privateKey) {
  const input = `${b64u(header)}.${b64u(payload)}`;
  return `${input}.${cryptoSign(null, Buffer.from(input), privateKey).toString('base64url')}`;
}

export const nowSecs = () => Math.floor(Date.now() / 1000);
/** The stand-in's ids for its seed data, e.g. seedId('org', 'ACME'). */
export { seedId } from '../fixtures/workos-standin/util.mjs';
export const sha256hex = (s) => createHash('sha256').update(s).digest('hex');
export const b64u = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
/** Part `i` (0 header, 1 claims) of a JWT, decoded. */
export const jwtPart = (jwt, i) => JSON.parse(Buffer.from(jwt.split('.')[i], 'base64url').toString('utf8'));
/** The `kid` the worker puts in tokens signed with `secret` (see domain::token). */
export const kidOf = (secret) => createHash('sha256').update(`auth-worker kid v1:${secret}`).digest('hex').slice(0, 16);

/** The header the worker puts on HS256 access tokens (domain::token, member order included), with `over` replacing fields. */
export const accessHeader = (over = {}) => ({ alg: 'HS256', kid: kidOf(TEST_JWT_SECRET), typ: 'at+jwt', ...over });
/** The header the worker puts on refresh tokens, with `over` replacing fields. */
export const refreshHeader = (over = {}) => ({ alg: 'HS256', kid: kidOf(TEST_JWT_REFRESH_SECRET), typ: 'rt+jwt', ...over });

/** Signs `header`.`payload` with HMAC (sha256 unless told); the header is used exactly as given. */
export function forge(header, payload, secret, hash = 'sha256') {
  const input = `${b64u(header)}.${b64u(payload)}`;
  return `${input}.${createHmac(hash, secret).update(input).digest('base64url')}`;
}

export async function readJson(res) {
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch {
    return assert.fail(`expected JSON, got ${res.status}: ${text.slice(0, 300)}`);
  }
}

/**
 * Asserts the error contract: status, code, a sentence, and no caching. Returns the body. `res` is a
 * Response, or a reply of env.call (it has the same status, headers and text()). Always await it.
 */
export async function expectError(res, status, code, what = '') {
  const b = await readJson(res);
  assert.equal(res.status, status, `${what} expected ${status} ${code}, got ${res.status} ${JSON.stringify(b)}`);
  assert.equal(b.error, code, `${what} expected ${code}, got ${JSON.stringify(b)}`);
  assert.equal(typeof b.error_description, 'string');
  assert.ok(b.error_description.length > 0);
  assert.equal(res.headers.get('cache-control'), 'no-store');
  return b;
}

// The API key format, rebuilt independently: prefix + 32 base62 + base62(CRC-32/IEEE(prefix+body), 6).
const B62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
function crc32(str) {
  let crc = 0xffffffff;
  for (const byte of Buffer.from(str, 'utf8')) {
    crc ^= byte;
    for (let i = 0; i < 8; i++) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1));
  }
  return (crc ^ 0xffffffff) >>> 0;
}
function base62Fixed(n, len) {
  let v = BigInt(n);
  let out = '';
  for (let i = 0; i < len; i++) {
    out = B62[Number(v % 62n)] + out;
    v /= 62n;
  }
  return out;
}
export const checksum = (prefix, body) => base62Fixed(crc32(prefix + body), 6);
export function randomBody() {
  return [...randomBytes(32)].map((b) => B62[b % 62]).join('');
}
/** A key with a correct checksum that the worker never issued. */
export function forgeKey(prefix = 'sk_live_', body = randomBody()) {
  return prefix + body + checksum(prefix, body);
}
