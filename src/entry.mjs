// The worker's entry module: its default entrypoint, written by hand over the WASM exports
// (src/lib.rs, src/rpc.rs) so that it holds exactly what callers may reach and nothing between them
// and the Rust code. `fetch` serves HTTP, `scheduled` the cron trigger (src/lib.rs refuses any other
// caller), and the rest are the AUTH_SERVICE methods of types/auth-service.d.ts: a bound worker can
// call these and no other name. Must hold no rules of its own.
import { WorkerEntrypoint } from 'cloudflare:workers';
import * as wasm from '../build/wb/index.js';

// A trap (WebAssembly.RuntimeError: a panic or an out-of-bounds access) leaves the module's memory
// in an unknown state. The call that trapped fails; the next call starts the module over first. (The
// `worker` crate's panic hook also raises `criticalError` in the state it keeps on globalThis.)
let trapped = false;

function restartIfTrapped() {
  const state = globalThis.__worker_init_state;
  if (trapped || state?.criticalError) {
    trapped = false;
    if (state) state.criticalError = false;
    ANSWERS.clear();
    wasm.__wbg_reset_state();
  }
}

// validateToken runs on every request of every sibling worker, so its answers are kept here, in
// front of the WASM boundary: a credential asked about again gets the same answer from a Map, as
// long as the Rust side said it may (`until`: the earlier of the credential's expiry and the end of
// the revocation bound of what it read, see Identity::fresh_until) and nothing changed in this
// isolate since (src/platform.rs bumps the generation whenever a session is revoked or a key or user
// changes here). Only valid answers are kept; at most MAX_ANSWERS of them.
const ANSWERS = new Map(); // audience ('' = the default one) -> Map(credential -> {answer, until, generation})
const MAX_ANSWERS = 10000;
let answerCount = 0;
const generation = () => globalThis.__auth_answer_generation ?? 0;

function remembered(token, audience) {
  const hit = ANSWERS.get(audience)?.get(token);
  return hit && hit.generation === generation() && Date.now() < hit.until ? hit.answer : undefined;
}

function remember(token, audience, answer, until, seenGeneration) {
  if (answerCount >= MAX_ANSWERS) {
    ANSWERS.clear();
    answerCount = 0;
  }
  let forAudience = ANSWERS.get(audience);
  if (!forAudience) ANSWERS.set(audience, (forAudience = new Map()));
  if (!forAudience.has(token)) answerCount++;
  forAudience.set(token, { answer, until, generation: seenGeneration });
}

function noteTrap(e) {
  if (e instanceof WebAssembly.RuntimeError || (e instanceof Error && e.message === 'Module terminated')) {
    console.error(JSON.stringify({ level: 'error', msg: 'wasm trapped; restarting the module', error: String(e && e.message) }));
    trapped = true;
  }
  throw e;
}

/** Calls a WASM export with the trap handling above, for a sync or async result. */
function call(f, ...args) {
  restartIfTrapped();
  try {
    const result = f(...args);
    return result instanceof Promise ? result.catch(noteTrap) : result;
  } catch (e) {
    return noteTrap(e);
  }
}

export default class AuthWorker extends WorkerEntrypoint {
  fetch(request) {
    return call(wasm.fetch, request, this.env, this.ctx);
  }

  scheduled(controller) {
    return call(wasm.scheduled, controller, this.env, this.ctx);
  }

  validateToken(token, options) {
    // Only a plain string token and no options or a string audience are looked up; anything else
    // goes to the Rust side, which answers it (usually with invalid_request).
    const audience = options == null ? '' : typeof options.audience === 'string' ? options.audience : undefined;
    const cacheable = typeof token === 'string' && audience !== undefined;
    if (cacheable) {
      const answer = remembered(token, audience);
      if (answer) return answer;
    }
    const seenGeneration = generation();
    return call(wasm.validateToken, token, options).then(([answer, until]) => {
      if (cacheable && answer.valid === true && until > Date.now()) remember(token, audience, answer, until, seenGeneration);
      return answer;
    });
  }

  checkPermission(query) {
    return call(wasm.checkPermission, query);
  }

  createApiKey(params) {
    return call(wasm.createApiKey, params);
  }

  revokeApiKey(userId, keyId) {
    return call(wasm.revokeApiKey, userId, keyId);
  }

  refreshSession(refreshToken) {
    return call(wasm.refreshSession, refreshToken);
  }

  revokeSession(sessionId) {
    return call(wasm.revokeSession, sessionId);
  }

  createSession(params) {
    return call(wasm.createSession, params);
  }

  checkMcpRequest(query) {
    return call(wasm.checkMcpRequest, query);
  }

  getResourceMetadata(resource) {
    return call(wasm.getResourceMetadata, resource);
  }

  getWorkOSAuthURL(redirectUri, state) {
    return call(wasm.getWorkOSAuthURL, redirectUri, state);
  }

  exchangeWorkOSCode(code, state) {
    return call(wasm.exchangeWorkOSCode, code, state);
  }
}
