package metrics

import "github.com/hoptap/hoptap/decoder/grpc"

// Origin says who produced a failed call's outcome.
type Origin string

// Origins. Unknown is used when this node's view cannot tell, never a
// guess.
const (
	// OriginApplication: a grpc-status the server application set (seen
	// leaving the server's socket, or at the client and matching what the
	// server's socket sent).
	OriginApplication Origin = "application"
	// OriginTransport: no status at all; RST_STREAM, GOAWAY or the
	// connection ended the call.
	OriginTransport Origin = "transport"
	// OriginProxy: an HTTP status other than 200 (502, 503, 504...), or a
	// grpc-status the client saw that the server's socket never sent.
	OriginProxy Origin = "proxy"
	// OriginUnknown: a grpc-status at the client whose server is not on
	// this node, so nothing shows whether the application or a hop in
	// between set it; or a stream that ended without one after HTTP 200.
	OriginUnknown Origin = "unknown"
)

// verdict is what one view of a call says about its outcome.
type verdict struct {
	failed bool
	// finished is false for calls cut by the end of the capture: their
	// outcome is not known and they are not counted as failures.
	finished bool
	origin   Origin
	// needServer: a client's grpc-status after HTTP 200; the server's
	// view of the same call decides between application and proxy.
	needServer bool
}

// classify reads one view of a call.
func classify(c *grpc.Call, side Side) verdict {
	if c.End == grpc.EndIncomplete {
		return verdict{}
	}
	v := verdict{finished: true}
	httpOK := !c.HTTPStatus.OK || c.HTTPStatus.V == 200
	switch {
	case c.Status.OK && !c.StatusFromHTTP:
		if c.Status.V == 0 {
			return v
		}
		v.failed = true
		switch {
		case !httpOK:
			v.origin = OriginProxy
		case side == SideServer:
			v.origin = OriginApplication
		case side == SideClient:
			v.origin, v.needServer = OriginUnknown, true
		default:
			v.origin = OriginUnknown
		}
	case c.Status.OK && c.StatusFromHTTP:
		// No grpc-status, only an HTTP error status: no gRPC server
		// application answers like that.
		v.failed, v.origin = true, OriginProxy
	default:
		v.failed = true
		switch c.End {
		case grpc.EndRSTStream, grpc.EndGoAway, grpc.EndConnClosed:
			v.origin = OriginTransport
		default:
			v.origin = OriginUnknown
		}
	}
	return v
}
