"""Interoperability check: the official `openai` Python package against a running agenthost.

Usage: interop-openai.py BASE_URL [MCP_URL]   (e.g. http://127.0.0.1:18088 http://127.0.0.1:9000/toolboxes/demo/mcp)

It creates responses non-streaming, streaming (through the SDK's typed event parser, which must
accept every event), with a tool call, in background mode, reads one back, drives the Conversations API and, given an MCP
server URL, uses it as an OpenAI `mcp` tool (mcp_list_tools, mcp_call, approvals); any mismatch
raises and exits non-zero.
"""

import sys

import openai
from openai import OpenAI


def main(base: str, mcp_url: str | None) -> None:
    client = OpenAI(base_url=base, api_key="unused", max_retries=0)

    r = client.responses.create(model="hosted-agent", input="hello from the sdk")
    assert r.status == "completed", r.status
    assert r.output_text == "You said: hello from the sdk", r.output_text
    assert r.id.startswith("caresp_"), r.id
    assert r.usage is not None and r.usage.output_tokens == 6, r.usage

    got = client.responses.retrieve(r.id)
    assert got.id == r.id and got.output_text == r.output_text

    types = []
    final = None
    with client.responses.stream(model="hosted-agent", input="stream this please") as stream:
        for event in stream:
            # Typed parsing: every event must be a known SDK type, not a raw dict.
            assert not isinstance(event, dict), event
            types.append(event.type)
        final = stream.get_final_response()
    assert types[0] == "response.created" and types[1] == "response.in_progress", types
    assert types[-1] == "response.completed", types
    assert "response.output_text.delta" in types, types
    assert final.output_text == "You said: stream this please", final.output_text

    events = list(client.responses.create(model="hosted-agent", input="call:lookup {\"q\": 1}", stream=True))
    kinds = [e.type for e in events]
    assert "response.function_call_arguments.delta" in kinds, kinds
    assert "response.function_call_arguments.done" in kinds, kinds
    assert kinds[-1] == "response.completed", kinds
    done = events[-1].response
    assert [o.type for o in done.output] == ["function_call", "function_call_output", "message"], done.output

    bg = client.responses.create(model="hosted-agent", input="later", background=True)
    assert bg.status in ("queued", "in_progress", "completed"), bg.status
    deleted = client.responses.delete(r.id)
    try:
        client.responses.retrieve(r.id)
        raise AssertionError("deleted response still retrievable")
    except openai.BadRequestError:
        pass
    del deleted

    try:
        client.responses.create(model="hosted-agent", input="x", previous_response_id="nope")
        raise AssertionError("malformed previous_response_id accepted")
    except openai.BadRequestError as e:
        assert e.body["param"] == "$.previous_response_id", e.body

    conversations(client)
    if mcp_url:
        mcp_tools(client, mcp_url)

    print(f"interop: openai {openai.__version__}: {len(types)} streamed events parsed; all checks passed")


def conversations(client: OpenAI) -> None:
    """The Conversations API through the SDK's typed methods; every answer must parse."""
    conv = client.conversations.create(
        items=[{"type": "message", "role": "user", "content": "hello conversation"}], metadata={"topic": "sdk"}
    )
    assert conv.id.startswith("conv_") and conv.object == "conversation", conv
    assert conv.metadata == {"topic": "sdk"}, conv.metadata
    assert client.conversations.retrieve(conv.id).id == conv.id
    updated = client.conversations.update(conv.id, metadata={"topic": "updated"})
    assert updated.metadata == {"topic": "updated"}, updated

    r = client.responses.create(model="hosted-agent", conversation=conv.id)
    assert r.output_text == "You said: hello conversation", r.output_text
    added = client.conversations.items.create(
        conv.id, items=[{"type": "message", "role": "user", "content": "one more"}]
    )
    assert [i.type for i in added.data] == ["message"], added
    page = client.conversations.items.list(conv.id, order="asc")
    items = list(page)
    assert [i.type for i in items] == ["message", "message", "message"], items
    first = client.conversations.items.retrieve(items[0].id, conversation_id=conv.id)
    assert first.id == items[0].id, first
    after_delete = client.conversations.items.delete(items[2].id, conversation_id=conv.id)
    assert after_delete.id == conv.id, after_delete
    assert len(list(client.conversations.items.list(conv.id))) == 2
    gone = client.conversations.delete(conv.id)
    assert gone.deleted and gone.id == conv.id, gone
    try:
        client.conversations.retrieve(conv.id)
        raise AssertionError("deleted conversation still retrievable")
    except openai.NotFoundError:
        pass


def mcp_tools(client: OpenAI, url: str) -> None:
    """An OpenAI `mcp` tool by URL: every event and item must parse as the SDK's own types."""
    tool = {"type": "mcp", "server_label": "demo", "server_url": url, "require_approval": "never"}
    events = list(client.responses.create(model="hosted-agent", input='call:echo {"text": "mcp"}', tools=[tool], stream=True))
    for event in events:
        assert not isinstance(event, dict), event
    kinds = [e.type for e in events]
    for expected in (
        "response.mcp_list_tools.in_progress",
        "response.mcp_list_tools.completed",
        "response.mcp_call.in_progress",
        "response.mcp_call_arguments.delta",
        "response.mcp_call_arguments.done",
        "response.mcp_call.completed",
    ):
        assert expected in kinds, (expected, kinds)
    done = events[-1].response
    assert [o.type for o in done.output] == ["mcp_list_tools", "mcp_call", "message"], done.output
    listed, call = done.output[0], done.output[1]
    assert type(listed).__name__ == "McpListTools" and [t.name for t in listed.tools] == ["echo", "fail"], listed
    assert type(call).__name__ == "McpCall" and call.name == "echo" and call.output == "echo: mcp", call
    assert done.output_text == "echo returned: echo: mcp", done.output_text

    gated = dict(tool, require_approval="always")
    first = client.responses.create(model="hosted-agent", input='call:echo {"text": "ok"}', tools=[gated])
    request = first.output[1]
    assert type(request).__name__ == "McpApprovalRequest" and request.name == "echo", request
    second = client.responses.create(
        model="hosted-agent",
        previous_response_id=first.id,
        tools=[gated],
        input=[{"type": "mcp_approval_response", "approval_request_id": request.id, "approve": True}],
    )
    assert [o.type for o in second.output] == ["mcp_call", "message"], second.output
    assert second.output[0].approval_request_id == request.id and second.output[0].output == "echo: ok", second.output[0]

    try:
        client.responses.create(
            model="hosted-agent",
            input="x",
            tools=[{"type": "mcp", "server_label": "meta", "server_url": "http://169.254.169.254/latest"}],
        )
        raise AssertionError("a link-local server_url was accepted")
    except openai.BadRequestError as e:
        assert e.body["code"] == "mcp_server_url_forbidden", e.body


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)
