// The client loop of the Foundry OAuth passthrough write-up, with the official `openai` npm
// client against agenthost: create a conversation with the first message, respond on it, follow
// the consent link, re-send the same prompt (the consent round trip left the conversation as it
// was), answer the approval on the conversation, read the tool's result,
// then list the conversation's items and check their order.
//
// Usage: node conversation-loop.mjs BASE_URL USER   (prints one JSON line; exits 1 on a mismatch)
import OpenAI from "openai";

const [base, user] = process.argv.slice(2);
let call = 0;
const client = new OpenAI({
  baseURL: base,
  apiKey: "unused",
  maxRetries: 0,
  // A fresh platform call id per request, as Foundry sends; the user id partitions state.
  fetch: (url, init = {}) => {
    const headers = new Headers(init.headers);
    headers.set("x-agent-user-id", user);
    headers.set("x-agent-foundry-call-id", `${user}:${++call}`);
    return fetch(url, { ...init, headers });
  },
});

function check(cond, what, got) {
  if (!cond) {
    console.error(`mismatch: ${what}: ${JSON.stringify(got)}`);
    process.exit(1);
  }
}

const prompt = 'call:send_email {"to":"bob@example.com"}';
const conversation = await client.conversations.create({
  items: [{ type: "message", role: "user", content: prompt }],
});
check(conversation.id.startsWith("conv_"), "conversation id", conversation);

// 1. Consent: the response ends incomplete with the sign-in link.
let response = await client.responses.create({ conversation: conversation.id });
check(response.status === "incomplete", "first status", response.status);
const consent = response.output.find((i) => i.type === "oauth_consent_request");
check(consent && consent.consent_link, "consent item", response.output);

// 2. The user signs in (the mock proxy's page records the consent), then the client re-sends.
const signIn = await fetch(consent.consent_link);
check(signIn.ok, "sign-in page", signIn.status);
response = await client.responses.create({ conversation: conversation.id });
const approval = response.output.find((i) => i.type === "mcp_approval_request");
check(approval, "approval request", response.output);

// 3. The approval goes on the conversation as input; the held call runs.
response = await client.responses.create({
  conversation: conversation.id,
  input: [{ type: "mcp_approval_response", approval_request_id: approval.id, approve: true }],
});
check(response.status === "completed", "final status", response.status);
check(response.output_text === "send_email returned: sent", "output_text", response.output_text);

// 4. The conversation holds every step, in order.
const types = [];
for await (const item of client.conversations.items.list(conversation.id, { order: "asc" })) {
  types.push(item.type);
}
const expected = [
  "message",
  "function_call",
  "mcp_approval_request",
  "mcp_approval_response",
  "function_call_output",
  "message",
];
check(JSON.stringify(types) === JSON.stringify(expected), "item order", types);
console.log(JSON.stringify({ ok: true, openai: client.constructor.VERSION ?? "unknown", items: types.length }));
