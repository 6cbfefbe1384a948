// The floor of the benchmark: an RPC entrypoint whose validateToken does nothing but answer a
// constant of the same shape as the auth worker's answer. Everything above its cost is the work of
// whatever is measured against it.
import { WorkerEntrypoint } from 'cloudflare:workers';

const ANSWER = {
  valid: true,
  user: { id: 'usr_floor', email: 'floor@example.test', role: 'user', organizationId: null },
  session: { id: 'ses_floor', expiresAt: '2030-01-01T00:00:00Z' },
};

export default class Floor extends WorkerEntrypoint {
  validateToken() {
    return ANSWER;
  }
}
