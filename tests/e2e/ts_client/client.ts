// A minimal axios-like `apiClient` for the seed 002 `assignmentsApi` client
// (assignments.ts, copied unmodified from the seed). It implements just what that
// client uses -- `get(url)` and `post(url, body?)` resolving to `{ data }` -- with
// the global `fetch` of Node >= 18, and throws on any non-2xx answer, as axios does.
//
// The base URL comes from the LEDGER_API_URL environment variable; the bearer token
// (if any) from LEDGER_API_TOKEN.

declare const process: { env: Record<string, string | undefined> };

export interface ApiResponse<T = any> {
  data: T;
  status: number;
  headers: Record<string, string>;
}

export class ApiError extends Error {
  constructor(
    public readonly method: string,
    public readonly url: string,
    public readonly status: number,
    public readonly body: unknown,
  ) {
    super(`${method} ${url} -> HTTP ${status}: ${JSON.stringify(body)}`);
    this.name = 'ApiError';
  }
}

function baseUrl(): string {
  const url = process.env.LEDGER_API_URL;
  if (!url) {
    throw new Error('LEDGER_API_URL is not set (e.g. http://127.0.0.1:8000)');
  }
  return url.replace(/\/+$/, '');
}

async function request<T>(method: string, path: string, body?: unknown): Promise<ApiResponse<T>> {
  const url = baseUrl() + path;
  const token = process.env.LEDGER_API_TOKEN;
  const init: RequestInit = {
    method,
    headers: token
      ? { Accept: 'application/json', Authorization: `Bearer ${token}` }
      : { Accept: 'application/json' },
  };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { ...init.headers, 'Content-Type': 'application/json' };
  }
  const response = await fetch(url, init);
  const text = await response.text();
  let data: any = text;
  if (text.length > 0) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!response.ok) {
    throw new ApiError(method, path, response.status, data);
  }
  const headers: Record<string, string> = {};
  response.headers.forEach((value, key) => {
    headers[key] = value;
  });
  return { data: data as T, status: response.status, headers };
}

export const apiClient = {
  get: <T = any>(path: string): Promise<ApiResponse<T>> => request<T>('GET', path),
  post: <T = any>(path: string, body?: unknown): Promise<ApiResponse<T>> =>
    request<T>('POST', path, body),
};
