// Generates an Ed25519 signing key for access tokens and prints the `wrangler secret put` line that
// stores it. The key is the 32-byte seed in base64url (what JWT_SIGNING_KEY takes; a PKCS#8 PEM from
// `openssl genpkey -algorithm ed25519` works too). Nothing is written to disk.
//
//   npm run keygen                          # for JWT_SIGNING_KEY
//   npm run keygen -- JWT_SIGNING_KEY_NEXT  # the next key of a rotation (README "Rotating the signing key")
import { createHash, generateKeyPairSync } from 'node:crypto';

const name = process.argv[2] ?? 'JWT_SIGNING_KEY';
if (!/^JWT_SIGNING_KEY(_NEXT|_PREVIOUS)?$/.test(name)) {
  console.error(`keygen: ${name} is not JWT_SIGNING_KEY, JWT_SIGNING_KEY_NEXT or JWT_SIGNING_KEY_PREVIOUS`);
  process.exit(2);
}
const { privateKey } = generateKeyPairSync('ed25519');
const { d, x } = privateKey.export({ format: 'jwk' });
// RFC 7638: the kid the worker will publish for this key in /.well-known/jwks.json.
const kid = createHash('sha256').update(`{"crv":"Ed25519","kty":"OKP","x":"${x}"}`).digest('base64url');
console.error(`# ${name}: Ed25519, kid ${kid}`);
console.log(`printf '%s' '${d}' | npx wrangler secret put ${name}`);
