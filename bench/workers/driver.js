// The benchmark's driver, inside workerd: calls `validateToken` on one of its bindings in a tight
// sequential loop and times it. workerd's clocks tick in whole milliseconds and advance only across
// I/O (each RPC call is I/O), so the loop times batches of calls, not single calls.
export default {
  async fetch(req, env) {
    const { target, tokens, n, batch, options } = await req.json();
    const svc = env[target];
    let failures = 0;
    let lastError = null;
    const batches = [];
    const started = performance.now();
    let batchStart = started;
    for (let i = 0; i < n; i++) {
      const r = options ? await svc.validateToken(tokens[i % tokens.length], options) : await svc.validateToken(tokens[i % tokens.length]);
      if (r.valid !== true) {
        failures++;
        lastError = r.error;
      }
      if ((i + 1) % batch === 0) {
        const now = performance.now();
        batches.push((now - batchStart) / batch);
        batchStart = now;
      }
    }
    const totalMs = performance.now() - started;
    return Response.json({ totalMs, batches, failures, lastError });
  },
};
