// Serves examples/browser-app/index.html on http://localhost:3000 (PORT to change it), the second origin
// of the README's first hour. Only node: built-ins.
import http from 'node:http';
import { readFileSync } from 'node:fs';

const page = readFileSync(new URL('./index.html', import.meta.url));
const port = Number(process.env.PORT ?? 3000);

/** Starts the server; resolves it once listening. */
export function serveApp(listenPort = port, host = '127.0.0.1') {
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(page);
  });
  return new Promise((resolve) => server.listen(listenPort, host, () => resolve(server)));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const server = await serveApp();
  console.log(`browser app on http://localhost:${server.address().port} (its origin must be in ALLOWED_RETURN_ORIGINS)`);
}
