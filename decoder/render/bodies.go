package render

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/hoptap/hoptap/decoder/grpc"
	"github.com/hoptap/hoptap/decoder/protobuf"
)

// Bodies renders gRPC message bodies: with field names when a schema
// knows the method, otherwise as raw fields like protoc --decode_raw.
type Bodies struct {
	Registry *protobuf.Registry // nil: raw decoding only
}

// maxInflated bounds a decompressed body, so a compression bomb costs
// bounded memory.
const maxInflated = 4 << 20

// payload returns the message bytes ready to decode: decompressed when
// the call's encoding is gzip, an error when it cannot be known.
func payload(c *grpc.Call, m *grpc.MessageRecord) ([]byte, error) {
	if int64(len(m.Body)) < int64(m.Length) {
		return nil, fmt.Errorf("body is %d bytes; only the first %d were kept", m.Length, len(m.Body))
	}
	if !m.Compressed {
		return m.Body, nil
	}
	enc := encoding(c, m.Dir)
	if enc != "gzip" {
		if enc == "" {
			enc = "unknown"
		}
		return nil, fmt.Errorf("compressed with %s encoding", enc)
	}
	zr, err := gzip.NewReader(bytes.NewReader(m.Body))
	if err != nil {
		return nil, fmt.Errorf("gzip: %v", err)
	}
	out, err := io.ReadAll(io.LimitReader(zr, maxInflated+1))
	if err != nil {
		return nil, fmt.Errorf("gzip: %v", err)
	}
	if len(out) > maxInflated {
		return nil, fmt.Errorf("decompresses to more than %d bytes", maxInflated)
	}
	return out, nil
}

// encoding is the grpc-encoding of one direction of the call.
func encoding(c *grpc.Call, d grpc.Dir) string {
	fs := c.Request
	if d == grpc.S2C {
		fs = c.Response
	}
	for _, f := range fs {
		if f.NameKnown && f.ValueKnown && f.Name == "grpc-encoding" {
			return strings.ToLower(f.Value)
		}
	}
	return ""
}

// Text renders a body as indented text.
func (b *Bodies) Text(c *grpc.Call, m *grpc.MessageRecord) (string, error) {
	p, err := payload(c, m)
	if err != nil {
		return "", err
	}
	if b.Registry != nil && c.Method.OK {
		s, err := b.Registry.Decode(c.Method.V, m.Dir == grpc.C2S, p)
		if err == nil {
			return s, nil
		}
		if !errors.Is(err, protobuf.ErrUnknownMethod) {
			return "", err
		}
	}
	return protobuf.DecodeRawText(p)
}

// JSON renders a body for the JSON contract: the message as protojson
// when a schema knows it, else the raw fields.
func (b *Bodies) JSON(c *grpc.Call, m *grpc.MessageRecord) ([]byte, error) {
	p, err := payload(c, m)
	if err != nil {
		return nil, err
	}
	if b.Registry != nil && c.Method.OK {
		js, err := b.Registry.DecodeJSON(c.Method.V, m.Dir == grpc.C2S, p)
		if err == nil {
			return js, nil
		}
		if !errors.Is(err, protobuf.ErrUnknownMethod) {
			return nil, err
		}
	}
	fields, err := protobuf.DecodeRaw(p)
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{"raw": fields})
}
