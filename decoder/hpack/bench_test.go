package hpack

import (
	"bytes"
	"testing"

	xhpack "golang.org/x/net/http2/hpack"
)

// grpcRequest is what grpc-go sends for a unary call.
var grpcRequest = []xhpack.HeaderField{
	{Name: ":method", Value: "POST"},
	{Name: ":scheme", Value: "http"},
	{Name: ":path", Value: "/grpc.testing.TestService/UnaryCall"},
	{Name: ":authority", Value: "localhost:50051"},
	{Name: "content-type", Value: "application/grpc"},
	{Name: "user-agent", Value: "grpc-go/1.70.0"},
	{Name: "te", Value: "trailers"},
	{Name: "grpc-accept-encoding", Value: "gzip"},
	{Name: "x-request-id", Value: "5f0c3a3e-9a0b-4a57-8d0e-0d4c3f7b1a22"},
}

// grpcBlocks returns the first request block of a connection (literals
// that fill the table) and a later one (all indexed).
func grpcBlocks() (first, steady []byte) {
	var buf bytes.Buffer
	enc := xhpack.NewEncoder(&buf)
	for _, f := range grpcRequest {
		enc.WriteField(f)
	}
	first = bytes.Clone(buf.Bytes())
	buf.Reset()
	for _, f := range grpcRequest {
		enc.WriteField(f)
	}
	return first, bytes.Clone(buf.Bytes())
}

// BenchmarkDecode decodes a typical gRPC request block, next to x/net's
// decoder for a ratio ("first" resets the table every iteration).
func BenchmarkDecode(b *testing.B) {
	first, steady := grpcBlocks()
	var n int
	emit := func(f Field) { n += len(f.Value) }
	xemit := func(f xhpack.HeaderField) { n += len(f.Value) }

	b.Run("steady", func(b *testing.B) {
		d := NewDecoder()
		d.Decode(first, nil)
		b.ReportAllocs()
		b.SetBytes(int64(len(steady)))
		for b.Loop() {
			if err := d.Decode(steady, emit); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("steady-xnet", func(b *testing.B) {
		d := xhpack.NewDecoder(4096, xemit)
		d.Write(first)
		d.Close()
		b.ReportAllocs()
		b.SetBytes(int64(len(steady)))
		for b.Loop() {
			if _, err := d.Write(steady); err != nil {
				b.Fatal(err)
			}
			if err := d.Close(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("first", func(b *testing.B) {
		d := NewDecoder()
		b.ReportAllocs()
		b.SetBytes(int64(len(first)))
		for b.Loop() {
			d.Reset(true)
			if err := d.Decode(first, emit); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("first-xnet", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(first)))
		for b.Loop() {
			// x/net has no reset; a new decoder is its equivalent.
			d := xhpack.NewDecoder(4096, xemit)
			if _, err := d.Write(first); err != nil {
				b.Fatal(err)
			}
			if err := d.Close(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
