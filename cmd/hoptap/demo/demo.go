// Package demo implements "hoptap demo": a small gRPC server and client
// on loopback that make unary calls, streams and errors, so that a
// newcomer has traffic to capture at once.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	testpb "google.golang.org/grpc/interop/grpc_testing"

	grpcstatus "github.com/hoptap/hoptap/decoder/grpc"
)

type options struct {
	addr     string
	count    int
	interval time.Duration
}

// Command returns the cobra command.
func Command() *cobra.Command {
	var o options
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a small gRPC server and client on loopback, to have traffic to capture",
		Long: `Run a gRPC server (grpc.testing.TestService, the service of gRPC's interop
tests) and a client on loopback. Every round the client makes unary calls,
a server stream, a client stream, a bidirectional stream, and calls that
fail: an application error, a missed deadline and an unimplemented
method. Watch them from a second terminal:

  sudo hoptap capture --port 50051            # frames
  sudo hoptap capture --port 50051 --calls    # calls, then latency per method

Stops on Ctrl-C or after --count rounds.`,
		Example: `  hoptap demo
  hoptap demo --count 10 --interval 200ms --addr 127.0.0.1:7070`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return run(ctx, cmd.ErrOrStderr(), &o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.addr, "addr", "127.0.0.1:50051", "address the server listens on")
	f.IntVar(&o.count, "count", 0, "rounds of calls to make (0: until Ctrl-C)")
	f.DurationVar(&o.interval, "interval", time.Second, "pause between rounds")
	return cmd
}

func run(ctx context.Context, log io.Writer, o *options) error {
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("demo server: %w (is another demo running? try --addr)", err)
	}
	srv := grpc.NewServer()
	testpb.RegisterTestServiceServer(srv, &server{})
	go srv.Serve(ln)
	defer srv.Stop()

	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	client := testpb.NewTestServiceClient(conn)
	fmt.Fprintf(log, "hoptap demo: gRPC server on %s; capture it with: sudo hoptap capture --port %d\n", ln.Addr(), ln.Addr().(*net.TCPAddr).Port)
	for round := 1; o.count == 0 || round <= o.count; round++ {
		codes := calls(ctx, client)
		if ctx.Err() != nil {
			return nil
		}
		fmt.Fprintf(log, "round %d: %s\n", round, tally(codes))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(o.interval):
		}
	}
	return nil
}

// calls makes one round and returns each call's status.
func calls(ctx context.Context, c testpb.TestServiceClient) []codes.Code {
	var out []codes.Code
	add := func(err error) { out = append(out, status.Code(err)) }
	md := metadata.Pairs("x-demo-user", "alice")
	mctx := metadata.NewOutgoingContext(ctx, md)

	_, err := c.EmptyCall(mctx, &testpb.Empty{})
	add(err)
	_, err = c.UnaryCall(mctx, &testpb.SimpleRequest{ResponseSize: 64, Payload: &testpb.Payload{Body: []byte("hello hoptap")}})
	add(err)
	// An error the application returns: it is the server's, not the
	// network's.
	_, err = c.UnaryCall(mctx, &testpb.SimpleRequest{ResponseStatus: &testpb.EchoStatus{Code: int32(codes.NotFound), Message: "user bob not found"}})
	add(err)
	add(serverStream(mctx, c))
	add(clientStream(mctx, c))
	add(pingPong(mctx, c))
	// A deadline the server cannot meet.
	dctx, cancel := context.WithTimeout(mctx, 20*time.Millisecond)
	_, err = c.UnaryCall(dctx, &testpb.SimpleRequest{Payload: &testpb.Payload{Body: []byte("sleep")}})
	cancel()
	add(err)
	_, err = c.UnimplementedCall(mctx, &testpb.Empty{})
	add(err)
	return out
}

func serverStream(ctx context.Context, c testpb.TestServiceClient) error {
	s, err := c.StreamingOutputCall(ctx, &testpb.StreamingOutputCallRequest{ResponseParameters: []*testpb.ResponseParameters{{Size: 10}, {Size: 100}, {Size: 1000}}})
	if err != nil {
		return err
	}
	for {
		if _, err := s.Recv(); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

func clientStream(ctx context.Context, c testpb.TestServiceClient) error {
	s, err := c.StreamingInputCall(ctx)
	if err != nil {
		return err
	}
	for _, n := range []int{10, 100, 1000} {
		if err := s.Send(&testpb.StreamingInputCallRequest{Payload: &testpb.Payload{Body: make([]byte, n)}}); err != nil {
			return err
		}
	}
	_, err = s.CloseAndRecv()
	return err
}

func pingPong(ctx context.Context, c testpb.TestServiceClient) error {
	s, err := c.FullDuplexCall(ctx)
	if err != nil {
		return err
	}
	for _, n := range []int32{8, 16, 32} {
		if err := s.Send(&testpb.StreamingOutputCallRequest{ResponseParameters: []*testpb.ResponseParameters{{Size: n}}}); err != nil {
			return err
		}
		if _, err := s.Recv(); err != nil {
			return err
		}
	}
	if err := s.CloseSend(); err != nil {
		return err
	}
	_, err = s.Recv()
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

func tally(cs []codes.Code) string {
	n := map[string]int{}
	for _, c := range cs {
		n[grpcstatus.CodeName(int(c))]++
	}
	var keys []string
	for k := range n {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, n[k]))
	}
	return fmt.Sprintf("%d calls (%s)", len(cs), strings.Join(parts, " "))
}

// server is a small TestService: echoes, streams of the asked sizes, the
// status a request asks for, and a slow answer to "sleep".
type server struct {
	testpb.UnimplementedTestServiceServer
}

func (*server) EmptyCall(context.Context, *testpb.Empty) (*testpb.Empty, error) {
	return &testpb.Empty{}, nil
}

func (*server) UnaryCall(ctx context.Context, r *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	if st := r.GetResponseStatus(); st != nil && st.Code != 0 {
		return nil, status.Error(codes.Code(st.Code), st.Message)
	}
	if string(r.GetPayload().GetBody()) == "sleep" {
		select {
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		case <-time.After(time.Second):
		}
	}
	return &testpb.SimpleResponse{Payload: &testpb.Payload{Body: make([]byte, r.GetResponseSize())}}, nil
}

func (*server) StreamingOutputCall(r *testpb.StreamingOutputCallRequest, s grpc.ServerStreamingServer[testpb.StreamingOutputCallResponse]) error {
	for _, p := range r.GetResponseParameters() {
		if err := s.Send(&testpb.StreamingOutputCallResponse{Payload: &testpb.Payload{Body: make([]byte, p.GetSize())}}); err != nil {
			return err
		}
	}
	return nil
}

func (*server) StreamingInputCall(s grpc.ClientStreamingServer[testpb.StreamingInputCallRequest, testpb.StreamingInputCallResponse]) error {
	total := 0
	for {
		r, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return s.SendAndClose(&testpb.StreamingInputCallResponse{AggregatedPayloadSize: int32(total)})
		}
		if err != nil {
			return err
		}
		total += len(r.GetPayload().GetBody())
	}
}

func (*server) FullDuplexCall(s grpc.BidiStreamingServer[testpb.StreamingOutputCallRequest, testpb.StreamingOutputCallResponse]) error {
	for {
		r, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, p := range r.GetResponseParameters() {
			if err := s.Send(&testpb.StreamingOutputCallResponse{Payload: &testpb.Payload{Body: make([]byte, p.GetSize())}}); err != nil {
				return err
			}
		}
	}
}
