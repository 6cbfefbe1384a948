// Example MCP-style worker: JSON-RPC 2.0 over POST. Each tool call is authenticated through the
// AUTH_SERVICE binding and each tool maps to one `resource:action` permission, checked per call.
// `tools/list` shows only the tools the caller may use.
/** @typedef {import('../../types/auth-service').AuthService} AuthService */

export const TOOLS = {
  list_documents: { resource: 'documents', action: 'read', description: 'List documents' },
  create_document: { resource: 'documents', action: 'write', description: 'Create a document' },
  delete_document: { resource: 'documents', action: 'delete', description: 'Delete a document' },
};

const rpcError = (id, status, code, message) =>
  Response.json({ jsonrpc: '2.0', id: id ?? null, error: { code, message } }, { status });
const rpcResult = (id, result) => Response.json({ jsonrpc: '2.0', id, result });

export default {
  /** @param {Request} request @param {{AUTH_SERVICE: AuthService}} env */
  async fetch(request, env) {
    if (request.method !== 'POST') return rpcError(null, 405, -32600, 'POST a JSON-RPC request');
    let call;
    try {
      call = await request.json();
    } catch {
      return rpcError(null, 400, -32700, 'Parse error');
    }
    const { id, method, params } = call ?? {};

    const header = request.headers.get('authorization') ?? '';
    const token = /^Bearer \S+$/i.test(header) ? header.slice(7).trim() : null;
    const auth = token ? await env.AUTH_SERVICE.validateToken(token) : { valid: false, error: 'unauthenticated' };
    if (!auth.valid) return rpcError(id, 401, -32001, `Unauthorized: ${auth.error}`);

    const may = (tool) =>
      env.AUTH_SERVICE.checkPermission({
        userId: auth.user.id,
        resource: tool.resource,
        action: tool.action,
        organizationId: auth.user.organizationId ?? undefined,
        scopes: auth.apiKey?.scopes ?? undefined,
      });

    if (method === 'tools/list') {
      const visible = [];
      for (const [name, tool] of Object.entries(TOOLS)) if (await may(tool)) visible.push({ name, description: tool.description });
      return rpcResult(id, { tools: visible });
    }
    if (method === 'tools/call') {
      const tool = TOOLS[params?.name];
      if (!tool) return rpcError(id, 404, -32602, `Unknown tool: ${String(params?.name).slice(0, 64)}`);
      if (!(await may(tool))) return rpcError(id, 403, -32003, `Forbidden: needs ${tool.resource}:${tool.action}`);
      return rpcResult(id, { content: [{ type: 'text', text: `${params.name} ran for ${auth.user.id}` }] });
    }
    return rpcError(id, 404, -32601, 'Method not found');
  },
};
