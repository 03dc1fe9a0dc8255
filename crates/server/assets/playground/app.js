// agenthost playground: a chat page for the server that serves it.
//
// Plain JavaScript, no build step, no dependencies. It talks only to this origin (the page's CSP
// says connect-src 'self'): POST /responses (streamed, SSE), POST /responses/{id}/cancel and
// GET /readiness. Server data is only ever put in the page with textContent, never as HTML.
//
// The consent loop follows the integration plan app builders use: each oauth_consent_request is
// a "Sign in to <label>" button that opens the link in a popup; when the popup closes (or the
// sign-in page posts a message back) the same prompt is re-sent once, on its own. If the same
// consent comes back after a re-send, the loop stops and says why instead of asking forever.
"use strict";

(() => {
  /** Re-sends allowed per source before the loop is called a loop (agenthost chat's default). */
  const MAX_CONSENT_RETRIES = 1;
  /** How often a popup is checked for having closed (cross-origin windows send no event). */
  const POPUP_POLL_MS = 250;
  /** How often the toolbox panel re-reads /readiness. */
  const READINESS_POLL_MS = 5000;

  const $ = (id) => document.getElementById(id);
  const ui = {
    transcript: $("transcript"),
    hint: $("empty-hint"),
    form: $("composer"),
    prompt: $("prompt"),
    send: $("send"),
    stop: $("stop"),
    picker: $("user-picker"),
    custom: $("custom-user"),
    fresh: $("new-conversation"),
    toolboxes: $("toolboxes"),
    readiness: $("readiness"),
    refresh: $("refresh"),
  };

  const state = {
    /** Id of the response the conversation continues from (previous_response_id). */
    previous: null,
    /** The request being streamed: { controller, id, user }. */
    current: null,
    /** What the page waits on (a sign-in or an approval): { cancel() }. */
    pending: null,
    /** Tool cards by call id (a call's output can arrive in a later response). */
    cards: new Map(),
    /** Bumped by "new conversation" so late events of an old one are dropped. */
    epoch: 0,
  };

  // ---- small helpers -------------------------------------------------------------------------

  function el(tag, attrs = {}, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v !== undefined && v !== null) node.setAttribute(k, v);
    }
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function append(node) {
    ui.hint.hidden = true;
    ui.transcript.append(node);
    node.scrollIntoView({ block: "end" });
    return node;
  }

  function note(text, testid = "note") {
    return append(el("li", { class: "note", "data-testid": testid }, text));
  }

  function showError(code, message) {
    const li = el("li", { class: "error", "data-testid": "error", "data-code": code, role: "alert" });
    li.append(el("strong", { class: "code" }, code), " ", el("span", { class: "detail" }, message || ""));
    return append(li);
  }

  function pretty(json) {
    if (typeof json !== "string") return JSON.stringify(json, null, 2);
    try {
      return JSON.stringify(JSON.parse(json), null, 2);
    } catch {
      return json;
    }
  }

  /** A fresh, unguessable call id. The user prefix lets the mock proxy tell users apart. */
  function callId(user) {
    const bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    return `${user}:${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
  }

  function currentUser() {
    if (ui.picker.value !== "custom") return ui.picker.value;
    return ui.custom.value.trim();
  }

  function headers(user) {
    return {
      "content-type": "application/json",
      accept: "text/event-stream",
      "x-agent-user-id": user,
      "x-agent-foundry-call-id": callId(user),
    };
  }

  /** `{code, message}` of a failed HTTP answer (the server's error envelope, else the status). */
  async function httpError(resp) {
    const text = await resp.text().catch(() => "");
    try {
      const body = JSON.parse(text);
      const e = body.error || body;
      if (e && (e.code || e.message)) return { code: String(e.code || `http_${resp.status}`), message: String(e.message || "") };
    } catch {
      // not JSON: fall through
    }
    return { code: `http_${resp.status}`, message: text.slice(0, 500) || resp.statusText };
  }

  function setBusy(busy) {
    ui.send.disabled = busy;
    ui.stop.hidden = !busy;
    ui.form.setAttribute("aria-busy", busy ? "true" : "false");
  }

  function cancelPending() {
    if (state.pending) {
      const p = state.pending;
      state.pending = null;
      p.cancel();
    }
  }

  // ---- SSE -----------------------------------------------------------------------------------

  /** Yields `{event, data}` for each server-sent event of a fetch Response body. */
  async function* sse(body) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    let event = "";
    let data = [];
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      let nl;
      // A trailing "\r" may be the first half of "\r\n": keep it for the next chunk.
      while ((nl = buf.search(/\r\n|\n|\r(?=.)/s)) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + (buf.startsWith("\r\n", nl) ? 2 : 1));
        if (line === "") {
          if (data.length) yield { event: event || "message", data: data.join("\n") };
          event = "";
          data = [];
        } else if (line.startsWith(":")) {
          // comment (keep-alive)
        } else {
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          let value2 = colon < 0 ? "" : line.slice(colon + 1);
          if (value2.startsWith(" ")) value2 = value2.slice(1);
          if (field === "event") event = value2;
          else if (field === "data") data.push(value2);
        }
      }
    }
    if (data.length) yield { event: event || "message", data: data.join("\n") };
  }

  // ---- rendering one response ----------------------------------------------------------------

  /** Renders the items of one response as its events arrive; collects what needs the person. */
  class Turn {
    constructor(user) {
      this.user = user;
      this.id = null;
      this.response = null;
      this.messages = new Map(); // item id -> text element
      this.argsOf = new Map(); // item id -> call key (function_call / mcp_call arguments)
      this.consents = []; // { label, link }
      this.approvals = []; // mcp_approval_request items
      this.streamError = null;
    }

    onEvent(ev) {
      switch (ev.type) {
        case "response.created":
        case "response.in_progress":
        case "response.queued":
          if (ev.response && ev.response.id) this.id = ev.response.id;
          if (state.current && this.id) state.current.id = this.id;
          break;
        case "response.output_item.added":
          this.itemAdded(ev.item || {});
          break;
        case "response.output_item.done":
          this.itemDone(ev.item || {});
          break;
        case "response.output_text.delta": {
          const t = this.messages.get(ev.item_id);
          if (t) t.textContent += ev.delta || "";
          break;
        }
        case "response.output_text.done": {
          const t = this.messages.get(ev.item_id);
          if (t && typeof ev.text === "string") t.textContent = ev.text;
          break;
        }
        case "response.function_call_arguments.delta":
        case "response.mcp_call_arguments.delta": {
          const card = state.cards.get(this.argsOf.get(ev.item_id));
          if (card) card.args.textContent += ev.delta || "";
          break;
        }
        case "response.function_call_arguments.done":
        case "response.mcp_call_arguments.done": {
          const card = state.cards.get(this.argsOf.get(ev.item_id));
          if (card && typeof ev.arguments === "string") card.args.textContent = pretty(ev.arguments);
          break;
        }
        case "response.completed":
        case "response.incomplete":
        case "response.failed":
          this.response = ev.response || {};
          if (this.response.id) this.id = this.response.id;
          return true;
        case "error":
          this.streamError = ev.error || ev;
          return true;
        default:
          break;
      }
      return false;
    }

    itemAdded(item) {
      if (item.type === "message" && item.role === "assistant") {
        this.messageElement(item);
      } else if (item.type === "function_call") {
        const card = toolCard(item.call_id, item.name, item.server_label);
        this.argsOf.set(item.id, item.call_id);
        if (item.arguments) card.args.textContent = pretty(item.arguments);
      } else if (item.type === "mcp_call") {
        const card = toolCard(item.id, item.name, item.server_label);
        this.argsOf.set(item.id, item.id);
        if (item.arguments) card.args.textContent = pretty(item.arguments);
      }
    }

    itemDone(item) {
      switch (item.type) {
        case "message": {
          if (item.role !== "assistant") break;
          const t = this.messages.get(item.id) || this.messageElement(item);
          const text = (item.content || []).map((c) => c.text || c.refusal || "").join("");
          if (text) t.textContent = text;
          break;
        }
        case "function_call": {
          const card = toolCard(item.call_id, item.name, item.server_label);
          card.args.textContent = pretty(item.arguments || "{}");
          break;
        }
        case "function_call_output": {
          const card = state.cards.get(item.call_id);
          const output = typeof item.output === "string" ? item.output : JSON.stringify(item.output);
          // Tool errors reach the model as output text starting "Error: " (the server's contract).
          if (card) finishCard(card, output, output.startsWith("Error: "));
          break;
        }
        case "mcp_call": {
          const card = toolCard(item.id, item.name, item.server_label);
          card.args.textContent = pretty(item.arguments || "{}");
          const error = item.error ? (typeof item.error === "string" ? item.error : JSON.stringify(item.error)) : null;
          finishCard(card, error || item.output || "", Boolean(error));
          break;
        }
        case "oauth_consent_request":
          if (item.consent_link && !this.consents.some((c) => c.link === item.consent_link)) {
            this.consents.push({ label: item.server_label || "the tool source", link: item.consent_link });
          }
          break;
        case "mcp_approval_request":
          this.approvals.push(item);
          break;
        case "mcp_list_tools":
          // Only a failed listing is worth a line: the response went on without those tools.
          if (item.error) {
            const error = typeof item.error === "string" ? item.error : JSON.stringify(item.error);
            note(`Tools of ${item.server_label || "a toolbox"} are unavailable for this response: ${error}`, "list-error");
          }
          break;
        default:
          break;
      }
    }

    messageElement(item) {
      const li = document.getElementById("tpl-message").content.firstElementChild.cloneNode(true);
      li.dataset.role = "assistant";
      if (this.id) li.dataset.responseId = this.id;
      li.querySelector(".who").textContent = "assistant";
      const text = li.querySelector(".text");
      if (item.id) this.messages.set(item.id, text);
      append(li);
      return text;
    }
  }

  /** The card of a tool call, created on first sight. */
  function toolCard(key, name, source) {
    let card = state.cards.get(key);
    if (!card) {
      const li = document.getElementById("tpl-tool-card").content.firstElementChild.cloneNode(true);
      card = {
        li,
        name: li.querySelector(".tool-name"),
        source: li.querySelector(".tool-source"),
        state: li.querySelector(".tool-state"),
        args: li.querySelector(".tool-args"),
        output: li.querySelector(".tool-output"),
      };
      li.dataset.callId = key;
      card.state.textContent = "running";
      state.cards.set(key, card);
      append(li);
    }
    if (name) {
      card.name.textContent = name;
      card.li.dataset.name = name;
    }
    if (source) {
      card.source.textContent = `via ${source}`;
      card.li.dataset.source = source;
    }
    return card;
  }

  function finishCard(card, output, failed) {
    card.output.textContent = output;
    card.li.dataset.status = failed ? "failed" : "completed";
    card.state.textContent = failed ? "failed" : "completed";
  }

  // ---- one request ---------------------------------------------------------------------------

  /** Sends one create request and renders its stream. Returns the Turn, or null when it failed
   *  before a response (the error is shown) or was stopped. */
  async function exchange(input, base, user) {
    const body = { input, stream: true };
    if (base) body.previous_response_id = base;
    const controller = new AbortController();
    const current = { controller, id: null, user };
    state.current = current;
    setBusy(true);
    const turn = new Turn(user);
    try {
      const resp = await fetch("/responses", {
        method: "POST",
        headers: headers(user),
        body: JSON.stringify(body),
        signal: controller.signal,
      });
      if (!resp.ok) {
        const e = await httpError(resp);
        showError(e.code, e.message);
        return null;
      }
      const type = resp.headers.get("content-type") || "";
      if (!type.includes("text/event-stream")) {
        // A server that ignored stream:true: render the finished response in one go.
        const json = await resp.json();
        turn.onEvent({ type: "response.created", response: json });
        for (const item of json.output || []) {
          turn.itemAdded(item);
          turn.itemDone(item);
        }
        turn.response = json;
        return turn;
      }
      for await (const { data } of sse(resp.body)) {
        let ev;
        try {
          ev = JSON.parse(data);
        } catch {
          continue;
        }
        if (turn.onEvent(ev)) break;
      }
      if (turn.streamError) {
        const e = turn.streamError;
        showError(String(e.code || "stream_error"), String(e.message || ""));
        return null;
      }
      if (!turn.response) {
        showError("stream_ended", "the stream ended before the response finished");
        return null;
      }
      return turn;
    } catch (err) {
      if (controller.signal.aborted) {
        note("Stopped: the response was cancelled.", "stopped");
      } else {
        showError("network_error", String(err && err.message ? err.message : err));
      }
      return null;
    } finally {
      if (state.current === current) state.current = null;
      setBusy(false);
      refreshToolboxes();
    }
  }

  /** Stop: drop the stream. The server cancels a run whose client went away (a synchronous
   *  response cannot be cancelled by id: it is not findable until it is stored), and a
   *  cancelled synchronous response is not kept, so the conversation goes on from the last
   *  finished one. */
  function stop() {
    if (state.current) state.current.controller.abort();
  }

  // ---- consent -------------------------------------------------------------------------------

  /** http(s) only, and plain http only on this machine (what the server accepts in demos). */
  function safeLink(link) {
    try {
      const url = new URL(link);
      if (url.protocol === "https:") return true;
      return url.protocol === "http:" && ["127.0.0.1", "localhost", "[::1]"].includes(url.hostname);
    } catch {
      return false;
    }
  }

  /** Shows one sign-in button per link; resolves true once each sign-in is over (popup closed,
   *  or the sign-in page posted back, or "I have signed in"), false if abandoned. */
  function signIn(consents) {
    return new Promise((resolve) => {
      const li = el("li", { class: "consent", "data-testid": "consent" });
      li.append(el("p", {}, "A tool needs you to sign in before it can run:"));
      const timers = [];
      const listeners = [];
      let left = consents.length;
      const finish = (ok) => {
        timers.forEach(clearInterval);
        listeners.forEach((l) => window.removeEventListener("message", l));
        if (state.pending === pending) state.pending = null;
        resolve(ok);
      };
      const pending = {
        cancel: () => {
          li.classList.add("abandoned");
          finish(false);
        },
      };
      const oneDone = (row, text) => {
        if (row.dataset.done) return;
        row.dataset.done = "true";
        row.querySelector(".status").textContent = text;
        row.querySelectorAll("button").forEach((b) => {
          b.disabled = true;
        });
        left -= 1;
        if (left === 0) finish(true);
      };
      consents.forEach(({ label, link }, n) => {
        const row = el("div", { class: "consent-row" });
        const button = el("button", { type: "button", "data-testid": "consent-button", "data-label": label }, `Sign in to ${label}`);
        const status = el("span", { class: "status", role: "status" });
        row.append(button, " ", status);
        li.append(row);
        if (!safeLink(link)) {
          button.disabled = true;
          status.textContent = "The sign-in link is not http(s) on a trusted host; not opened.";
          left -= 1;
          return;
        }
        button.addEventListener("click", () => {
          // Opened without noopener: the page must see the popup close (the integration plan).
          const popup = window.open(link, `agenthost-consent-${n}`, "popup,width=520,height=680");
          if (!popup) {
            fallback(row, link, () => oneDone(row, "Signed in (as you said)."));
            return;
          }
          status.textContent = "Waiting for the sign-in window to close…";
          const onMessage = (e) => {
            if (e.source === popup && e.data && e.data.type === "agenthost.consent") {
              oneDone(row, "Signed in.");
            }
          };
          listeners.push(onMessage);
          window.addEventListener("message", onMessage);
          timers.push(
            setInterval(() => {
              if (popup.closed) oneDone(row, "Sign-in window closed.");
            }, POPUP_POLL_MS),
          );
        });
      });
      append(li);
      if (left <= 0) {
        finish(false);
        return;
      }
      state.pending = pending;
      const first = li.querySelector("[data-testid=consent-button]:not([disabled])");
      if (first) first.focus();
    });
  }

  /** Popup blocked: a plain link and an "I have signed in" button. */
  function fallback(row, link, done) {
    if (row.querySelector("[data-testid=signed-in]")) return;
    const status = row.querySelector(".status");
    status.textContent = "The browser blocked the sign-in window. ";
    const a = el("a", { href: link, target: "_blank", rel: "noopener noreferrer", "data-testid": "consent-link" }, "Open the sign-in page");
    const button = el("button", { type: "button", "data-testid": "signed-in" }, "I have signed in");
    button.addEventListener("click", done);
    row.append(" ", a, " ", button);
    button.focus();
  }

  /** Counts, per source, responses in a row that asked for consent while one prompt is
   *  re-sent; returns the first source that asked more often than re-sends allow. */
  function recordAsks(asks, labels) {
    const unique = [...new Set(labels)];
    for (const k of [...asks.keys()]) if (!unique.includes(k)) asks.delete(k);
    let stop = null;
    for (const label of unique) {
      const n = (asks.get(label) || 0) + 1;
      asks.set(label, n);
      if (n > MAX_CONSENT_RETRIES && stop === null) stop = label;
    }
    return stop;
  }

  function loopStopped(label) {
    const li = el("li", { class: "error", "data-testid": "consent-loop", role: "alert" });
    li.append(
      el("strong", {}, `${label} still asks for consent after ${MAX_CONSENT_RETRIES} re-send(s); stopping instead of looping.`),
      el("p", {}, "Likely causes:"),
    );
    const causes = el("ul");
    for (const cause of [
      "the connection is missing scopes the tool needs (check the OAuth connection's scopes)",
      "the redirect URI is not registered with the OAuth app, so sign-in never completed",
      "consent was given in another account or tenant than the user the agent runs as",
      "the toolbox source fails right after consent (check the server and proxy logs)",
    ]) {
      causes.append(el("li", {}, cause));
    }
    li.append(causes);
    append(li);
  }

  // ---- approvals -----------------------------------------------------------------------------

  /** Approve / Deny per request; resolves with the mcp_approval_response items, or null. */
  function approve(requests) {
    return new Promise((resolve) => {
      const answers = new Map();
      const finish = (value) => {
        if (state.pending === pending) state.pending = null;
        resolve(value);
      };
      const pending = { cancel: () => finish(null) };
      for (const req of requests) {
        const li = el("li", { class: "approval", "data-testid": "approval", "data-name": req.name || "" });
        const what = el("p");
        what.append(el("strong", {}, req.name || "a tool"), ` (${req.server_label || "tool"}) wants to run with:`);
        const args = el("pre", {}, pretty(req.arguments || "{}"));
        const yes = el("button", { type: "button", "data-testid": "approve" }, "Approve");
        const no = el("button", { type: "button", "data-testid": "deny", class: "secondary" }, "Deny");
        const status = el("span", { class: "status", role: "status" });
        const decide = (ok) => {
          yes.disabled = true;
          no.disabled = true;
          status.textContent = ok ? "Approved." : "Denied.";
          li.dataset.decision = ok ? "approved" : "denied";
          answers.set(req.id, ok);
          if (answers.size === requests.length) {
            finish(requests.map((r) => ({ type: "mcp_approval_response", approval_request_id: r.id, approve: answers.get(r.id) })));
          }
        };
        yes.addEventListener("click", () => decide(true));
        no.addEventListener("click", () => decide(false));
        li.append(what, args, yes, " ", no, " ", status);
        append(li);
        for (const card of state.cards.values()) {
          if (card.li.dataset.status === "in_progress" && card.li.dataset.name === req.name) {
            card.state.textContent = "waiting for approval";
            if (req.server_label) toolCard(card.li.dataset.callId, null, req.server_label);
          }
        }
      }
      state.pending = pending;
      const first = ui.transcript.querySelector("[data-testid=approve]:not([disabled])");
      if (first) first.focus();
    });
  }

  // ---- the conversation loop -----------------------------------------------------------------

  /** Sends `input` and follows up (consent re-sends, approvals) until nothing more is needed. */
  async function ask(input) {
    const epoch = state.epoch;
    const user = currentUser();
    let base = state.previous;
    let asks = new Map();
    for (;;) {
      const turn = await exchange(input, base, user);
      if (!turn || epoch !== state.epoch) return;
      const r = turn.response;
      if (r.status === "cancelled") {
        note("Stopped: the response was cancelled.");
        return;
      }
      if (r.status === "failed") {
        const e = r.error || {};
        showError(String(e.code || "failed"), String(e.message || "the response failed"));
        return;
      }
      if (turn.consents.length) {
        const stopAt = recordAsks(asks, turn.consents.map((c) => c.label));
        if (stopAt) {
          loopStopped(stopAt);
          return;
        }
        const ok = await signIn(turn.consents);
        if (!ok || epoch !== state.epoch) return;
        note("Re-sending your message.", "resend");
        continue;
      }
      if (turn.approvals.length) {
        // The approval request is part of the history; the answer chains onto it.
        if (turn.id) state.previous = turn.id;
        const items = await approve(turn.approvals);
        if (!items || epoch !== state.epoch) return;
        base = state.previous;
        input = items;
        asks = new Map();
        continue;
      }
      if (r.status === "incomplete") {
        const reason = r.incomplete_details && r.incomplete_details.reason;
        note(`The response is incomplete${reason ? ` (${reason})` : ""}.`);
      }
      if (turn.id) state.previous = turn.id;
      return;
    }
  }

  async function submit() {
    const text = ui.prompt.value;
    if (!text.trim() || state.current) return;
    const user = currentUser();
    if (!user) {
      showError("no_user", "Pick a user or type a custom user id first.");
      ui.custom.focus();
      return;
    }
    cancelPending();
    ui.prompt.value = "";
    const li = document.getElementById("tpl-message").content.firstElementChild.cloneNode(true);
    li.dataset.role = "user";
    li.querySelector(".who").textContent = user;
    li.querySelector(".text").textContent = text;
    append(li);
    await ask(text);
    ui.prompt.focus();
  }

  function newConversation(reason) {
    state.epoch += 1;
    cancelPending();
    stop();
    state.previous = null;
    state.cards.clear();
    ui.transcript.replaceChildren();
    ui.hint.hidden = false;
    if (reason) note(reason);
    ui.prompt.focus();
  }

  // ---- toolbox panel -------------------------------------------------------------------------

  const STATE_TEXT = {
    Healthy: "Healthy",
    ConsentRequired: "Consent required (listed per user)",
    Degraded: "Degraded (listed per user, retrying)",
    Unhealthy: "Unhealthy",
    Pending: "Starting",
    NoEndpoint: "No project endpoint",
  };

  let readinessTimer = null;
  async function refreshToolboxes() {
    clearTimeout(readinessTimer);
    try {
      const resp = await fetch("/readiness", { cache: "no-store" });
      const body = await resp.json();
      ui.readiness.textContent = body.status || `http ${resp.status}`;
      ui.readiness.dataset.status = body.status || "";
      const rows = (body.toolboxes || []).map((t) => {
        const li = el("li", { class: "toolbox", "data-testid": "toolbox", "data-name": t.name, "data-state": t.state });
        li.append(el("span", { class: "name" }, t.name), " ", el("span", { class: `state state-${t.state}` }, STATE_TEXT[t.state] || t.state));
        const facts = [];
        if (t.state === "Healthy") facts.push(`${t.tools} tool${t.tools === 1 ? "" : "s"}`);
        if (t.last_error) facts.push(`last error: ${t.last_error}`);
        if (typeof t.next_retry_ms === "number") facts.push(`retry in ${Math.ceil(t.next_retry_ms / 1000)} s`);
        if (facts.length) li.append(el("div", { class: "facts", "data-testid": "toolbox-facts" }, facts.join(" · ")));
        return li;
      });
      if (!rows.length) rows.push(el("li", { class: "muted" }, "No toolboxes configured."));
      ui.toolboxes.replaceChildren(...rows);
    } catch (err) {
      ui.readiness.textContent = "unreachable";
      ui.readiness.dataset.status = "unreachable";
    }
    readinessTimer = setTimeout(refreshToolboxes, READINESS_POLL_MS);
  }

  // ---- wiring --------------------------------------------------------------------------------

  ui.form.addEventListener("submit", (e) => {
    e.preventDefault();
    submit();
  });
  ui.prompt.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      submit();
    }
  });
  ui.stop.addEventListener("click", stop);
  ui.fresh.addEventListener("click", () => newConversation());
  ui.picker.addEventListener("change", () => {
    ui.custom.hidden = ui.picker.value !== "custom";
    if (!ui.custom.hidden) ui.custom.focus();
    // Responses are kept per user: another user cannot continue this one's conversation.
    newConversation(`New conversation as ${currentUser() || "a custom user"}.`);
  });
  ui.custom.addEventListener("change", () => newConversation(`New conversation as ${currentUser() || "a custom user"}.`));
  ui.refresh.addEventListener("click", refreshToolboxes);

  refreshToolboxes();
  ui.prompt.focus();
})();
