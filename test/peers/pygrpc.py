#!/usr/bin/python3
"""A gRPC server and client on Python's C-core gRPC (Debian's python3-grpcio).

No generated code: generic handlers with identity (bytes) serializers.

  pygrpc.py server                   binds 127.0.0.1:0, prints "listening PORT"
  pygrpc.py client PORT basic        every kind of call once, checks each result
  pygrpc.py client PORT many [N]     N sequential unary calls over one channel,
                                     varied methods and metadata (HPACK churn)

The client exits non-zero if any call does not end as expected. Run it with
/usr/bin/python3: the grpc module comes from Debian.
"""

import json
import sys
import threading
from concurrent import futures

import grpc

SERVICE = "hoptap.test.Echo"
MANY = "hoptap.test.Many"

# Messages that need grpc-message's percent-encoding: non-ASCII, control
# characters and '%' itself.
UNICODE_MESSAGE = "\u00fcnic\u00f8de \u2603 \U0001F600 fehlgeschlagen"
NEWLINE_MESSAGE = "first line\nsecond line\r\n\ttabbed"
PERCENT_MESSAGE = "100% broken: %41 is not A, %%, %zz, trailing %"

# Set by the server when a call it was waiting in has ended (deadline or
# cancel), so the client can prove the server saw the end before it exits.
ended = {"Sleep": threading.Event(), "StreamThenWait": threading.Event()}


def _echo_metadata(context):
    """Request metadata x-hoptap-* comes back as initial and trailing metadata."""
    md = [(k, v) for k, v in context.invocation_metadata() if k.startswith("x-hoptap-")]
    return md


def unary(request, context):
    md = _echo_metadata(context)
    if md:
        context.send_initial_metadata([(k.replace("x-hoptap-", "x-hoptap-echo-", 1), v) for k, v in md])
        context.set_trailing_metadata([("x-hoptap-trailer", "done"), ("x-hoptap-trailer-bin", b"\x00\xff\x10")])
    return request


def fail(request, context):
    """The request is JSON: {"code": N, "message": "...", "initial": bool}."""
    req = json.loads(request.decode("utf-8"))
    if req.get("initial"):
        # Headers first, then an error in the trailers (not trailers-only).
        context.send_initial_metadata([("x-hoptap-initial", "sent")])
    code = next(c for c in grpc.StatusCode if c.value[0] == req["code"])
    context.abort(code, req["message"])


def server_stream(request, context):
    n = int(request.decode())
    for i in range(n):
        yield b"part-%d" % i


def client_stream(request_iterator, context):
    return b"|".join(request_iterator)


def bidi(request_iterator, context):
    for r in request_iterator:
        yield b"echo:" + r


def _on_end(name, context):
    """Returns an event set when the call ends; the end is also recorded
    in ended[name]. The callback is registered before anything is sent,
    so an end that comes early is not missed."""
    ev = threading.Event()

    def done():
        ev.set()
        ended[name].set()

    if not context.add_callback(done):
        done()  # already over
    return ev


def sleep(request, context):
    """Never answers: waits until the call ends (the client's deadline)."""
    _on_end("Sleep", context).wait(30)
    return b""


def stream_then_wait(request, context):
    """One message, then waits until the client cancels."""
    ev = _on_end("StreamThenWait", context)
    yield b"first"
    ev.wait(30)


def await_end(request, context):
    """Returns once the server has seen the end of the named waiting call."""
    name = request.decode()
    if not ended[name].wait(20):
        context.abort(grpc.StatusCode.INTERNAL, "never saw the end of " + name)
    ended[name].clear()
    return b"ended"


class Handler(grpc.GenericRpcHandler):
    uu = {"Unary": unary, "Fail": fail, "Sleep": sleep, "Await": await_end}
    us = {"ServerStream": server_stream, "StreamThenWait": stream_then_wait}

    def service(self, details):
        svc, _, name = details.method.lstrip("/").partition("/")
        if svc == MANY:
            return grpc.unary_unary_rpc_method_handler(unary)
        if svc != SERVICE:
            return None  # UNIMPLEMENTED
        if name in self.uu:
            return grpc.unary_unary_rpc_method_handler(self.uu[name])
        if name in self.us:
            return grpc.unary_stream_rpc_method_handler(self.us[name])
        if name == "ClientStream":
            return grpc.stream_unary_rpc_method_handler(client_stream)
        if name == "Bidi":
            return grpc.stream_stream_rpc_method_handler(bidi)
        return None


def serve():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers((Handler(),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print("listening %d" % port, flush=True)
    server.wait_for_termination()


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


def expect_error(fn, code, message=None):
    try:
        fn()
    except grpc.RpcError as e:
        check(e.code() == code, "want %s, got %s (%r)" % (code, e.code(), e.details()))
        if message is not None:
            check(e.details() == message, "want message %r, got %r" % (message, e.details()))
        return e
    raise Failure("want %s, the call succeeded" % code)


def channel(port):
    return grpc.insecure_channel("127.0.0.1:%d" % port, options=[("grpc.enable_http_proxy", 0)])


def basic(port):
    ch = channel(port)
    m = lambda name: "/%s/%s" % (SERVICE, name)
    uu = lambda name: ch.unary_unary(m(name))
    us = lambda name: ch.unary_stream(m(name))

    # Unary with custom metadata, a -bin key among it.
    md = [("x-hoptap-ascii", "hello world"), ("x-hoptap-bin", b"\x00\x01\xfe\xff")]
    resp, call = uu("Unary").with_call(b"ping", metadata=md)
    check(resp == b"ping", "unary echo: %r" % resp)
    init = dict(call.initial_metadata())
    check(init.get("x-hoptap-echo-ascii") == "hello world", "initial metadata: %r" % init)
    check(init.get("x-hoptap-echo-bin") == b"\x00\x01\xfe\xff", "initial -bin metadata: %r" % init)
    trail = dict(call.trailing_metadata())
    check(trail.get("x-hoptap-trailer-bin") == b"\x00\xff\x10", "trailing metadata: %r" % trail)
    print("ok unary", flush=True)

    parts = list(us("ServerStream")(b"4"))
    check(parts == [b"part-%d" % i for i in range(4)], "server stream: %r" % parts)
    print("ok server_stream", flush=True)

    r = ch.stream_unary(m("ClientStream"))(iter([b"a", b"bb", b"ccc"]))
    check(r == b"a|bb|ccc", "client stream: %r" % r)
    print("ok client_stream", flush=True)

    out = list(ch.stream_stream(m("Bidi"))(iter([b"1", b"2", b"3"])))
    check(out == [b"echo:1", b"echo:2", b"echo:3"], "bidi: %r" % out)
    print("ok bidi", flush=True)

    # Errors: trailers-only, and headers then error trailers.
    for code, msg, initial in [
        (3, UNICODE_MESSAGE, False),
        (9, NEWLINE_MESSAGE, False),
        (13, PERCENT_MESSAGE, True),
        (5, "plain not found", True),
        (7, "", False),
    ]:
        req = json.dumps({"code": code, "message": msg, "initial": initial}).encode()
        want = next(c for c in grpc.StatusCode if c.value[0] == code)
        expect_error(lambda: uu("Fail")(req), want, msg)
    print("ok errors", flush=True)

    expect_error(lambda: uu("NoSuchMethod")(b""), grpc.StatusCode.UNIMPLEMENTED)
    expect_error(lambda: ch.unary_unary("/hoptap.test.NoSuchService/X")(b""), grpc.StatusCode.UNIMPLEMENTED)
    print("ok unimplemented", flush=True)

    # Deadline: the server never answers; the client gives up.
    expect_error(lambda: uu("Sleep")(b"", timeout=0.3), grpc.StatusCode.DEADLINE_EXCEEDED)
    check(uu("Await")(b"Sleep") == b"ended", "server never saw the deadline")
    print("ok deadline", flush=True)

    # Cancel after the first response of a server stream.
    it = us("StreamThenWait")(b"")
    check(next(it) == b"first", "stream then wait")
    it.cancel()
    expect_error(lambda: next(it), grpc.StatusCode.CANCELLED)
    check(uu("Await")(b"StreamThenWait") == b"ended", "server never saw the cancel")
    print("ok cancel", flush=True)
    ch.close()


def many(port, n):
    """n sequential unary calls over one channel. Method names and metadata
    values keep changing so both HPACK dynamic tables keep filling and
    turning over; a few calls fail."""
    ch = channel(port)
    pad = "x" * 40
    for i in range(n):
        md = [
            ("x-hoptap-seq", "call-%06d-%s" % (i, pad)),
            ("x-hoptap-tenant", "tenant-%d" % (i % 7)),
        ]
        if i % 10 == 9:
            # Codes 1..16 in order over the run: the second half of the
            # connection uses codes the first half never did, so a
            # capture that starts in the middle can learn them (C-core
            # indexes each grpc-status value the first time it sends it).
            code = 1 + i * 16 // n
            msg = "failure number %d: caf\u00e9 100%%" % i
            req = json.dumps({"code": code, "message": msg, "initial": i % 20 == 9}).encode()
            want = next(c for c in grpc.StatusCode if c.value[0] == code)
            expect_error(lambda: ch.unary_unary("/%s/Fail" % SERVICE)(req, metadata=md), want, msg)
            continue
        if i % 3 == 0:
            method = "/%s/Unary" % SERVICE
        else:
            # A rotating set of long names: more than fit in 4096 bytes.
            method = "/%s/Method%02d_%s" % (MANY, i % 50, "y" * 60)
        body = b"payload-%d" % i
        resp = ch.unary_unary(method)(body, metadata=md)
        check(resp == body, "call %d echo: %r" % (i, resp))
    print("ok many %d" % n, flush=True)
    ch.close()


def main():
    if sys.argv[1] == "server":
        serve()
    elif sys.argv[1] == "client":
        port, scenario = int(sys.argv[2]), sys.argv[3]
        try:
            if scenario == "basic":
                basic(port)
            elif scenario == "many":
                many(port, int(sys.argv[4]) if len(sys.argv) > 4 else 300)
            else:
                raise Failure("unknown scenario " + scenario)
        except Failure as e:
            print("FAIL: %s" % e, file=sys.stderr, flush=True)
            sys.exit(1)
    else:
        sys.exit("usage: pygrpc.py server | client PORT basic|many [N]")


if __name__ == "__main__":
    main()
