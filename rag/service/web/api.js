// Calls to the server's JSON API (same origin). The token, when the server asks for one, is kept in
// this tab's sessionStorage and sent as `Authorization: Bearer`, never in a URL.

const TOKEN_KEY = "rag-token";

export class NeedsToken extends Error {}

export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

export function setToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

function headersWith(accept) {
  const headers = { Accept: accept };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = `Bearer ${token}`;
  return headers;
}

function documentPath(source) {
  return source.split("/").map(encodeURIComponent).join("/");
}

// An error response as ApiError (NeedsToken for 401, the token forgotten).
async function failure(response) {
  let data = null;
  try {
    data = await response.json();
  } catch (e) {
    data = null;
  }
  if (response.status === 401) {
    setToken(null);
    return new NeedsToken(data && data.error ? data.error : "this server needs its token");
  }
  const message = data && typeof data.error === "string" ? data.error : `the server answered ${response.status}`;
  return new ApiError(message, response.status);
}

// The original file of `source` (GET /files/...): { blob, type } (type without its parameters).
async function file(source) {
  let response;
  try {
    response = await fetch(`/files/${documentPath(source)}`, {
      headers: headersWith("*/*"), cache: "no-store", credentials: "same-origin", redirect: "error",
    });
  } catch (e) {
    throw new ApiError("cannot reach the server: is `rag serve` still running?", 0);
  }
  if (!response.ok) throw await failure(response);
  const type = (response.headers.get("Content-Type") || "").split(";")[0].trim().toLowerCase();
  return { blob: await response.blob(), type };
}

async function call(method, path, body) {
  const headers = headersWith("application/json");
  const init = { method, headers, cache: "no-store", credentials: "same-origin", redirect: "error" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (e) {
    throw new ApiError("cannot reach the server: is `rag serve` still running?", 0);
  }
  if (!response.ok) throw await failure(response);
  try {
    return await response.json();
  } catch (e) {
    return null;
  }
}

export const api = {
  search: (request) => call("POST", "/search", request),
  status: () => call("GET", "/status"),
  update: () => call("POST", "/index", {}),
  document: (source, start, end, page) => {
    const q = new URLSearchParams({ start: String(start), end: String(end) });
    if (page !== null && page !== undefined) q.set("page", String(page));
    return call("GET", `/documents/${documentPath(source)}?${q}`);
  },
  file,
};
