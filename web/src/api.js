// The gateway's REST API, as the CLI uses it, with the browser's session:
// the __Host- cookie (HttpOnly: this page never sees it) and, on every
// request that changes state, the session's CSRF token. The browser adds
// Origin itself.
export class ApiError extends Error {
  constructor(status, problem, retryAfter) {
    super(problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
    this.retryAfter = retryAfter;
  }
}

export function csrfToken() {
  return sessionStorage.getItem("xgw.csrf") || "";
}

export function setCsrfToken(token) {
  if (token) sessionStorage.setItem("xgw.csrf", token);
  else sessionStorage.removeItem("xgw.csrf");
}

export async function api(method, path, body) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers["X-CSRF-Token"] = csrfToken();
  const r = await fetch(path, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  let doc = {};
  try {
    doc = text ? JSON.parse(text) : {};
  } catch {
    doc = {};
  }
  if (!r.ok) throw new ApiError(r.status, doc, Number(r.headers.get("Retry-After")) || 0);
  return doc;
}
