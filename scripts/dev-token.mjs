// `npm run token [-- <email>] [-- --no-org]`: signs a seeded user in through the WorkOS stand-in of a
// running `npm run dev`, the way a browser does (/login, the stand-in's sign-in form, /auth/callback with
// the flow cookie), asks the callback for JSON, and prints the access token, the refresh token and ready
// curl lines. Development only: it refuses any origin that is not on this machine.
//
//   npm run token                        # Ada Lovelace, admin of Acme Corp (an organization-scoped session)
//   npm run token -- alan@example.test   # another seeded (or stand-in signed-up) user
//   npm run token -- grace@acme.test --no-org
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { devOrigins } from './dev-vars.mjs';

const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * Signs `email` in (in their first active organization unless `org` is false) and resolves
 * {token, refreshToken, user, organization}. `origin`: the worker; `standin`: the WorkOS stand-in.
 */
export async function devToken({ origin, standin, email = 'ada@acme.test', org = true }) {
  for (const u of [origin, standin]) {
    if (!LOCAL_HOSTS.has(new URL(u).hostname)) throw new Error(`${u} is not on this machine: the token helper is for development only`);
  }
  const state = await (await fetch(`${standin}/__standin/state`)).json();
  const user = state.users.find((u) => u.email === email.toLowerCase());
  if (!user) throw new Error(`the stand-in has no user ${email}; seeded: ${state.users.map((u) => u.email).join(', ')}`);
  const membership = org ? state.memberships.find((m) => m.user_id === user.id && m.status === 'active') : undefined;

  const start = await fetch(`${origin}/login`, { redirect: 'manual' });
  if (start.status !== 302) throw new Error(`${origin}/login answered ${start.status}: ${await start.text()}`);
  const flowCookie = start.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  const authorize = new URL(start.headers.get('location'));
  // What the stand-in's sign-in page posts when the person clicks this user.
  const form = new URLSearchParams(authorize.searchParams);
  form.set('standin_action', `signin:${user.id}:${membership?.organization_id ?? ''}`);
  const chosen = await fetch(`${standin}/__standin/authorize/complete`, {
    method: 'POST', body: form, redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
  const callback = chosen.headers.get('location');
  if (chosen.status !== 302 || !callback) throw new Error(`the stand-in answered ${chosen.status}: ${await chosen.text()}`);
  const signedIn = await fetch(callback, { headers: { cookie: flowCookie, accept: 'application/json' }, redirect: 'manual' });
  const body = await signedIn.json();
  if (signedIn.status !== 200) throw new Error(`the callback answered ${signedIn.status}: ${JSON.stringify(body)}`);
  const organization = membership && state.organizations.find((o) => o.id === membership.organization_id);
  return { ...body, organization: organization?.name ?? null };
}

const isCli = Boolean(process.argv[1]) && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isCli) {
  const args = process.argv.slice(2);
  const email = args.find((a) => !a.startsWith('--')) ?? 'ada@acme.test';
  const { origin, standin } = devOrigins();
  let got;
  try {
    got = await devToken({ origin, standin, email, org: !args.includes('--no-org') });
  } catch (e) {
    const down = e.cause?.code === 'ECONNREFUSED';
    console.error(down ? `Nothing answers at ${origin} or ${standin}: start \`npm run dev\` first, then run npm run token again.` : `npm run token: ${e.message}`);
    process.exit(1);
  }
  const who = `${got.user.name ?? got.user.email} <${got.user.email}>${got.organization ? `, in ${got.organization}` : ''}`;
  console.log(`Signed in ${who} through the WorkOS stand-in (a development session).

ACCESS_TOKEN=${got.token}
REFRESH_TOKEN=${got.refreshToken}

# the access token lasts ACCESS_TOKEN_TTL_SECONDS (15 minutes by default):
curl ${origin}/auth/me -H "Authorization: Bearer ${got.token}"
# a new pair from the refresh token (each refresh token works once):
curl -X POST ${origin}/auth/refresh -H 'content-type: application/json' -d '{"refreshToken":"${got.refreshToken}"}'
# an API key (development keys are sk_test_):
curl -X POST ${origin}/apikeys -H "Authorization: Bearer ${got.token}" -H 'content-type: application/json' -d '{"name":"dev"}'`);
}
