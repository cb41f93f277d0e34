#!/usr/bin/python3
"""it_ai -- the `ai` step kind and seed 002's `agent` nodes against a real
OpenAI-compatible HTTP server on loopback (tests/ai_sink.py).

Servers (all real `zflow serve` processes):
  main    --ai-url <sink>/v1 --ai-model sink-model-1, ZFLOW_AI_KEY=sk-test-123
          (the sink is started with --key sk-test-123: a wrong or missing
          key answers 401)
  bare    no --ai-url: ai and agent steps fail with the documented message
  nokey   --ai-url <sink>/v1/ and no ZFLOW_AI_KEY: no Authorization header
  dead    --ai-url pointing at a closed port: transport errors are retried

    ZFLOW_BIN=build/zflow /usr/bin/python3 tests/it_ai.py
"""
import json
import os
import subprocess
import sys
import urllib.request
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import zf_harness as zh  # noqa: E402
from http_harness import V2, Http, create, execute, expect  # noqa: E402

KEY = "sk-test-123"
MODEL = "sink-model-1"
UNCONFIGURED = ("ai: no AI provider is configured: start zflow with --ai-url "
                "(key in ZFLOW_AI_KEY)")
JSON_RULE = "Answer with a single JSON object and nothing else."
FAST_RETRY = {"max_attempts": 3, "initial_interval_ms": 50, "jitter": 0}
S = {}


class AiSink:
    """tests/ai_sink.py as a subprocess on a free port."""

    def __init__(self, key=None):
        argv = ["/usr/bin/python3", os.path.join(HERE, "ai_sink.py")]
        if key:
            argv += ["--key", key]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
        self.port = int(self.proc.stdout.readline())
        self.base = f"http://127.0.0.1:{self.port}"

    def _req(self, method, path):
        req = urllib.request.Request(self.base + path, method=method,
                                     data=b"" if method == "POST" else None)
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read().decode())

    def requests(self):
        return self._req("GET", "/requests")

    def matching(self, text):
        """Requests whose last user message contains text."""
        return [r for r in self.requests() if text in _user(r)]

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()


def _user(req):
    msgs = (req.get("json") or {}).get("messages") or []
    return next((m["content"] for m in reversed(msgs) if m.get("role") == "user"), "")


def _system(req):
    msgs = (req.get("json") or {}).get("messages") or []
    return next((m["content"] for m in msgs if m.get("role") == "system"), None)


def tag():
    """A unique marker to find this test's requests in the sink's log."""
    return "t-" + uuid.uuid4().hex[:10]


def ai_node(nid="a1", retry=None, **config):
    n = {"id": nid, "type": "ai", "config": config}
    if retry:
        n["retry"] = retry
    return n


def run_nodes(nodes, inputs=None, server="main", wait=True):
    """Creates a workflow over zmq, runs it; returns run.get of the run."""
    c = S["zmq"][server]
    wf = zh.expect_ok(c, "wf.create", {"workflow": {"name": zh.uniq("ai"),
                                                     "definition": {"nodes": nodes}}})["workflow"]
    run = zh.expect_ok(c, "run.start", {"workflow_id": wf["id"], "inputs": inputs or {}})["run"]
    if not wait:
        return run
    return zh.wait_run_status(c, run["id"], ("completed", "failed", "cancelled"), timeout=30)


def output(view, nid="a1"):
    return view["state"]["stepOutputs"][nid]


def failed_with(view, text):
    run = view["run"]
    assert run["status"] == "failed", run
    assert run["error"]["code"] == "step_failed", run["error"]
    assert text in run["error"]["message"], run["error"]
    return run["error"]["message"]


# ---------------------------------------------------------------- ai: success


def test_ai_text_with_template_system_and_options():
    t = tag()
    v = run_nodes([ai_node(prompt="Hello {{inputs.name}} " + t, system="Be brief.",
                           temperature=0.2, max_tokens=50)], inputs={"name": "Ada"})
    assert v["run"]["status"] == "completed", v["run"]
    out = output(v)
    assert out["text"] == f"echo: Hello Ada {t}", out
    assert out["model"] == MODEL and out["finish_reason"] == "stop", out
    u = out["usage"]
    assert set(u) == {"prompt_tokens", "completion_tokens", "total_tokens"}, u
    assert u["prompt_tokens"] == 2 + 3 and u["completion_tokens"] == 4, u
    assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"], u
    assert "json" not in out, out
    [req] = S["sink"].matching(t)
    assert req["path"] == "/v1/chat/completions", req
    assert req["headers"]["authorization"] == f"Bearer {KEY}", req["headers"]
    assert req["headers"]["content-type"] == "application/json", req["headers"]
    body = req["json"]
    assert body["model"] == MODEL, body
    assert body["messages"] == [{"role": "system", "content": "Be brief."},
                                {"role": "user", "content": f"Hello Ada {t}"}], body
    assert body["temperature"] == 0.2 and body["max_tokens"] == 50, body
    assert "response_format" not in body, body


def test_ai_minimal_sends_only_model_and_messages():
    t = tag()
    v = run_nodes([ai_node(prompt=t)])
    assert v["run"]["status"] == "completed", v["run"]
    [req] = S["sink"].matching(t)
    assert set(req["json"]) == {"model", "messages"}, req["json"]
    assert req["json"]["messages"] == [{"role": "user", "content": t}], req["json"]


def test_ai_model_override_and_json_mode():
    t = tag()
    v = run_nodes([ai_node(prompt="list " + t, model="other-model", json=True)])
    assert v["run"]["status"] == "completed", v["run"]
    out = output(v)
    assert out["model"] == "other-model", out
    assert out["json"] == {"echo": "list " + t, "model": "other-model", "messages": 2}, out
    assert json.loads(out["text"]) == out["json"], out
    [req] = S["sink"].matching(t)
    assert req["json"]["response_format"] == {"type": "json_object"}, req["json"]
    assert _system(req) == JSON_RULE, req["json"]


def test_ai_json_mode_keeps_the_system_text_and_accepts_a_fence():
    t = tag()
    v = run_nodes([ai_node(prompt="[[fenced]] " + t, system="You sort lists.", json=True)])
    assert v["run"]["status"] == "completed", v["run"]
    assert output(v)["json"]["echo"] == "[[fenced]] " + t, output(v)
    assert output(v)["text"].startswith("```json\n"), output(v)
    [req] = S["sink"].matching(t)
    assert _system(req) == "You sort lists.\n\n" + JSON_RULE, req["json"]


def test_ai_output_feeds_later_steps():
    t = tag()
    v = run_nodes([ai_node(prompt="first " + t),
                   ai_node("a2", prompt="second {{steps.a1.text}} ({{steps.a1.usage.total_tokens}})"),
                   zh.set_node("s1", answer="$steps.a2.text")])
    assert v["run"]["status"] == "completed", v["run"]
    n = output(v)["usage"]["total_tokens"]
    assert output(v, "a2")["text"] == f"echo: second echo: first {t} ({n})", output(v, "a2")
    assert v["state"]["variables"]["answer"] == output(v, "a2")["text"], v["state"]


# ---------------------------------------------------------------- ai: failures


def test_ai_500_is_retried_then_succeeds():
    t = tag()
    v = run_nodes([ai_node(prompt=f"[[fail:1:500]] {t}", retry=FAST_RETRY)])
    assert v["run"]["status"] == "completed", v["run"]
    assert output(v)["text"] == f"echo: [[fail:1:500]] {t}", output(v)
    assert len(S["sink"].matching(t)) == 2
    statuses = [entry["status"] for entry in v["logs"] if entry["nodeId"] == "a1"]
    assert statuses == ["retrying", "completed"], v["logs"]
    retry_log = next(e for e in v["logs"] if e["status"] == "retrying")
    assert "HTTP 500 from the provider: sink error 500" in retry_log["error"], retry_log


def test_ai_429_and_503_are_retried_until_attempts_run_out():
    t = tag()
    v = run_nodes([ai_node(prompt=f"[[fail:1:429]] {t}", retry=FAST_RETRY)])
    assert v["run"]["status"] == "completed", v["run"]
    assert len(S["sink"].matching(t)) == 2
    t = tag()
    v = run_nodes([ai_node(prompt=f"[[status:503]] {t}", retry=FAST_RETRY)])
    failed_with(v, "ai: HTTP 503 from the provider: sink error 503")
    assert len(S["sink"].matching(t)) == 3


def test_ai_400_fails_at_once():
    t = tag()
    v = run_nodes([ai_node(prompt=f"[[status:400]] {t}", retry=FAST_RETRY)])
    assert failed_with(v, "ai: HTTP 400 from the provider: sink error 400")
    assert len(S["sink"].matching(t)) == 1
    assert [e["status"] for e in v["logs"] if e["nodeId"] == "a1"] == ["failed"], v["logs"]


def test_ai_redirect_is_not_followed():
    t = tag()
    v = run_nodes([ai_node(prompt=f"[[redirect]] {t}", retry=FAST_RETRY)])
    failed_with(v, "ai: HTTP 302 from the provider (redirects are not followed")
    assert len(S["sink"].matching(t)) == 1
    assert not [r for r in S["sink"].requests() if r["path"] == "/elsewhere"]


def test_ai_malformed_answers_fail_with_clear_errors():
    cases = {"notjson": "not JSON", "array": "not a JSON object",
             "nochoices": "choices: must be a non-empty array",
             "nocontent": "choices[0].message.content: must be a string",
             "badusage": "usage.total_tokens: must be a non-negative integer"}
    for kind, text in cases.items():
        t = tag()
        v = run_nodes([ai_node(prompt=f"[[malformed:{kind}]] {t}", retry=FAST_RETRY)])
        failed_with(v, "ai: malformed response from the provider: " + text)
        assert len(S["sink"].matching(t)) == 1, kind


def test_ai_response_over_1_mib_is_refused():
    t = tag()
    v = run_nodes([ai_node(prompt=f"[[big]] {t}", retry=FAST_RETRY)])
    failed_with(v, "ai: response too large (limit 1048576 bytes)")
    assert len(S["sink"].matching(t)) == 1


def test_ai_timeout_is_a_retryable_failure():
    t = tag()
    node = ai_node(prompt=f"[[slow:1500]] {t}", retry={"max_attempts": 2,
                                                       "initial_interval_ms": 50})
    node["timeout_ms"] = 300
    v = run_nodes([node])
    failed_with(v, "ai: no answer from the provider within 300 ms")
    assert len(S["sink"].matching(t)) == 2


def test_ai_json_mode_answer_that_is_not_json():
    t = tag()
    v = run_nodes([ai_node(prompt=f"[[notjson]] {t}", json=True,
                           retry={"max_attempts": 2, "initial_interval_ms": 50})])
    failed_with(v, "ai: json mode: the model's answer is not a JSON object")
    assert len(S["sink"].matching(t)) == 2


def test_ai_wrong_key_answers_401_final():
    # The nokey server sends no Authorization header: the sink refuses.
    t = tag()
    v = run_nodes([ai_node(prompt=t, retry=FAST_RETRY)], server="nokey")
    failed_with(v, "ai: HTTP 401 from the provider: Incorrect API key provided")
    [req] = S["sink"].matching(t)
    assert "authorization" not in req["headers"], req["headers"]
    assert req["path"] == "/v1/chat/completions", req  # the trailing '/' of --ai-url dropped


def test_ai_transport_error_is_retried():
    v = run_nodes([ai_node(prompt="hi", retry=FAST_RETRY)], server="dead")
    msg = failed_with(v, "ai: transport error: ")
    assert "sk-" not in msg
    assert [e["status"] for e in v["logs"]] == ["retrying", "retrying", "failed"], v["logs"]


def test_ai_config_is_validated_at_create():
    c = S["zmq"]["main"]
    bad = [({}, "config.prompt: required"), ({"prompt": ""}, "config.prompt: required"),
           ({"prompt": 3}, "config.prompt: required"),
           ({"prompt": "x", "temperature": 2.5}, "config.temperature: must be a number from 0 to 2"),
           ({"prompt": "x", "temperature": "hot"}, "config.temperature"),
           ({"prompt": "x", "max_tokens": 0}, "config.max_tokens: must be an integer from 1 to 32768"),
           ({"prompt": "x", "max_tokens": 40000}, "config.max_tokens"),
           ({"prompt": "x", "json": "yes"}, "config.json: must be a boolean"),
           ({"prompt": "x", "model": ""}, "config.model: must be a string of 1 to 200"),
           ({"prompt": "x", "system": 1}, "config.system: must be a string")]
    for cfg, text in bad:
        b = zh.expect_error(c, "wf.create", {"workflow": {
            "name": zh.uniq("bad"), "definition": {"nodes": [
                {"id": "gen", "type": "ai", "config": cfg}]}}}, "validation")
        assert 'nodes[0] (id "gen")' in b["message"] and text in b["message"], (cfg, b)


def test_ai_prompt_rendered_empty_or_huge_fails_final():
    v = run_nodes([ai_node(prompt="{{inputs.missing}}", retry=FAST_RETRY)])
    failed_with(v, "config.prompt: required")
    assert [e["status"] for e in v["logs"]] == ["failed"], v["logs"]
    # An agent prompt holds the node input: over 512 KiB it is refused
    # before anything is sent.
    t = tag()
    v = run_nodes([{"id": "ag", "type": "agent", "action": "digest", "retry": FAST_RETRY}],
                  inputs={"tag": t, "big": "y" * (600 * 1024)})
    msg = failed_with(v, "ai: the prompt is ")
    assert msg.endswith(" bytes (limit 524288)"), msg
    assert not S["sink"].matching(t)
    assert [e["status"] for e in v["logs"]] == ["failed"], v["logs"]


# ---------------------------------------------------------------- unconfigured


def test_unconfigured_server_fails_ai_and_agent_clearly():
    v = run_nodes([ai_node(prompt="hi", retry=FAST_RETRY)], server="bare")
    assert failed_with(v, UNCONFIGURED) == UNCONFIGURED
    assert [e["status"] for e in v["logs"]] == ["failed"], v["logs"]
    v = run_nodes([{"id": "step_2", "type": "agent", "action": "generate_report"}],
                  server="bare")
    assert failed_with(v, UNCONFIGURED) == UNCONFIGURED
    # over REST too (seed 002 dialect): the run ends failed with that error
    w = create(S["http"]["bare"], nodes=[zh.set_node("step_1", total=3),
                                          {"id": "step_2", "type": "agent",
                                           "action": "generate_report", "input_from": "step_1"}])
    run = execute(S["http"]["bare"], w["id"], wait=True)
    assert run["status"] == "failed" and UNCONFIGURED in json.dumps(run["error"]), run


# ---------------------------------------------------------------- agent (seed 002)


SEED_AGENT = {"id": "step_2", "type": "agent", "action": "generate_report",
              "input_from": "step_1"}


def _rest_run(nodes, inputs=None):
    api = S["http"]["main"]
    w = create(api, name=zh.uniq("Weekly Sales Report"), nodes=nodes)
    run = execute(api, w["id"], inputs, wait=True)
    return run, zh.run_view(S["zmq"]["main"], run["id"])


def test_agent_seed002_node_over_rest():
    t = tag()
    run, v = _rest_run([zh.set_node("step_1", deals=3, amount=125000, tag=t), SEED_AGENT])
    assert run["status"] == "completed", run
    out = output(v, "step_2")
    prompt = ('Action: generate_report\nInput: {"amount":125000,"deals":3,"tag":"' + t + '"}')
    assert out["action"] == "generate_report" and out["text"] == "echo: " + prompt, out
    assert out["model"] == MODEL and out["finish_reason"] == "stop", out
    assert isinstance(out["usage"]["total_tokens"], int), out
    [req] = S["sink"].matching(t)
    assert req["headers"]["authorization"] == f"Bearer {KEY}", req["headers"]
    assert _user(req) == prompt, req["json"]
    system = _system(req)
    assert 'performs the step "generate_report" of an automated workflow' in system, system
    assert run["outputs"]["action"] == "generate_report", run["outputs"]


def test_agent_prompt_has_instructions_parameters_and_templates():
    t = tag()
    agent = dict(SEED_AGENT, config={
        "prompt": "Summarise for {{inputs.audience}} " + t, "format": "markdown",
        "sections": ["wins", "risks"], "temperature": 0, "max_tokens": 300,
        "model": "report-model"})
    run, v = _rest_run([zh.set_node("step_1", deals=2), agent], {"audience": "the CEO"})
    assert run["status"] == "completed", run
    [req] = S["sink"].matching(t)
    assert _user(req) == ("Action: generate_report\n"
                          f"Instructions: Summarise for the CEO {t}\n"
                          'Parameters: {"format":"markdown","sections":["wins","risks"]}\n'
                          'Input: {"deals":2}'), req["json"]
    body = req["json"]
    assert body["model"] == "report-model" and body["temperature"] == 0, body
    assert body["max_tokens"] == 300, body
    assert output(v, "step_2")["model"] == "report-model", output(v, "step_2")


def test_agent_json_mode_system_override_and_run_inputs():
    t = tag()
    agent = {"id": "ag", "type": "agent", "action": "classify_lead",
             "config": {"system": "You label leads.", "json": True}}
    v = run_nodes([agent], inputs={"lead": t})
    assert v["run"]["status"] == "completed", v["run"]
    out = output(v, "ag")
    assert out["action"] == "classify_lead", out
    assert out["json"]["echo"] == 'Action: classify_lead\nInput: {"lead":"' + t + '"}', out
    [req] = S["sink"].matching(t)
    assert _system(req) == "You label leads.\n\n" + JSON_RULE, req["json"]
    assert req["json"]["response_format"] == {"type": "json_object"}, req["json"]


def test_agent_errors_are_classified_like_ai():
    t = tag()
    agent = {"id": "ag", "type": "agent", "action": "summarise",
             "config": {"prompt": f"[[fail:1:502]] {t}"}, "retry": FAST_RETRY}
    v = run_nodes([agent])
    assert v["run"]["status"] == "completed", v["run"]
    assert len(S["sink"].matching(t)) == 2
    t = tag()
    agent["config"]["prompt"] = f"[[status:422]] {t}"
    v = run_nodes([agent])
    failed_with(v, "ai: HTTP 422 from the provider: sink error 422")
    assert len(S["sink"].matching(t)) == 1


def test_agent_config_action_and_validation():
    t = tag()
    v = run_nodes([{"id": "ag", "type": "agent", "config": {"action": "tidy", "note": t}}])
    assert v["run"]["status"] == "completed", v["run"]
    assert output(v, "ag")["action"] == "tidy", output(v, "ag")
    # the node-level action wins over config.action
    t = tag()
    v = run_nodes([{"id": "ag", "type": "agent", "action": "outer",
                    "config": {"action": "inner", "note": t}}])
    assert output(v, "ag")["action"] == "outer", output(v, "ag")
    assert _user(S["sink"].matching(t)[0]).startswith("Action: outer\n")
    api = S["http"]["main"]
    for node, text in [({"id": "ag", "type": "agent"}, "action: required"),
                       ({"id": "ag", "type": "agent", "action": ""}, "action: must be a string"),
                       ({"id": "ag", "type": "agent", "action": "x",
                         "config": {"temperature": 9}}, "config.temperature"),
                       ({"id": "ag", "type": "agent", "action": "x",
                         "config": {"prompt": ["no"]}}, "config.prompt: must be a string")]:
        b = expect(api.post(V2, {"name": zh.uniq("bad"), "definition": {"nodes": [node]}}), 400,
                   "validation")
        assert text in b["error"] and '"ag"' in b["error"], (node, b)


def test_zz_key_never_leaks():
    # Runs last (sorted by name): after every success and failure above.
    c = S["zmq"]["main"]
    wfs = zh.expect_ok(c, "wf.list", {"limit": 500})["workflows"]
    assert wfs
    for wf in wfs:
        runs = zh.expect_ok(c, "run.list", {"workflow_id": wf["id"], "with_logs": True})["runs"]
        for r in runs:
            view = zh.run_view(c, r["id"])
            assert KEY not in json.dumps(view), view["run"]["id"]
    srv = S["servers"]["main"]
    assert KEY not in srv.stderr() and KEY not in "".join(srv.stdout_lines)


# ---------------------------------------------------------------- main


def main():
    S["sink"] = AiSink(key=KEY)
    dead_port = zh.free_port()
    base = ["--rate-limit", "0"]
    servers = {
        "main": zh.Server(base + ["--ai-url", f"{S['sink'].base}/v1", "--ai-model", MODEL],
                          env={"ZFLOW_AI_KEY": KEY}),
        "bare": zh.Server(base, env={"ZFLOW_AI_KEY": ""}),
        "nokey": zh.Server(base + ["--ai-url", f"{S['sink'].base}/v1/"], env={"ZFLOW_AI_KEY": ""}),
        "dead": zh.Server(base + ["--ai-url", f"http://127.0.0.1:{dead_port}/v1"],
                          env={"ZFLOW_AI_KEY": "sk-dead"}),
    }
    S["servers"] = servers
    started = []
    try:
        for name, srv in servers.items():
            srv.start()
            started.append(srv)
        keys = {n: zh.create_key(s.data, "acme", "admin") for n, s in servers.items()}
        S["zmq"] = {n: zh.Client(s.api, keys[n]) for n, s in servers.items()}
        S["http"] = {n: Http(s.http, keys[n]) for n, s in servers.items()}
        try:
            rc = zh.run_tests(globals())
        finally:
            for c in list(S["zmq"].values()) + list(S["http"].values()):
                c.close()
        for srv in started:
            assert srv.running(), srv.stderr()[-3000:]
            srv.stop()
        return rc
    finally:
        for srv in servers.values():
            srv.cleanup()
        S["sink"].stop()


if __name__ == "__main__":
    sys.exit(main())
